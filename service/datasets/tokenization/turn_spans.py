"""Find where each trained assistant turn lies in a rendered chat, for any chat template.

Templates rarely mark assistant text (few use ``{% generation %}``), so the spans come from
rendering prefixes of the conversation: for the assistant message at index ``i``,

    head = render(messages[:i], add_generation_prompt=True)   # ends where the answer starts
    turn = render(messages[:i + 1])                           # ends after the whole turn

and the trained span runs from ``len(head)`` through the last end-of-turn token (``<|im_end|>``,
``<|eot_id|>``, …) inside ``turn``, so the model learns to stop; text the template writes after
that token (a newline) is left untrained.

``head`` must be a prefix of the full rendering: a template that rewrites what comes before an
answer as the conversation grows gets the example reported rather than trained on wrong tokens.
``turn`` may differ, since some templates render the latest answer differently from earlier ones
(Qwen 3 writes a ``<think>`` block only after the last user message); the answer then ends at
the first end-of-turn token after ``head`` in the full rendering.

Cost: two renders per trained assistant turn plus one, so O(turns²) characters rendered; fine at
typical sizes (see ``bench/tokenize.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.datasets.tokenization.chat_template import ChatTemplate


class TemplatePrefixError(Exception):
    """The template renders a prefix of the conversation differently from the whole of it."""

    def __init__(self, message: str, message_index: int) -> None:
        super().__init__(message)
        self.message_index = message_index


@dataclass(frozen=True)
class TurnSpan:
    """Characters ``[start, end)`` of the rendered chat that belong to one trained turn."""

    start: int
    end: int
    message_index: int
    has_end_of_turn: bool


@dataclass(frozen=True)
class RenderedChat:
    """A conversation rendered by its template, and the spans of its trained turns."""

    text: str
    spans: list[TurnSpan]


def render_trained_turns(
    template: ChatTemplate,
    messages: Sequence[Mapping[str, Any]],
    trained: Sequence[bool],
    *,
    end_of_turn: str,
    tools: Sequence[Mapping[str, Any]] | None = None,
) -> RenderedChat:
    """Render ``messages`` and locate the turns whose ``trained`` flag is set.

    Raises ``TemplatePrefixError`` when the prefix property fails and ``ChatTemplateRenderError``
    when the template refuses a (partial) conversation.
    """
    full = template.render(messages, tools=tools)
    spans: list[TurnSpan] = []
    for index, is_trained in enumerate(trained):
        if not is_trained:
            continue
        head = template.render(messages[:index], tools=tools, add_generation_prompt=True)
        last = index == len(messages) - 1
        turn = full if last else template.render(messages[: index + 1], tools=tools)
        if not full.startswith(head):
            raise TemplatePrefixError(_NOT_INCREMENTAL, index)
        if full.startswith(turn) and len(head) <= len(turn):
            spans.append(_span(full, len(head), len(turn), index, end_of_turn))
        else:
            spans.append(_span_to_next_end(full, len(head), index, end_of_turn))
    return RenderedChat(text=full, spans=spans)


_NOT_INCREMENTAL = (
    "the chat template renders the conversation before this answer differently from how it "
    "renders the whole conversation, so the answer's tokens cannot be located"
)


def _span(text: str, start: int, turn_end: int, index: int, end_of_turn: str) -> TurnSpan:
    # The last occurrence: one inside the answer text is user data (reported elsewhere).
    found = text.rfind(end_of_turn, start, turn_end)
    if found >= 0:
        return TurnSpan(start, found + len(end_of_turn), index, has_end_of_turn=True)
    end = start + len(text[start:turn_end].rstrip())
    return TurnSpan(start, end, index, has_end_of_turn=False)


def _span_to_next_end(text: str, start: int, index: int, end_of_turn: str) -> TurnSpan:
    found = text.find(end_of_turn, start)
    if found < 0:
        raise TemplatePrefixError(_NOT_INCREMENTAL, index)
    return TurnSpan(start, found + len(end_of_turn), index, has_end_of_turn=True)
