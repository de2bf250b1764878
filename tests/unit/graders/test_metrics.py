"""Each text_similarity metric against its library called directly, and published values.

The literal values come from the libraries' own documentation: rapidfuzz's README
(``fuzz.ratio``), nltk's docstrings (``sentence_gleu``, ``meteor_score``), rouge-score's test
suite (``testRouge1``-style counts) and sacrebleu's identity (a sentence against itself is 100).
"""

from __future__ import annotations

import pytest
import sacrebleu
from nltk.translate.gleu_score import sentence_gleu  # type: ignore[import-untyped]
from nltk.translate.meteor_score import meteor_score  # type: ignore[import-untyped]
from rapidfuzz import fuzz
from rouge_score import rouge_scorer  # type: ignore[import-untyped]

from service.graders.metrics import cosine_similarity, text_similarity
from service.graders.shapes import SimilarityMetric

# nltk's docstring examples (gleu_score.py, meteor_score.py).
NLTK_REF = "It is a guide to action that ensures that the military will forever heed Party commands"
NLTK_HYP1 = (
    "It is a guide to action which ensures that the military always obeys the commands of the party"
)
NLTK_HYP2 = "It is to insure the troops forever hearing the activity guidebook that party direct"

PAIRS = [
    (NLTK_HYP1, NLTK_REF),
    (NLTK_HYP2, NLTK_REF),
    ("The dog bit the man.", "The dog had bit the man."),
    ("It wasn't surprising.", "No one was surprised."),
    ("the cat sat on the mat", "the cat sat on the mat"),
    ("", "something"),
    ("something", ""),
]


class _NoSynsets:
    def synsets(self, lemma: str) -> list[object]:
        return []


@pytest.mark.parametrize(("hypothesis", "reference"), PAIRS)
def test_every_metric_is_its_library(hypothesis: str, reference: str) -> None:
    assert text_similarity("fuzzy_match", hypothesis, reference) == pytest.approx(
        fuzz.ratio(hypothesis, reference) / 100
    )
    assert text_similarity("bleu", hypothesis, reference) == pytest.approx(
        min(1.0, sacrebleu.sentence_bleu(hypothesis, [reference]).score / 100)
    )
    assert text_similarity("gleu", hypothesis, reference) == pytest.approx(
        sentence_gleu([reference.split()], hypothesis.split())
    )
    assert text_similarity("meteor", hypothesis, reference) == pytest.approx(
        meteor_score([reference.split()], hypothesis.split(), wordnet=_NoSynsets())
    )
    rouge_types: list[tuple[SimilarityMetric, str]] = [
        ("rouge_1", "rouge1"),
        ("rouge_2", "rouge2"),
        ("rouge_3", "rouge3"),
        ("rouge_4", "rouge4"),
        ("rouge_5", "rouge5"),
        ("rouge_l", "rougeL"),
    ]
    for ours, theirs in rouge_types:
        scorer = rouge_scorer.RougeScorer([theirs])
        expected = scorer.score(reference, hypothesis)[theirs].fmeasure
        assert text_similarity(ours, hypothesis, reference) == pytest.approx(expected), ours


def test_fuzzy_match_published_value() -> None:
    # rapidfuzz README: fuzz.ratio("this is a test", "this is a test!") == 96.55172413793103
    assert text_similarity("fuzzy_match", "this is a test", "this is a test!") == pytest.approx(
        0.9655172413793103
    )


def test_bleu_of_a_sentence_against_itself_is_one() -> None:
    # sacrebleu answers 100.00000000000004 here; the grader keeps rewards within [0, 1].
    assert text_similarity("bleu", "The dog bit the man.", "The dog bit the man.") == 1.0
    assert text_similarity("bleu", "The dog bit the man.", "Nothing alike here at all") < 0.1


def test_gleu_published_values() -> None:
    # nltk.translate.gleu_score.sentence_gleu docstring.
    assert text_similarity("gleu", NLTK_HYP1, NLTK_REF) == pytest.approx(0.4393, abs=1e-4)
    assert text_similarity("gleu", NLTK_HYP2, NLTK_REF) == pytest.approx(0.1206, abs=1e-4)
    assert text_similarity(
        "gleu", "the the the the the the the", "the cat is on the mat"
    ) == pytest.approx(0.0909, abs=1e-4)


def test_meteor_published_values_hold_without_wordnet() -> None:
    # nltk.translate.meteor_score docstring: 0.6944 (this pair needs no synonym match) and 0.0.
    assert round(text_similarity("meteor", NLTK_HYP1, NLTK_REF), 4) == 0.6944
    assert text_similarity("meteor", "non matching hypothesis", "this is a cat") == 0.0


def test_meteor_matches_stems_but_not_synonyms() -> None:
    stems = text_similarity("meteor", "the soldiers were running", "the soldier was run")
    unrelated = text_similarity("meteor", "the army marches", "the military walks")
    assert stems > unrelated > 0  # "soldiers"/"soldier" and "running"/"run" align by stem
    # Only "the" aligns in the second pair: WordNet would also pair army/military.
    assert unrelated == pytest.approx(
        meteor_score(
            [["the", "military", "walks"]], ["the", "army", "marches"], wordnet=_NoSynsets()
        )
    )


def test_rouge_published_counts() -> None:
    # rouge-score's tests: target "testing one two", prediction "testing": P=1, R=1/3, F=0.5.
    assert text_similarity("rouge_1", "testing", "testing one two") == pytest.approx(0.5)
    assert text_similarity("rouge_l", "testing", "testing one two") == pytest.approx(0.5)
    assert text_similarity("rouge_2", "testing", "testing one two") == 0.0


def test_metrics_stay_in_the_unit_interval_on_edge_texts() -> None:
    metrics: list[SimilarityMetric] = [
        "fuzzy_match",
        "bleu",
        "gleu",
        "meteor",
        "rouge_1",
        "rouge_l",
    ]
    for metric in metrics:
        for hypothesis, reference in [("", ""), ("  ", "x"), ("🙂 ünïcödé", "ÜNÏCÖDÉ 🙂")]:
            assert 0.0 <= text_similarity(metric, hypothesis, reference) <= 1.0


def test_cosine_similarity() -> None:
    assert cosine_similarity([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert cosine_similarity([1.0, 2.0], [2.0, 4.0]) == pytest.approx(1.0)
    assert cosine_similarity([1.0, 0.0], [-1.0, 0.0]) == pytest.approx(-1.0)
    assert cosine_similarity([0.0, 0.0], [1.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="length"):
        cosine_similarity([1.0], [1.0, 2.0])
