"""string_check's truth table, and templates: paths, spaces, JSON rendering, unknown variables."""

from __future__ import annotations

import pytest

from service.graders import GradedSample, GraderInvalid, passed
from service.graders.templates import TemplateSyntaxError, parse_template
from tests.unit.graders.helpers import errors_of, grade, grader, string_check


@pytest.mark.parametrize(
    ("operation", "text", "reference", "expected"),
    [
        ("eq", "Paris", "Paris", 1.0),
        ("eq", "Paris", "paris", 0.0),
        ("eq", "Paris ", "Paris", 0.0),
        ("ne", "Paris", "Paris", 0.0),
        ("ne", "Paris", "paris", 1.0),
        ("like", "The capital is Paris.", "Paris", 1.0),
        ("like", "The capital is Paris.", "paris", 0.0),
        ("like", "Paris", "The capital is Paris.", 0.0),  # the reference must be inside the input
        ("like", "anything", "", 1.0),
        ("ilike", "The capital is PARIS.", "paris", 1.0),
        ("ilike", "The capital is Rome.", "paris", 0.0),
        ("ilike", "STRASSE", "straße", 1.0),  # casefold: ß is ss
    ],
)
async def test_string_check_truth_table(
    operation: str, text: str, reference: str, expected: float
) -> None:
    raw = string_check("{{sample.output_text}}", "{{item.reference}}", operation)
    result = await grade(raw, item={"reference": reference}, output=text)
    assert result.reward == expected
    assert not result.has_error()
    assert passed(grader(raw), result.reward, None) is (expected == 1.0)


async def test_nested_fields_and_spaces_inside_braces() -> None:
    item = {"a": {"b": {"c": "deep"}}, "list": ["zero", {"x": "one"}]}
    raw = string_check("{{ item.a.b.c }}|{{item.list.0}}|{{ item.list[1].x }}", "deep|zero|one")
    assert (await grade(raw, item=item)).reward == 1.0


async def test_non_string_values_render_as_json() -> None:
    item = {"n": 3, "f": 0.5, "t": True, "none": None, "obj": {"k": [1, "two"]}, "s": "é"}
    raw = string_check(
        "{{item.n}} {{item.f}} {{item.t}} {{item.none}} {{item.obj}} {{item.s}}",
        '3 0.5 true null {"k": [1, "two"]} é',
    )
    assert (await grade(raw, item=item)).reward == 1.0


async def test_sample_output_json_fields() -> None:
    raw = string_check("{{sample.output_json.answer.value}}", "{{item.expected}}")
    output = '{"answer": {"value": 42}}'
    result = await grade(raw, item={"expected": "42"}, output=output)
    assert result.reward == 1.0
    assert GradedSample.of_text(output).output_json == {"answer": {"value": 42}}
    assert GradedSample.of_text("NaN").output_json is None  # NaN is not JSON


@pytest.mark.parametrize(
    ("template", "item", "output"),
    [
        ("{{item.missing}}", {"present": 1}, "x"),
        ("{{item.a.b}}", {"a": "a string has no fields"}, "x"),
        ("{{item.list.5}}", {"list": [1, 2]}, "x"),
        ("{{sample.output_json.x}}", {}, "not json"),
        ("{{ item.__class__ }}", {}, "x"),  # an attribute is only a key the item lacks
        ("{{ item.__class__.__mro__ }}", {"a": 1}, "x"),
        ("{{ sample.output_json.__globals__ }}", {}, "{}"),
    ],
)
async def test_unknown_variable_is_a_flag_not_a_crash(
    template: str, item: dict[str, object], output: str
) -> None:
    result = await grade(string_check(template, "x"), item=item, output=output)
    assert result.reward == 0.0
    assert errors_of(result) == {"invalid_variable_error"}
    assert result.has_error()


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__ }}",
        "{{ item['a'] }}",
        "{{ config }}",
        "{{ 1 + 1 }}",
        "{{ item.a | upper }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{}}",
        "{{ item.a",
        "{{ sample.choices }}",
        "{{ sample.output_text.x }}",
    ],
)
def test_anything_but_a_variable_path_is_refused_at_parse(template: str) -> None:
    with pytest.raises(TemplateSyntaxError):
        parse_template(template)
    with pytest.raises(GraderInvalid) as refused:
        grader(string_check(template, "x"))
    assert refused.value.param == "grader.input"
    assert refused.value.code == "invalid_grader"


def test_template_literal_text_is_kept_verbatim() -> None:
    template = parse_template("a } b {c} {% raw %} {{item.x}} end")
    assert template.render({"item": {"x": "X"}}) == "a } b {c} {% raw %} X end"
    assert [str(variable) for variable in template.variables] == ["item.x"]
