"""The problems tokenization finds in one example, each with a stable code and a message a user
can act on, and the checks that find them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from service.datasets.tokenization.chat_template import ChatTemplateRenderError
from service.datasets.tokenization.template_messages import (
    MalformedExampleError,
    TemplateConversation,
    TextField,
)
from service.datasets.tokenization.turn_spans import RenderedChat, TemplatePrefixError


class IssueSeverity(StrEnum):
    """Errors make an example unusable for training; warnings are reported and counted."""

    ERROR = "error"
    WARNING = "warning"


class IssueCode(StrEnum):
    """Stable codes of the problems tokenization finds in one example."""

    NO_TRAINED_TOKENS = "no_trained_tokens"
    SPECIAL_TOKEN_IN_TEXT = "special_token_in_text"  # noqa: S105 - an issue code, not a secret
    CHAT_TEMPLATE_ERROR = "chat_template_error"
    CHAT_TEMPLATE_NOT_INCREMENTAL = "chat_template_not_incremental"
    MISSING_END_OF_TURN = "missing_end_of_turn"
    UNSUPPORTED_CONTENT_PART = "unsupported_content_part"
    INVALID_EXAMPLE = "invalid_example"


@dataclass(frozen=True)
class ExampleIssue:
    """One problem in one example; ``param`` is the field's JSON path (``messages[2].content``)."""

    code: IssueCode
    message: str
    param: str | None = None
    severity: IssueSeverity = IssueSeverity.ERROR


class SpecialTokenScanner:
    """Finds control tokens (``<|im_end|>``…) in user-supplied text."""

    def __init__(self, control_tokens: Sequence[str]) -> None:
        # Longest first, so a token wins over the shorter tokens it contains.
        ordered = sorted(control_tokens, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered)) or "(?!)")  # (?!): no match

    def issues(self, fields: Iterable[TextField]) -> list[ExampleIssue]:
        """One ``special_token_in_text`` issue per field that holds a control token."""
        issues: list[ExampleIssue] = []
        for field in fields:
            found = self._pattern.search(field.text)
            if found:
                issues.append(
                    ExampleIssue(
                        IssueCode.SPECIAL_TOKEN_IN_TEXT,
                        f"{field.param} contains the special token {found.group()!r}, which the "
                        "model would read as a control token; remove or reword it",
                        field.param,
                    )
                )
        return issues

    def conversation_issues(self, conversation: TemplateConversation) -> list[ExampleIssue]:
        """Control tokens in the conversation's text, and content parts left out of it."""
        skipped = [
            ExampleIssue(
                IssueCode.UNSUPPORTED_CONTENT_PART,
                "only text content parts are trained on; this part is left out",
                param,
                IssueSeverity.WARNING,
            )
            for param in conversation.skipped_parts
        ]
        return skipped + self.issues(conversation.text_fields)


def malformed_issue(exc: MalformedExampleError) -> ExampleIssue:
    """The example does not have its format's shape."""
    return ExampleIssue(IssueCode.INVALID_EXAMPLE, str(exc), exc.param)


def render_issue(
    exc: ChatTemplateRenderError | TemplatePrefixError, path: str, n_messages: int
) -> ExampleIssue:
    """The chat template could not render the example, or not incrementally."""
    if isinstance(exc, ChatTemplateRenderError):
        return ExampleIssue(
            IssueCode.CHAT_TEMPLATE_ERROR,
            f"the model's chat template cannot render this example: {exc}",
            path,
        )
    index = min(exc.message_index, n_messages - 1)
    param = f"{path}[{index}]" if path == "messages" else path
    return ExampleIssue(IssueCode.CHAT_TEMPLATE_NOT_INCREMENTAL, str(exc), param)


def end_of_turn_issues(rendered: RenderedChat, path: str) -> list[ExampleIssue]:
    """Trained turns the template closed with no end-of-turn token (the model won't stop)."""
    return [
        ExampleIssue(
            IssueCode.MISSING_END_OF_TURN,
            "the chat template wrote no end-of-turn token after this assistant turn, so the "
            "model is not taught to stop here",
            f"{path}[{span.message_index}]" if path == "messages" else path,
            IssueSeverity.WARNING,
        )
        for span in rendered.spans
        if not span.has_end_of_turn
    ]


def no_trained_tokens_issue(label: str, max_seq_length: int) -> ExampleIssue:
    """A sequence whose loss would cover nothing (``label``: example, chosen or rejected)."""
    where = "" if label == "example" else f" ({label})"
    return ExampleIssue(
        IssueCode.NO_TRAINED_TOKENS,
        f"the example has no trained tokens{where} after tokenization and truncation to "
        f"{max_seq_length} tokens; give it an assistant turn with weight 1 that starts within "
        "the limit",
    )
