"""Fold a LoRA adapter into its base and prove the result answers as base + adapter does.

The base is loaded in its own dtype (``config.json``'s), never quantized: an adapter trained
on a 4-bit base (QLoRA) is merged into the full-precision weights, the only ones a merged
model can be saved with. peft's ``merge_and_unload`` adds ``B @ A * scale`` to each target
weight; the result is saved with ``save_pretrained(safe_serialization=True)`` (sharded
safetensors, no pickle) and then *reloaded from disk* with ``AutoModelForCausalLM`` alone:
the logits checked are those of the files a user will get, not of the model in memory.

The check: every probe prompt (``service.models.parity_probes``, tokenized as an engine does)
is run through base + adapter (unmerged) and through the reloaded merged model; the largest
absolute difference of their fp32 logits at every position must stay within
``atol + rtol * max|reference|`` (tolerances set by the dtype), plus, for a half-precision base,
twice the noise floor: how far base + adapter computed in that dtype already is from fp32.
Merging then may not cost more than running the model in its own dtype does. Otherwise
``LogitsMismatch``.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from service.datasets.for_gpu_runner import ChatTokenizer, read_tokenizer_files
from service.models.parity_probes import PROBE_PROMPTS, ProbeKind, ProbePrompt

# (atol, rtol) per dtype, in logits. fp32: W + BA rounds to fp32 where W x + B(A x) rounded
# each product; with a large adapter (the demo base with a std-0.5 random LoRA) that moves
# logits by ~1.5e-4 of their scale, so 1e-3 leaves room while a wrong merge (a missing scale, a
# transposed or dropped delta) moves them by the adapter's whole effect. Half precisions: the
# noise floor measured in ``merge_adapter`` carries most of it.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float32: (1e-4, 1e-3),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (5e-2, 2e-2),
}
DEFAULT_MAX_SHARD_SIZE = "2GB"
# What a merged directory holds besides the weights; the tokenizer travels separately.
MODEL_CONFIG_FILES = ("config.json", "generation_config.json")


class LogitsMismatch(Exception):
    """The merged model's logits differ from base + adapter's beyond the tolerance."""


@dataclass(frozen=True)
class MergeReport:
    """What the check measured; stored beside the export and quoted in the model card."""

    dtype: str
    probes: int
    positions: int
    max_abs_diff: float  # merged vs base + adapter in fp32
    tolerance: float
    noise_floor: float  # base + adapter in the base's dtype vs in fp32 (0 for an fp32 base)
    files: list[str]


def probe_token_ids(base_dir: Path, chat_template: str | None) -> list[list[int]]:
    """Every probe prompt's token ids, as ``gpu_runner.training.probes`` tokenizes them."""
    files = read_tokenizer_files(base_dir)
    chat = ChatTokenizer(files, max_seq_length=None, chat_template=chat_template)

    def ids(probe: ProbePrompt) -> list[int]:
        if probe.kind is ProbeKind.COMPLETION:
            return list(files.tokenizer.encode(probe.prompt, add_special_tokens=True).ids)
        text = chat.render_chat(probe.chat_messages(), add_generation_prompt=True)
        return list(files.tokenizer.encode(text, add_special_tokens=False).ids)

    return [ids(probe) for probe in PROBE_PROMPTS]


def load_base(base_dir: Path, dtype: torch.dtype | None = None) -> Any:
    """The model under ``base_dir`` on the CPU, in ``dtype`` or its own, from safetensors only."""
    model: Any = AutoModelForCausalLM.from_pretrained(
        base_dir, dtype=dtype or "auto", use_safetensors=True, local_files_only=True
    )
    model.eval()
    return model


def with_adapter(base: Any, adapter_dir: Path) -> Any:
    """``base`` with the adapter applied (not merged)."""
    with warnings.catch_warnings():
        # peft 0.21 still reads transformers 5's deprecated `is_gradient_checkpointing`.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        model = PeftModel.from_pretrained(base, adapter_dir)
    model.eval()
    return model


def probe_logits(model: Any, prompts: list[list[int]]) -> list[torch.Tensor]:
    """fp32 logits at every position of every prompt."""
    with torch.no_grad():
        return [model(torch.tensor([ids])).logits[0].float() for ids in prompts]


def compare_logits(
    reference: list[torch.Tensor],
    merged: list[torch.Tensor],
    dtype: torch.dtype,
    noise_floor: float = 0.0,
) -> tuple[float, float]:
    """``(max_abs_diff, tolerance)``; raises ``LogitsMismatch`` when the first exceeds the
    second. ``noise_floor``: how far base + adapter run in ``dtype`` already is from the fp32
    reference; merging may add as much again."""
    atol, rtol = TOLERANCES.get(dtype, TOLERANCES[torch.bfloat16])
    scale = max(float(t.abs().max()) for t in reference)
    tolerance = atol + rtol * scale + 2 * noise_floor
    diff = max(float((r - m).abs().max()) for r, m in zip(reference, merged, strict=True))
    if not diff <= tolerance:  # NaN fails too
        raise LogitsMismatch(
            f"the merged model's logits differ from base + adapter's by {diff:.6g} on the "
            f"probe prompts (tolerance {tolerance:.6g} for {str(dtype).removeprefix('torch.')})"
        )
    return diff, tolerance


def max_abs_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    """The largest absolute difference between two lists of logits."""
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


def merge_adapter(
    base_dir: Path,
    adapter_dir: Path,
    out_dir: Path,
    *,
    chat_template: str | None = None,
    max_shard_size: str = DEFAULT_MAX_SHARD_SIZE,
) -> MergeReport:
    """Merge, save into ``out_dir`` (weights and model config only), reload and check.

    The merge itself runs in fp32 and is rounded once to the base's dtype; the reference is
    base + adapter in fp32. For a half-precision base, base + adapter run in that dtype first
    measures the noise floor the merged model is allowed on top of the tolerance.
    """
    prompts = probe_token_ids(base_dir, chat_template)
    model = with_adapter(load_base(base_dir), adapter_dir)
    dtype: torch.dtype = model.get_base_model().dtype
    native: list[torch.Tensor] | None = None
    if dtype != torch.float32:
        native = probe_logits(model, prompts)
        del model
        model = with_adapter(load_base(base_dir, torch.float32), adapter_dir)
    reference = probe_logits(model, prompts)
    noise_floor = 0.0 if native is None else max_abs_diff(native, reference)
    merged = model.merge_and_unload().to(dtype)
    out_dir.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out_dir, safe_serialization=True, max_shard_size=max_shard_size)
    del model, merged
    reloaded = load_base(out_dir)
    if reloaded.dtype != dtype:
        raise LogitsMismatch(f"the merged model reloads as {reloaded.dtype}, not {dtype}")
    diff, tolerance = compare_logits(reference, probe_logits(reloaded, prompts), dtype, noise_floor)
    return MergeReport(
        dtype=str(dtype).removeprefix("torch."),
        probes=len(prompts),
        positions=sum(len(ids) for ids in prompts),
        max_abs_diff=diff,
        tolerance=tolerance,
        noise_floor=noise_floor,
        files=sorted(p.name for p in out_dir.iterdir() if p.is_file()),
    )


def write_report(report: MergeReport, path: Path) -> None:
    """The report as JSON, for the worker that started this process."""
    path.write_text(json.dumps(asdict(report), indent=2))
