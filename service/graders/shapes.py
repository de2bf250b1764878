"""The graders' configuration, field for field as the ``openai`` SDK's ``types/graders`` define it.

Inputs are ``extra="forbid"``: a misspelt field is a 400 naming it, not a silently ignored key.
``config.parse_grader`` is the way in (it dispatches on ``type`` itself, so an error names the
field rather than every member of a union, and it checks what the shapes alone cannot).

One deliberate widening: OpenAI's documentation writes a ``multi`` grader's ``graders`` as a map
from name to grader, while the SDK's generated type holds a single grader. Both are accepted; in
the single form the formula names the grader by its ``name``.
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

Role = Literal["user", "assistant", "system", "developer"]
StringCheckOperation = Literal["eq", "ne", "like", "ilike"]
SimilarityMetric = Literal[
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
]
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CacheBreakpoint(_Shape):
    """Accepted for compatibility and ignored: grader prompts are not cached."""

    mode: Literal["explicit"]
    ttl: Literal["30m", "12h"] | None = None


class InputText(_Shape):
    type: Literal["input_text"]
    text: str
    prompt_cache_breakpoint: CacheBreakpoint | None = None


class OutputText(_Shape):
    type: Literal["output_text"]
    text: str


class InputImage(_Shape):
    type: Literal["input_image"]
    image_url: str
    detail: str | None = None


class AudioData(_Shape):
    data: str
    format: Literal["mp3", "wav"]


class InputAudio(_Shape):
    type: Literal["input_audio"]
    input_audio: AudioData


ContentPart = Annotated[
    InputText | OutputText | InputImage | InputAudio, Field(discriminator="type")
]
_CONTENT_PART: TypeAdapter[InputText | OutputText | InputImage | InputAudio] = TypeAdapter(
    ContentPart
)


def _content_part(raw: object, where: str) -> InputText | OutputText | InputImage | InputAudio:
    try:
        return _CONTENT_PART.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = "".join(
            f"[{step}]" if isinstance(step, int) else f".{step}" for step in error["loc"]
        )
        # The discriminated union puts the part's type in the location; the reader wants fields.
        path = path.removeprefix(f".{raw.get('type')}") if isinstance(raw, dict) else path
        raise ValueError(f"{where}{path}: {error['msg']}") from None


class InputMessage(_Shape):
    """One chat message of a model grader's prompt; its text may hold template variables."""

    role: Role
    content: str | ContentPart | list[str | ContentPart]
    type: Literal["message"] | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _one_error_per_content(cls, value: object) -> object:
        # Validated by hand so that a bad part gives one error naming it, not one per member of
        # the str | part | list union.
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return [
                part if isinstance(part, str) else _content_part(part, f"content[{i}]")
                for i, part in enumerate(value)
            ]
        if isinstance(value, dict):
            return _content_part(value, "content")
        raise ValueError("content must be a string, a content part or a list of content parts")

    def parts(self) -> list[str | InputText | OutputText | InputImage | InputAudio]:
        """The content as a list, whatever form it was given in."""
        if isinstance(self.content, list):
            return list(self.content)
        return [self.content]


class SamplingParams(_Shape):
    """Sampling of a ``score_model`` grader; ``reasoning_effort`` is accepted and not used."""

    max_completions_tokens: int | None = None
    reasoning_effort: ReasoningEffort | None = None
    seed: int | None = None
    temperature: float | None = None
    top_p: float | None = None


class StringCheckGrader(_Shape):
    """Compares two rendered templates: ``eq``, ``ne``, ``like`` (substring), ``ilike``."""

    type: Literal["string_check"]
    name: str
    input: str
    reference: str
    operation: StringCheckOperation


class TextSimilarityGrader(_Shape):
    """Scores how close the rendered ``input`` is to the rendered ``reference``."""

    type: Literal["text_similarity"]
    name: str
    input: str
    reference: str
    evaluation_metric: SimilarityMetric


class ScoreModelGrader(_Shape):
    """Asks a model for a number within ``range`` (default ``[0, 1]``)."""

    type: Literal["score_model"]
    name: str
    model: str
    input: list[InputMessage]
    range: list[float] | None = None
    sampling_params: SamplingParams | None = None

    @property
    def score_range(self) -> tuple[float, float]:
        low, high = self.range if self.range is not None else (0.0, 1.0)
        return (low, high)


class LabelModelGrader(_Shape):
    """Asks a model to pick one of ``labels``; passing when it picks one of ``passing_labels``."""

    type: Literal["label_model"]
    name: str
    model: str
    input: list[InputMessage]
    labels: list[str]
    passing_labels: list[str]


class PythonGrader(_Shape):
    """Runs user code. Modelled so it can be named in errors; ftapi refuses to run it."""

    type: Literal["python"]
    name: str
    source: str
    image_tag: str | None = None


SingleGrader: TypeAlias = (
    StringCheckGrader | TextSimilarityGrader | PythonGrader | ScoreModelGrader | LabelModelGrader
)
"""Any grader but ``multi``: what a ``multi`` grader may combine."""
SubGrader = Annotated[SingleGrader, Field(discriminator="type")]


class MultiGrader(_Shape):
    """Combines sub-graders' rewards with the ``calculate_output`` formula."""

    type: Literal["multi"]
    name: str
    calculate_output: str
    graders: SubGrader | dict[str, SubGrader]

    def sub_graders(self) -> dict[str, SingleGrader]:
        """The sub-graders by the name the formula uses for them."""
        if isinstance(self.graders, dict):
            return dict(self.graders)
        return {self.graders.name: self.graders}


Grader: TypeAlias = (
    StringCheckGrader
    | TextSimilarityGrader
    | ScoreModelGrader
    | LabelModelGrader
    | MultiGrader
    | PythonGrader
)
