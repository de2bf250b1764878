"""multi graders: formulas over sub-graders' rewards, checked at parse, computed safely."""

from __future__ import annotations

import math

import pytest

from service.graders import GraderInvalid
from service.graders.formula import FormulaError, evaluate, parse_formula
from tests.unit.graders.helpers import errors_of, grade, grader, string_check


def multi(formula: str, graders: object | None = None) -> dict[str, object]:
    return {
        "type": "multi",
        "name": "combined",
        "calculate_output": formula,
        "graders": graders
        if graders is not None
        else {
            "exact": string_check("{{sample.output_text}}", "{{item.answer}}"),
            "close": {
                "type": "text_similarity",
                "name": "close",
                "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}",
                "evaluation_metric": "fuzzy_match",
            },
        },
    }


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("(exact + close) / 2", 0.75),
        ("0.3 * exact + 0.7 * close", 0.65),
        ("min(exact, close)", 0.5),
        ("max(exact, close) ^ 2", 1.0),  # ^ is a power in OpenAI's formulas
        ("close ** 2", 0.25),
        ("sqrt(close) * 2", 2 * math.sqrt(0.5)),
        ("floor(close + 0.6) + ceil(close) + abs(-exact)", 3.0),
        ("exp(log(close))", 0.5),
        ("1 if exact > close else 0", 1.0),
        ("exact >= 1", 1.0),
    ],
)
def test_formulas(formula: str, expected: float) -> None:
    grader(multi(formula))  # accepted at parse
    rewards = {"exact": 1.0, "close": 0.5}
    assert evaluate(parse_formula(formula, sub_graders=rewards), rewards) == pytest.approx(expected)


async def test_run_reports_each_sub_reward_and_the_formula_value() -> None:
    result = await grade(multi("(exact + close) / 2"), item={"answer": "abcd"}, output="abcd")
    assert result.sub_rewards == {"exact": 1.0, "close": 1.0}
    assert result.reward == 1.0
    assert result.metadata["scores"] == {"exact": 1.0, "close": 1.0}
    assert result.metadata["type"] == "multi"
    assert not result.has_error()


async def test_the_sdk_single_grader_form_names_it_by_its_name() -> None:
    raw = multi("check * 0.5", string_check("{{sample.output_text}}", "yes"))
    result = await grade(raw, output="yes")
    assert result.sub_rewards == {"check": 1.0}
    assert result.reward == 0.5


async def test_division_by_zero_is_a_formula_error_flag() -> None:
    result = await grade(multi("close / exact"), item={"answer": "abcd"}, output="ab")
    assert errors_of(result) == {"formula_parse_error"}
    assert result.reward == 0.0
    assert result.sub_rewards["exact"] == 0.0  # still reported


@pytest.mark.parametrize("formula", ["log(exact)", "sqrt(exact - 1)", "exp(2000 * close)"])
async def test_math_domain_errors_are_formula_errors(formula: str) -> None:
    result = await grade(multi(formula), item={"answer": "abcd"}, output="ab")
    assert errors_of(result) == {"formula_parse_error"}


async def test_a_failing_sub_grader_fails_the_multi() -> None:
    graders = {
        "exact": string_check("{{item.missing}}", "x"),
        "other": string_check("a", "a"),
    }
    result = await grade(multi("exact + other", graders))
    assert errors_of(result) == {"invalid_variable_error"}
    assert result.reward == 0.0
    assert result.sub_rewards == {"exact": 0.0, "other": 1.0}


@pytest.mark.parametrize(
    ("formula", "complaint"),
    [
        ("exact + unknown", "'unknown'"),
        ("exact.__class__", "attribute access"),
        ("close.real", "attribute access"),
        ("exact[0]", "indexing"),
        ("'a' * 3", "only numbers"),
        ("__import__('os')", "only these functions"),
        ("(lambda: 1)()", "only these functions"),
        ("[x for x in (1,)]", "ListComp"),
        ("max(exact, key=close)", "plain arguments"),
        ("exact = 1", "not a valid expression"),
        ("exact; close", "not a valid expression"),
        ("", "empty"),
        ("True + exact", "only numbers"),
        ("x" * 3000, "longer"),
    ],
)
def test_bad_formulas_are_refused_at_parse_naming_calculate_output(
    formula: str, complaint: str
) -> None:
    with pytest.raises(GraderInvalid, match="calculate_output") as refused:
        grader(multi(formula))
    assert refused.value.param == "grader.calculate_output"
    assert complaint in refused.value.message
    with pytest.raises(FormulaError):
        parse_formula(formula, sub_graders={"exact", "close"})
