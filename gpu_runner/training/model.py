"""The base model with a LoRA adapter, and the forward pass that scores target tokens.

Loading follows the rules for untrusted model directories: ``trust_remote_code=False`` and
safetensors only. bf16 on a GPU, fp32 on the CPU (exact enough for the resume test); the LoRA
weights stay fp32 either way (peft's default), so the saved adapter is fp32. With
``quantization=nf4`` the frozen base is loaded in 4-bit (QLoRA, ``training.quantization``).

The adapter is new (seeded), or, for a job that starts from a fine-tuned model, that model's
adapter loaded to be trained further, with its own configuration (rank, alpha, targets). DPO
then measures against the model the job started from: a frozen copy of the starting adapter
named ``REFERENCE_ADAPTER`` (``reference_model``); otherwise the base, adapter disabled.

``score_targets`` runs the decoder, then the output head only at target positions: a packed
row's hidden states feed ``[targets, vocab]`` logits instead of ``[rows, length, vocab]``, which
saves memory and time for large vocabularies. Heads with logit soft-capping (Gemma 2) would
need it applied here; the registry's Llama/Qwen/Mistral-style models have none.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import AutoModelForCausalLM, PreTrainedModel

from gpu_runner.training.attention import (
    LAYOUT_KWARG,
    VARLEN_ATTENTION,
    SequenceLayout,
    register_varlen_attention,
)
from gpu_runner.training.checkpoint import load_adapter_weights
from gpu_runner.training.config import AttentionKind, DeviceKind, RunConfig
from gpu_runner.training.packing import IGNORE_INDEX, Batch, block_causal_mask
from gpu_runner.training.quantization import (
    bitsandbytes_installed,
    check_quantization,
    nf4_options,
)

TRAINED_ADAPTER = "default"  # peft's name for the first adapter: the one trained and saved
REFERENCE_ADAPTER = "reference"  # DPO's frozen starting adapter, when the job began from one
_MASKED_KERNELS = frozenset({AttentionKind.SDPA.value, AttentionKind.EAGER.value})


@dataclass(frozen=True)
class Placement:
    """Where and in which precision the model runs."""

    device: torch.device
    dtype: torch.dtype
    attention: str  # transformers' attn_implementation
    quantized: bool = False  # the base is in 4-bit NF4

    @property
    def needs_mask(self) -> bool:
        """sdpa and eager need the 4D block-diagonal mask; varlen and flash-attn 2 need none."""
        return self.attention in _MASKED_KERNELS

    @property
    def needs_layout(self) -> bool:
        """The varlen kernel reads each batch's sequence lengths."""
        return self.attention == VARLEN_ATTENTION


def choose_placement(config: RunConfig, local_rank: int) -> Placement:
    """The device, dtype, attention kernel and base precision for this process.

    Raises ``QuantizationUnavailableError`` when a 4-bit base is asked for and cannot be had.
    """
    use_cuda = config.device is DeviceKind.CUDA or (
        config.device is DeviceKind.AUTO and torch.cuda.is_available()
    )
    quantized = check_quantization(
        config.quantization, on_cuda=use_cuda, has_bitsandbytes=bitsandbytes_installed()
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
        attention = AttentionKind.FLASH_ATTENTION_2 if flash else AttentionKind.VARLEN
    dtype = torch.bfloat16 if use_cuda else torch.float32
    implementation = VARLEN_ATTENTION if attention is AttentionKind.VARLEN else attention.value
    return Placement(device, dtype, implementation, quantized)


def load_lora_model(config: RunConfig, placement: Placement) -> PeftModel:
    """The base model from ``config.base_model_dir`` with the adapter to train (see the module)."""
    base = _load_base(config, placement)
    lora = _lora_config(config)
    torch.manual_seed(config.seed)  # a new adapter's initialisation depends on the seed only
    with warnings.catch_warnings():
        # peft 0.21 still reads transformers 5's deprecated `is_gradient_checkpointing`.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        model = cast(PeftModel, get_peft_model(cast(PreTrainedModel, base), lora))
    if config.initial_adapter_dir is not None:
        load_adapter_weights(model, config.initial_adapter_dir, TRAINED_ADAPTER)
        if config.is_dpo:
            frozen = copy.deepcopy(lora)
            frozen.lora_dropout = 0.0
            frozen.inference_mode = True  # its weights never require a gradient
            model.add_adapter(REFERENCE_ADAPTER, frozen)
            load_adapter_weights(model, config.initial_adapter_dir, REFERENCE_ADAPTER)
    # What the adapter names as its base: the registry id serving knows, not a local path.
    model.peft_config[TRAINED_ADAPTER].base_model_name_or_path = config.base_model_id
    return model


def reference_model(model: PeftModel) -> contextlib.AbstractContextManager[Any]:
    """Within this context ``model`` is DPO's reference: the starting adapter, else the base."""
    if REFERENCE_ADAPTER in model.peft_config:
        return _reference_adapter_active(model)
    return model.disable_adapter()


@contextlib.contextmanager
def _reference_adapter_active(model: PeftModel) -> Iterator[None]:
    model.set_adapter(REFERENCE_ADAPTER, inference_mode=True)
    try:
        yield
    finally:
        model.set_adapter(TRAINED_ADAPTER)  # trainable again; the reference stays frozen


def _load_base(config: RunConfig, placement: Placement) -> Any:
    if placement.attention == VARLEN_ATTENTION:
        register_varlen_attention()
    options: dict[str, Any] = {}
    if placement.quantized:  # CUDA only: check_quantization said so
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            **nf4_options(placement.dtype)
        )
        options["device_map"] = {"": placement.device}  # 4-bit weights cannot be moved later
    base: Any = AutoModelForCausalLM.from_pretrained(
        config.base_model_dir,
        trust_remote_code=False,
        use_safetensors=True,
        dtype=placement.dtype,
        attn_implementation=placement.attention,
        **options,
    )
    base.config.use_cache = False
    if placement.quantized:
        from peft import prepare_model_for_kbit_training

        # Casts the remaining bf16 weights (norms, head) to fp32 and sets up checkpointing.
        return prepare_model_for_kbit_training(  # type: ignore[no-untyped-call]
            base,
            use_gradient_checkpointing=config.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    base.to(placement.device)
    if config.gradient_checkpointing:
        _enable_activation_checkpointing(base)
    return base


def _lora_config(config: RunConfig) -> LoraConfig:
    """The starting adapter's own configuration (trainable now), or a new adapter's."""
    if config.initial_adapter_dir is not None:
        lora = cast(LoraConfig, LoraConfig.from_pretrained(str(config.initial_adapter_dir)))
        lora.inference_mode = False
        lora.lora_dropout = config.lora_dropout
        lora.base_model_name_or_path = None  # set to the registry id once loaded
        return lora
    return LoraConfig(
        r=config.lora_rank,
        lora_alpha=_plain_number(config.lora_alpha),  # type: ignore[arg-type]
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
        use_dora=False,
        modules_to_save=None,
        task_type=TaskType.CAUSAL_LM,
    )


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
    hidden = _hidden_states(model, batch, placement)
    causal_lm: Any = model.get_base_model()
    head = causal_lm.get_output_embeddings()
    selected = batch.labels != IGNORE_INDEX
    labels = batch.labels[selected]
    logits = head(hidden[selected]).float()
    log_probs = -F.cross_entropy(logits, labels, reduction="none")
    correct = logits.detach().argmax(dim=-1) == labels
    return TargetScores(log_probs, correct, batch.owners[selected])


def last_token_logits(
    model: PeftModel, batch: Batch, placement: Placement, positions: torch.Tensor
) -> torch.Tensor:
    """``[rows, vocab]`` logits of the next token after position ``positions[b]`` of row ``b``
    (the training forward, so every attention kernel works; in-job evaluation decodes with it)."""
    hidden = _hidden_states(model, batch, placement)
    causal_lm: Any = model.get_base_model()
    head = causal_lm.get_output_embeddings()
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    logits: torch.Tensor = head(hidden[rows, positions]).float()
    return logits


def _hidden_states(model: PeftModel, batch: Batch, placement: Placement) -> torch.Tensor:
    """The decoder's last hidden states of ``batch``, each sequence attending only to itself."""
    causal_lm: Any = model.get_base_model()
    decoder = causal_lm.get_decoder()
    mask = block_causal_mask(batch.segment_ids, placement.dtype) if placement.needs_mask else None
    extra: dict[str, Any] = {}
    if placement.needs_layout:  # handed through every layer to the attention kernel
        extra[LAYOUT_KWARG] = SequenceLayout.of(batch.sequence_lengths, placement.device)
    hidden: torch.Tensor = decoder(
        input_ids=batch.input_ids,
        attention_mask=mask,
        position_ids=batch.position_ids,
        use_cache=False,
        **extra,
    ).last_hidden_state
    return hidden
