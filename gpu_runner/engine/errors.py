"""Every error the engine answers with, in vLLM's shape.

vLLM's body is ``{"error": {"message", "type", "param", "code"}}`` where ``type`` is a class-like
name and ``code`` the HTTP status as an integer (``vllm/entrypoints/serve/utils/error_response``)::

    EngineError                     500 InternalServerError
    ├── InvalidUserInput            400 InvalidUserInput   (admin routes: missing or duplicate name)
    ├── BadRequestError             400 BadRequestError    (request fields, rejected adapters)
    └── NotFoundError               404 NotFoundError      (unknown model, adapter path, lora_name)

``Unauthorized`` (401) is not in the tree: vLLM answers it with a bare ``{"error": "Unauthorized"}``
from a middleware, and so does ``http``.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of the tree; ``status`` and ``error_type`` say how it goes on the wire."""

    status = 500
    error_type = "InternalServerError"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param

    def body(self) -> dict[str, Any]:
        """The JSON body vLLM sends for this error."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.status,
            }
        }


class InvalidUserInput(EngineError):
    """An admin request lacks a field or names an adapter that is already loaded."""

    status = 400
    error_type = "InvalidUserInput"


class BadRequestError(EngineError):
    """A request field is invalid, or an adapter cannot be served."""

    status = 400
    error_type = "BadRequestError"


class NotFoundError(EngineError):
    """The model, the adapter's files or the ``lora_name`` do not exist."""

    status = 404
    error_type = "NotFoundError"


def model_not_found(name: str) -> NotFoundError:
    """vLLM's answer to a ``model`` that is neither the base nor a loaded adapter."""
    return NotFoundError(f"The model `{name}` does not exist.", param="model")


def adapter_files_missing(name: str, path: str) -> NotFoundError:
    """vLLM's answer when ``lora_path`` holds no adapter (``LoRAAdapterNotFoundError``)."""
    return NotFoundError(f"Loading lora {name} failed: No adapter found for {path}")
