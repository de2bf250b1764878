"""What ``score_model`` and ``label_model`` graders send to their model, and how they read it.

The user's messages are rendered (templates in every text part; a list of parts joins with
newlines; ``developer`` becomes ``system``, the role every chat template knows), and one
instruction is added to the system message (or a system message is put first): answer with
``{"result": <number>}`` in the range, or with exactly one of the labels. OpenAI forces that shape
with structured outputs; ftapi's grader models may be any served model, so the answer is parsed
leniently instead and a grader model that still answers otherwise gets ``model_grader_parse_error``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence

from service.graders.shapes import InputAudio, InputImage, InputMessage
from service.graders.templates import parse_template

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ANSWER_KEYS = ("result", "score", "label", "answer")


class AnswerParseError(ValueError):
    """The grader model's answer is not a score in range / not one of the labels."""


def render_messages(
    messages: Sequence[InputMessage], namespaces: Mapping[str, object]
) -> list[dict[str, str]]:
    """The prompt as chat messages (raises UnknownVariable for a variable the data lacks)."""
    rendered = []
    for message in messages:
        texts = []
        for part in message.parts():
            if isinstance(part, InputImage | InputAudio):
                raise ValueError(f"{part.type} parts cannot be sent to a grader model")
            text = part if isinstance(part, str) else part.text
            texts.append(parse_template(text).render(namespaces))
        role = "system" if message.role == "developer" else message.role
        rendered.append({"role": role, "content": "\n".join(texts)})
    return rendered


def with_instruction(messages: list[dict[str, str]], instruction: str) -> list[dict[str, str]]:
    """``messages`` with ``instruction`` appended to the leading system message (or as one)."""
    if messages and messages[0]["role"] == "system":
        first = {"role": "system", "content": f"{messages[0]['content']}\n\n{instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


def score_instruction(low: float, high: float) -> str:
    return (
        f'Answer only with a JSON object {{"result": <score>}}, where <score> is a number '
        f"from {low:g} to {high:g}."
    )


def label_instruction(labels: Sequence[str]) -> str:
    choices = ", ".join(json.dumps(label, ensure_ascii=False) for label in labels)
    return f"Answer only with exactly one of these labels, and nothing else: {choices}."


def parse_score(answer: str, low: float, high: float) -> float:
    """The score in ``answer``: ``{"result": x}`` / ``{"score": x}``, a bare number, or the
    first number in the text; it must lie in [low, high]."""
    value = _json_answer(answer)
    score = _as_number(value) if value is not None else None
    if score is None:
        match = _NUMBER.search(answer)
        if match is None:
            raise AnswerParseError("the grader model's answer holds no number")
        score = float(match.group())
    if not math.isfinite(score) or not low <= score <= high:
        raise AnswerParseError(f"the grader model's score {score:g} is outside [{low:g}, {high:g}]")
    return score


def parse_label(answer: str, labels: Sequence[str]) -> str:
    """The label ``answer`` chose: the whole answer (bare, quoted or as JSON), else the one label
    the text names as a whole word (case-insensitive)."""
    value = _json_answer(answer)
    for candidate in (value if isinstance(value, str) else None, answer):
        if candidate is None:
            continue
        bare = candidate.strip().strip("\"'`*.").strip()
        if bare in labels:
            return bare
        folded = [label for label in labels if label.casefold() == bare.casefold()]
        if len(folded) == 1:
            return folded[0]
    named = [
        label
        for label in labels
        if re.search(rf"(?<!\w){re.escape(label)}(?!\w)", answer, re.IGNORECASE)
    ]
    # "very good" also names "good": keep the labels no other named label contains.
    named = [label for label in named if not any(label != o and label in o for o in named)]
    if len(named) == 1:
        return named[0]
    raise AnswerParseError(
        "the grader model's answer names "
        + ("none of the labels" if not named else "more than one label")
    )


def _json_answer(answer: str) -> object | None:
    """The answer's ``result`` (or score/label/answer) when it is JSON, or a bare JSON value."""
    start, end = answer.find("{"), answer.rfind("}")
    for candidate in (answer.strip(), answer[start : end + 1] if 0 <= start < end else ""):
        try:
            parsed: object = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(parsed, dict):
            for key in _ANSWER_KEYS:
                if key in parsed:
                    found: object = parsed[key]
                    return found
        elif parsed is not None:
            return parsed
    return None


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):  # not a number, or an int too large for a float
        return None
