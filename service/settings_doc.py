"""The README's configuration table, rendered from ``Settings`` one way only.

Every field of ``Settings`` and of its nested groups becomes one row: the environment variable
(``FTAPI_`` prefix, groups joined by ``__``), its type with bounds, its default and its
description. ``ftapi config-doc --output README.md`` rewrites the table between the markers and
``--check`` fails when the README drifted from the code.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from service.settings import Settings

START_MARKER = "<!-- config-table:start -->"
END_MARKER = "<!-- config-table:end -->"
ENV_PREFIX = "FTAPI_"
NESTED_DELIMITER = "__"

_BOUND_SYMBOLS: tuple[tuple[type[Any], str, str], ...] = (
    (annotated_types.Ge, "ge", "≥"),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "≤"),
    (annotated_types.Lt, "lt", "<"),
)


@dataclass(frozen=True)
class SettingRow:
    """One environment variable of the configuration table."""

    env_var: str
    type_name: str
    default: str
    description: str


def setting_rows(settings_cls: type[BaseModel] = Settings) -> list[SettingRow]:
    """Every leaf field of ``settings_cls``, nested groups flattened, in declaration order."""
    return list(_rows(settings_cls, ENV_PREFIX))


def _rows(model: type[BaseModel], prefix: str) -> Iterator[SettingRow]:
    for name, field in model.model_fields.items():
        env_var = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from _rows(annotation, env_var + NESTED_DELIMITER)
            continue
        yield SettingRow(
            env_var=env_var,
            type_name=_type_name(annotation) + _bounds(field),
            default=_default(field, counts_bytes=name.endswith("_bytes")),
            description=field.description or "",
        )


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(arg) for arg in get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " | ".join(f"`{member.value}`" for member in annotation)
    if isinstance(annotation, type):
        return "secret" if annotation is SecretStr else annotation.__name__
    return str(annotation)


def _bounds(field: FieldInfo) -> str:
    bounds = [
        f"{symbol} {getattr(item, attribute)}"
        for item in field.metadata
        for kind, attribute, symbol in _BOUND_SYMBOLS
        if isinstance(item, kind)
    ]
    return f" ({', '.join(bounds)})" if bounds else ""


def _default(field: FieldInfo, *, counts_bytes: bool) -> str:
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    if isinstance(value, Path | str):
        return f"`{value}`" if str(value) else "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if counts_bytes and isinstance(value, int) and value >= 1024 * 1024:
        return f"`{value}` ({_human_bytes(value)})"
    return f"`{value}`"


def _human_bytes(value: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2)):
        if value % size == 0:
            return f"{value // size} {unit}"
    return f"{value / 1024**2:.1f} MiB"


def render_config_table(settings_cls: type[BaseModel] = Settings) -> str:
    """The Markdown table of every setting (header included, trailing newline)."""
    lines = ["| variable | type | default | description |", "| --- | --- | --- | --- |"]
    for row in setting_rows(settings_cls):
        cells = (f"`{row.env_var}`", row.type_name, row.default, row.description)
        lines.append("| " + " | ".join(_escape_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _escape_cell(text: str) -> str:
    # "<data_dir>" would vanish as an unknown HTML tag; a pipe would end the cell.
    return text.replace("<", "&lt;").replace("|", "\\|").replace("\n", " ")


def replace_config_table(document: str, table: str) -> str:
    """``document`` with the text between the config-table markers replaced by ``table``."""
    start = document.find(START_MARKER)
    end = document.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {START_MARKER} … {END_MARKER} section")
    head = document[: start + len(START_MARKER)]
    return f"{head}\n{table}{document[end:]}"
