"""The models an eval run calls: the sampled model of a ``completions`` source, and the models
its ``score_model`` and ``label_model`` graders ask.

    a model named ...                        is called
    ───────────────────────────────────────  ──────────────────────────────────────────────────
    in FTAPI_EVALS__GRADER_MODELS            on the operator's OpenAI-compatible endpoint
                                               (FTAPI_EVALS__GRADER_BASE_URL), under that name;
                                               graders only
    anything else                            through the inference gateway, as the run's project:
                                               a base model, or a fine-tuned model or checkpoint
                                               the project owns or was shared

Listing names (rather than a prefix) lets an eval written for OpenAI keep its grader models as
they are (``"model": "gpt-4o-mini"``) once an operator points the endpoint at a service that
serves them. A listed name shadows a base model of the same id, for graders.

Every call is a non-streaming chat completion with a time limit. Whatever goes wrong with one
call (no replica, the model gone, the endpoint down, a timeout, an answer that is not a chat
completion) is a ``GraderModelError``: it fails that item, never the run. Outages of ftapi's own
database still propagate, so the task policy retries the run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from service.auth.caller import Caller
from service.errors import FtapiError
from service.graders.model_client import GraderModelError, ModelAnswer
from service.serving.gateway.inference import CompletionStream, InferenceGateway
from service.serving.gateway.schemas import ChatCompletionCreate, ChatCompletionObject
from service.settings import EvalSettings

logger = logging.getLogger(__name__)

ERROR_BODY_CHARS = 300  # of an endpoint's error answer, kept in the item's error message


@dataclass(frozen=True)
class SamplingParams:
    """What a completions source (or a grader) asks of a model besides the messages."""

    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None


@dataclass(frozen=True)
class ChatAnswer:
    """A model's answer: its text, why it stopped, and what it cost."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int

    def as_model_answer(self) -> ModelAnswer:
        """The graders' view of it."""
        return ModelAnswer(
            text=self.text,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )


Messages = Sequence[Mapping[str, object]]


class OperatorEndpoint:
    """The operator's OpenAI-compatible endpoint (one connection pool per process)."""

    def __init__(
        self, settings: EvalSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        key = settings.grader_api_key
        headers = {} if key is None else {"authorization": f"Bearer {key.get_secret_value()}"}
        self.models = frozenset(settings.grader_models)
        self._url = settings.grader_base_url.rstrip("/") + "/chat/completions"
        self._http = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(settings.model_call_timeout_s, connect=5.0),
            transport=transport,
        )

    def serves(self, model: str) -> bool:
        """Whether graders call ``model`` here rather than through the gateway."""
        return model in self.models

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def chat(self, model: str, messages: Messages, params: SamplingParams) -> ChatAnswer:
        """One chat completion from ``model`` on the endpoint."""
        body: dict[str, Any] = {"model": model, "messages": [dict(m) for m in messages]}
        body |= _sampling_fields(params)
        try:
            response = await self._http.post(self._url, json=body)
        except httpx.HTTPError as exc:
            raise GraderModelError(
                f"The grader endpoint could not be reached for '{model}': {type(exc).__name__}."
            ) from None
        if response.status_code != 200:
            raise GraderModelError(
                f"The grader endpoint answered {response.status_code} for '{model}': "
                f"{response.text[:ERROR_BODY_CHARS]}"
            )
        try:
            answer = ChatCompletionObject.model_validate_json(response.content)
        except ValidationError:
            raise GraderModelError(
                f"The grader endpoint's answer for '{model}' is not a chat completion."
            ) from None
        return _answer_of(answer, model)


class RunModels:
    """The models one run calls, as its project: implements the graders' ``GraderModels``."""

    def __init__(
        self,
        gateway: InferenceGateway,
        endpoint: OperatorEndpoint | None,
        caller: Caller,
        *,
        timeout_s: float,
    ) -> None:
        self._gateway = gateway
        self._endpoint = endpoint
        self._caller = caller
        self._timeout_s = timeout_s

    async def sample(self, model: str, messages: Messages, params: SamplingParams) -> ChatAnswer:
        """The completions source's sample of ``model`` (always through the gateway)."""
        return await self._timed(model, self._through_gateway(model, messages, params))

    async def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None,
        temperature: float | None,
        top_p: float | None,
        seed: int | None,
    ) -> ModelAnswer:
        """A grader model's answer (``GraderModels``)."""
        params = SamplingParams(max_tokens, temperature, top_p, seed)
        if self._endpoint is not None and self._endpoint.serves(model):
            call = self._endpoint.chat(model, messages, params)
        else:
            call = self._through_gateway(model, messages, params)
        answer = await self._timed(model, call)
        return answer.as_model_answer()

    async def _timed(self, model: str, call: Any) -> ChatAnswer:
        try:
            async with asyncio.timeout(self._timeout_s):
                answer: ChatAnswer = await call
                return answer
        except TimeoutError:
            raise GraderModelError(
                f"'{model}' did not answer within {self._timeout_s:g} s."
            ) from None

    async def _through_gateway(
        self, model: str, messages: Messages, params: SamplingParams
    ) -> ChatAnswer:
        try:
            request = ChatCompletionCreate.model_validate(
                {"model": model, "messages": [dict(m) for m in messages]} | _sampling_fields(params)
            )
        except ValidationError as exc:
            raise GraderModelError(f"The request for '{model}' is invalid: {exc}") from None
        try:
            answer = await self._gateway.chat(self._caller, request)
        except FtapiError as exc:
            raise GraderModelError(f"'{model}' could not answer: {exc.message}") from None
        except httpx.HTTPError as exc:
            raise GraderModelError(
                f"The inference replica for '{model}' failed: {type(exc).__name__}."
            ) from None
        if isinstance(answer, CompletionStream):  # not asked for; never expected
            raise GraderModelError(f"'{model}' answered with a stream.")
        return _answer_of(answer, model)


class ModelCalls:
    """What a worker builds once to give each run its ``RunModels``."""

    def __init__(self, gateway: InferenceGateway, settings: EvalSettings) -> None:
        self._gateway = gateway
        self._endpoint = OperatorEndpoint(settings) if settings.grader_base_url else None
        self._timeout_s = settings.model_call_timeout_s

    def for_caller(self, caller: Caller) -> RunModels:
        """The models a run of ``caller``'s project calls."""
        return RunModels(self._gateway, self._endpoint, caller, timeout_s=self._timeout_s)

    async def close(self) -> None:
        """Close the operator endpoint's connections (the gateway is its owner's to close)."""
        if self._endpoint is not None:
            await self._endpoint.aclose()


def is_operator_grader_model(settings: EvalSettings, model: str) -> bool:
    """Whether graders call ``model`` on the operator's endpoint (no project access check)."""
    return bool(settings.grader_base_url) and model in settings.grader_models


def _sampling_fields(params: SamplingParams) -> dict[str, Any]:
    fields = {
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "seed": params.seed,
    }
    return {name: value for name, value in fields.items() if value is not None}


def _answer_of(answer: ChatCompletionObject, model: str) -> ChatAnswer:
    if not answer.choices:
        raise GraderModelError(f"'{model}' answered with no choices.")
    choice = answer.choices[0]
    usage = answer.usage
    return ChatAnswer(
        text=choice.message.content or "",
        finish_reason=choice.finish_reason or "stop",
        prompt_tokens=0 if usage is None else usage.prompt_tokens,
        completion_tokens=0 if usage is None else usage.completion_tokens,
    )
