"""The console's Evals page in a real headless Chromium against a live api and ctl worker: an
eval with a base run and a fine-tuned run (samples given in JSONL, graded by the worker), their
pass rates side by side, and the table of the items on which they disagree, read across more
than one page of output items.

Screenshots land in the artefacts folder (see ``conftest.ARTIFACTS_DIR``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.browser import (
    DESKTOP,
    MISSING,
    PHONE,
    chromium_available,
    console_errors,
    set_viewport,
    start_chromium,
    stop_chromium,
    wait_until,
)
from tests.browser.console import Console
from tests.support.jobs import stack_config
from tests.support.services import RedisServer
from tests.support.skips import skip_loudly
from tests.support.stack import ApiServer

RUN_TIMEOUT_S = 120.0
N_ITEMS = 120  # more than one page (100) of output items per run
BASE_WRONG = {2, 3, 50, 51, 110, 111}
TUNED_WRONG = {1, 2}
TUNED_LOUD = {60}  # the answer inside a sentence: passes "contains", fails "exact"
# Passed by one run only: 1 and 60 by the base run, 3, 50, 51, 110 and 111 by the tuned one.
DISAGREEING = [1, 3, 50, 51, 60, 110, 111]
TERMINAL = ("completed", "failed", "canceled")


@dataclass(frozen=True)
class EvalsStack:
    api: ApiServer
    key: str
    sdk: OpenAI

    @property
    def console_url(self) -> str:
        return f"{self.api.root_url}/console/"


@dataclass(frozen=True)
class ComparedEval:
    eval_id: str
    base_run: str
    tuned_run: str


@pytest.fixture(scope="module")
def evals_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, job_registry: Path
) -> Iterator[EvalsStack]:
    """The api and a ctl worker (which runs evals); no engine: the samples are given."""
    if not chromium_available():
        skip_loudly(MISSING)
    root = tmp_path_factory.mktemp("console-evals")
    with ApiServer(stack_config(root, redis_server.new_database_url(), job_registry)) as api:
        key = api.new_key("console-evals")
        with OpenAI(
            base_url=api.base_url, api_key=key, _strict_response_validation=True, max_retries=0
        ) as sdk:
            yield EvalsStack(api, key, sdk)


@pytest.fixture(scope="module")
def browser(
    evals_stack: EvalsStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebDriver]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = start_chromium(profile)
    try:
        yield driver
    finally:
        stop_chromium(driver, profile)


@pytest.fixture
def console(browser: WebDriver, evals_stack: EvalsStack, artifacts: Path) -> Iterator[Console]:
    """The console at desktop width; fails the test on any script error or CSP violation."""
    set_viewport(browser, DESKTOP)
    browser.get_log("browser")
    page = Console(browser, evals_stack.console_url, artifacts)
    yield page
    assert console_errors(browser) == []


def _answer(i: int, wrong: set[int], loud: set[int], wrong_text: str) -> str:
    if i in wrong:
        return wrong_text
    return f"The answer is {2 * i}." if i in loud else str(2 * i)


def _rows(wrong: set[int], loud: set[int], wrong_text: str) -> list[dict[str, Any]]:
    return [
        {
            "item": {"question": f"What is {i} plus {i}?", "expected": str(2 * i)},
            "sample": {"output_text": _answer(i, wrong, loud, wrong_text)},
        }
        for i in range(N_ITEMS)
    ]


def _finished_run(sdk: OpenAI, eval_id: str, name: str, rows: list[dict[str, Any]]) -> str:
    run = sdk.evals.runs.create(
        eval_id,
        name=name,
        data_source={"type": "jsonl", "source": {"type": "file_content", "content": rows}},
    )
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while run.status not in TERMINAL:
        assert time.monotonic() < deadline, f"run {run.id} still {run.status}"
        time.sleep(0.2)
        run = sdk.evals.runs.retrieve(run.id, eval_id=eval_id)
    assert run.status == "completed", run.error
    return run.id


@pytest.fixture(scope="module")
def compared_eval(evals_stack: EvalsStack) -> ComparedEval:
    """An eval with two criteria and two completed runs: the base model's, then the tuned one's."""
    sdk = evals_stack.sdk
    template = {"input": "{{sample.output_text}}", "reference": "{{item.expected}}"}
    evaluation = sdk.evals.create(
        name="arithmetic",
        data_source_config={
            "type": "custom",
            "item_schema": {
                "type": "object",
                "properties": {"question": {"type": "string"}, "expected": {"type": "string"}},
                "required": ["question", "expected"],
            },
            "include_sample_schema": True,
        },
        testing_criteria=[
            {"type": "string_check", "name": "exact", "operation": "eq", **template},
            {"type": "string_check", "name": "contains", "operation": "ilike", **template},
        ],
    )
    base = _finished_run(sdk, evaluation.id, "base", _rows(BASE_WRONG, set(), "I am not sure."))
    tuned = _finished_run(sdk, evaluation.id, "tuned", _rows(TUNED_WRONG, TUNED_LOUD, "No idea."))
    return ComparedEval(evaluation.id, base, tuned)


def _rate_cell(console: Console, run_id: str, selector: str) -> str:
    return console.read(f"td[data-run-id={run_id}]{selector}")


def test_the_eval_page_shows_runs_side_by_side_and_the_items_they_disagree_on(
    console: Console, evals_stack: EvalsStack, compared_eval: ComparedEval
) -> None:
    base, tuned = compared_eval.base_run, compared_eval.tuned_run
    console.ensure_signed_in(evals_stack.key, "evals")
    console.wait_for_text("h1", "Evals")
    assert console.find("#nav a[aria-current=page]").text == "Evals"
    console.find(f"tr[data-eval-id={compared_eval.eval_id}] a").click()
    wait_until(lambda: f"#/evals/{compared_eval.eval_id}" in console.driver.current_url, 10, "page")
    console.wait_for_text("h1", "arithmetic")

    assert _rate_cell(console, base, "[data-overall=true]") == "95.0% (114 of 120)"
    assert _rate_cell(console, tuned, "[data-overall=true]") == "97.5% (117 of 120)"
    assert _rate_cell(console, base, "[data-criterion^=exact]") == "95.0% (114 of 120)"
    assert _rate_cell(console, tuned, "[data-criterion^=exact]") == "97.5% (117 of 120)"
    assert _rate_cell(console, tuned, "[data-criterion^=contains]") == "98.3% (118 of 120)"
    assert console.find(f"td[data-run-id={base}][data-status=completed]")
    headers = [th.text for th in console.find_all(".table-wrap table thead th")][:3]
    assert headers == ["", "base", "tuned"]  # oldest on the left

    # By default the newest run (B) is compared with the one before it (A).
    summary = console.wait_for(".disagreement-summary[data-disagree]", timeout_s=30)
    assert summary.get_attribute("data-disagree") == str(len(DISAGREEING))
    assert summary.get_attribute("data-both") == str(N_ITEMS)
    assert "2 passed only in run A, 5 only in run B" in summary.text
    assert console.find("select[name=run_a]").get_attribute("value") == base
    rows = console.find_all("tr[data-item-id]")
    assert [int(row.get_attribute("data-item-id")) for row in rows] == DISAGREEING
    first = console.find("tr[data-item-id='1']")
    side_a = first.find_element(By.CSS_SELECTOR, "td[data-side=a]").text
    side_b = first.find_element(By.CSS_SELECTOR, "td[data-side=b]").text
    assert "pass" in side_a
    assert "\n2\n" in f"\n{side_a}\n"  # the base model's right answer
    assert "No idea." in side_b
    assert "exact: failed" in side_b
    assert "What is 1 plus 1?" in first.text
    loud = console.find("tr[data-item-id='60'] td[data-side=b]").text
    assert "The answer is 120." in loud
    assert "contains: passed" in loud
    assert "exact: failed" in loud
    assert console.read("tr[data-overall=true] td.delta") == "+2.5 pp"
    assert console.read("tr[data-criterion^=contains] td.delta") == "+3.3 pp"
    shot = console.screenshot("desktop-eval")
    assert shot.stat().st_size > 0

    # Swapped, the change turns negative and the link keeps the choice.
    console.choose("select[name=run_a]", value=tuned)
    console.choose("select[name=run_b]", value=base)
    wait_until(
        lambda: console.find("tr[data-overall=true] td.delta").text == "\N{MINUS SIGN}2.5 pp",
        15,
        "the swapped comparison",
    )
    assert f"?a={tuned}&b={base}" in console.driver.current_url
    console.wait_for_text(".disagreement-summary", "5 passed only in run A, 2 only in run B")


def test_the_evals_pages_fit_a_390_px_phone_and_work_by_keyboard(
    console: Console, evals_stack: EvalsStack, compared_eval: ComparedEval
) -> None:
    set_viewport(console.driver, PHONE)
    console.ensure_signed_in(evals_stack.key, "evals")
    for name, route in (("evals", "evals"), ("eval", f"evals/{compared_eval.eval_id}")):
        console.open(route)
        console.wait_for("main h1")
        if name == "eval":
            console.wait_for(".disagreement-summary[data-disagree]", timeout_s=30)
        else:
            console.wait_for(f"tr[data-eval-id={compared_eval.eval_id}]")
        assert console.horizontal_overflow_px() == 0, name
        assert console.unlabelled_controls() == [], name
        assert console.find_all("header nav[aria-label] a[aria-current=page]"), name
        focused = console.tab()
        assert focused["tag"] != "body", name
        assert focused["outline"] == "solid", (name, focused)
        console.screenshot(f"phone-{name}")
