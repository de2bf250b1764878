"""Parity probes: proof that the model an engine serves is the model that was trained.

At the end of training the runner runs a few fixed probes through the model exactly as trained
(base + LoRA) and records, for each, the greedy continuation's token ids, each token's logprob and
the margin to the runner-up token. They travel in the adapter's ``manifest.json`` under
``MANIFEST_KEY``. When an agent first loads the adapter into its engine it asks the engine for the
same probes (``/v1/completions`` and ``/v1/chat/completions`` at temperature 0 with ``logprobs``
and vLLM's ``return_tokens_as_token_ids``) and compares with ``compare_probe``.

Two probes are plain completions (no chat template between prompt and tokens: a wrong base
revision, a tampered adapter or an engine that silently serves the base shows here); one goes
through the chat template, so a server rendering another template is caught too.

The tolerance. Each token's logprob must agree within ``atol`` nats. Where the engine's greedy
token differs, that is accepted only as a near-tie: two models each within ``atol`` of the truth
can swap their top two tokens only when the trained model's margin between them is at most
``2 * atol``; the rest of that probe is then not compared (the continuations diverge). fp32 on
both sides agrees to ~1e-5; bf16 (8 mantissa bits) rounds a logit of magnitude ~16 by up to
~0.06, and different kernels (vLLM's LoRA kernels against peft) add a few hundredths, so the
agent's default is ``DEFAULT_LOGPROB_ATOL`` = 0.1 nats. A wrong base, template or adapter moves
logprobs by whole nats and flips greedy tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MANIFEST_KEY = "parity_probes"
FORMAT_VERSION = 1
PROBE_MAX_TOKENS = 8
DEFAULT_LOGPROB_ATOL = 0.1


class ProbeKind(StrEnum):
    """Which OpenAI surface a probe goes through."""

    COMPLETION = "completion"  # /v1/completions with a text prompt (the tokenizer's BOS added)
    CHAT = "chat"  # /v1/chat/completions: the chat template renders the messages


@dataclass(frozen=True)
class ProbePrompt:
    """One fixed probe: a text prompt, or chat messages."""

    name: str
    kind: ProbeKind
    prompt: str = ""
    messages: tuple[tuple[str, str], ...] = ()  # (role, content)

    def chat_messages(self) -> list[dict[str, str]]:
        """``messages`` in OpenAI's shape."""
        return [{"role": role, "content": content} for role, content in self.messages]


PROBE_PROMPTS: tuple[ProbePrompt, ...] = (
    ProbePrompt("text-1", ProbeKind.COMPLETION, prompt="The quick brown fox"),
    ProbePrompt("text-2", ProbeKind.COMPLETION, prompt="1, 2, 3, 4,"),
    ProbePrompt("chat-1", ProbeKind.CHAT, messages=(("user", "What is 3 plus 3?"),)),
)


@dataclass(frozen=True)
class ProbeReference:
    """What the trained model produced for one probe."""

    name: str
    kind: ProbeKind
    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]
    margins: tuple[float, ...]  # logprob of the chosen token minus the runner-up's


@dataclass(frozen=True)
class ProbeObservation:
    """What an engine produced for one probe."""

    token_ids: tuple[int, ...]
    logprobs: tuple[float, ...]


@dataclass(frozen=True)
class ProbeSet:
    """Every probe's reference, as stored in the manifest."""

    references: tuple[ProbeReference, ...]
    max_tokens: int = PROBE_MAX_TOKENS
    dtype: str = "float32"  # the precision the trained model ran in when recording

    def to_json(self) -> dict[str, Any]:
        """The manifest entry."""
        return {
            "format_version": FORMAT_VERSION,
            "max_tokens": self.max_tokens,
            "dtype": self.dtype,
            "probes": [
                {
                    "name": reference.name,
                    "kind": reference.kind.value,
                    "token_ids": list(reference.token_ids),
                    "logprobs": list(reference.logprobs),
                    "margins": list(reference.margins),
                }
                for reference in self.references
            ],
        }

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> ProbeSet | None:
        """The probes a manifest records; None for an adapter made before probes existed.

        Raises ``ValueError`` for an entry that is there but unreadable.
        """
        entry = manifest.get(MANIFEST_KEY)
        if entry is None:
            return None
        try:
            if entry["format_version"] != FORMAT_VERSION:
                raise ValueError(f"unknown probe format {entry['format_version']!r}")
            references = tuple(
                ProbeReference(
                    name=str(probe["name"]),
                    kind=ProbeKind(probe["kind"]),
                    token_ids=tuple(int(token) for token in probe["token_ids"]),
                    logprobs=tuple(float(value) for value in probe["logprobs"]),
                    margins=tuple(float(value) for value in probe["margins"]),
                )
                for probe in entry["probes"]
            )
            return cls(references, int(entry["max_tokens"]), str(entry["dtype"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed {MANIFEST_KEY}: {exc!r}") from exc

    def prompt_of(self, reference: ProbeReference) -> ProbePrompt:
        """The fixed prompt a reference was recorded for."""
        for prompt in PROBE_PROMPTS:
            if prompt.name == reference.name and prompt.kind is reference.kind:
                return prompt
        raise ValueError(f"no probe prompt named {reference.name!r}")


class MismatchReason(StrEnum):
    """Why a probe did not match: a bounded set, for metric labels."""

    GREEDY = "token_mismatch"  # another greedy token where the trained model had no near-tie
    LOGPROB = "logprob_mismatch"  # the same token, its logprob outside the tolerance
    LENGTH = "short_answer"  # fewer tokens than asked for
    ANSWER = "bad_probe_answer"  # the engine refused the probe or answered without token ids
    PROBES = "unreadable_probes"  # the manifest's probes cannot be read


@dataclass(frozen=True)
class ProbeMismatch:
    """A failed comparison: its reason and a sentence for operators and the job's events."""

    reason: MismatchReason
    message: str


def compare_probe(
    reference: ProbeReference, observed: ProbeObservation, *, atol: float
) -> ProbeMismatch | None:
    """None when ``observed`` matches ``reference`` within ``atol``; else why not.

    See the module docstring for the rule and why near-ties are accepted.
    """
    for index, (want, want_logprob) in enumerate(
        zip(reference.token_ids, reference.logprobs, strict=True)
    ):
        if index >= len(observed.token_ids) or index >= len(observed.logprobs):
            return ProbeMismatch(
                MismatchReason.LENGTH,
                f"probe {reference.name}: the engine returned {len(observed.token_ids)} tokens, "
                f"the trained model {len(reference.token_ids)}.",
            )
        got, got_logprob = observed.token_ids[index], observed.logprobs[index]
        if got != want:
            if reference.margins[index] <= 2 * atol:
                return None  # a near-tie: both picks are within tolerance; the rest diverges
            return ProbeMismatch(
                MismatchReason.GREEDY,
                f"probe {reference.name}: greedy token {index} is {got}, the trained model's is "
                f"{want} (its margin {reference.margins[index]:.3f} nats is above the tie "
                f"tolerance {2 * atol:g}).",
            )
        if not math.isfinite(got_logprob) or abs(got_logprob - want_logprob) > atol:
            return ProbeMismatch(
                MismatchReason.LOGPROB,
                f"probe {reference.name}: token {index} has logprob {got_logprob:.4f}, the "
                f"trained model's is {want_logprob:.4f} (tolerance {atol:g} nats).",
            )
    return None


def compare_probes(
    probes: ProbeSet, observed: Sequence[ProbeObservation], *, atol: float
) -> ProbeMismatch | None:
    """The first mismatch over every probe, or None when all match."""
    for reference, seen in zip(probes.references, observed, strict=True):
        problem = compare_probe(reference, seen, atol=atol)
        if problem is not None:
            return problem
    return None
