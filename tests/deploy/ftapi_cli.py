"""Checks that deploy artefacts speak the ftapi CLI and settings as they are today.

Every command line the Dockerfile, compose file and manifests hand to ``ftapi`` is parsed by
the real typer app (options, types, choices, required flags), without running it; every
``FTAPI_*`` variable they set must name a field of ``Settings`` (pydantic-settings ignores
unknown names, so a typo would be silently dropped) or a variable a command reads itself.
"""

from __future__ import annotations

import re
from typing import Any

import typer
import yaml
from pydantic import BaseModel

from cli.agent import AGENT_API_KEY_ENV, ENGINE_API_KEY_ENV
from cli.main import app
from service.settings import Settings

# Read by `ftapi agent` itself, not through Settings.
COMMAND_ENV_NAMES = frozenset({AGENT_API_KEY_ENV, ENGINE_API_KEY_ENV})
SETTINGS_PREFIX = "FTAPI_"
NESTED_DELIMITER = "__"
# Names that hold credentials, wherever they appear.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|AUTH|CREDENTIAL", re.IGNORECASE)
# An optional setting shown commented out in a YAML mapping: `  # FTAPI_GROUP__FIELD: value`.
_COMMENTED_SETTING = re.compile(r"^\s*#\s*(?P<name>FTAPI_\w+):\s+(?P<value>\S.*)$", re.MULTILINE)


def parse_ftapi_argv(argv: list[str]) -> dict[str, Any]:
    """Parse ``ftapi <argv>`` with the real CLI and return the sub-command's parameters.

    Raises AssertionError naming the command line when the CLI refuses it.
    """
    command: Any = typer.main.get_command(app)
    context = typer.Context(command, info_name="ftapi")
    remaining = list(argv)
    try:
        while hasattr(command, "get_command"):
            if not remaining:
                raise AssertionError(f"ftapi {' '.join(argv)}: no sub-command")
            name = remaining.pop(0)
            sub_command = command.get_command(context, name)
            if sub_command is None:
                raise AssertionError(f"ftapi {' '.join(argv)}: no sub-command {name!r}")
            command = sub_command
            context = typer.Context(command, info_name=name, parent=context)
        parsed = command.make_context(context.info_name, remaining, parent=context.parent)
    except AssertionError:
        raise
    except Exception as exc:  # the CLI's own usage errors
        raise AssertionError(f"ftapi {' '.join(argv)}: {type(exc).__name__}: {exc}") from exc
    params: dict[str, Any] = parsed.params
    return params


def unknown_env_name(name: str) -> str | None:
    """Why ``name`` is not a variable ftapi reads, or None when it is one (or not FTAPI_)."""
    if not name.startswith(SETTINGS_PREFIX) or name in COMMAND_ENV_NAMES:
        return None
    path = name.removeprefix(SETTINGS_PREFIX).lower().split(NESTED_DELIMITER.lower())
    model: type[BaseModel] = Settings
    for depth, part in enumerate(path):
        field = model.model_fields.get(part)
        if field is None:
            return f"{name}: Settings has no field {'.'.join(path[: depth + 1])}"
        annotation = field.annotation
        if depth < len(path) - 1:
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return f"{name}: {'.'.join(path[: depth + 1])} is not a settings group"
            model = annotation
    return None


def commented_settings(text: str) -> dict[str, str]:
    """The ``FTAPI_*`` settings a YAML file shows as commented-out examples, values parsed."""
    examples = {}
    for match in _COMMENTED_SETTING.finditer(text):
        value = yaml.safe_load(match["value"])
        # Environment values are strings; an unquoted `true` would not be one once uncommented.
        assert isinstance(value, str), f"{match['name']}: quote the example's value"
        examples[match["name"]] = value
    return examples


def option(words: list[str], flag: str) -> str:
    """The value after ``flag`` in a command line."""
    assert flag in words, f"{flag} missing from {words}"
    return words[words.index(flag) + 1]
