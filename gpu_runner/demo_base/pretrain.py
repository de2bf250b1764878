"""Pretrain the demo base model on the synthetic skills corpus: a seeded, rerunnable CPU script.

The model is a small Llama with a byte-level tokenizer (one token per byte, so digits and letters
stay apart for arithmetic and reversing) and the ChatML template. Only the assistant's answer and
its closing ``<|im_end|>`` carry loss: the prompts are random draws there is nothing to learn
from, and the answers are what teaches the model its skills and to end its turn.

Same seed and same thread count, same weights; across machines float summation order may differ,
so the shipped files are pinned by the manifest's hashes, not by a rebuild.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from gpu_runner.demo_base.corpus import ChatExample, pretraining_stream
from gpu_runner.demo_model import DemoChatTemplate, random_llama, save_chat_tokenizer

BYTE_VOCAB_SIZE = 256  # no BPE merges: every byte is one token
IGNORE_INDEX = -100
_POOL_BATCHES = 8  # batches drawn at once and sorted by length


@dataclass(frozen=True)
class PretrainConfig:
    """The shape of the demo base and how it is trained; the defaults built the shipped model."""

    hidden_size: int = 128
    intermediate_size: int = 256
    layers: int = 3
    heads: int = 4
    kv_heads: int = 4
    max_position_embeddings: int = 256
    steps: int = 8000
    batch_size: int = 48
    peak_learning_rate: float = 3e-3
    warmup_steps: int = 30
    weight_decay: float = 0.01
    seed: int = 0
    threads: int = 1  # on a shared CPU one thread wastes nothing on waiting for the other


@dataclass(frozen=True)
class PretrainResult:
    """What a run produced: its directory, size, final loss and how long it took."""

    out_dir: Path
    parameters: int
    final_loss: float
    wall_s: float


def pretrain(out_dir: Path, config: PretrainConfig, *, log_every: int = 50) -> PretrainResult:
    """Write the tokenizer, train a fresh model for ``config.steps`` and save it to ``out_dir``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _pretrain(out_dir, config, log_every)
    finally:
        torch.set_num_threads(threads)  # a caller's thread count survives (tests run this)


def _pretrain(out_dir: Path, config: PretrainConfig, log_every: int) -> PretrainResult:
    started = time.monotonic()
    torch.manual_seed(config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_chat_tokenizer(
        out_dir, DemoChatTemplate.CHATML, BYTE_VOCAB_SIZE, config.max_position_embeddings
    )
    tokenizer = PreTrainedTokenizerFast.from_pretrained(out_dir)
    model = random_llama(
        tokenizer.backend_tokenizer,
        DemoChatTemplate.CHATML,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        layers=config.layers,
        heads=config.heads,
        kv_heads=config.kv_heads,
        max_position_embeddings=config.max_position_embeddings,
        seed=config.seed,
    )
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.peak_learning_rate, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_scale(step, config))
    batches = _batches(tokenizer, pretraining_stream(config.seed), config.batch_size)
    model.train()
    loss_value = math.nan
    for step in range(1, config.steps + 1):
        input_ids, labels, attention_mask = next(batches)
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        if log_every and (step % log_every == 0 or step == config.steps):
            print(f"step {step}/{config.steps} loss {loss_value:.4f}", flush=True)
    model.train(False)  # dropout off (what eval() does)
    model.save_pretrained(out_dir)
    return PretrainResult(
        out_dir=out_dir,
        parameters=sum(p.numel() for p in model.parameters()),
        final_loss=loss_value,
        wall_s=time.monotonic() - started,
    )


def config_record(config: PretrainConfig) -> dict[str, object]:
    """The config as JSON-ready fields (written into the manifest)."""
    return asdict(config)


def encode_example(
    tokenizer: PreTrainedTokenizerFast, example: ChatExample
) -> tuple[list[int], int]:
    """Token ids of the whole rendered conversation, and where the answer starts.

    The tokenizer has no merges, so the prompt's tokens are a prefix of the conversation's.
    """
    messages = example.messages()
    prompt = str(
        tokenizer.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False)
    )
    full = str(tokenizer.apply_chat_template(messages, tokenize=False))
    # The template closes the turn with "<|im_end|>\n"; the newline after it is not the answer's.
    ids = tokenizer.encode(full.removesuffix("\n"), add_special_tokens=False)
    return ids, len(tokenizer.encode(prompt, add_special_tokens=False))


def _batches(
    tokenizer: PreTrainedTokenizerFast, stream: Iterator[ChatExample], batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Padded batches; examples of similar length go together (less padding, less CPU time)."""
    pad_id = int(tokenizer.pad_token_id)
    while True:
        pool = sorted(
            (encode_example(tokenizer, next(stream)) for _ in range(batch_size * _POOL_BATCHES)),
            key=lambda encoded: len(encoded[0]),
        )
        for start in range(0, len(pool), batch_size):
            yield _pad(pool[start : start + batch_size], pad_id)


def _pad(
    encoded: list[tuple[list[int], int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), pad_id)
    labels = torch.full((len(encoded), width), IGNORE_INDEX)
    attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (ids, answer_start) in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, answer_start : len(ids)] = torch.tensor(ids[answer_start:])
        attention_mask[row, : len(ids)] = 1
    return input_ids, labels, attention_mask


def _lr_scale(step: int, config: PretrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def load(model_dir: Path) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """The model and tokenizer of a demo base directory, ready for greedy generation."""
    model = LlamaForCausalLM.from_pretrained(model_dir)
    model.train(False)  # dropout off (what eval() does)
    return model, PreTrainedTokenizerFast.from_pretrained(model_dir)
