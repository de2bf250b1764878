"""The model card (``README.md``) of a downloaded adapter or merged model: what it is and how it
was made (for a merged model, how the merge was checked).

Rendered from the records ftapi keeps: the base model (and the hub revision it is pinned to),
the job's training and validation files with the sha256 they were stored with, the job's method
and resolved hyperparameters, and its evaluation summary. Anything not recorded (an adapter
published without a job row, an imported adapter, a file since deleted) is said to be unknown
rather than left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DatasetFile:
    """A file a job trained or validated on, as the Files API recorded it."""

    id: str
    filename: str | None = None  # None: the file is gone (deleted, expired) or was never ours
    sha256: str | None = None


@dataclass(frozen=True)
class ModelCardFacts:
    """Everything the card states."""

    model: str
    kind: str  # "model" or "checkpoint"
    base_model: str  # the registry id
    base_source: str | None  # the hub id (or None for a local or blob-store base)
    base_revision: str | None
    job_id: str | None  # None: imported (``POST /v1/models/import``), not trained by ftapi
    created: int
    step: int | None = None  # a checkpoint's step
    training_file: DatasetFile | None = None
    validation_file: DatasetFile | None = None
    method: dict[str, Any] | None = None  # OpenAI's ``method`` object, hyperparameters resolved
    seed: int | None = None
    trained_tokens: int | None = None
    eval_summary: dict[str, Any] | None = None
    checkpoint_metrics: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)
    # A merged export's logits check (``gpu_runner.export.merge.MergeReport``); None: an adapter.
    merge_report: dict[str, Any] | None = None


def render_model_card(facts: ModelCardFacts) -> str:
    """The card as Markdown."""
    base = f"`{facts.base_model}`"
    if facts.base_source is not None:
        base += f" (hub `{facts.base_source}`"
        base += f" at revision `{facts.base_revision}`)" if facts.base_revision else ")"
    origin = (
        f"trained by ftapi job `{facts.job_id}`"
        if facts.job_id is not None
        else "trained elsewhere and imported into ftapi (its training data and hyperparameters "
        "are not recorded here)"
    )
    what = f"A LoRA adapter ({facts.kind}) {origin}."
    if facts.merge_report is not None:
        what = (
            f"The LoRA adapter ({facts.kind}) {origin}, merged into its base model: a plain "
            "transformers model, no peft needed."
        )
    lines = [
        f"# {facts.model}",
        "",
        what,
        "",
        f"- Base model: {base}",
        f"- Created: {facts.created} (Unix seconds)",
    ]
    if facts.step is not None:
        lines.append(f"- Checkpoint step: {facts.step}")
    lines += [
        f"- Training file: {_dataset_line(facts.training_file)}",
        f"- Validation file: {_dataset_line(facts.validation_file)}",
    ]
    if facts.seed is not None:
        lines.append(f"- Seed: {facts.seed}")
    if facts.trained_tokens is not None:
        lines.append(f"- Trained tokens: {facts.trained_tokens}")
    lines += ["", "## Method and hyperparameters", ""]
    lines += _json_block(facts.method) if facts.method else ["Not recorded."]
    if facts.checkpoint_metrics:
        lines += ["", "## Checkpoint metrics", "", *_json_block(facts.checkpoint_metrics)]
    lines += ["", "## Evaluation", ""]
    lines += _json_block(facts.eval_summary) if facts.eval_summary else ["No evaluation summary."]
    if facts.merge_report is not None:
        lines += ["", *_merge_section(facts.merge_report)]
        lines += ["", "`sha256sum -c checksums` checks every file of this directory.", ""]
    else:
        lines += _peft_loading(facts)
    if facts.files:
        lines += ["## Files", "", *[f"- `{name}`" for name in facts.files], ""]
    return "\n".join(lines)


def _merge_section(report: dict[str, Any]) -> list[str]:
    dtype = report.get("dtype", "unknown")
    return [
        "## Merge",
        "",
        f"The adapter was folded into the base's full-precision weights ({dtype}): the sum was "
        "computed in float32 and rounded once to that dtype. An adapter trained on a 4-bit "
        "(QLoRA) base is merged into the same full-precision base, not the quantized one, so "
        "the merged model may differ from the served one by the quantization error.",
        "",
        "Checked when it was built: on ftapi's probe prompts, the logits of this directory, "
        "loaded with transformers alone, differ from base + adapter's (float32) by at most "
        f"{report.get('max_abs_diff')} (tolerance {report.get('tolerance')}; "
        f"{report.get('probes')} prompts, {report.get('positions')} positions).",
        "",
        "## Loading",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        'model = AutoModelForCausalLM.from_pretrained("<this directory>")',
        'tokenizer = AutoTokenizer.from_pretrained("<this directory>")',
        "```",
    ]


def _peft_loading(facts: ModelCardFacts) -> list[str]:
    return [
        "",
        "## Loading",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'base = AutoModelForCausalLM.from_pretrained("<the base model {facts.base_model}>")',
        'model = PeftModel.from_pretrained(base, "<this directory>")',
        'tokenizer = AutoTokenizer.from_pretrained("<this directory>")',
        "```",
        "",
        "`sha256sum -c checksums` checks every file of this directory.",
        "",
    ]


def _dataset_line(file: DatasetFile | None) -> str:
    if file is None:
        return "none"
    if file.filename is None:
        return f"`{file.id}` (no longer stored; sha256 unknown)"
    return f"`{file.id}` ({file.filename}, sha256 `{file.sha256}`)"


def _json_block(value: dict[str, Any]) -> list[str]:
    return ["```json", json.dumps(value, indent=2, sort_keys=True), "```"]
