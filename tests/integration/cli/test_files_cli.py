"""``ftapi files``: uploads with progress (direct and through the Uploads API), local validation,
list, get and delete, against a live api."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.integration.cli.conftest import MAX_FILE_BYTES, Ftapi
from tests.support.jobs import TINY_MODEL_ID, chat_jsonl


def _file_of_at_least(path: Path, n_bytes: int) -> Path:
    body = b""
    n_examples = 16
    while len(body) < n_bytes:
        n_examples *= 2
        body = chat_jsonl(n_examples, answer="a long enough answer " * 4)
    path.write_bytes(body)
    return path


def test_a_small_file_uploads_in_one_request_with_progress_and_prints_its_id(
    ftapi: Ftapi, tmp_path: Path
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(chat_jsonl(12))

    uploaded = ftapi("files", "upload", str(path), "--wait")

    assert uploaded.returncode == 0, uploaded.stderr
    file_id = uploaded.stdout.strip()
    assert file_id.startswith("file-")
    assert "upload train.jsonl: 0%" in uploaded.stderr
    assert "upload train.jsonl: 100%" in uploaded.stderr
    shown = json.loads(ftapi("files", "get", file_id, "--json").stdout)
    assert shown["status"] == "processed"
    assert shown["bytes"] == path.stat().st_size


def test_a_big_file_goes_through_the_uploads_api_in_parts(ftapi: Ftapi, tmp_path: Path) -> None:
    path = _file_of_at_least(tmp_path / "big.jsonl", 2 * MAX_FILE_BYTES)

    # Too big for one request on this stack: the direct route refuses it...
    direct = ftapi("files", "upload", str(path))
    assert direct.returncode == 1
    assert direct.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in direct.stderr
    # ...and the Uploads API takes it in parts.
    uploaded = ftapi(
        "files", "upload", str(path), "--uploads-threshold", "32KiB", "--part-size", "16KiB",
        "--wait", "--json",
    )  # fmt: skip

    assert uploaded.returncode == 0, uploaded.stderr
    file = json.loads(uploaded.stdout)
    assert file["status"] == "processed", file
    assert file["bytes"] == path.stat().st_size
    progress = [line for line in uploaded.stderr.splitlines() if line.startswith("upload big")]
    assert len(progress) == 11  # 0%, 10%, ..., 100%
    assert progress[-1].startswith("upload big.jsonl: 100%")


def test_files_list_get_and_delete(ftapi: Ftapi, tmp_path: Path) -> None:
    path = tmp_path / "listed.jsonl"
    path.write_bytes(chat_jsonl(10))
    file_id = ftapi("files", "upload", str(path)).stdout.strip()

    listed = ftapi("files", "list")
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "FILENAME", "PURPOSE", "BYTES", "STATUS", "CREATED"]
    assert [row.split()[:3] for row in rows] == [[file_id, "listed.jsonl", "fine-tune"]]
    assert re.search(rf"^id:\s+{file_id}$", ftapi("files", "get", file_id).stdout, re.MULTILINE)

    assert ftapi("files", "delete", file_id).stdout.strip() == f"deleted {file_id}"
    assert json.loads(ftapi("files", "list", "--json").stdout) == []
    gone = ftapi("files", "get", file_id)
    assert gone.returncode == 1
    assert gone.stderr.strip() == f"error: No such File object: {file_id} (invalid_request_error)"


def test_a_bad_file_is_refused_locally_with_its_problems_and_nothing_is_uploaded(
    ftapi: Ftapi, tmp_path: Path
) -> None:
    path = tmp_path / "bad.jsonl"
    lines = chat_jsonl(12).decode().splitlines()
    lines[2] = "{not json"
    lines[5] = json.dumps({"messages": [{"role": "wizard", "content": "hi"}]})
    path.write_text("\n".join(lines) + "\n")

    checked = ftapi("files", "validate", str(path))

    assert checked.returncode == 1
    assert "bad.jsonl: INVALID" in checked.stdout
    assert "line 3: invalid_json" in checked.stdout
    assert "line 6, messages[0].role: unrecognized_role" in checked.stdout
    report = json.loads(ftapi("files", "validate", str(path), "--json").stdout)
    assert report["ok"] is False
    assert set(report["problem_counts"]) >= {"invalid_json", "unrecognized_role"}
    listed = httpx.get(
        f"{ftapi.base_url}/files", headers={"authorization": f"Bearer {ftapi.api_key}"}
    )
    assert listed.json()["data"] == []


def test_a_good_file_passes_locally_with_token_counts_for_a_registry_model(
    ftapi: Ftapi, tmp_path: Path
) -> None:
    path = tmp_path / "good.jsonl"
    path.write_bytes(chat_jsonl(12))

    without_model = ftapi("files", "validate", str(path))
    assert without_model.returncode == 0, without_model.stdout
    assert "good.jsonl: valid chat file, 12 examples" in without_model.stdout
    assert "tokens: skipped" in without_model.stdout

    with_model = ftapi("files", "validate", str(path), "--model", TINY_MODEL_ID, "--json")
    assert with_model.returncode == 0, with_model.stdout + with_model.stderr
    report = json.loads(with_model.stdout)["report"]
    assert report["model"] == TINY_MODEL_ID
    assert report["n_trainable_examples"] == 12
    assert 0 < report["trained_tokens"] < report["total_tokens"]


def test_a_dpo_check_refuses_a_chat_file(ftapi: Ftapi, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl"
    path.write_bytes(chat_jsonl(12))

    checked = ftapi("files", "validate", str(path), "--method", "dpo")

    assert checked.returncode == 1
    assert "format_mismatch" in checked.stdout


def test_an_unreachable_url_and_a_wrong_key_are_one_line_each(ftapi: Ftapi, tmp_path: Path) -> None:
    nowhere = ftapi("files", "list", "--base-url", "http://127.0.0.1:9/v1")
    assert nowhere.returncode == 1
    assert nowhere.stderr.startswith("error: cannot reach http://127.0.0.1:9/v1")
    assert nowhere.stderr.strip().endswith("(connection_error)")
    assert len(nowhere.stderr.strip().splitlines()) == 1

    refused = ftapi("files", "list", "--api-key", "sk-ft-wrong")
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("(invalid_api_key)")
    assert len(refused.stderr.strip().splitlines()) == 1
