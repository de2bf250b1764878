"""The web console in a real headless Chromium against a live stack: sign in, upload files and
read their report and mask preview, start a job and watch its loss chart grow until it succeeds,
chat with the fine-tuned model beside its base, delete it, and fit a 390 px phone screen.

Screenshots of every page land in the artefacts folder (see ``conftest.ARTIFACTS_DIR``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from openai import NotFoundError
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.browser.browser import DESKTOP, PHONE, console_errors, set_viewport, wait_until
from tests.browser.conftest import ConsoleStack
from tests.browser.console import Console
from tests.support.jobs import TINY_MODEL_ID, chat_jsonl, upload_training_file, wait_for

JOB_TIMEOUT_S = 120.0


@pytest.fixture
def console(browser: WebDriver, console_stack: ConsoleStack, artifacts: Path) -> Iterator[Console]:
    """The console at desktop width; fails the test on any script error or CSP violation."""
    set_viewport(browser, DESKTOP)
    browser.get_log("browser")  # start from a clean console log
    page = Console(browser, console_stack.console_url, artifacts)
    yield page
    unexpected = [m for m in console_errors(browser) if "status of 401" not in m]
    assert unexpected == []


@dataclass(frozen=True)
class TrainedJob:
    job_id: str
    model: str


@pytest.fixture(scope="module")
def training_files(console_stack: ConsoleStack) -> tuple[str, str]:
    """A training and a validation file, uploaded with the SDK."""
    sdk = console_stack.sdk
    training = upload_training_file(sdk, chat_jsonl(16), name="train.jsonl")
    validation = upload_training_file(sdk, chat_jsonl(4, answer="valid"), name="valid.jsonl")
    return training, validation


@pytest.fixture
def trained_job(console_stack: ConsoleStack, training_files: tuple[str, str]) -> TrainedJob:
    """A succeeded job whose model is live: the one the console made if there is one, else a
    new one made with the SDK (so each test can also run alone)."""
    sdk = console_stack.sdk
    live = {m.id for m in sdk.models.list() if m.owned_by != "system"}
    for job in sdk.fine_tuning.jobs.list(limit=20):
        if job.status == "succeeded" and job.fine_tuned_model in live:
            return TrainedJob(job.id, job.fine_tuned_model)
    job = sdk.fine_tuning.jobs.create(
        model=TINY_MODEL_ID,
        training_file=training_files[0],
        method={
            "type": "supervised",
            "supervised": {"hyperparameters": {"n_epochs": 1, "batch_size": 4}},
        },
    )
    done = wait_for(sdk, job.id, timeout_s=JOB_TIMEOUT_S)
    assert done.status == "succeeded", done.error
    assert done.fine_tuned_model is not None
    return TrainedJob(done.id, done.fine_tuned_model)


def test_the_console_is_served_with_a_strict_content_security_policy(
    console_stack: ConsoleStack,
) -> None:
    for path in ("/console", "/console/", "/console/js/main.js", "/console/console.css"):
        response = httpx.get(f"{console_stack.api.root_url}{path}")
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
    missing = httpx.get(f"{console_stack.api.root_url}/console/js/nope.js")
    assert missing.status_code == 404
    assert "content-security-policy" in missing.headers


SSE_READER_SCRIPT = """
const done = arguments[arguments.length - 1];
import("/console/js/sse.js").then(async ({ readServerSentEvents }) => {
  const chunks = [": keep-alive\\r\\n\\r\\nid: 1\\r\\nevent: fine_tuning.job.event\\r\\nda",
    "ta: {\\"a\\":\\r\\ndata: 1}\\r\\n\\r\\n", "data: [DONE]\\n", "\\nevent: done\\ndata: x\\n\\n"];
  const body = new ReadableStream({ start(controller) {
    const encoder = new TextEncoder();
    for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
    controller.close();
  } });
  const events = [];
  for await (const event of readServerSentEvents(new Response(body))) events.push(event);
  done(events);
}).catch((error) => done(String(error)));
"""


def test_the_event_stream_reader_handles_split_chunks_crlf_and_comments(
    console: Console, console_stack: ConsoleStack
) -> None:
    console.open("jobs")
    events = console.driver.execute_async_script(SSE_READER_SCRIPT)
    assert events == [
        {"event": "fine_tuning.job.event", "data": '{"a":\n1}', "id": "1"},
        {"event": "message", "data": "[DONE]", "id": None},
        {"event": "done", "data": "x", "id": None},
    ]


EVALUATION_VIEW_SCRIPT = """
const [summary, done] = [arguments[0], arguments[arguments.length - 1]];
import("/console/js/job_eval.js").then(({ evaluationView }) => {
  const parts = evaluationView(summary, (name) => document.createTextNode(name));
  const cells = (part, css) => [...part.querySelectorAll(css)].map((row) =>
    [...row.children].map((cell) => cell.textContent));
  done(parts.map((part) => ({
    set: part.dataset.set ?? null,
    rows: cells(part, "tbody tr"),
    facts: part.matches("dl.facts") ? [...part.children].map((term) => term.textContent) : [],
  })));
}).catch((error) => done(String(error)));
"""


def test_the_evaluation_view_draws_forgetting_figures_only_when_the_summary_has_them(
    console: Console, console_stack: ConsoleStack
) -> None:
    console.open("jobs")
    summary = {
        "base": {"valid_exact_match": 0.0, "valid_similarity": 0.3},
        "tuned": {"valid_exact_match": 0.75, "valid_similarity": 0.9},
        "tuned_step": 8,
        "best_checkpoint": {"step": 4, "metric": "valid_loss", "value": 0.5,
                            "fine_tuned_model_checkpoint": "ft:m:o::ftjob-1:ckpt-step-4"},
    }  # fmt: skip
    plain = console.driver.execute_async_script(EVALUATION_VIEW_SCRIPT, summary)
    assert [part["set"] for part in plain] == [None, None], plain
    assert plain[0]["rows"] == [
        ["exact match", "0", "0.75", "+0.75"],
        ["similarity", "0.3", "0.9", "+0.6"],
    ]
    best = ["Best checkpoint", "ft:m:o::ftjob-1:ckpt-step-4 step 4, valid_loss 0.5"]
    assert plain[1]["facts"] == best

    forgetting = summary | {
        # The reference set's metrics carry no ``valid_`` prefix, as the runner reports them.
        "reference_base": {"similarity": 0.8},
        "reference_tuned": {"similarity": 0.6},
        "forgetting": {"similarity": 0.2},
    }
    drawn = console.driver.execute_async_script(EVALUATION_VIEW_SCRIPT, forgetting)
    assert [part["set"] for part in drawn] == [None, "reference", None], drawn
    assert drawn[1]["rows"] == [["similarity", "0.8", "0.6", "-0.2"]]
    assert drawn[2]["facts"] == ["Forgetting (similarity)", "0.2", *best]


GRADED_SERIES_SCRIPT = """
const [data, done] = [arguments[0], arguments[arguments.length - 1]];
Promise.all([import("/console/js/job_eval.js"), import("/console/js/chart.js")])
  .then(([{ gradedMetricKeys }, { LineChart }]) => {
    const chart = new LineChart({ title: "Graded", series: [] });
    for (const key of gradedMetricKeys(data)) {
      chart.ensureSeries(key, key);
      chart.add(key, data.step, data[key]);
    }
    chart.ensureSeries("valid_says_it", "a second time");  // a known key adds no line
    done({
      series: chart.series.map((line) => [line.key, line.className, line.points.length]),
      legend: [...chart.legend.children].map((item) => item.textContent),
    });
  }).catch((error) => done(String(error)));
"""


def test_the_evaluation_chart_draws_a_line_per_grader_the_job_reports(
    console: Console, console_stack: ConsoleStack
) -> None:
    console.open("jobs")
    metrics = {
        "step": 4, "train_loss": 1.2, "valid_loss": 1.5, "valid_mean_token_accuracy": 0.4,
        "full_valid_loss": 1.4, "valid_says_it": 0.25, "valid_polite": 1.0, "learning_rate": 0.1,
    }  # fmt: skip
    drawn = console.driver.execute_async_script(GRADED_SERIES_SCRIPT, metrics)
    # (The driver hands the object over with its keys sorted.)
    assert drawn == {
        "series": [["valid_polite", "series-1", 1], ["valid_says_it", "series-2", 1]],
        "legend": ["valid_polite: —", "valid_says_it: —"],
    }, drawn


def test_sign_in_refuses_a_wrong_key_and_keeps_the_right_one_in_the_tab(
    console: Console, console_stack: ConsoleStack
) -> None:
    console.open("jobs")
    console.driver.execute_script("sessionStorage.clear()")
    console.open("jobs")
    assert not console.find("#nav").is_displayed()
    console.find("input[name=api_key]").send_keys("sk-not-a-real-key-0000000000000000")
    console.find("form[aria-labelledby=signin-title] button[type=submit]").click()
    console.wait_for_text(".notice.error", "Incorrect API key")
    console.screenshot("desktop-sign-in")

    console.sign_in(console_stack.key)

    console.wait_for_text("h1", "Fine-tuning jobs")
    assert console_stack.key not in console.driver.current_url
    stored = console.driver.execute_script("return Object.values(sessionStorage)")
    assert stored == [console_stack.key]
    assert console.driver.execute_script("return localStorage.length") == 0
    assert console.find("#nav a[aria-current=page]").text == "Jobs"


def test_uploaded_files_show_progress_then_their_report_and_mask_preview(
    console: Console, console_stack: ConsoleStack, tmp_path: Path
) -> None:
    lines = [
        {
            "messages": [
                {"role": "user", "content": f"question {i}"},
                {"role": "assistant", "content": f"answer {i}"},
            ]
        }
        for i in range(1, 7)
    ]
    # Line 4: a question longer than the model's 96 tokens leaves no room for the answer.
    lines[3]["messages"][0]["content"] = "a very long question " * 40
    whole = tmp_path / "report-demo.jsonl"
    whole.write_text("".join(json.dumps(line) + "\n" for line in lines))
    in_parts = tmp_path / "in-parts.jsonl"
    in_parts.write_bytes(chat_jsonl(3))

    console.ensure_signed_in(console_stack.key, "files")
    for path, parts in ((whole, False), (in_parts, True)):
        console.find("input[type=file][name=file]").send_keys(str(path))
        checkbox = console.find("input[name=in_parts]")
        if checkbox.is_selected() != parts:
            checkbox.click()
        console.find("form[aria-labelledby=upload-title] button[type=submit]").click()
        console.wait_for_text(".notice.ok", f"Uploaded {path.name}")
        assert console.find("progress").get_attribute("value") == "100"
    console.wait_for_text("table tbody tr", "in-parts.jsonl")
    console.screenshot("desktop-files")
    uploaded = {f.filename: f for f in console_stack.sdk.files.list()}
    assert uploaded["in-parts.jsonl"].bytes == in_parts.stat().st_size

    console.find(f"tr[data-file-id={uploaded[whole.name].id}] a").click()
    console.wait_for_text(".report[data-examples='6']", "Trainable examples", timeout_s=30)
    problem = console.wait_for_text("tr[data-line='4']", "no_trained_tokens")
    histogram = console.find("figure[data-chart=tokens]")
    buckets = int(histogram.get_attribute("data-buckets"))
    assert buckets > 4  # the histogram of the report, not the four bars of its spread
    bars = histogram.find_elements(By.CSS_SELECTOR, "svg rect")
    assert len(bars) == buckets
    assert sum(int(bar.get_attribute("data-count")) for bar in bars) == 5  # trainable examples

    preview = console.wait_for(".mask-preview")
    trained = "".join(mark.text for mark in preview.find_elements(By.CSS_SELECTOR, "mark.tok"))
    assert "answer 1" in trained
    assert "question 1" not in trained
    assert "question 1" in preview.text
    problem.find_element(By.CSS_SELECTOR, "button").click()
    console.wait_for_text("h3", "Line 4: example")
    assert console.find_all(".mask-preview mark.tok") == []
    console.screenshot("desktop-file-report")


def test_a_job_started_in_the_console_draws_its_loss_live_until_it_succeeds(
    console: Console, console_stack: ConsoleStack, training_files: tuple[str, str]
) -> None:
    training, validation = training_files
    console.ensure_signed_in(console_stack.key, "jobs")
    console.choose("select[name=model]", value=TINY_MODEL_ID)
    console.choose("select[name=training_file]", value=training)
    console.choose("select[name=validation_file]", value=validation)
    console.find("input[name=n_epochs]").send_keys("2")
    console.find("input[name=batch_size]").send_keys("4")

    def estimate_resolved() -> bool:
        # The estimate is redrawn as the form changes: both terms are read from one drawing.
        drawn = console.find(".estimate dl[data-ok=true]")
        epochs = drawn.find_element(By.CSS_SELECTOR, "dd[data-term=Epochs]").text
        term = "dd[data-term='Learning rate multiplier']"
        multiplier = drawn.find_element(By.CSS_SELECTOR, term).text
        return epochs == "2" and multiplier.endswith("(auto)")  # resolved before submitting

    wait_until(
        estimate_resolved,
        30,
        "an estimate of 2 epochs with the multiplier resolved",
    )
    console.screenshot("desktop-jobs-create")
    console.find("form[aria-labelledby=create-job-title] button[type=submit]").click()

    wait_until(lambda: "#/jobs/ftjob-" in console.driver.current_url, 15, "the job page")
    job_id = console.driver.current_url.rsplit("/", 1)[1]
    seen: list[int] = []
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while (status := console.find("#job-status").get_attribute("data-status")) != "succeeded":
        if status in ("failed", "cancelled"):
            raise AssertionError(f"{status}: {console_stack.sdk.fine_tuning.jobs.retrieve(job_id)}")
        assert time.monotonic() < deadline, f"job still {status}; loss points seen: {seen}"
        points = int(console.find("figure[data-chart=loss]").get_attribute("data-points"))
        if not seen or points != seen[-1]:
            seen.append(points)
        time.sleep(0.1)

    metrics = [
        e.data
        for e in console_stack.sdk.fine_tuning.jobs.list_events(job_id, limit=100)
        if e.type == "metrics"
    ]
    expected = sum(
        ("train_loss" in m) + ("valid_loss" in m) + ("full_valid_loss" in m) for m in metrics
    )
    wait_until(
        lambda: (
            int(console.find("figure[data-chart=loss]").get_attribute("data-points")) == expected
        ),
        10,
        "every loss point drawn",
    )
    growing = [n for n in seen if 0 < n < expected]
    assert len(growing) >= 2, f"the points did not arrive over time: {seen}"
    assert int(
        console.find("figure[data-chart=learning-rate]").get_attribute("data-points")
    ) == len(metrics)
    assert console.wait_for("tr[data-step]")  # the epoch-end checkpoint, with its playground link
    assert console.find("ol.event-log").text.count("Step ") == len(metrics)
    _shows_the_evaluation_and_the_best_checkpoint(console, console_stack, job_id, metrics)
    console.screenshot("desktop-job")

    console.open("jobs")
    console.wait_for_text(f"tr[data-job-id={job_id}][data-status=succeeded]", TINY_MODEL_ID)
    console.choose("select[name=status]", value="failed")
    console.wait_for_text("caption", "with status failed")
    assert console.find_all(f"tr[data-job-id={job_id}]") == []
    console.choose("select[name=status]", value="")
    console.screenshot("desktop-jobs")


def _shows_the_evaluation_and_the_best_checkpoint(
    console: Console, console_stack: ConsoleStack, job_id: str, metrics: list[Any]
) -> None:
    """The job (it has a validation file) shows base vs tuned as its ``eval_summary`` has them,
    its graded scores per evaluated step on a chart (the base's at step 0), and its best
    checkpoint by name, marked in the checkpoint list."""
    summary = console_stack.sdk.fine_tuning.jobs.retrieve(job_id).model_extra["eval_summary"]
    assert set(summary["base"]) == {"valid_exact_match", "valid_similarity"}, summary
    for key in summary["base"]:

        def values(key: str = key) -> list[float]:
            row = console.find(f"#main tr[data-metric={key}]")
            return [float(cell.text) for cell in row.find_elements(By.CSS_SELECTOR, "td.num")[:2]]

        shown = wait_until(values, 10, f"the {key} row")
        assert shown == pytest.approx([summary["base"][key], summary["tuned"][key]], abs=1e-3)
    graded = sum(("valid_exact_match" in m) + ("valid_similarity" in m) for m in metrics)
    chart = console.find("figure[data-chart=evaluation]")
    assert int(chart.get_attribute("data-points")) == graded + 2  # + the base's two at step 0
    best = summary["best_checkpoint"]["fine_tuned_model_checkpoint"]
    assert best.endswith(f":ckpt-step-{summary['best_checkpoint']['step']}")
    assert console.read("#best-checkpoint").startswith(best)
    marked = console.wait_for("tr[data-best=true]")
    assert marked.get_attribute("data-step") == str(summary["best_checkpoint"]["step"])
    assert best in marked.text
    assert "best" in marked.find_element(By.CSS_SELECTOR, ".badge").text
    assert len(console.find_all("tr[data-best=true]")) == 1


def test_the_playground_streams_a_fine_tuned_model_beside_its_base(
    console: Console, console_stack: ConsoleStack, trained_job: TrainedJob
) -> None:
    console.ensure_signed_in(console_stack.key, f"jobs/{trained_job.job_id}")
    console.click_text("a.button", "Try in playground")
    wait_until(lambda: "#/playground?model=" in console.driver.current_url, 10, "the playground")
    console.wait_for_text("h3", trained_job.model)
    assert console.find("select[name=base]").get_attribute("value") == TINY_MODEL_ID

    console.find("textarea[name=prompt]").send_keys("question 3")
    console.find("form[aria-labelledby=playground-title] button[type=submit]").click()
    for side in ("tuned", "base"):
        answer = console.wait_for(
            f".transcript[data-side={side}] [data-role=assistant] .content[data-streaming=false]",
            timeout_s=60,
        )
        assert answer.text.strip(), side
        assert int(answer.get_attribute("data-chunks")) >= 2, f"{side} answer was not streamed"
    console.screenshot("desktop-playground")


def test_a_failed_job_shows_its_error_code_and_message(
    console: Console, console_stack: ConsoleStack
) -> None:
    sdk = console_stack.sdk
    # Every question is longer than the model's 96 tokens: no example has a trained token left.
    untrainable = upload_training_file(sdk, chat_jsonl(12).replace(b"question", b"question " * 60))
    job = sdk.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=untrainable)
    failed = wait_for(sdk, job.id, timeout_s=60)
    assert failed.status == "failed"
    assert failed.error is not None

    console.ensure_signed_in(console_stack.key, f"jobs/{job.id}")
    alert = console.read("[role=alert][aria-labelledby=job-error-title]")
    assert failed.error.code in alert
    assert failed.error.message in alert
    assert console.find("#job-status").get_attribute("data-status") == "failed"
    assert console.find_all(".toolbar .actions button") == []  # nothing to cancel or pause
    console.screenshot("desktop-job-failed")


def test_cancel_asks_first_then_stops_the_job(
    console: Console, console_stack: ConsoleStack, training_files: tuple[str, str]
) -> None:
    sdk = console_stack.sdk
    job = sdk.fine_tuning.jobs.create(model=TINY_MODEL_ID, training_file=training_files[0])
    console.ensure_signed_in(console_stack.key, f"jobs/{job.id}")

    console.click_text(".toolbar .actions button", "Cancel job")
    console.wait_for("dialog[open]").find_element(By.CSS_SELECTOR, "button[value=cancel]").click()
    assert sdk.fine_tuning.jobs.retrieve(job.id).status not in ("cancelled", "failed")
    console.click_text(".toolbar .actions button", "Cancel job")
    console.wait_for("dialog[open]").find_element(By.CSS_SELECTOR, "button[value=confirm]").click()

    console.wait_for("#job-status[data-status=cancelled]")
    assert sdk.fine_tuning.jobs.retrieve(job.id).status == "cancelled"
    wait_until(lambda: not console.find_all(".toolbar .actions button"), 10, "no controls left")


def test_every_page_fits_a_390_px_phone_and_is_usable_by_keyboard_and_screen_reader(
    console: Console,
    console_stack: ConsoleStack,
    training_files: tuple[str, str],
    trained_job: TrainedJob,
) -> None:
    set_viewport(console.driver, PHONE)
    pages = {
        "jobs": "jobs",
        "job": f"jobs/{trained_job.job_id}",
        "files": "files",
        "file": f"files/{training_files[0]}",
        "models": "models",
        "playground": f"playground?model={quote(trained_job.model)}",
    }
    console.ensure_signed_in(console_stack.key, "jobs")
    for name, route in pages.items():
        console.open(route)
        console.wait_for("main h1")
        if name == "job":
            console.wait_for("#job-status .badge")
            console.wait_for_text("caption", "Checkpoints")
        if name == "file":
            console.wait_for(".mask-preview", timeout_s=30)
        time.sleep(0.3)  # let the charts draw at this width
        assert console.horizontal_overflow_px() == 0, name
        assert console.unlabelled_controls() == [], name
        assert console.find_all("header nav[aria-label] a[aria-current=page]"), name
        focused = console.tab()  # from <main>, which takes focus on each page change
        assert focused["tag"] != "body", name
        assert focused["outline"] == "solid", (name, focused)
        console.screenshot(f"phone-{name}")


def test_models_lists_base_and_fine_tuned_models_and_deletes_after_confirming(
    console: Console, console_stack: ConsoleStack, trained_job: TrainedJob
) -> None:
    console.ensure_signed_in(console_stack.key, "models")
    row = console.wait_for(f"tr[data-model-id='{trained_job.model}']")
    console.wait_for_text("table", TINY_MODEL_ID)
    checkpoints = console_stack.sdk.fine_tuning.jobs.checkpoints.list(trained_job.job_id).data
    assert checkpoints, "the tiny job saves checkpoints"
    for checkpoint in checkpoints:
        name = checkpoint.fine_tuned_model_checkpoint
        checkpoint_row = console.wait_for(f"tr[data-model-id='{name}']")
        assert checkpoint_row.get_attribute("data-kind") == "checkpoint"
        assert not checkpoint_row.find_elements(By.CSS_SELECTOR, "button.button-danger"), name
        assert checkpoint_row.find_elements(By.CSS_SELECTOR, "a[href^='#/playground']"), name
    console.screenshot("desktop-models")

    row.find_element(By.CSS_SELECTOR, "button.button-danger").click()
    console.wait_for("dialog[open]").find_element(By.CSS_SELECTOR, "button[value=cancel]").click()
    assert console.find_all(f"tr[data-model-id='{trained_job.model}']")
    row.find_element(By.CSS_SELECTOR, "button.button-danger").click()
    console.wait_for("dialog[open]").find_element(By.CSS_SELECTOR, "button[value=confirm]").click()
    console.wait_for_text(".notice.ok", f"Deleted {trained_job.model}")
    wait_until(
        lambda: not console.find_all(f"tr[data-model-id='{trained_job.model}']"), 10, "the row gone"
    )
    with pytest.raises(NotFoundError):
        console_stack.sdk.models.retrieve(trained_job.model)
