"""The parity comparison: tolerance edges, near-ties, and the manifest entry's round trip."""

from __future__ import annotations

import math

import pytest

from service.models.parity_probes import (
    MANIFEST_KEY,
    PROBE_PROMPTS,
    MismatchReason,
    ProbeKind,
    ProbeObservation,
    ProbeReference,
    ProbeSet,
    compare_probe,
    compare_probes,
)
from service.serving.agent.parity import chat_observation, completion_observation

ATOL = 0.1
REFERENCE = ProbeReference(
    name="text-1",
    kind=ProbeKind.COMPLETION,
    token_ids=(5, 9, 7),
    logprobs=(-0.5, -1.25, -0.1),
    margins=(1.0, 0.15, 3.0),
)


def seen(token_ids: tuple[int, ...], logprobs: tuple[float, ...]) -> ProbeObservation:
    return ProbeObservation(token_ids, logprobs)


def test_the_same_tokens_within_the_tolerance_match() -> None:
    inside = seen((5, 9, 7), (-0.5 + 0.099, -1.25 - 0.099, -0.1))
    assert compare_probe(REFERENCE, inside, atol=ATOL) is None


@pytest.mark.parametrize("delta", [0.1001, -0.1001, 2.0])
def test_a_logprob_outside_the_tolerance_is_a_mismatch(delta: float) -> None:
    outside = seen((5, 9, 7), (-0.5, -1.25 + delta, -0.1))
    mismatch = compare_probe(REFERENCE, outside, atol=ATOL)
    assert mismatch is not None
    assert mismatch.reason is MismatchReason.LOGPROB
    assert "token 1" in mismatch.message


def test_a_non_finite_logprob_is_a_mismatch() -> None:
    mismatch = compare_probe(REFERENCE, seen((5, 9, 7), (-0.5, math.nan, -0.1)), atol=ATOL)
    assert mismatch is not None
    assert mismatch.reason is MismatchReason.LOGPROB


def test_another_greedy_token_is_a_mismatch_unless_the_trained_model_had_a_near_tie() -> None:
    # Token 0's margin (1.0) is above 2 * atol: a different pick there cannot be rounding.
    flipped_early = seen((6, 9, 7), (-0.5, -1.25, -0.1))
    mismatch = compare_probe(REFERENCE, flipped_early, atol=ATOL)
    assert mismatch is not None
    assert mismatch.reason is MismatchReason.GREEDY
    # Token 1's margin (0.15) is within 2 * atol: two models each within atol may swap it, and
    # the continuation after it is not compared.
    flipped_at_tie = seen((5, 8, 1), (-0.5, -1.3, -9.0))
    assert compare_probe(REFERENCE, flipped_at_tie, atol=ATOL) is None
    # With a tighter tolerance the same swap is a mismatch.
    tight = compare_probe(REFERENCE, flipped_at_tie, atol=0.07)
    assert tight is not None
    assert tight.reason is MismatchReason.GREEDY


def test_fewer_tokens_than_recorded_is_a_mismatch() -> None:
    mismatch = compare_probe(REFERENCE, seen((5, 9), (-0.5, -1.25)), atol=ATOL)
    assert mismatch is not None
    assert mismatch.reason is MismatchReason.LENGTH


def test_compare_probes_reports_the_first_failing_probe() -> None:
    other = ProbeReference("chat-1", ProbeKind.CHAT, (1,), (-0.2,), (5.0,))
    probes = ProbeSet((REFERENCE, other))
    good = seen((5, 9, 7), (-0.5, -1.25, -0.1))
    assert compare_probes(probes, [good, seen((1,), (-0.2,))], atol=ATOL) is None
    mismatch = compare_probes(probes, [good, seen((2,), (-0.2,))], atol=ATOL)
    assert mismatch is not None
    assert "chat-1" in mismatch.message


def test_the_manifest_entry_round_trips_and_is_absent_for_old_adapters() -> None:
    probes = ProbeSet((REFERENCE,), max_tokens=3, dtype="bfloat16")
    manifest = {"files": {}, MANIFEST_KEY: probes.to_json()}
    assert ProbeSet.from_manifest(manifest) == probes
    assert ProbeSet.from_manifest({"files": {}}) is None
    with pytest.raises(ValueError, match=MANIFEST_KEY):
        ProbeSet.from_manifest({MANIFEST_KEY: {"format_version": 1, "probes": [{}]}})
    with pytest.raises(ValueError, match="format"):
        ProbeSet.from_manifest({MANIFEST_KEY: {"format_version": 99}})
    assert probes.prompt_of(REFERENCE) == PROBE_PROMPTS[0]


def test_engine_answers_are_read_as_token_ids_in_vllms_shapes() -> None:
    completion = {
        "choices": [
            {"logprobs": {"tokens": ["token_id:5", "token_id:9"], "token_logprobs": [-0.5, -1.0]}}
        ]
    }
    assert completion_observation(completion) == seen((5, 9), (-0.5, -1.0))
    chat = {"choices": [{"logprobs": {"content": [{"token": "token_id:3", "logprob": -0.25}]}}]}
    assert chat_observation(chat) == seen((3,), (-0.25,))
    # Text tokens (an engine ignoring return_tokens_as_token_ids) or no logprobs are refused.
    with pytest.raises(ValueError, match="token_id"):
        completion_observation(
            {"choices": [{"logprobs": {"tokens": ["Hello"], "token_logprobs": [-0.5]}}]}
        )
    with pytest.raises(ValueError, match="logprobs"):
        chat_observation({"choices": [{"logprobs": None}]})
