"""Model FLOPs utilisation: how much of an accelerator's peak a training run turns into work.

The usual estimate (Kaplan et al. 2020; PaLM's MFU): a forward and backward pass over one token
costs ``6 * N`` FLOPs for ``N`` matmul parameters (2 forward, 4 backward). LoRA skips the
frozen weights' gradients, so its real cost is nearer ``4 * N``; the ``6 * N`` convention is
kept so figures compare with published full fine-tuning and pre-training MFUs. Attention's
own FLOPs (``O(length²)``) are left out, as in the convention, which understates MFU for long
rows. Input embeddings are lookups, not matmuls, so they are not counted in ``N``.
"""

from __future__ import annotations

H100_BF16_DENSE_TFLOPS = 989.0  # NVIDIA's H100 SXM figure, without sparsity
FLOPS_PER_PARAMETER_TOKEN = 6


def training_flops(matmul_parameters: int, tokens: int) -> float:
    """FLOPs of training on ``tokens`` tokens with ``matmul_parameters`` weights."""
    if matmul_parameters < 0 or tokens < 0:
        raise ValueError("parameters and tokens are counts, never negative")
    return float(FLOPS_PER_PARAMETER_TOKEN) * matmul_parameters * tokens


def model_flops_utilization(
    matmul_parameters: int, tokens: int, seconds: float, peak_tflops: float
) -> float:
    """The fraction of ``peak_tflops`` that training on ``tokens`` in ``seconds`` achieved."""
    if seconds <= 0 or peak_tflops <= 0:
        raise ValueError("seconds and peak_tflops must be positive")
    return training_flops(matmul_parameters, tokens) / seconds / (peak_tflops * 1e12)
