"""What a completions run sends for one item: its ``input_messages`` template rendered with the
item, through the graders' template parser (``{{item.…}}`` looked up in the item's JSON only).

The ``developer`` role becomes ``system``: OpenAI treats them alike, and the chat templates of
the base models ftapi serves know only ``system``. A message's text parts are joined in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from service.evals.data_sources import InputMessagesTemplate
from service.graders.templates import Template, UnknownVariable, parse_template


class PromptProblem(Exception):
    """The item lacks a variable the template names; that item cannot be sampled."""


@dataclass(frozen=True)
class _Message:
    role: str
    parts: tuple[Template, ...]


class PromptTemplate:
    """A run's ``input_messages``, parsed once."""

    def __init__(self, template: InputMessagesTemplate) -> None:
        self._messages = tuple(
            _Message(
                role="system" if message.role == "developer" else message.role,
                parts=tuple(parse_template(text) for text in message.texts()),
            )
            for message in template.template
        )

    def render(self, item: Mapping[str, object]) -> list[dict[str, str]]:
        """The chat messages for ``item``; raises PromptProblem naming a missing variable."""
        namespaces = {"item": item}
        try:
            return [
                {
                    "role": message.role,
                    "content": "".join(p.render(namespaces) for p in message.parts),
                }
                for message in self._messages
            ]
        except UnknownVariable as exc:
            raise PromptProblem(
                f"input_messages use {{{{{exc.path}}}}}, which the item lacks"
            ) from None
