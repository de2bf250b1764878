"""Read a Hugging Face model directory's tokenizer files with ``tokenizers`` alone.

Files read, as transformers reads them:

- ``tokenizer.json``: the fast tokenizer itself (vocabulary, added tokens, post-processor).
- ``tokenizer_config.json``: named special tokens (a string, or an ``AddedToken`` object with a
  ``content``), ``model_max_length``, and ``chat_template`` (a string or a list of named ones).
- ``chat_template.jinja`` and ``additional_chat_templates/*.jinja``: the newer home of templates;
  when present they replace the config's, as in transformers 4.5x and 5.
- ``config.json``: ``max_position_embeddings``, the fallback sequence limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from service.errors import ModelTokenizerError

# The named special tokens transformers hands to every chat template (SPECIAL_TOKENS_ATTRIBUTES).
NAMED_SPECIAL_TOKENS = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)
# transformers writes int(1e30) as model_max_length when a tokenizer declares no limit.
_NO_LIMIT = 10**9
_MAX_LENGTH_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length")


@dataclass(frozen=True)
class TokenizerFiles:
    """What a model directory says about tokenization."""

    tokenizer: Tokenizer
    special_tokens: dict[str, str]
    chat_templates: dict[str, str]
    model_max_length: int | None
    max_position_embeddings: int | None


def read_tokenizer_files(model_dir: Path) -> TokenizerFiles:
    """Load ``model_dir``'s tokenizer; raises ``ModelTokenizerError`` naming the missing piece."""
    tokenizer_path = model_dir / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise ModelTokenizerError(
            f"{model_dir} has no tokenizer.json; ftapi needs a fast (tokenizers) tokenizer"
        )
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
    except Exception as exc:  # the Rust side raises a bare Exception on bad files
        raise ModelTokenizerError(f"{tokenizer_path} cannot be loaded: {exc}") from exc
    config = _read_json(model_dir / "tokenizer_config.json")
    model_config = _read_json(model_dir / "config.json")
    model_max_length = config.get("model_max_length")
    return TokenizerFiles(
        tokenizer=tokenizer,
        special_tokens=_named_special_tokens(config),
        chat_templates=_chat_templates(model_dir, config),
        model_max_length=(
            int(model_max_length)
            if isinstance(model_max_length, int | float) and 0 < model_max_length < _NO_LIMIT
            else None
        ),
        max_position_embeddings=next(
            (int(v) for k in _MAX_LENGTH_KEYS if isinstance(v := model_config.get(k), int)), None
        ),
    )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelTokenizerError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelTokenizerError(f"{path} must hold a JSON object")
    return data


def _named_special_tokens(config: dict[str, Any]) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for name in NAMED_SPECIAL_TOKENS:
        value = config.get(name)
        if isinstance(value, dict):  # a serialized AddedToken
            value = value.get("content")
        if isinstance(value, str):
            tokens[name] = value
    return tokens


def _chat_templates(model_dir: Path, config: dict[str, Any]) -> dict[str, str]:
    # Template files replace the config's templates entirely, as in transformers' from_pretrained.
    from_files: dict[str, str] = {}
    jinja_file = model_dir / "chat_template.jinja"
    if jinja_file.is_file():
        from_files["default"] = jinja_file.read_text(encoding="utf-8")
    extra_dir = model_dir / "additional_chat_templates"
    if extra_dir.is_dir():
        for path in sorted(extra_dir.glob("*.jinja")):
            from_files[path.stem] = path.read_text(encoding="utf-8")
    if from_files:
        return from_files
    configured = config.get("chat_template")
    if isinstance(configured, str):
        return {"default": configured}
    if isinstance(configured, list):
        return {
            str(entry.get("name", "default")): entry["template"]
            for entry in configured
            if isinstance(entry, dict) and isinstance(entry.get("template"), str)
        }
    return {}
