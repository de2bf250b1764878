"""Where a grader's templates and sub-graders are, each with its path inside the grader.

Paths are what errors name in ``param`` (under the caller's prefix): ``input``,
``input[0].content[1].text``, ``graders.accuracy.reference``.
"""

from __future__ import annotations

from collections.abc import Iterator

from service.graders.shapes import (
    Grader,
    InputAudio,
    InputImage,
    InputMessage,
    LabelModelGrader,
    MultiGrader,
    ScoreModelGrader,
    SingleGrader,
    StringCheckGrader,
    TextSimilarityGrader,
)


def template_fields(grader: Grader) -> Iterator[tuple[str, str]]:
    """Every templated text of the grader, with its path relative to the grader."""
    if isinstance(grader, StringCheckGrader | TextSimilarityGrader):
        yield "input", grader.input
        yield "reference", grader.reference
    elif isinstance(grader, ScoreModelGrader | LabelModelGrader):
        for i, message in enumerate(grader.input):
            for path, text in _message_texts(message):
                yield f"input[{i}].{path}", text
    elif isinstance(grader, MultiGrader):
        for prefix, sub in sub_graders_by_path(grader):
            for path, text in template_fields(sub):
                yield f"{prefix}.{path}", text


def _message_texts(message: InputMessage) -> Iterator[tuple[str, str]]:
    if isinstance(message.content, str):
        yield "content", message.content
    elif isinstance(message.content, list):
        for j, part in enumerate(message.content):
            if isinstance(part, str):
                yield f"content[{j}]", part
            elif not isinstance(part, InputImage | InputAudio):
                yield f"content[{j}].text", part.text
    elif not isinstance(message.content, InputImage | InputAudio):
        yield "content.text", message.content.text


def sub_graders_by_path(grader: MultiGrader) -> Iterator[tuple[str, SingleGrader]]:
    """Each sub-grader with its path: ``graders.<name>`` in the map form, ``graders`` alone."""
    if isinstance(grader.graders, dict):
        for key, sub in grader.graders.items():
            yield f"graders.{key}", sub
    else:
        yield "graders", grader.graders
