"""Files that once crashed the validator or the report, each with the problem it must now get.

Every ``tests/data/validator_regressions/<name>.jsonl`` has a sidecar ``<name>.json``:
``{"code": ..., "line": ..., "param": ..., "crash": "what it raised before the fix"}``. The file
must get exactly that one problem, and its dataset report must not raise either.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.datasets.reports.dataset_report import report_of_jsonl
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.validation.limits import ValidationLimits
from service.datasets.validation.problems import ProblemCode
from service.datasets.validation.validator import validate_jsonl

REGRESSIONS = Path(__file__).resolve().parents[2] / "data" / "validator_regressions"
CASES = sorted(REGRESSIONS.glob("*.jsonl"))


@pytest.mark.parametrize("path", CASES, ids=[case.stem for case in CASES])
def test_regression_file_gets_its_problem(path: Path, chatml_tokenizer: ChatTokenizer) -> None:
    expected = json.loads(path.with_suffix(".json").read_text())
    data = path.read_bytes()

    report = validate_jsonl([data])
    dataset_report = report_of_jsonl(
        [data], chatml_tokenizer, model="chatml", limits=ValidationLimits()
    )

    assert [(p.code, p.line, p.param) for p in report.problems] == [
        (expected["code"], expected["line"], expected["param"])
    ]
    # The report tokenizes every example but the one bad line (none for a file-level problem).
    assert dataset_report.n_examples == report.n_examples - (1 if expected["line"] else 0)


def test_every_regression_file_has_a_known_expected_problem() -> None:
    sidecars = sorted(REGRESSIONS.glob("*.json"))

    assert CASES
    assert [path.stem for path in sidecars] == [path.stem for path in CASES]
    for sidecar in sidecars:
        expected = json.loads(sidecar.read_text())
        assert expected["code"] in {code.value for code in ProblemCode}
        assert expected["crash"]
