"""Grader templates: ``{{ item.a.b }}``, ``{{sample.output_text}}``, ``{{ sample.output_json.x }}``.

A small parser, not a template engine. A template is literal text with ``{{ path }}`` holes; a
path is a namespace (``item`` or ``sample``) followed by keys (``.name``) and list indices (``.0``
or ``[0]``). Rendering only looks keys up in mappings and indices up in lists of the JSON values
it is handed: never an attribute, never a call, never ``eval``. So nothing a user writes reaches a
Python object (``{{ item.__class__ }}`` is a key the item lacks), and every variable a template
names is known before it runs, which lets evals check them against an item schema at create.

Strings render as they are; any other value renders as JSON (``{"a": 1}``, ``3``, ``true``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

NAMESPACES = ("item", "sample")
SAMPLE_FIELDS = ("output_text", "output_json")

_HOLE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_PATH = re.compile(r"(?P<namespace>[A-Za-z_]\w*)(?P<rest>(?:\.[^.\[\]\s{}]+|\[[0-9]+\])*)")
_STEP = re.compile(r"\.([^.\[\]\s{}]+)|\[([0-9]+)\]")


class TemplateSyntaxError(ValueError):
    """The template cannot be parsed; the message says where and why."""


class UnknownVariable(LookupError):
    """A variable names something the item or sample does not have."""

    def __init__(self, path: VariablePath) -> None:
        super().__init__(f"{path} is not defined")
        self.path = path


@dataclass(frozen=True)
class VariablePath:
    """``item.a.0.b`` as its namespace and the keys after it (list indices are digit keys)."""

    namespace: str
    keys: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join((self.namespace, *self.keys))


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and variables, in order."""

    pieces: tuple[str | VariablePath, ...]

    @property
    def variables(self) -> tuple[VariablePath, ...]:
        return tuple(piece for piece in self.pieces if isinstance(piece, VariablePath))

    def render(self, namespaces: Mapping[str, object]) -> str:
        """The text with every variable looked up in ``namespaces`` (raises UnknownVariable)."""
        return "".join(
            piece if isinstance(piece, str) else as_text(lookup(namespaces, piece))
            for piece in self.pieces
        )


def parse_template(text: str) -> Template:
    """Parse ``text``; raises TemplateSyntaxError naming the first bad hole."""
    pieces: list[str | VariablePath] = []
    position = 0
    for hole in _HOLE.finditer(text):
        pieces.append(text[position : hole.start()])
        pieces.append(_parse_path(hole.group(1).strip()))
        position = hole.end()
    pieces.append(text[position:])
    for piece in pieces:
        if isinstance(piece, str) and "{{" in piece:
            raise TemplateSyntaxError("'{{' is never closed with '}}'")
    return Template(tuple(piece for piece in pieces if piece != ""))


def _parse_path(expression: str) -> VariablePath:
    match = _PATH.fullmatch(expression)
    if match is None:
        raise TemplateSyntaxError(
            f"'{{{{ {expression} }}}}' is not a variable; write a path such as "
            "{{ item.answer }} or {{ sample.output_text }}"
        )
    namespace = match.group("namespace")
    if namespace not in NAMESPACES:
        raise TemplateSyntaxError(
            f"unknown namespace '{namespace}' in '{{{{ {expression} }}}}'; "
            "variables start with item. or sample."
        )
    keys = tuple(key or index for key, index in _STEP.findall(match.group("rest")))
    if namespace == "sample" and keys:
        if keys[0] not in SAMPLE_FIELDS:
            raise TemplateSyntaxError(
                f"sample has no field '{keys[0]}'; use sample.output_text or sample.output_json"
            )
        if keys[0] == "output_text" and len(keys) > 1:
            raise TemplateSyntaxError("sample.output_text is a string and has no fields")
    return VariablePath(namespace, keys)


def lookup(namespaces: Mapping[str, object], path: VariablePath) -> object:
    """The value at ``path``: keys of mappings and indices of lists only."""
    if path.namespace not in namespaces:
        raise UnknownVariable(path)
    value = namespaces[path.namespace]
    for key in path.keys:
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif (
            isinstance(value, Sequence)
            and not isinstance(value, str | bytes)
            and key.isascii()
            and key.isdigit()
            and int(key) < len(value)
        ):
            value = value[int(key)]
        else:
            raise UnknownVariable(path)
    return value


def as_text(value: object) -> str:
    """How a variable's value appears in rendered text: strings as is, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
