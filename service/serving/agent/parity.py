"""The parity check: the first load of an adapter proves the engine serves the trained model.

After the engine loads an adapter, ``ParityCheck.verify`` reads the probes recorded at the end of
training from the adapter's ``manifest.json`` (``service.models.parity_probes``), asks the
engine for each through its OpenAI surface (temperature 0, ``ignore_eos``, ``logprobs`` and
vLLM's ``return_tokens_as_token_ids``, so ids are compared, not text) and compares within the
tolerance. The same requests work against vLLM and ``ftapi engine``.

Verdicts last for this agent's life, one per adapter name: a passed adapter is not probed
again when it is loaded again after an eviction, and a failed one is refused at once
(``ModelUnservable``, 503 ``model_unservable``) without loading it again. Each failure is counted
(``ftapi_agent_model_unservable_total{reason}``) and logged once. An adapter whose manifest
records no probes (made before the check existed, or trained on a 4-bit base, or a checkpoint)
loads unchecked, logged once per name.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from service.blobstore.directories import read_manifest
from service.blobstore.protocol import BlobStore
from service.models.parity_probes import (
    MismatchReason,
    ProbeKind,
    ProbeMismatch,
    ProbeObservation,
    ProbePrompt,
    ProbeReference,
    ProbeSet,
    compare_probes,
)
from service.serving.agent.engine_client import EngineClient
from service.serving.agent.metrics import MODEL_UNSERVABLE
from service.serving.errors import EngineUnavailable, ModelUnservable, ServingError

logger = logging.getLogger(__name__)

COMPLETIONS_ROUTE = "/v1/completions"
CHAT_ROUTE = "/v1/chat/completions"
ID_PREFIX = "token_id:"  # how vLLM names tokens under return_tokens_as_token_ids


class ParityCheck:
    """Probes each adapter once per agent and remembers the verdict."""

    def __init__(self, engine: EngineClient, blobs: BlobStore, *, logprob_atol: float) -> None:
        self._engine = engine
        self._blobs = blobs
        self._atol = logprob_atol
        self._passed: set[str] = set()
        self._failed: dict[str, ModelUnservable] = {}
        self._reported: set[str] = set()

    def state(self) -> dict[str, Any]:
        """The verdicts so far, for ``GET /agent/state``."""
        return {
            "passed": sorted(self._passed),
            "unservable": {name: error.message for name, error in sorted(self._failed.items())},
        }

    def raise_if_unservable(self, name: str) -> None:
        """Refuse ``name`` at once when its check has failed on this agent (a fresh error,
        ``first_report`` set on the first of these raises for ``name``)."""
        failure = self._failed.get(name)
        if failure is not None:
            raise self._for_caller(name, failure)

    async def verify(self, name: str, prefix: str) -> None:
        """Check ``name`` (loaded in the engine from ``prefix``) unless it was checked before.

        Raises ``ModelUnservable`` on a mismatch; ``EngineUnavailable`` when the engine could
        not be asked (no verdict then: the next load asks again).
        """
        if name in self._passed:
            return
        self.raise_if_unservable(name)
        manifest = await read_manifest(self._blobs, prefix)
        try:
            probes = None if manifest is None else ProbeSet.from_manifest(manifest)
        except ValueError as exc:
            self._fail(name, ProbeMismatch(MismatchReason.PROBES, str(exc)))
        if probes is None:
            logger.info("adapter %s records no parity probes; served unchecked", name)
            self._passed.add(name)
            return
        observed = []
        for reference in probes.references:
            try:
                observed.append(await self._observe(name, probes, reference))
            except EngineUnavailable:
                raise
            except (ServingError, ValueError) as exc:
                message = exc.message if isinstance(exc, ServingError) else str(exc)
                self._fail(
                    name, ProbeMismatch(MismatchReason.ANSWER, f"probe {reference.name}: {message}")
                )
        mismatch = compare_probes(probes, observed, atol=self._atol)
        if mismatch is not None:
            self._fail(name, mismatch)
        logger.info("adapter %s passed its parity check", name)
        self._passed.add(name)

    async def _observe(
        self, name: str, probes: ProbeSet, reference: ProbeReference
    ) -> ProbeObservation:
        prompt = probes.prompt_of(reference)
        route, payload = probe_request(name, prompt, probes.max_tokens)
        answer = await self._engine.answer(route, payload)
        if prompt.kind is ProbeKind.COMPLETION:
            return completion_observation(answer)
        return chat_observation(answer)

    def _fail(self, name: str, mismatch: ProbeMismatch) -> NoReturn:
        failure = ModelUnservable(
            "The served model does not reproduce the trained model: " + mismatch.message,
            mismatch.reason.value,
        )
        self._failed[name] = failure
        MODEL_UNSERVABLE.labels(mismatch.reason.value).inc()
        logger.error("adapter %s failed its parity check: %s", name, mismatch.message)
        raise failure  # callers re-raise through raise_if_unservable, which counts the reports

    def _for_caller(self, name: str, failure: ModelUnservable) -> ModelUnservable:
        """A fresh error per raise, ``first_report`` set on the very first one only."""
        error = ModelUnservable(failure.message, failure.reason)
        error.first_report = name not in self._reported
        self._reported.add(name)
        return error


def probe_request(model: str, prompt: ProbePrompt, max_tokens: int) -> tuple[str, dict[str, Any]]:
    """The route and body asking an engine (vLLM's OpenAI surface) for one probe: greedy,
    exactly ``max_tokens`` tokens (``ignore_eos``), each with its logprob, named by id."""
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "return_tokens_as_token_ids": True,
    }
    if prompt.kind is ProbeKind.COMPLETION:
        return COMPLETIONS_ROUTE, payload | {"prompt": prompt.prompt, "logprobs": 1}
    chat = {"messages": prompt.chat_messages(), "logprobs": True, "top_logprobs": 1}
    return CHAT_ROUTE, payload | chat


def completion_observation(answer: dict[str, Any]) -> ProbeObservation:
    """Token ids and logprobs of a ``text_completion`` with vLLM's logprobs."""
    try:
        logprobs = answer["choices"][0]["logprobs"]
        tokens, values = logprobs["tokens"], logprobs["token_logprobs"]
        return ProbeObservation(
            tuple(_token_id(token) for token in tokens), tuple(float(v) for v in values)
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"the completion carries no logprobs ({exc!r})") from None


def chat_observation(answer: dict[str, Any]) -> ProbeObservation:
    """Token ids and logprobs of a ``chat.completion`` with logprobs."""
    try:
        content = answer["choices"][0]["logprobs"]["content"]
        return ProbeObservation(
            tuple(_token_id(item["token"]) for item in content),
            tuple(float(item["logprob"]) for item in content),
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"the chat completion carries no logprobs ({exc!r})") from None


def _token_id(token: object) -> int:
    if not isinstance(token, str) or not token.startswith(ID_PREFIX):
        raise ValueError(f"the engine named a token {token!r}, not {ID_PREFIX}<id>")
    return int(token.removeprefix(ID_PREFIX))
