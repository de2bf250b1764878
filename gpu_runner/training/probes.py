"""Recording the parity probes (``service.models.parity_probes``) with the model as trained.

Runs on rank 0 after the adapter is saved: base + LoRA, eval mode, no gradients, the same
placement (device, precision, attention kernel) and forward (``model.last_token_logits``) training
used; the caller sets autocast as training does. Prompts are tokenized as an
engine does: a completion's text with the tokenizer's special tokens (BOS), a chat rendered by
the run's chat template with the generation prompt, then encoded without adding any. Each step
recomputes the whole sequence (no KV cache): eight tokens of a short prompt cost little, and the
forward pass is exactly the one training scored with.
"""

from __future__ import annotations

import torch
from peft import PeftModel

from gpu_runner.training.config import RunConfig
from gpu_runner.training.model import Placement, last_token_logits
from gpu_runner.training.packing import Segment, collate
from service.datasets.for_gpu_runner import ChatTokenizer, read_tokenizer_files
from service.models.parity_probes import (
    PROBE_MAX_TOKENS,
    PROBE_PROMPTS,
    ProbeKind,
    ProbePrompt,
    ProbeReference,
    ProbeSet,
)


def record_probes(model: PeftModel, config: RunConfig, placement: Placement) -> ProbeSet:
    """Every probe's greedy continuation under the trained adapter."""
    files = read_tokenizer_files(config.base_model_dir)
    chat = ChatTokenizer(
        files, max_seq_length=config.max_seq_length, chat_template=config.chat_template
    )

    def prompt_ids(probe: ProbePrompt) -> list[int]:
        if probe.kind is ProbeKind.COMPLETION:
            return list(files.tokenizer.encode(probe.prompt, add_special_tokens=True).ids)
        text = chat.render_chat(probe.chat_messages(), add_generation_prompt=True)
        return list(files.tokenizer.encode(text, add_special_tokens=False).ids)

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            references = tuple(
                _greedy(model, placement, probe, prompt_ids(probe)) for probe in PROBE_PROMPTS
            )
    finally:
        model.train(was_training)
    return ProbeSet(references, PROBE_MAX_TOKENS, str(placement.dtype).removeprefix("torch."))


def _greedy(
    model: PeftModel, placement: Placement, probe: ProbePrompt, ids: list[int]
) -> ProbeReference:
    tokens: list[int] = []
    logprobs: list[float] = []
    margins: list[float] = []
    for _ in range(PROBE_MAX_TOKENS):
        scores = torch.log_softmax(_next_token_logits(model, placement, ids + tokens), dim=-1)
        top = torch.topk(scores, 2)
        tokens.append(int(top.indices[0]))
        logprobs.append(float(top.values[0]))
        margins.append(float(top.values[0] - top.values[1]))
    return ProbeReference(probe.name, probe.kind, tuple(tokens), tuple(logprobs), tuple(margins))


def _next_token_logits(model: PeftModel, placement: Placement, ids: list[int]) -> torch.Tensor:
    """fp32 logits after ``ids``: the training forward over a one-sequence batch."""
    batch = collate([[Segment(ids, [0] * len(ids), 0)]], pad_token_id=0).to(placement.device)
    last = torch.tensor([len(ids) - 1], device=placement.device)
    return last_token_logits(model, batch, placement, last)[0]
