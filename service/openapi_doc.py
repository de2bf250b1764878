"""The committed OpenAPI document (``openapi/openapi.json``) is rendered here, one way only."""

from __future__ import annotations

import json

from service.http.app import create_app
from service.settings import Settings


def render_openapi() -> str:
    """The app's OpenAPI schema as stable, pretty JSON (keys sorted, trailing newline)."""
    app = create_app(Settings())
    return json.dumps(app.openapi_schema.to_schema(), indent=2, sort_keys=True) + "\n"
