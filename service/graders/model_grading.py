"""The graders that ask a model: ``score_model``, ``label_model``, and ``cosine`` embeddings.

A model that cannot answer (``GraderModelError``, or no client configured) is a
``model_grader_server_error`` with its details; an answer that is not a score in range or one of
the labels is a ``model_grader_parse_error``. Tokens are counted either way once the model answered.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.graders.metrics import cosine_similarity
from service.graders.model_client import Embeddings, GraderModelError, GraderModels, ModelAnswer
from service.graders.model_prompts import (
    AnswerParseError,
    label_instruction,
    parse_label,
    parse_score,
    render_messages,
    score_instruction,
    with_instruction,
)
from service.graders.results import ErrorFlags, Outcome, Usage
from service.graders.shapes import LabelModelGrader, ScoreModelGrader

_NO_MODELS = "no grader model client is configured"
_NO_EMBEDDINGS = "no embedding model is configured"


async def score_model(
    grader: ScoreModelGrader, namespaces: Mapping[str, object], models: GraderModels | None
) -> Outcome:
    """Ask for a number in the grader's range; the reward is that number."""
    low, high = grader.score_range
    messages = with_instruction(
        render_messages(grader.input, namespaces), score_instruction(low, high)
    )
    sampling = grader.sampling_params
    answer = await _ask(
        models,
        grader.model,
        messages,
        max_tokens=sampling.max_completions_tokens if sampling else None,
        temperature=sampling.temperature if sampling else None,
        top_p=sampling.top_p if sampling else None,
        seed=sampling.seed if sampling else None,
    )
    if isinstance(answer, Outcome):
        return answer
    usage = {grader.model: Usage(answer.prompt_tokens, answer.completion_tokens)}
    try:
        score = parse_score(answer.text, low, high)
    except AnswerParseError:
        return Outcome(
            errors=ErrorFlags(model_grader_parse_error=True),
            usage=usage,
            sampled_model_name=grader.model,
        )
    return Outcome(reward=score, usage=usage, sampled_model_name=grader.model)


async def label_model(
    grader: LabelModelGrader, namespaces: Mapping[str, object], models: GraderModels | None
) -> Outcome:
    """Ask for one of the labels; the reward is 1 for a passing label, else 0."""
    messages = with_instruction(
        render_messages(grader.input, namespaces), label_instruction(grader.labels)
    )
    answer = await _ask(
        models, grader.model, messages, max_tokens=None, temperature=None, top_p=None, seed=None
    )
    if isinstance(answer, Outcome):
        return answer
    usage = {grader.model: Usage(answer.prompt_tokens, answer.completion_tokens)}
    try:
        label = parse_label(answer.text, grader.labels)
    except AnswerParseError:
        return Outcome(
            errors=ErrorFlags(model_grader_parse_error=True),
            usage=usage,
            sampled_model_name=grader.model,
        )
    return Outcome(
        reward=1.0 if label in grader.passing_labels else 0.0,
        scores={"label": label},
        usage=usage,
        sampled_model_name=grader.model,
    )


async def _ask(
    models: GraderModels | None,
    model: str,
    messages: list[dict[str, str]],
    *,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    seed: int | None,
) -> ModelAnswer | Outcome:
    """The model's answer, or the failed outcome when it could not answer."""
    if models is None:
        return _server_error(_NO_MODELS, model)
    try:
        return await models.chat(
            model,
            messages,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
        )
    except GraderModelError as exc:
        return _server_error(_details(exc), model)


async def cosine(text: str, reference: str, embeddings: Embeddings | None) -> Outcome:
    """``text_similarity`` with ``cosine``: the two texts' embeddings, compared."""
    if embeddings is None:
        return _server_error(_NO_EMBEDDINGS, model=None)
    try:
        vectors = await embeddings.embed([text, reference])
    except GraderModelError as exc:
        return _server_error(_details(exc), model=None)
    if len(vectors) != 2:
        return _server_error(f"the embedding model answered {len(vectors)} vectors for 2", None)
    try:
        return Outcome(reward=cosine_similarity(vectors[0], vectors[1]))
    except ValueError as exc:
        return _server_error(f"the embedding model answered unusable vectors: {exc}", None)


def _server_error(details: str, model: str | None) -> Outcome:
    return Outcome(
        errors=ErrorFlags(
            model_grader_server_error=True, model_grader_server_error_details=details
        ),
        sampled_model_name=model,
    )


def _details(exc: GraderModelError) -> str:
    return str(exc) or type(exc).__name__
