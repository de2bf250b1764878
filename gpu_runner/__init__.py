"""The GPU side (the ``runner`` extra: torch, transformers, peft): the gpu worker process, the
LoRA trainer it drives in child processes, and ``ftapi engine``, the local inference engine."""
