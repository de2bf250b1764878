"""``ftapi evals create | run | watch | compare`` against a live stack: the api, the ctl worker
that runs evals, and the engine serving the tiny model for completions runs."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.integration.cli.conftest import CLI_TIMEOUT_S, Ftapi
from tests.support.jobs import TINY_MODEL_ID
from tests.support.stack import REPO_ROOT

ITEM_SCHEMA = {
    "type": "object",
    "properties": {"question": {"type": "string"}, "expected": {"type": "string"}},
    "required": ["question", "expected"],
}
CRITERIA_YAML = """\
- type: string_check
  name: exact
  input: "{{sample.output_text}}"
  reference: "{{item.expected}}"
  operation: eq
- type: string_check
  name: contains
  input: "{{sample.output_text}}"
  reference: "{{item.expected}}"
  operation: ilike
"""
N_ITEMS = 10


def _base_answer(i: int) -> str:
    """Right on items 0-4, wrong on the rest: exact 5/10, contains 5/10, overall 5/10."""
    return f"answer {i}" if i < 5 else "wrong"


def _tuned_answer(i: int) -> str:
    """Wrong on item 0, loud on 5-7 (passes contains only), right on the rest: exact 6/10,
    contains 9/10, overall 6/10. It disagrees with the base run on items 0, 8 and 9."""
    if i == 0:
        return "wrong"
    return f"ANSWER {i}!" if 5 <= i <= 7 else f"answer {i}"


def _rows(answer: Any) -> str:
    return "".join(
        json.dumps(
            {
                "item": {"question": f"What is answer {i}?", "expected": f"answer {i}"},
                "sample": {"output_text": answer(i)},
            }
        )
        + "\n"
        for i in range(N_ITEMS)
    )


def _api(ftapi: Ftapi) -> httpx.Client:
    return httpx.Client(
        base_url=ftapi.base_url + "/", headers={"authorization": f"Bearer {ftapi.api_key}"}
    )


def _create_eval(ftapi: Ftapi, tmp_path: Path) -> str:
    schema = tmp_path / "item_schema.json"
    schema.write_text(json.dumps(ITEM_SCHEMA))
    criteria = tmp_path / "criteria.yaml"
    criteria.write_text(CRITERIA_YAML)
    created = ftapi(
        "evals", "create", "--name", "answers", "--item-schema", str(schema),
        "--criteria", str(criteria),
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    eval_id = created.stdout.strip()
    assert re.fullmatch(r"eval_\w+", eval_id), created.stdout
    return eval_id


def _status_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("graded ")]


def test_create_run_watch_and_compare_a_base_and_a_tuned_run(ftapi: Ftapi, tmp_path: Path) -> None:
    eval_id = _create_eval(ftapi, tmp_path)
    (tmp_path / "base.jsonl").write_text(_rows(_base_answer))
    (tmp_path / "tuned.jsonl").write_text(_rows(_tuned_answer))

    base = ftapi(
        "evals", "run", eval_id, "--jsonl", str(tmp_path / "base.jsonl"), "--name", "base",
        "--watch",
    )  # fmt: skip
    assert base.returncode == 0, base.stdout + base.stderr
    base_id, *_, outcome = base.stdout.splitlines()
    assert re.fullmatch(r"evalrun_\w+", base_id)
    assert outcome == f"{base_id} completed: 5/10 passed (50.0%)"
    statuses = _status_lines(base.stdout)
    assert statuses[-1] == "graded 10/10  passed 5 (50.0%)  failed 5  errored 0  completed"

    started = ftapi(
        "evals", "run", eval_id, "--jsonl", str(tmp_path / "tuned.jsonl"), "--name", "tuned",
        "--metadata", "model=tuned",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    tuned_id = started.stdout.strip()
    watched = ftapi("evals", "watch", eval_id, tuned_id)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert watched.stdout.splitlines()[-1] == f"{tuned_id} completed: 6/10 passed (60.0%)"
    assert _status_lines(watched.stdout)[-1].startswith("graded 10/10  passed 6 (60.0%)")
    as_json = ftapi("evals", "watch", eval_id, tuned_id, "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)["metadata"] == {"model": "tuned"}

    compared = ftapi("evals", "compare", eval_id, base_id, tuned_id)
    assert compared.returncode == 0, compared.stderr
    lines = compared.stdout.splitlines()
    assert lines[0].startswith(f"A: {base_id}  base")
    assert lines[1].startswith(f"B: {tuned_id}  tuned")
    table = {line.split()[0]: line.split()[1:] for line in lines[3:7]}
    assert lines[3].split() == ["CRITERION", "RUN", "A", "RUN", "B", "DELTA"]
    exact = next(cells for name, cells in table.items() if name.startswith("exact"))
    contains = next(cells for name, cells in table.items() if name.startswith("contains"))
    assert exact == ["50.0%", "(5/10)", "60.0%", "(6/10)", "+10.0", "pp"]
    assert contains == ["50.0%", "(5/10)", "90.0%", "(9/10)", "+40.0", "pp"]
    assert table["overall"] == ["50.0%", "(5/10)", "60.0%", "(6/10)", "+10.0", "pp"]
    assert "3 of 10 items disagree: 1 passed only in A, 2 only in B" in lines
    items_header = lines.index("ITEM  A     B     A OUTPUT  B OUTPUT")
    assert [line.split() for line in lines[items_header + 1 :]] == [
        ["0", "pass", "fail", "answer", "0", "wrong"],
        ["8", "fail", "pass", "wrong", "answer", "8"],
        ["9", "fail", "pass", "wrong", "answer", "9"],
    ]

    machine = ftapi("evals", "compare", eval_id, base_id, tuned_id, "--json", "--limit", "1")
    assert machine.returncode == 0, machine.stderr
    report = json.loads(machine.stdout)
    assert report["run_a"]["id"] == base_id
    assert report["overall"] == {
        "name": "overall",
        "a": {"passed": 5, "graded": 10, "pass_rate": 0.5},
        "b": {"passed": 6, "graded": 10, "pass_rate": 0.6},
        "delta": report["overall"]["delta"],
    }
    assert abs(report["overall"]["delta"] - 0.1) < 1e-9
    assert [c["name"].startswith(("exact", "contains")) for c in report["criteria"]] == [True] * 2
    disagreements = report["disagreements"]
    assert disagreements | {"items": []} == {
        "count": 3,
        "compared": 10,
        "passed_only_in_a": 1,
        "passed_only_in_b": 2,
        "items": [],
    }
    [first] = disagreements["items"]
    assert first["datasource_item_id"] == 0
    assert first["datasource_item"] == {"question": "What is answer 0?", "expected": "answer 0"}
    assert first["a"]["status"] == "pass"
    assert first["a"]["output"] == "answer 0"
    assert first["b"]["output"] == "wrong"
    assert {(r["name"].split("-")[0], r["passed"]) for r in first["b"]["results"]} == {
        ("exact", False),
        ("contains", False),
    }


def test_a_run_over_an_uploaded_file_counts_its_items_for_the_progress(
    ftapi: Ftapi, tmp_path: Path
) -> None:
    eval_id = _create_eval(ftapi, tmp_path)
    with _api(ftapi) as api:
        files = {"file": ("items.jsonl", _rows(_tuned_answer).encode())}
        uploaded = api.post("files", data={"purpose": "user_data"}, files=files)
        file_id = uploaded.raise_for_status().json()["id"]

    watched = ftapi("evals", "run", eval_id, "--file", file_id, "--watch")

    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert _status_lines(watched.stdout)[-1].startswith("graded 10/10  passed 6 (60.0%)")


def test_watch_draws_a_progress_bar_in_a_terminal(ftapi: Ftapi, tmp_path: Path) -> None:
    eval_id = _create_eval(ftapi, tmp_path)
    (tmp_path / "base.jsonl").write_text(_rows(_base_answer))
    run_id = ftapi("evals", "run", eval_id, "--jsonl", str(tmp_path / "base.jsonl")).stdout
    run_id = run_id.strip()
    ftapi("evals", "watch", eval_id, run_id)  # until it ends, so the bar is drawn full

    controller, terminal = pty.openpty()
    with subprocess.Popen(
        [sys.executable, "-m", "cli", "evals", "watch", eval_id, run_id],
        stdout=terminal,
        stderr=subprocess.PIPE,
        env=ftapi.env() | {"TERM": "xterm"},
        cwd=REPO_ROOT,
    ) as watcher:
        os.close(terminal)
        drawn = b""
        while chunk := _read(controller):
            drawn += chunk
        watcher.wait(timeout=CLI_TIMEOUT_S)
    os.close(controller)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.decode(errors="replace"))
    assert watcher.returncode == 0
    assert "━" in screen  # rich's bar
    assert "10/10 graded  pass rate 50.0%  completed" in screen
    assert f"{run_id} completed: 5/10 passed (50.0%)" in screen


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the other side closed: Linux answers EIO
        return b""


def test_a_completions_run_samples_the_model_and_a_canceled_run_exits_1(
    ftapi: Ftapi, tmp_path: Path
) -> None:
    eval_id = _create_eval(ftapi, tmp_path)
    items = tmp_path / "items.jsonl"
    items.write_text(
        "".join(json.dumps({"question": f"q{i}", "expected": f"a{i}"}) + "\n" for i in range(3))
    )
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps([{"role": "user", "content": "{{item.question}}"}]))

    sampled = ftapi(
        "evals", "run", eval_id, "--jsonl", str(items), "--model", TINY_MODEL_ID,
        "--input-messages", str(messages), "--sampling", "max_completion_tokens=4",
        "--sampling", "temperature=0", "--watch",
    )  # fmt: skip

    assert sampled.returncode == 0, sampled.stdout + sampled.stderr
    run_id = sampled.stdout.splitlines()[0]
    with _api(ftapi) as api:
        run = api.get(f"evals/{eval_id}/runs/{run_id}").raise_for_status().json()
    assert run["model"] == TINY_MODEL_ID
    assert run["data_source"]["sampling_params"] == {"max_completion_tokens": 4, "temperature": 0}
    assert run["result_counts"]["total"] == 3

    many = tmp_path / "many.jsonl"
    many.write_text(
        "".join(json.dumps({"question": f"q{i}", "expected": f"a{i}"}) + "\n" for i in range(300))
    )
    started = ftapi(
        "evals", "run", eval_id, "--jsonl", str(many), "--model", TINY_MODEL_ID,
        "--input-messages", str(messages), "--sampling", "max_completion_tokens=64",
    )  # fmt: skip
    run_id = started.stdout.strip()
    with _api(ftapi) as api:
        canceled = api.post(f"evals/{eval_id}/runs/{run_id}/cancel").raise_for_status().json()
    assert canceled["status"] == "canceled"

    watched = ftapi("evals", "watch", eval_id, run_id)

    assert watched.returncode == 1
    assert watched.stdout.splitlines()[-1].startswith(f"{run_id} canceled: ")


def test_bad_input_is_one_error_line_and_exit_1(ftapi: Ftapi, tmp_path: Path) -> None:
    schema = json.dumps(ITEM_SCHEMA)
    unknown = json.dumps([{"type": "no_such_grader", "name": "x"}])
    refused = ftapi(
        "evals", "create", "--name", "bad", "--item-schema", schema, "--criteria", unknown
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ")
    assert re.search(r"\(\w+\)$", refused.stderr.strip()), refused.stderr
    assert "Traceback" not in refused.stderr

    not_json = tmp_path / "criteria.json"
    not_json.write_text("{nope")
    broken = ftapi(
        "evals", "create", "--name", "bad", "--item-schema", schema, "--criteria", str(not_json)
    )
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"error: --criteria: {not_json} is not JSON")

    both = ftapi("evals", "run", "eval_x", "--file", "file-x", "--jsonl", str(not_json))
    assert both.returncode == 1
    assert both.stderr.strip() == "error: give exactly one of --file FILE_ID and --jsonl PATH"
    no_model = ftapi("evals", "run", "eval_x", "--file", "file-x", "--sampling", "seed=1")
    assert no_model.stderr.strip() == (
        "error: --input-messages and --sampling need --model (a completions run)"
    )

    missing = ftapi("evals", "watch", "eval_nope", "evalrun_nope")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: ")
    assert "Traceback" not in missing.stderr
