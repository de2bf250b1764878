"""Who is calling: the project (and its organization) an API key belongs to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    """The authenticated identity every domain call is scoped to."""

    project_id: str
    organization_id: str
    organization_slug: str
    api_key_id: str
