"""Models a project may fine-tune and call: the base-model registry (fine-tuned models later)."""
