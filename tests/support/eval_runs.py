"""Helpers for eval-run tests: a stack with fast run timings, a stub chat model server that
counts and can hold requests, and waiting on runs.

``ChatStub`` is a real HTTP server on 127.0.0.1 answering OpenAI's ``POST /v1/chat/completions``;
it stands in for an adapter agent (the gateway's ``FTAPI_SERVING__AGENT_URLS``) or for the
operator's grader endpoint (``FTAPI_EVALS__GRADER_BASE_URL``). What it answers depends on the
model asked:

    model ending in ...   answer
    ────────────────────  ─────────────────────────────────────────────────────────────────
    (anything else)       the last message's content, echoed (a deterministic "model")
    /down, down           503 (an agent declines: no replica can serve it)
    /broken, broken       500 with an error body
    /hang, hang           nothing, until the client gives up
"""

from __future__ import annotations

import json
import select
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import redis
from arq.constants import retry_key_prefix
from openai import OpenAI
from openai.types.evals import RunRetrieveResponse

from service.queue.names import run_eval_key
from tests.support.stack import StackConfig

TERMINAL_RUN_STATUSES = ("completed", "failed", "canceled")

# A run beats every 0.2 s; one silent for 2 s is re-queued by a reconciler running every second.
FAST_EVALS_ENV = {
    "FTAPI_EVALS__HEARTBEAT_INTERVAL_S": "0.2",
    "FTAPI_EVALS__STALE_HEARTBEAT_S": "2",
    "FTAPI_JOBS__RECONCILE_INTERVAL_S": "1",
}


@dataclass(frozen=True)
class StubRequest:
    """One request the stub received."""

    model: str
    prompt: str  # the last message's content
    body: dict[str, Any]


class ChatStub:
    """An OpenAI-compatible chat server in a thread of the test process (see the module doc)."""

    def __init__(self) -> None:
        self.requests: list[StubRequest] = []
        self.abandoned = 0  # held requests whose client hung up before the answer
        self._waiting = 0  # requests held now
        self._in_flight = 0
        self._peak = 0
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._answer_freely = 10**9  # requests answered before the rest are held
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL (an agent URL is the same without ``/v1``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def agent_url(self) -> str:
        """What the gateway's ``agent_urls`` lists (it adds ``/v1/chat/completions``)."""
        return self.base_url.removesuffix("/v1")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def hold_after(self, answered: int) -> None:
        """Answer ``answered`` more requests, then hold every later one until ``release``."""
        with self._lock:
            self._answer_freely = len(self.requests) + answered
            self._open.clear()

    def release(self) -> None:
        """Answer held requests and every later one."""
        with self._lock:
            self._answer_freely = 10**9
            self._open.set()

    def held(self) -> int:
        """How many requests are waiting for ``release`` now."""
        with self._lock:
            return self._waiting

    def track_concurrency(self) -> Callable[[], int]:
        """From now on, the most requests in flight at once (read through the result)."""
        with self._lock:
            self._peak = self._in_flight
        return lambda: self._peak

    def prompts(self) -> list[str]:
        """The prompt of every request so far."""
        with self._lock:
            return [request.prompt for request in self.requests]

    def _record(self, request: StubRequest) -> bool:
        """Count a request; True when it must wait for ``release``."""
        with self._lock:
            self.requests.append(request)
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            return len(self.requests) > self._answer_freely or request.model.endswith("hang")

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _wait_open(self, connection: socket.socket, hang: bool, timeout_s: float = 120) -> bool:
        """Wait for ``release`` (a ``hang`` model: for the client to give up); False when the
        client hung up first."""
        with self._lock:
            self._waiting += 1
        try:
            deadline = time.monotonic() + timeout_s
            while hang or not self._open.wait(0.02):
                if _hung_up(connection):
                    with self._lock:
                        self.abandoned += 1
                    return False
                if time.monotonic() > deadline:
                    return False
                if hang:
                    time.sleep(0.02)
            return True
        finally:
            with self._lock:
                self._waiting -= 1


def _hung_up(connection: socket.socket) -> bool:
    readable, _, _ = select.select([connection], [], [], 0)
    if not readable:
        return False
    try:
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _handler_for(stub: ChatStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: tests read the stub's counters instead

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            model = str(body.get("model", ""))
            messages = body.get("messages") or [{"content": ""}]
            prompt = str(messages[-1].get("content", ""))
            held = stub._record(StubRequest(model, prompt, body))
            try:
                if held and not stub._wait_open(self.connection, model.endswith("hang")):
                    return
                self._answer(model, prompt)
            finally:
                stub._done()

        def _answer(self, model: str, prompt: str) -> None:
            try:
                if model.endswith("down"):
                    self._send(503, {"error": {"message": "no capacity", "type": "overloaded"}})
                elif model.endswith("broken"):
                    self._send(500, {"error": {"message": "boom", "type": "server_error"}})
                else:
                    self._send(200, _completion(model, prompt))
            except OSError:
                pass  # the client went away (a killed worker): nothing to answer

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": len(text.split()) + 1,
            "completion_tokens": len(text.split()),
            "total_tokens": 2 * len(text.split()) + 1,
        },
    }


@contextmanager
def chat_stub() -> Iterator[ChatStub]:
    """A started ``ChatStub``, stopped at the end."""
    stub = ChatStub()
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


def eval_stack_config(data_dir: Path, redis_url: str, **extra_env: str) -> StackConfig:
    """A SQLite + local-disk stack with fast eval-run timings."""
    return StackConfig(data_dir=data_dir, redis_url=redis_url, extra_env=FAST_EVALS_ENV | extra_env)


def sdk(base_url: str, key: str) -> OpenAI:
    """The official SDK in strict mode, without retries (tests see every answer)."""
    return OpenAI(base_url=base_url, api_key=key, max_retries=0, _strict_response_validation=True)


def wait_for_run(
    client: OpenAI,
    eval_id: str,
    run_id: str,
    *,
    until: tuple[str, ...] = TERMINAL_RUN_STATUSES,
    timeout_s: float = 60,
) -> RunRetrieveResponse:
    """Poll the run until its status is one of ``until``."""
    deadline = time.monotonic() + timeout_s
    while True:
        run = client.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in until:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} stuck in {run.status}: {run.model_dump()}")
        time.sleep(0.05)


def wait_until(condition: Any, what: str, timeout_s: float = 30) -> None:
    """Poll ``condition()`` until it holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def stored_item_ids(data_dir: Path, run_id: str) -> list[int]:
    """The datasource item ids the run's output items hold, straight from the database."""
    with sqlite3.connect(data_dir / "ftapi.db") as db:
        rows = db.execute(
            "SELECT datasource_item_id FROM eval_output_items WHERE run_id = ? "
            "ORDER BY datasource_item_id",
            (run_id,),
        )
        return [row[0] for row in rows]


def run_attempts(data_dir: Path, run_id: str) -> int:
    """How many times a worker started the run."""
    with sqlite3.connect(data_dir / "ftapi.db") as db:
        (attempts,) = db.execute(
            "SELECT attempts FROM eval_runs WHERE id = ?", (run_id,)
        ).fetchone()
        return int(attempts)


def all_output_items(client: OpenAI, eval_id: str, run_id: str) -> list[Any]:
    """Every output item of the run (the SDK pages through them)."""
    return list(client.evals.runs.output_items.list(run_id, eval_id=eval_id, limit=100))


def task_tries(redis_url: str, run_id: str, attempt: int = 1) -> int:
    """How many times arq has started the run's ``run_eval`` task for ``attempt`` (its retry
    counter: a task waiting for a slot is tried again and again)."""
    client = redis.Redis.from_url(redis_url)
    try:
        value = client.get(retry_key_prefix + run_eval_key(run_id, attempt))
    finally:
        client.close()
    return 0 if value is None else int(value)  # type: ignore[arg-type]
