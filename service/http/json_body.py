"""Request bodies that break the JSON decoder are the caller's error: 400, never 500.

Litestar's ``Request.json()`` lets two decoder failures escape as bare Python errors: a body
nested deeper than the decoder's recursion limit (``RecursionError``, e.g. 100,000 ``[``) and
bytes that are not UTF-8 (``UnicodeDecodeError``). Both become the ordinary "malformed JSON" 400.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import ClientException


class JsonSafeRequest(Request[Any, Any, Any]):
    """The app's request class: ``json()`` reports undecodable bodies as a client error."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise ClientException("JSON is malformed: nested too deeply") from None
        except UnicodeDecodeError:
            raise ClientException("JSON is malformed: not UTF-8") from None
