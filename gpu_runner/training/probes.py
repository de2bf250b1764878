"""Recording the parity probes (``service.models.parity_probes``) with the model as trained.

Runs on rank 0 after the adapter is saved: base + LoRA, eval mode, no gradients, the same
placement (device, precision, attention kernel) training used. Prompts are tokenized as an
engine does: a completion's text with the tokenizer's special tokens (BOS), a chat rendered by
the run's chat template with the generation prompt, then encoded without adding any. Each step
recomputes the whole sequence (no KV cache): eight tokens of a short prompt cost little, and the
forward pass is exactly the one training scored with.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from peft import PeftModel

from gpu_runner.training.attention import LAYOUT_KWARG, SequenceLayout
from gpu_runner.training.config import RunConfig
from gpu_runner.training.model import Placement
from gpu_runner.training.packing import block_causal_mask
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
    """fp32 logits after ``ids``, through the decoder call ``score_targets`` makes."""
    causal_lm: Any = model.get_base_model()
    input_ids = torch.tensor([ids], dtype=torch.long, device=placement.device)
    positions = torch.arange(len(ids), device=placement.device)[None, :]
    mask = None
    if placement.needs_mask:
        mask = block_causal_mask(torch.zeros_like(input_ids), placement.dtype)
    extra: dict[str, Any] = {}
    if placement.needs_layout:
        extra[LAYOUT_KWARG] = SequenceLayout.of([len(ids)], placement.device)
    autocast: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if placement.device.type == "cuda":
        autocast = torch.autocast("cuda", dtype=placement.dtype)
    with autocast:
        hidden = causal_lm.get_decoder()(
            input_ids=input_ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=False,
            **extra,
        ).last_hidden_state
        logits = causal_lm.get_output_embeddings()(hidden[0, -1])
    return logits.float()  # type: ignore[no-any-return]
