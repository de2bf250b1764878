"""Training examples to tokens and a loss mask, as the trainer sees them, with only ``tokenizers``
and ``jinja2``."""
