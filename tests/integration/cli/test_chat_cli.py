"""``ftapi chat`` against the local engine serving the tiny model, one shot and as a session."""

from __future__ import annotations

from tests.integration.cli.conftest import Ftapi
from tests.support.jobs import TINY_MODEL_ID


def test_one_message_streams_an_answer(ftapi: Ftapi) -> None:
    answered = ftapi(
        "chat", TINY_MODEL_ID, "--message", "hello", "--system", "Be brief.",
        "--max-tokens", "8", "--temperature", "0",
    )  # fmt: skip

    assert answered.returncode == 0, answered.stderr
    assert answered.stdout.endswith("\n")
    assert answered.stdout.strip()


def test_a_session_reads_one_message_per_line_and_keeps_the_conversation(ftapi: Ftapi) -> None:
    session = ftapi(
        "chat", TINY_MODEL_ID, "--max-tokens", "4", "--temperature", "0",
        stdin="first question\n\nsecond question\n/exit\nnever sent\n",
    )  # fmt: skip

    assert session.returncode == 0, session.stderr
    assert len(session.stdout.splitlines()) == 2  # one answer per question, blank line skipped


def test_the_openai_variables_work_too_and_an_unknown_model_is_one_error_line(
    ftapi: Ftapi,
) -> None:
    env = {name: value for name, value in ftapi.env().items() if not name.startswith("FTAPI_")} | {
        "OPENAI_BASE_URL": ftapi.base_url,
        "OPENAI_API_KEY": ftapi.api_key,
    }

    unknown = ftapi("chat", "no-such-model", "-m", "hi", env=env)

    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: ")
    assert unknown.stderr.strip().endswith("(model_not_found)")
    assert len(unknown.stderr.strip().splitlines()) == 1
