"""QLoRA: the frozen base in 4-bit NF4 (bitsandbytes), LoRA weights and compute in bf16/fp32.

Asked for by ``FTAPI_LORA_QUANTIZATION=nf4``. It only runs on CUDA with bitsandbytes installed
(the ``qlora`` extra); ``check_quantization`` decides that without importing either, so the
decision is testable anywhere, and a runner without them fails its jobs with
``quantization_unavailable`` instead of crashing. The loading itself is in ``model``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import torch

from gpu_runner.training.config import Quantization
from gpu_runner.training.errors import QuantizationUnavailableError


def check_quantization(requested: Quantization, *, on_cuda: bool, has_bitsandbytes: bool) -> bool:
    """Whether to load the base in 4-bit; raises when it was asked for and cannot be done."""
    if requested is Quantization.NONE:
        return False
    if not on_cuda:
        raise QuantizationUnavailableError("it trains on the CPU: 4-bit bases need a CUDA GPU")
    if not has_bitsandbytes:
        raise QuantizationUnavailableError("bitsandbytes is not installed")
    return True


def bitsandbytes_installed() -> bool:
    """Whether ``bitsandbytes`` can be imported (without importing it)."""
    return importlib.util.find_spec("bitsandbytes") is not None


def nf4_options(compute_dtype: torch.dtype) -> dict[str, Any]:
    """``BitsAndBytesConfig`` arguments of the QLoRA recipe: NF4, double quantization."""
    return {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": compute_dtype,
        "bnb_4bit_use_double_quant": True,
    }
