"""``ftapi jobs`` and ``ftapi models`` against a live stack with the deterministic trainer."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from typing import Any

import httpx

from cli.client.sparkline import BLOCKS
from tests.integration.cli.conftest import Ftapi
from tests.support.jobs import TINY_MODEL_ID, chat_jsonl
from tests.support.stack import REPO_ROOT
from tests.support.tcp_proxy import TcpProxy

WAIT_TIMEOUT_S = 60.0


def _api(ftapi: Ftapi) -> httpx.Client:
    return httpx.Client(
        base_url=ftapi.base_url + "/", headers={"authorization": f"Bearer {ftapi.api_key}"}
    )


def _training_file(ftapi: Ftapi, n_examples: int, *, answer: str = "the answer") -> str:
    """A processed training file (uploaded directly: `ftapi files upload` has its own tests)."""
    with _api(ftapi) as api:
        files = {"file": ("train.jsonl", chat_jsonl(n_examples, answer=answer))}
        file = api.post("files", data={"purpose": "fine-tune"}, files=files).json()
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        while file["status"] == "uploaded" and time.monotonic() < deadline:
            time.sleep(0.1)
            file = api.get(f"files/{file['id']}").json()
    assert file["status"] == "processed", file
    return str(file["id"])


def _job(ftapi: Ftapi, job_id: str) -> dict[str, Any]:
    with _api(ftapi) as api:
        job: dict[str, Any] = api.get(f"fine_tuning/jobs/{job_id}").raise_for_status().json()
    return job


def _wait_until_running(ftapi: Ftapi, job_id: str) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while _job(ftapi, job_id)["status"] != "running":
        assert time.monotonic() < deadline, _job(ftapi, job_id)
        time.sleep(0.1)


def test_create_and_watch_exits_0_with_the_loss_sparkline_then_models_list_and_delete(
    ftapi: Ftapi,
) -> None:
    training_file = _training_file(ftapi, 16)

    watched = ftapi(
        "jobs", "create", "--model", TINY_MODEL_ID, "--training-file", training_file,
        "--suffix", "cli", "--n-epochs", "2", "--batch-size", "2", "--watch",
    )  # fmt: skip

    assert watched.returncode == 0, watched.stdout + watched.stderr
    lines = watched.stdout.splitlines()
    assert any(line.startswith("status:") for line in lines)  # the created job first
    steps = [line for line in lines if line.startswith("step ")]
    assert steps[-1].startswith("step 16/16  loss ")
    curve = steps[-1].split("  ")[1].split()[-1]
    assert len(curve) == 16
    assert set(curve) <= set(BLOCKS)
    assert curve[0] == BLOCKS[-1]
    assert curve[-1] == BLOCKS[0]
    assert "ETA" in steps[-1]
    assert any("The job has successfully completed" in line for line in lines)
    job_id, status, *_ = lines[-1].split()
    assert status == "succeeded:"
    fine_tuned = lines[-1].split(": ", 1)[1]
    assert fine_tuned.startswith(f"ft:{TINY_MODEL_ID}:")

    # `jobs watch` on a finished job replays it and exits at once, with the same outcome.
    again = ftapi("jobs", "watch", job_id, "--json")
    assert again.returncode == 0
    events = [json.loads(line) for line in again.stdout.splitlines()]
    assert sum(event["type"] == "metrics" for event in events) == 16

    listed = ftapi("models", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["ID", "OWNED", "BY", "CREATED"]
    ids = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert TINY_MODEL_ID in ids
    assert fine_tuned in ids
    assert ftapi("models", "delete", fine_tuned).stdout.strip() == f"deleted {fine_tuned}"
    remaining = [model["id"] for model in json.loads(ftapi("models", "list", "--json").stdout)]
    assert fine_tuned not in remaining
    again_deleted = ftapi("models", "delete", fine_tuned)
    assert again_deleted.returncode == 1
    assert again_deleted.stderr.startswith("error: ")
    assert again_deleted.stderr.strip().endswith("(model_not_found)")


def test_watch_prints_each_evaluated_checkpoint_then_base_vs_tuned_and_the_best_checkpoint(
    ftapi: Ftapi,
) -> None:
    training_file = _training_file(ftapi, 12)  # two steps an epoch at batch size 6
    validation_file = _training_file(ftapi, 4, answer="valid")
    created = ftapi(
        "jobs", "create", "--model", TINY_MODEL_ID, "--training-file", training_file,
        "--validation-file", validation_file, "--n-epochs", "2", "--batch-size", "6", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    job_id = json.loads(created.stdout)["id"]

    watched = ftapi("jobs", "watch", job_id)

    assert watched.returncode == 0, watched.stdout + watched.stderr
    lines = watched.stdout.splitlines()
    # The deterministic trainer's scores: exact match 0.75 * step / 4, similarity 0.3 + 0.6 * it.
    assert any(
        line.endswith("eval: base model: exact_match 0.00, similarity 0.30") for line in lines
    )
    step_2 = "step 2  valid_exact_match 0.38  valid_similarity 0.60"
    step_4 = "step 4  valid_exact_match 0.75  valid_similarity 0.90"
    compared = "eval: exact_match 0.00 -> 0.75, similarity 0.30 -> 0.90"
    order = [
        next(i for i, line in enumerate(lines) if line == step_2),
        next(i for i, line in enumerate(lines) if line == step_4),
        next(i for i, line in enumerate(lines) if line.endswith(compared)),
    ]
    assert order == sorted(order), lines
    assert lines[order[0] - 1].startswith("step 2/4  loss ")  # each step's line, then its scores
    assert "eval          base  tuned" in lines, lines
    summary = lines[lines.index("eval          base  tuned") : -1]
    checkpoint = _job(ftapi, job_id)["fine_tuned_model"] + ":ckpt-step-2"
    best = summary[-1]
    assert summary[1:3] == ["exact_match   0.00   0.75", "similarity    0.30   0.90"], lines
    assert best.startswith("best checkpoint: step 2 (valid_loss ")
    assert best.endswith(f"): {checkpoint}")
    assert lines[-1].startswith(f"{job_id} succeeded: ft:")


def test_cancel_then_watch_exits_non_zero_and_list_and_get_show_it(
    ftapi: Ftapi,
) -> None:
    training_file = _training_file(ftapi, 200)
    created = ftapi(
        "jobs", "create", "--model", TINY_MODEL_ID, "--training-file", training_file,
        "--n-epochs", "5", "--batch-size", "1", "--metadata", "team=cli", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    job_id = json.loads(created.stdout)["id"]

    cancelled = ftapi("jobs", "cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == f"{job_id} cancelled"
    watched = ftapi("jobs", "watch", job_id)
    assert watched.returncode == 1
    assert watched.stdout.splitlines()[-1] == f"{job_id} cancelled"

    listed = ftapi("jobs", "list")
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:3] == ["ID", "STATUS", "MODEL"]
    assert [row.split()[:3] for row in rows] == [[job_id, "cancelled", TINY_MODEL_ID]]
    [only] = json.loads(ftapi("jobs", "list", "--status", "cancelled", "--json").stdout)
    assert only["metadata"] == {"team": "cli"}
    shown = ftapi("jobs", "get", job_id).stdout
    assert re.search(rf"^id:\s+{job_id}$", shown, re.MULTILINE)
    assert re.search(r"^status:\s+cancelled$", shown, re.MULTILINE)


def test_pause_and_resume_a_running_job(ftapi: Ftapi) -> None:
    training_file = _training_file(ftapi, 200)
    created = ftapi(
        "jobs", "create", "--model", TINY_MODEL_ID, "--training-file", training_file,
        "--n-epochs", "5", "--batch-size", "1", "--json",
    )  # fmt: skip
    job_id = json.loads(created.stdout)["id"]
    _wait_until_running(ftapi, job_id)

    paused = ftapi("jobs", "pause", job_id)
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.strip() == f"{job_id} paused"
    resumed = ftapi("jobs", "resume", job_id)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == f"{job_id} queued"
    with _api(ftapi) as api:
        api.post(f"fine_tuning/jobs/{job_id}/cancel").raise_for_status()


def test_a_refused_job_is_one_error_line_with_its_code(ftapi: Ftapi) -> None:
    training_file = _training_file(ftapi, 12)

    refused = ftapi("jobs", "create", "--model", "no/such-model", "--training-file", training_file)

    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ")
    assert refused.stderr.strip().endswith("(model_not_available)")
    assert "Traceback" not in refused.stderr
    beta = ftapi("jobs", "create", "--model", TINY_MODEL_ID, "--training-file", "f", "--beta", "1")
    assert beta.returncode == 1
    assert beta.stderr.strip() == "error: --beta applies to --method dpo only"


def test_watch_survives_a_dropped_connection_without_losing_or_repeating_events(
    ftapi: Ftapi,
) -> None:
    training_file = _training_file(ftapi, 150)
    with _api(ftapi) as api:
        hyperparameters = {"n_epochs": 1, "batch_size": 1}
        body = {
            "model": TINY_MODEL_ID,
            "training_file": training_file,
            "method": {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        }
        job_id = api.post("fine_tuning/jobs", json=body).raise_for_status().json()["id"]
    port = int(ftapi.base_url.split(":")[2].split("/")[0])
    proxy = TcpProxy("127.0.0.1", port)
    proxy.start()
    env = ftapi.env() | {"FTAPI_BASE_URL": f"{proxy.url}/v1"}
    with subprocess.Popen(
        [sys.executable, "-m", "cli", "jobs", "watch", job_id, "--json"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as watcher:
        assert watcher.stdout is not None
        assert watcher.stderr is not None
        try:
            lines = []
            while not any('"metrics"' in line for line in lines[-1:]):
                line = watcher.stdout.readline()
                assert line, watcher.stderr.read()
                lines.append(line)
            proxy.cut()
            assert _job(ftapi, job_id)["status"] == "running"  # the cut is mid-job
            time.sleep(1.0)
            proxy.restore()
            # Read on through the same buffered pipe (communicate() would skip what it buffered).
            out = watcher.stdout.read()
            watcher.wait(timeout=WAIT_TIMEOUT_S)
            err = watcher.stderr.read()
        finally:
            watcher.kill()
            proxy.cut()
    assert watcher.returncode == 0, err
    events = [json.loads(line) for line in [*lines, *out.splitlines()]]
    ids = [event["id"] for event in events]
    assert len(ids) == len(set(ids))  # nothing shown twice
    steps = [event["data"]["step"] for event in events if event["type"] == "metrics"]
    assert steps == list(range(1, 151))  # nothing lost
