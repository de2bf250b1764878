"""Models a project may fine-tune and call: the base-model registry, fine-tuned models and their
checkpoints, who may use them (``access``) and sharing them within an organization."""
