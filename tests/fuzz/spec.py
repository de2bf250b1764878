"""The committed OpenAPI document loaded by Schemathesis against a live api, with a budget."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.schemas import OpenApiSchema

Tally = Counter[tuple[str, int]]  # (operation label, answer status) -> requests

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
# The gateway needs inference replicas; without them it answers 503 by design, which
# not_a_server_error counts as a failure. tests/security covers their error paths.
INFERENCE_PATHS = ("/v1/chat/completions", "/v1/completions")
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


def load_spec(
    *,
    max_examples: int,
    phases: list[str],
    seed: int | None = 0,
    mode: str = "all",
) -> OpenApiSchema:
    """``openapi/openapi.json``, every operation but inference; the api and key come per call
    (``case.call_and_validate(base_url=..., headers=...)``): the live stack starts later."""
    checks: dict[str, Any] = {"enabled": False} | {name: {"enabled": True} for name in CHECKS}
    config = SchemathesisConfig.from_dict(
        ({} if seed is None else {"seed": seed})
        | {
            "request-timeout": 30,
            "checks": checks,
            "generation": {
                "max-examples": max_examples,
                "mode": mode,  # "all": valid and invalid data
                "database": "none",
                # The key comes with each call; generated Authorization values would replace it.
                "with-security-parameters": False,
            },
            "phases": {
                name: {"enabled": name in phases}
                for name in ("examples", "coverage", "fuzzing", "stateful")
            },
        }
    )
    schema = schemathesis.openapi.from_path(SPEC_PATH, config=config)
    return schema.exclude(path=list(INFERENCE_PATHS))
