"""What every /v1 handler may be injected with, as a typed ``Annotated`` alias: the caller.

Each domain's ``http.py`` declares the aliases of its own services beside its handlers, so this
toolkit package imports no domain; the api's providers (``service/api/providers.py``) say how
each name is provided.
"""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency

from service.auth.caller import Caller

CallerDep: TypeAlias = NamedDependency[Caller]
