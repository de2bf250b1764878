"""In-job evaluation: greedy answers to a sample of validation prompts, graded against the
reference answers.

The sample is up to ``eval_examples`` chat examples of the validation file whose last message is
the assistant's (drawn once per run, seeded by the job's seed, so the base, every checkpoint and
the final model answer the same prompts). Each prompt (the messages before that last one) is
rendered with the chat template the trainer uses, and answered greedily without a KV cache: one
forward pass per new token over all unfinished answers at once, through the training forward
(``model.last_token_logits``), because the varlen attention kernel knows no cache. An answer
ends at the end-of-sequence or end-of-turn token, or after ``reference tokens + slack`` tokens
(capped): longer than that it could not match anyway.

Every grader (``service.graders``: string_check and text_similarity; the job's graders were
checked at creation to be ones that run here) sees ``item.reference``, ``item.prompt`` (the last
user message's text) and ``sample.output_text``; its mean reward over the sample is the metric
``valid_<name>`` (the reference set's eval, which measures forgetting, names it ``<name>``:
``metric_prefix``). Ranks answer their share of the sample and the sums are added over ranks, so
every rank holds the same metrics (early stopping decides on them).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel

from gpu_runner.training.distributed import Ranks
from gpu_runner.training.model import Placement, last_token_logits
from gpu_runner.training.packing import Segment, collate
from service.datasets.for_gpu_runner import (
    ChatTokenizer,
    DatasetFormat,
    detect_format,
    iter_examples,
    read_tokenizer_files,
)
from service.graders import GradedSample, GraderCapabilities, parse_grader, run_grader
from service.graders.config import Grader
from service.jobs.evaluation import metric_key

ANSWER_SLACK_TOKENS = 4  # beyond the reference's length, before an answer is cut


@dataclass(frozen=True)
class EvalExample:
    """One validation prompt, tokenized, with its reference answer."""

    prompt_ids: list[int]
    prompt_text: str  # the last user message: ``item.prompt``
    reference: str
    max_new_tokens: int


class GenerationEval:
    """The run's eval sample and graders; ``metrics`` grades the model as it is now."""

    def __init__(
        self,
        examples: Sequence[EvalExample],
        graders: Sequence[Grader],
        decode: Callable[[list[int]], str],
        stop_ids: frozenset[int],
        pad_token_id: int,
        metric_prefix: str = "valid_",
    ) -> None:
        self.examples = list(examples)
        self.graders = list(graders)
        self.metric_prefix = metric_prefix
        self._decode = decode
        self._stop_ids = stop_ids
        self._pad_token_id = pad_token_id

    @classmethod
    def load(
        cls,
        validation_file: Path,
        tokenizer: ChatTokenizer,
        base_model_dir: Path,
        *,
        grader_configs: Sequence[Mapping[str, Any]],
        n_examples: int,
        max_new_tokens: int,
        seed: int,
        metric_prefix: str = "valid_",
    ) -> GenerationEval | None:
        """The eval of ``validation_file`` (or a reference set); None when it holds no chat
        example to answer."""
        files = read_tokenizer_files(base_model_dir)
        encoder = files.tokenizer
        candidates = _chat_examples(validation_file)
        random.Random(seed).shuffle(candidates)  # noqa: S311 - a sample, not a secret
        examples: list[EvalExample] = []
        for prompt_messages, reference in candidates:
            if len(examples) >= n_examples:
                break
            text = tokenizer.render_chat(prompt_messages, add_generation_prompt=True)
            prompt_ids = encoder.encode(text, add_special_tokens=False).ids
            reference_tokens = len(encoder.encode(reference, add_special_tokens=False).ids)
            limit = min(max_new_tokens, reference_tokens + ANSWER_SLACK_TOKENS)
            if not prompt_ids or len(prompt_ids) + limit > tokenizer.max_seq_length:
                continue
            examples.append(
                EvalExample(prompt_ids, _last_user_text(prompt_messages), reference, limit)
            )
        if not examples:
            return None
        stop_ids = {
            token_id
            for token in (tokenizer.eos_token, tokenizer.end_of_turn_token)
            if token is not None and (token_id := encoder.token_to_id(token)) is not None
        }
        graders = [
            parse_grader(
                raw, param="eval_graders", capabilities=GraderCapabilities(embeddings=False)
            )
            for raw in grader_configs
        ]
        return cls(
            examples,
            graders,
            lambda ids: encoder.decode(ids, skip_special_tokens=True),
            frozenset(stop_ids),
            tokenizer.eos_token_id or 0,
            metric_prefix,
        )

    @property
    def metric_names(self) -> list[str]:
        """The metric keys, one per grader."""
        return [metric_key(grader.name, self.metric_prefix) for grader in self.graders]

    def metrics(self, model: PeftModel, placement: Placement, ranks: Ranks) -> dict[str, float]:
        """Answer this rank's share of the sample, grade it, and add the sums over ranks."""
        mine = [self.examples[i] for i in ranks.share(range(len(self.examples)))]
        answers = self.answers(model, placement, mine)
        sums = [0.0] * (len(self.graders) + 1)
        if mine:
            for rewards in asyncio.run(self._grade(mine, answers)):
                for g, reward in enumerate(rewards):
                    sums[g] += reward
            sums[-1] = float(len(mine))
        totals = ranks.sum_floats(sums, placement.device)
        count = max(totals[-1], 1.0)
        return {name: total / count for name, total in zip(self.metric_names, totals, strict=False)}

    def answers(
        self, model: PeftModel, placement: Placement, examples: Sequence[EvalExample]
    ) -> list[str]:
        """Greedy answers to ``examples``, as text."""
        sequences = [list(example.prompt_ids) for example in examples]
        generated: list[list[int]] = [[] for _ in examples]
        open_rows = [i for i, example in enumerate(examples) if example.max_new_tokens > 0]
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                while open_rows:
                    rows = [[Segment(sequences[i], [0] * len(sequences[i]), 0)] for i in open_rows]
                    batch = collate(rows, self._pad_token_id).to(placement.device)
                    last = torch.tensor(
                        [len(sequences[i]) - 1 for i in open_rows], device=placement.device
                    )
                    picks = last_token_logits(model, batch, placement, last).argmax(dim=-1)
                    still_open = []
                    for i, token_id in zip(open_rows, picks.tolist(), strict=True):
                        if token_id in self._stop_ids:
                            continue
                        generated[i].append(token_id)
                        sequences[i].append(token_id)
                        if len(generated[i]) < examples[i].max_new_tokens:
                            still_open.append(i)
                    open_rows = still_open
        finally:
            model.train(was_training)
        return [self._decode(ids).strip() for ids in generated]

    async def _grade(
        self, examples: Sequence[EvalExample], answers: Sequence[str]
    ) -> list[list[float]]:
        """Per example, each grader's reward (0 where the grader reported an error)."""

        async def one(example: EvalExample, answer: str) -> list[float]:
            item = {"reference": example.reference, "prompt": example.prompt_text}
            sample = GradedSample.of_text(answer)
            results = [
                await run_grader(grader, item=item, sample=sample, models=None, embeddings=None)
                for grader in self.graders
            ]
            return [0.0 if result.has_error() else result.reward for result in results]

        return list(
            await asyncio.gather(
                *(one(example, answer) for example, answer in zip(examples, answers, strict=True))
            )
        )


def _chat_examples(path: Path) -> list[tuple[list[dict[str, Any]], str]]:
    """``(prompt messages, reference)`` of each chat example ending in a plain assistant text."""

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                yield chunk

    found: list[tuple[list[dict[str, Any]], str]] = []
    for _line_no, example in iter_examples(chunks(), expected_formats={DatasetFormat.CHAT}):
        if detect_format(example) not in (None, DatasetFormat.CHAT):
            continue
        messages = example.get("messages")
        if not isinstance(messages, list) or len(messages) < 2:
            continue
        last = messages[-1]
        content = last.get("content") if isinstance(last, dict) else None
        if (
            not isinstance(last, dict)
            or last.get("role") != "assistant"
            or not isinstance(content, str)
            or last.get("tool_calls")
        ):
            continue
        found.append(([dict(m) for m in messages[:-1]], content.strip()))
    return found


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""
