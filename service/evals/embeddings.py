"""The ``cosine`` grader's embeddings: an OpenAI-compatible ``/v1/embeddings`` endpoint the
operator names (``FTAPI_EVALS__EMBEDDINGS_BASE_URL``); ``ftapi engine --embedding-model`` is one.

Whatever goes wrong with a call (unreachable, an error status, a timeout, an answer that is not
an embedding list) is a ``GraderModelError``: it fails the one item, never the run.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ValidationError

from service.graders.config import GraderCapabilities
from service.graders.model_client import GraderModelError
from service.settings import EvalSettings

ERROR_BODY_CHARS = 300


class _Embedding(BaseModel):
    index: int
    embedding: list[float]


class _EmbeddingList(BaseModel):
    data: list[_Embedding]


class EmbeddingsEndpoint:
    """``Embeddings`` over one endpoint; one connection pool per process."""

    def __init__(
        self, settings: EvalSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        key = settings.embeddings_api_key
        self._model = settings.embeddings_model
        self._client = httpx.AsyncClient(
            base_url=settings.embeddings_base_url.rstrip("/"),
            headers={} if key is None else {"Authorization": f"Bearer {key.get_secret_value()}"},
            timeout=settings.model_call_timeout_s,
            transport=transport,
        )

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-free vector per text, in order."""
        body = {"model": self._model, "input": texts, "encoding_format": "float"}
        try:
            reply = await self._client.post("/embeddings", json=body)
        except httpx.HTTPError as exc:
            raise GraderModelError(f"the embeddings endpoint is unreachable: {exc}") from exc
        if reply.status_code != 200:
            raise GraderModelError(
                f"the embeddings endpoint answered {reply.status_code}: "
                f"{reply.text[:ERROR_BODY_CHARS]}"
            )
        try:
            answer = _EmbeddingList.model_validate_json(reply.content)
        except ValidationError as exc:
            raise GraderModelError("the embeddings endpoint answered no embedding list") from exc
        return [row.embedding for row in sorted(answer.data, key=lambda row: row.index)]

    async def close(self) -> None:
        """Release the connection pool."""
        await self._client.aclose()


def embeddings_endpoint(settings: EvalSettings) -> EmbeddingsEndpoint | None:
    """The configured endpoint, or None when the operator configured none."""
    return EmbeddingsEndpoint(settings) if settings.embeddings_base_url else None


def grader_capabilities(settings: EvalSettings) -> GraderCapabilities:
    """What graders this deployment can run."""
    return GraderCapabilities(embeddings=bool(settings.embeddings_base_url))
