"""Models a project may fine-tune and call: the base-model registry, fine-tuned models and their
checkpoints and their ``ft:`` names (``naming``), who may use them (``access``) and sharing
them within an organization."""
