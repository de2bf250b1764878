"""What ``ftapi evals create`` and ``ftapi evals run`` read: JSON or YAML documents (a file, or
JSON inline), JSONL items, ``KEY=VALUE`` options, and the run's data source built from them.

Every mistake ends the command with one ``error:`` line naming the option (exit 1), before any
request is sent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli.client.connection import fail

YAML_SUFFIXES = (".yaml", ".yml")


def load_document(value: str, *, option: str) -> Any:
    """The JSON or YAML document in the file ``value`` names (YAML by its suffix), or ``value``
    itself parsed as JSON."""
    path = Path(value)
    if not path.is_file():
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            fail(f"{option}: {value!r} is neither a file nor JSON")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in YAML_SUFFIXES:
        return _load_yaml(text, path, option)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{option}: {path} is not JSON: {exc}")


def _load_yaml(text: str, path: Path, option: str) -> Any:
    try:
        # PyYAML comes with uvicorn[standard], a dependency of the api; imported only when needed.
        import yaml
    except ImportError:  # pragma: no cover - installs without uvicorn[standard]
        fail(f"{option}: reading YAML needs PyYAML (pip install PyYAML), or give JSON")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        fail(f"{option}: {path} is not YAML: {exc}")


def load_object(value: str, *, option: str) -> dict[str, Any]:
    """A document that must be a JSON object (an item schema, sampling parameters)."""
    document = load_document(value, option=option)
    if not isinstance(document, dict):
        fail(f"{option}: expected a JSON object, got {type(document).__name__}")
    return document


def load_criteria(value: str) -> list[dict[str, Any]]:
    """Testing criteria: a list of graders, one grader, or ``{"testing_criteria": [...]}``."""
    document = load_document(value, option="--criteria")
    if isinstance(document, dict):
        document = document.get("testing_criteria", [document])
    if not isinstance(document, list) or not all(isinstance(c, dict) for c in document):
        fail("--criteria: expected a list of testing criteria (JSON objects)")
    if not document:
        fail("--criteria: no testing criteria given")
    return document


def load_input_messages(value: str) -> dict[str, Any]:
    """``input_messages`` of a completions run: a list of messages (a template), or the object
    itself (``{"type": "template", ...}`` or ``{"type": "item_reference", ...}``)."""
    document = load_document(value, option="--input-messages")
    if isinstance(document, list):
        return {"type": "template", "template": document}
    if isinstance(document, dict) and "type" in document:
        return document
    fail("--input-messages: expected a list of messages or an input_messages object")


def jsonl_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a JSONL items file as a ``file_content`` source holds them: each line is
    ``{"item": {...}, "sample": {...}}`` (the sample optional), or a bare item."""
    if not path.is_file():
        fail(f"--jsonl: {path} is not a file")
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            fail(f"--jsonl: {path}:{number} is not JSON: {exc.msg}")
        if not isinstance(row, dict):
            fail(f"--jsonl: {path}:{number} is not a JSON object")
        wrapped = "item" in row and set(row) <= {"item", "sample"}
        rows.append(row if wrapped else {"item": row})
    if not rows:
        fail(f"--jsonl: {path} has no items")
    return rows


def parse_pairs(pairs: list[str], *, option: str, json_values: bool) -> dict[str, Any]:
    """``KEY=VALUE`` options as a dict; with ``json_values`` a value that parses as JSON is
    taken as such (``temperature=0`` is a number), any other stays a string."""
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{option} takes KEY=VALUE, got {pair!r}")
        parsed[key] = _json_or_text(value) if json_values else value
    return parsed


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def run_data_source(
    *,
    file_id: str | None,
    jsonl: Path | None,
    model: str | None,
    input_messages: str | None,
    sampling: list[str],
) -> dict[str, Any]:
    """A ``jsonl`` data source (samples given with the items), or with ``model`` a
    ``completions`` one (the model answers each item)."""
    if (file_id is None) == (jsonl is None):
        fail("give exactly one of --file FILE_ID and --jsonl PATH")
    source: dict[str, Any] = (
        {"type": "file_id", "id": file_id}
        if file_id is not None
        else {"type": "file_content", "content": jsonl_rows(jsonl)}  # type: ignore[arg-type]
    )
    if model is None:
        if input_messages is not None or sampling:
            fail("--input-messages and --sampling need --model (a completions run)")
        return {"type": "jsonl", "source": source}
    data_source: dict[str, Any] = {"type": "completions", "source": source, "model": model}
    if input_messages is not None:
        data_source["input_messages"] = load_input_messages(input_messages)
    if sampling:
        data_source["sampling_params"] = parse_pairs(
            sampling, option="--sampling", json_values=True
        )
    return data_source
