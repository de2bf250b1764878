"""The README's curl and Python snippets, run unmodified against a live ``ftapi dev``.

The snippets read ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY``, which the README tells readers
to export; curl runs with a ``.curlrc`` that makes HTTP errors fail the block. The tour
uploads, fine-tunes the demo model with `auto` hyperparameters, waits for success, chats with the
result and evaluates base and fine-tuned model on the trained questions: the fine-tuned one must
answer most of them exactly (greedy), the base almost none."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docs.dev_stack import DevStack
from tests.docs.readme_blocks import README, readme_blocks
from tests.support.services import RedisServer

MAX_NOT_TESTED = 2
TOUR_TIMEOUT_S = 600
RUNNER = Path(__file__).with_name("readme_runner.py")
# What the tour's eval prints for each model: "fine-tuned completed 18/20 passed".
EVAL_LINE = re.compile(r"^(base|fine-tuned) completed (\d+)/(\d+) passed$", re.MULTILINE)
# Of the 20 trained questions. A job's seed is random and CPU float order varies: over 16 seeds
# (bench/demo_tour.py) the tuned model got 20 eleven times, 19 four times and 17 once; through
# the service 19 and 17 were seen. The floor leaves room below the worst seen.
MIN_TUNED_EXACT = 15
MAX_BASE_EXACT = 6  # the base never saw the phrasing; it adds well enough to get 4 by itself

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def dev_stack(
    redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevStack]:
    """``ftapi dev`` from a clean data dir, for the whole module."""
    stack = DevStack(tmp_path_factory.mktemp("dev") / "data", redis_server.new_database_url())
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def test_at_most_a_few_blocks_are_excluded_and_the_tour_is_there() -> None:
    blocks = readme_blocks(README.read_text())
    excluded = [block for block in blocks if block.not_tested_reason]
    assert len(excluded) <= MAX_NOT_TESTED, [(b.line, b.not_tested_reason) for b in excluded]
    tested = "".join(block.code for block in blocks if not block.not_tested_reason)
    for step in ("files.create", "fine_tuning.jobs.create", "chat.completions.create", "curl"):
        assert step in tested, f"the README tour lost its {step} step"


def test_readme_snippets_run_against_ftapi_dev(dev_stack: DevStack, tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        pytest.fail("the README's curl snippets use jq: apt-get install jq")
    blocks = [
        {"language": b.language, "code": b.code, "line": b.line}
        for b in readme_blocks(README.read_text())
        if not b.not_tested_reason
    ]
    blocks_path = tmp_path / "blocks.json"
    blocks_path.write_text(json.dumps(blocks))
    curl_home = tmp_path / "curl-home"
    curl_home.mkdir()
    (curl_home / ".curlrc").write_text("fail-with-body\nshow-error\nmax-time = 120\n")
    work_dir = tmp_path / "reader"
    work_dir.mkdir()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CURL_HOME": str(curl_home),
        "OPENAI_BASE_URL": dev_stack.base_url,
        "OPENAI_API_KEY": dev_stack.api_key,
    }
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(blocks_path)],
        cwd=work_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=TOUR_TIMEOUT_S,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{output[-6000:]}\n--- ftapi dev:\n{dev_stack.log_tail()}"
    assert output.count("=== README line") == len(blocks)
    passed = {label: int(n) for label, n, total in EVAL_LINE.findall(output) if total == "20"}
    print(f"tour exact match: {passed}; ftapi dev ready after {dev_stack.ready_after_s:.1f} s")
    assert passed.keys() == {"base", "fine-tuned"}, output[-3000:]
    assert passed["fine-tuned"] >= MIN_TUNED_EXACT, passed
    assert passed["base"] <= MAX_BASE_EXACT, passed

    jobs = httpx.get(
        f"{dev_stack.base_url}/fine_tuning/jobs",
        headers={"Authorization": f"Bearer {dev_stack.api_key}"},
        timeout=10,
    ).json()["data"]
    assert [job["status"] for job in jobs] == ["succeeded"], jobs
    assert (work_dir / "copy.jsonl").read_bytes() == (work_dir / "train.jsonl").read_bytes()
