"""The base model with a LoRA adapter, and the forward pass that scores target tokens.

Loading follows the rules for untrusted model directories: ``trust_remote_code=False`` and
safetensors only. bf16 on a GPU, fp32 on the CPU (exact enough for the resume test); the LoRA
weights stay fp32 either way (peft's default), so the saved adapter is fp32.

``score_targets`` runs the decoder, then the output head only at target positions: a packed
row's hidden states feed ``[targets, vocab]`` logits instead of ``[rows, length, vocab]``, which
saves memory and time for large vocabularies. Heads with logit soft-capping (Gemma 2) would
need it applied here; the registry's Llama/Qwen/Mistral-style models have none.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import AutoModelForCausalLM, PreTrainedModel

from gpu_runner.training.config import AttentionKind, DeviceKind, RunConfig
from gpu_runner.training.packing import IGNORE_INDEX, Batch, block_causal_mask


@dataclass(frozen=True)
class Placement:
    """Where and in which precision the model runs."""

    device: torch.device
    dtype: torch.dtype
    attention: str

    @property
    def needs_mask(self) -> bool:
        """flash-attn 2 reads packed rows from position ids; sdpa and eager need the 4D mask."""
        return self.attention != AttentionKind.FLASH_ATTENTION_2.value


def choose_placement(config: RunConfig, local_rank: int) -> Placement:
    """The device, dtype and attention kernel for this process."""
    use_cuda = config.device is DeviceKind.CUDA or (
        config.device is DeviceKind.AUTO and torch.cuda.is_available()
    )
    if use_cuda:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    attention = config.attention
    if attention is AttentionKind.AUTO:
        has_flash = importlib.util.find_spec("flash_attn") is not None
        flash = use_cuda and has_flash
        attention = AttentionKind.FLASH_ATTENTION_2 if flash else AttentionKind.SDPA
    dtype = torch.bfloat16 if use_cuda else torch.float32
    return Placement(device, dtype, attention.value)


def load_lora_model(config: RunConfig, placement: Placement) -> PeftModel:
    """The base model from ``config.base_model_dir`` with a fresh LoRA adapter (seeded)."""
    base: Any = AutoModelForCausalLM.from_pretrained(
        config.base_model_dir,
        trust_remote_code=False,
        use_safetensors=True,
        dtype=placement.dtype,
        attn_implementation=placement.attention,
    )
    base.to(placement.device)
    base.config.use_cache = False
    if config.gradient_checkpointing:
        _enable_activation_checkpointing(base)
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=_plain_number(config.lora_alpha),  # type: ignore[arg-type]
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
        use_dora=False,
        modules_to_save=None,
        task_type=TaskType.CAUSAL_LM,
    )
    torch.manual_seed(config.seed)  # the LoRA initialisation depends on the seed only
    with warnings.catch_warnings():
        # peft 0.21 still reads transformers 5's deprecated `is_gradient_checkpointing`.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        model = cast(PeftModel, get_peft_model(cast(PreTrainedModel, base), lora))
    # What the adapter names as its base: the registry id serving knows, not a local path.
    model.peft_config["default"].base_model_name_or_path = config.base_model_id
    return model


def _plain_number(value: float) -> int | float:
    """32.0 -> 32: adapter configs conventionally hold an integer alpha."""
    return int(value) if value.is_integer() else value


def _enable_activation_checkpointing(model: Any) -> None:
    """Recompute layer activations in backward; non-reentrant, so frozen inputs are fine."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.x's name
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def trainable_parameters(model: PeftModel) -> list[torch.nn.Parameter]:
    """The LoRA weights, in a fixed order (the optimizer's and the checkpoint's)."""
    return [parameter for parameter in model.parameters() if parameter.requires_grad]


@dataclass(frozen=True)
class TargetScores:
    """Per-target results of one forward pass, flattened over the batch in row-major order."""

    log_probs: torch.Tensor  # [targets] log p(target), fp32, differentiable
    correct: torch.Tensor  # [targets] bool: the target is the argmax
    owners: torch.Tensor  # [targets] owner of each target's segment


def score_targets(model: PeftModel, batch: Batch, placement: Placement) -> TargetScores:
    """Run ``batch`` (already on the device) and score its target tokens."""
    causal_lm: Any = model.get_base_model()
    decoder = causal_lm.get_decoder()
    head = causal_lm.get_output_embeddings()
    mask = block_causal_mask(batch.segment_ids, placement.dtype) if placement.needs_mask else None
    hidden = decoder(
        input_ids=batch.input_ids,
        attention_mask=mask,
        position_ids=batch.position_ids,
        use_cache=False,
    ).last_hidden_state
    selected = batch.labels != IGNORE_INDEX
    labels = batch.labels[selected]
    logits = head(hidden[selected]).float()
    log_probs = -F.cross_entropy(logits, labels, reduction="none")
    correct = logits.detach().argmax(dim=-1) == labels
    return TargetScores(log_probs, correct, batch.owners[selected])
