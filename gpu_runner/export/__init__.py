"""Merged export: a LoRA folded into its base, checked, and saved as a plain transformers model.

Runs as its own process (``python -m gpu_runner.export``), started by the gpu worker
(``gpu_runner.gpu_worker.merged_export``), which stays free of torch.
"""
