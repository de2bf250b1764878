"""The ``text_similarity`` metrics, each computed by a well-kept library (none written here).

============  =================================================================================
metric        value
============  =================================================================================
fuzzy_match   rapidfuzz ``fuzz.ratio`` / 100 (normalised Indel similarity of the two strings)
bleu          sacrebleu sentence BLEU / 100, with its defaults (13a tokenizer, ``exp``
              smoothing, effective order), the same as ``sacrebleu.sentence_bleu``
gleu          nltk ``sentence_gleu`` (Google-BLEU) over whitespace tokens, case-sensitive
meteor        nltk ``meteor_score`` over whitespace tokens (nltk lowercases them), with exact
              and Porter-stem matching only: see below
rouge_1..5    rouge-score F-measure of ``rouge1``..``rouge5``, with its tokenizer (lowercase,
rouge_l       alphanumeric runs) and no stemming; ``rouge_l`` is ``rougeL``
cosine        cosine similarity of two embeddings (``grading.py`` asks the Embeddings seam)
============  =================================================================================

Tokens for nltk are ``text.split()``: nltk's own word tokenizer needs the ``punkt`` data, which
would be a download, so punctuation stays attached to its word, as in nltk's docstring examples.

**METEOR without WordNet.** nltk's METEOR aligns words in three stages: exact, stem, and WordNet
synonyms. WordNet is a corpus nltk downloads at run time (no PyPI package ships it for nltk),
and ftapi downloads nothing at run time. So METEOR here gets a WordNet with no synsets: exact and
stem matches only, deterministic. It equals nltk's score whenever the two texts share no synonym
pair beyond exact and stem matches, and is lower otherwise (nltk would also align, say, "army"
with "military").

The libraries are imported on first use: ``import nltk`` alone costs seconds of CPU, which the
api should not pay at start for graders it may never run. Every metric is in [0, 1] except
cosine, in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from service.graders.shapes import SimilarityMetric

_ROUGE_TYPES: Mapping[str, str] = {
    "rouge_1": "rouge1",
    "rouge_2": "rouge2",
    "rouge_3": "rouge3",
    "rouge_4": "rouge4",
    "rouge_5": "rouge5",
    "rouge_l": "rougeL",
}


def text_similarity(metric: SimilarityMetric, hypothesis: str, reference: str) -> float:
    """How close ``hypothesis`` (the grader's input) is to ``reference``, by ``metric``.

    ``cosine`` is not computed here: it needs an embedding model (``cosine_similarity``).
    """
    if metric in _ROUGE_TYPES:
        return _unit(rouge(_ROUGE_TYPES[metric], hypothesis, reference))
    compute = _TEXT_METRICS.get(metric)
    if compute is None:
        raise ValueError(f"{metric} is not computed from text alone")
    return _unit(compute(hypothesis, reference))


def fuzzy_match(hypothesis: str, reference: str) -> float:
    from rapidfuzz import fuzz

    return fuzz.ratio(hypothesis, reference) / 100


def bleu(hypothesis: str, reference: str) -> float:
    return float(_sacrebleu_bleu().sentence_score(hypothesis, [reference]).score) / 100


def gleu(hypothesis: str, reference: str) -> float:
    from nltk.translate.gleu_score import sentence_gleu  # type: ignore[import-untyped]

    return float(sentence_gleu([reference.split()], hypothesis.split()))


def meteor(hypothesis: str, reference: str) -> float:
    from nltk.translate.meteor_score import meteor_score  # type: ignore[import-untyped]

    return float(meteor_score([reference.split()], hypothesis.split(), wordnet=_NO_SYNONYMS))


def rouge(rouge_type: str, hypothesis: str, reference: str) -> float:
    # rouge-score's argument order is (target, prediction).
    return float(_rouge_scorer(rouge_type).score(reference, hypothesis)[rouge_type].fmeasure)


def cosine_similarity(first: Sequence[float], second: Sequence[float]) -> float:
    """The cosine of the angle between two vectors; 0.0 when either is all zeros."""
    if len(first) != len(second) or not first:
        raise ValueError("the two embeddings differ in length or are empty")
    norms = math.sqrt(math.fsum(x * x for x in first)) * math.sqrt(math.fsum(y * y for y in second))
    if norms == 0 or not math.isfinite(norms):
        return 0.0
    return max(-1.0, min(1.0, math.fsum(x * y for x, y in zip(first, second, strict=True)) / norms))


class _WordNetWithoutSynsets:
    """Stands in for nltk's WordNet reader in METEOR: no word has a synonym."""

    def synsets(self, lemma: str, *args: object, **kwargs: object) -> list[Any]:
        return []


_NO_SYNONYMS: Any = _WordNetWithoutSynsets()


@cache
def _sacrebleu_bleu() -> Any:
    from sacrebleu.metrics.bleu import BLEU

    # What sacrebleu.sentence_bleu builds on every call, built once.
    return BLEU(effective_order=True)


@cache
def _rouge_scorer(rouge_type: str) -> Any:
    from rouge_score import rouge_scorer  # type: ignore[import-untyped]

    return rouge_scorer.RougeScorer([rouge_type], use_stemmer=False)


def _unit(value: float) -> float:
    # Libraries can land a rounding error outside [0, 1] (sacrebleu gives 100.00000000000004).
    if not math.isfinite(value):
        return 0.0
    return max(0.0, min(1.0, value))


_TEXT_METRICS: Mapping[str, Callable[[str, str], float]] = {
    "fuzzy_match": fuzzy_match,
    "bleu": bleu,
    "gleu": gleu,
    "meteor": meteor,
}
