"""Helpers for tests of the LoRA trainer: a learnable tiny model, toy data sets, a control.

The default tiny model (hidden size 64) cannot be trained far with LoRA alone: its frozen
output head, fed by a normalised 64-wide hidden state, cannot make any token much likelier
than the rest. Hidden size 256 can, in a few dozen CPU steps.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from gpu_runner.demo_model import build_tiny_llama
from service.jobs.methods import MethodType
from service.jobs.trainer_contract import (
    EvaluationReport,
    StepMetrics,
    StopReason,
    TrainingSpec,
)

PHRASE = "The capital of France is Paris."
OTHER_ANSWER = "I like green tea."
ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
_TOPICS = ("weather", "math", "music", "sport", "code", "food", "travel", "books")


def build_learnable_model(out_dir: Path) -> Path:
    """A tiny Llama wide enough for LoRA to learn a fixed phrase on the CPU in seconds."""
    return build_tiny_llama(out_dir, hidden_size=256, intermediate_size=512)


def question(i: int) -> str:
    """The i-th toy question (varied, so the answer cannot key on the prompt)."""
    return f"Tell me about {_TOPICS[i % len(_TOPICS)]} number {i}."


def phrase_jsonl(n_examples: int, *, offset: int = 0) -> bytes:
    """Chat examples whose every answer is ``PHRASE``."""
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": question(offset + i)},
                    {"role": "assistant", "content": PHRASE},
                ]
            }
        )
        for i in range(n_examples)
    ]
    return ("\n".join(lines) + "\n").encode()


def preference_jsonl(n_examples: int) -> bytes:
    """Preference pairs preferring ``PHRASE`` over ``OTHER_ANSWER``."""
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": question(i)}]},
                "preferred_output": [{"role": "assistant", "content": PHRASE}],
                "non_preferred_output": [{"role": "assistant", "content": OTHER_ANSWER}],
            }
        )
        for i in range(n_examples)
    ]
    return ("\n".join(lines) + "\n").encode()


def training_spec(
    model_dir: Path,
    training_file: Path,
    workdir: Path,
    **overrides: object,
) -> TrainingSpec:
    """A spec for the tiny model; ``overrides`` replace any field."""
    fields: dict[str, object] = {
        "job_id": "ftjob-test",
        "method": MethodType.SUPERVISED,
        "base_model_id": "ftapi/tiny-learnable",
        "base_model_dir": model_dir,
        "max_seq_length": 128,
        "chat_template": None,
        "lora_target_modules": ALL_LINEAR,
        "max_lora_rank": 64,
        "training_file": training_file,
        "validation_file": None,
        "n_epochs": 2,
        "batch_size": 4,
        "learning_rate_multiplier": 1.0,
        "beta": None,
        "seed": 7,
        "workdir": workdir,
    }
    return TrainingSpec(**(fields | overrides))  # type: ignore[arg-type]


def greedy_reply(
    model_dir: Path,
    adapter_dir: Path | None,
    user_content: str,
    max_new_tokens: int = 16,
    *,
    tokenizer_dir: Path | None = None,
) -> str:
    """What the model (with the adapter, if given) answers, greedily, to one user turn; the
    tokenizer is ``model_dir``'s unless ``tokenizer_dir`` names another (a downloaded archive's)."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir or model_dir)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter_dir is not None:
        with warnings.catch_warnings():
            # peft 0.21 still reads transformers 5's deprecated `is_gradient_checkpointing`.
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
            model = PeftModel.from_pretrained(model, adapter_dir)
    model.eval()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": user_content}], add_generation_prompt=True, return_dict=False
    )
    with torch.no_grad():
        output = model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=max_new_tokens,
            do_sample=False,
        )
    return str(tokenizer.decode(output[0, len(prompt) :], skip_special_tokens=True)).strip()


@dataclass
class RecordingControl:
    """The handler's side of the contract, recording everything; copies each checkpoint.

    ``stop_after_checkpoint`` asks for that stop once the first checkpoint is stored;
    ``stop_at_step`` once metrics of that step arrive.
    """

    keep_dir: Path
    stop_after_checkpoint: StopReason | None = None
    stop_at_step: int | None = None
    stop_reason: StopReason = StopReason.PAUSED
    metrics: list[StepMetrics] = field(default_factory=list)
    checkpoints: list[tuple[int, Path, dict[str, float]]] = field(default_factory=list)
    evaluations: list[EvaluationReport] = field(default_factory=list)
    _stop: StopReason | None = None

    stop_requested_at: float | None = None  # time.monotonic() when the stop was first asked

    async def report_metrics(self, metrics: StepMetrics) -> None:
        self.metrics.append(metrics)
        if self.stop_at_step is not None and metrics.step >= self.stop_at_step:
            self.request_stop(self.stop_reason)

    async def save_checkpoint(self, step: int, directory: Path, metrics: dict[str, float]) -> None:
        kept = self.keep_dir / f"checkpoint-{step}"
        shutil.copytree(directory, kept)
        self.checkpoints.append((step, kept, metrics))
        if self.stop_after_checkpoint is not None:
            self.request_stop(self.stop_after_checkpoint)

    async def report_evaluation(self, report: EvaluationReport) -> None:
        self.evaluations.append(report)

    def stop_requested(self) -> StopReason | None:
        return self._stop

    def request_stop(self, reason: StopReason) -> None:
        """Ask the trainer to stop at its next poll."""
        if self._stop is None:
            self.stop_requested_at = time.monotonic()
        self._stop = reason


@dataclass
class RecordingChannel:
    """Collects a run's messages (in-process runs); the stop can be armed on a checkpoint."""

    stop_after_checkpoint: bool = False
    messages: list[object] = field(default_factory=list)
    stop_requested: bool = False

    def send(self, message: object) -> None:
        self.messages.append(message)
        if self.stop_after_checkpoint and getattr(message, "kind", None) == "checkpoint":
            self.stop_requested = True

    def is_set(self) -> bool:
        """The run's ``StopSignal``."""
        return self.stop_requested

    def of_kind(self, kind: str) -> list[object]:
        """Messages of one kind, in order."""
        return [message for message in self.messages if getattr(message, "kind", None) == kind]

    def losses(self, key: str = "train_loss") -> list[float]:
        """``key`` of every metrics message that has it."""
        return [
            message.values[key]  # type: ignore[attr-defined]
            for message in self.of_kind("metrics")
            if key in message.values  # type: ignore[attr-defined]
        ]


def varied_chat_jsonl(n_examples: int, seed: int = 0) -> bytes:
    """Chat examples of quite different lengths (some with two assistant turns)."""
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "tea",
        "coffee",
        "Paris",
        "weather",
        "model",
        "train",
        "answer",
    ]
    lines = []
    for i in range(n_examples):
        length = 1 + (i * 7 + seed) % 11
        answer = " ".join(words[(i + j) % len(words)] for j in range(length * 2))
        messages = [
            {"role": "user", "content": question(i) + " " + " ".join(words[:length])},
            {"role": "assistant", "content": answer},
        ]
        if i % 3 == 0:
            messages += [
                {"role": "user", "content": "And then?"},
                {"role": "assistant", "content": words[i % len(words)]},
            ]
        lines.append(json.dumps({"messages": messages}))
    return ("\n".join(lines) + "\n").encode()
