"""The committed OpenAPI document (``openapi/openapi.json``) is rendered here, one way only.

Litestar derives paths, parameters, bodies and success answers from the handlers. What it cannot
see is completed here, so that generated clients and Schemathesis hold the service to its real
behaviour:

- every error answer a route gives, in OpenAI's envelope (Litestar only knows its own 400 shape);
- ``additionalProperties: false`` on request models that refuse unknown fields (Litestar drops
  pydantic's ``extra="forbid"``);
- the bearer-key security scheme on every ``/v1`` route;
- ``text/event-stream`` beside the JSON answer of routes that stream on request;
- OpenAPI ``links`` between operations (create a file → create a job → retrieve → cancel, ...),
  which stateful testing follows.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from service.api.app import create_app
from service.api.openapi_links import Route, add_links
from service.http.schemas import ErrorEnvelope
from service.settings import Settings

Document = dict[str, Any]

_ERROR_REF = "#/components/schemas/ErrorEnvelope"
_SECURITY_SCHEME = "ApiKey"
_ERROR_DESCRIPTIONS = {
    "400": "The request is invalid; `param` names the offending field.",
    "401": "The API key is missing, malformed, unknown or revoked.",
    "404": "No such object in the caller's project (another project's objects included).",
    "409": "The object's state or an earlier request forbids this one; retrying cannot help.",
    "413": "The request body is larger than this route accepts.",
    "415": "The request body is not of a content type this route accepts.",
    "429": "Too many requests or active jobs; retry after `Retry-After` seconds.",
    "503": "A dependency (database, blob store, inference replicas) is unavailable; retry.",
    "507": "The server's storage is full; nothing was stored. Retry once space is freed.",
}
# Every /v1 route: a bad request, a bad key, the per-key rate limit, a dependency down.
_V1_ERRORS = ("400", "401", "429", "503")
# Errors some routes give beyond those, by what the route does.
_ROUTE_ERRORS: dict[Route, tuple[str, ...]] = {
    # An Idempotency-Key reused with another body.
    ("POST", "/v1/fine_tuning/jobs"): ("409",),
    # A model that is unknown to the caller.
    ("POST", "/v1/chat/completions"): ("404",),
    ("POST", "/v1/completions"): ("404",),
    # The uploaded archive it names is not the caller's file; the adapter is stored.
    ("POST", "/v1/models/import"): ("404", "507"),
    # Routes that store the request's bytes in the blob store.
    ("POST", "/v1/files"): ("507",),
    ("POST", "/v1/uploads/{upload_id}/parts"): ("507",),
    ("POST", "/v1/uploads/{upload_id}/complete"): ("507",),
}


def render_openapi() -> str:
    """The app's OpenAPI schema as stable, pretty JSON (keys sorted, trailing newline)."""
    app = create_app(Settings())
    document = complete_document(app.openapi_schema.to_schema())
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def complete_document(document: Document) -> Document:
    """Add what Litestar cannot infer (see the module docstring) to a generated ``document``."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["ErrorEnvelope"] = _error_envelope_schema()
    components["securitySchemes"] = {
        _SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "description": "An API key."}
    }
    _forbid_unknown_fields(components["schemas"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            _complete_operation((method.upper(), path), operation)
    add_links(document)
    return document


def _error_envelope_schema() -> dict[str, Any]:
    schema = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    body = schema.pop("$defs")["ErrorBody"]
    schema["properties"]["error"] = body
    return schema


def _forbid_unknown_fields(schemas: dict[str, Any]) -> None:
    for model in _strict_models(BaseModel):
        schema = schemas.get(model.__name__)
        if schema is not None and set(schema.get("properties", {})) <= set(model.model_fields):
            schema["additionalProperties"] = False


def _strict_models(base: type[BaseModel]) -> list[type[BaseModel]]:
    """Every loaded ftapi model (subclasses of ``base``) whose config refuses extra fields."""
    found = []
    for model in base.__subclasses__():
        if model.__module__.startswith("service.") and model.model_config.get("extra") == "forbid":
            found.append(model)
        found.extend(_strict_models(model))
    return found


def _complete_operation(route: Route, operation: dict[str, Any]) -> None:
    path = route[1]
    responses = operation["responses"]
    _declare_streaming(responses)
    if path == "/readyz":
        responses["503"] = {
            "description": "A dependency does not answer; `checks` names it.",
            "content": responses["200"]["content"],
        }
    if not path.startswith("/v1/"):
        return
    operation["security"] = [{_SECURITY_SCHEME: []}]
    statuses = list(_V1_ERRORS) + list(_ROUTE_ERRORS.get(route, ()))
    if "{" in path:
        statuses.append("404")
    body = operation.get("requestBody")
    if body is not None:
        statuses.append("413")
        if "multipart/form-data" in body["content"]:
            statuses.append("415")
        _relax_optional_body(body)
    for status in sorted(set(statuses)):
        responses[status] = {
            "description": _ERROR_DESCRIPTIONS[status],
            "content": {"application/json": {"schema": {"$ref": _ERROR_REF}}},
        }


def _declare_streaming(responses: dict[str, Any]) -> None:
    """A handler answering JSON or a stream shows up as ``oneOf: [json, {}]``; split it."""
    content = responses.get("200", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    alternatives = schema.get("oneOf")
    if not alternatives or {} not in alternatives:
        return
    concrete = [alternative for alternative in alternatives if alternative != {}]
    content["application/json"]["schema"] = (
        concrete[0] if len(concrete) == 1 else {"oneOf": concrete}
    )
    content["text/event-stream"] = {"schema": {"type": "string"}}


def _relax_optional_body(body: dict[str, Any]) -> None:
    """A body whose schema admits ``null`` may be left out entirely."""
    for media in body["content"].values():
        if {"type": "null"} in media.get("schema", {}).get("oneOf", []):
            body["required"] = False
