"""A small Dockerfile reader: enough to check the structure of ours without a Docker daemon.

It follows the reference's lexical rules that our Dockerfile uses: ``#`` comment lines (also
inside continued instructions), ``\\`` line continuation, ``--flag=value`` options before an
instruction's arguments, JSON exec form, ``ARG`` defaults before the first ``FROM`` substituted
into ``FROM`` lines. Heredocs and a custom escape directive are refused rather than misread.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_FLAG = re.compile(r"--(?P<name>[a-z-]+)(?:=(?P<value>\S*))?\s+")
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")


class DockerfileError(ValueError):
    """The text uses a construct this reader does not understand."""


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), its flags and the rest of its text."""

    keyword: str
    flags: dict[str, str]
    body: str
    line: int

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array form's words (``CMD ["a", "b"]``), or None for shell form."""
        return json_words(self.body)


@dataclass
class Stage:
    """A build stage: its ``FROM`` image (ARGs substituted), its name and its instructions."""

    base_image: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """Every instruction with this keyword, in order."""
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        """The instruction with this keyword that takes effect (the last one), if any."""
        found = self.all(keyword)
        return found[-1] if found else None


@dataclass(frozen=True)
class Dockerfile:
    """Global ARG defaults and the stages, in file order."""

    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        """The stage named ``name`` (``FROM ... AS name``)."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)


def parse_dockerfile(text: str) -> Dockerfile:
    """Read a Dockerfile's text into stages of instructions."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line_number, logical_line in _logical_lines(text):
        keyword, _, rest = logical_line.partition(" ")
        keyword = keyword.upper()
        flags, body = _split_flags(rest.strip())
        if "<<" in body and keyword in {"RUN", "COPY"}:
            raise DockerfileError(f"line {line_number}: heredocs are not supported")
        instruction = Instruction(keyword, flags, body, line_number)
        if keyword == "FROM":
            words = body.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if len(words) not in (1, 3):
                raise DockerfileError(f"line {line_number}: cannot read FROM {body!r}")
            stages.append(Stage(_substitute(words[0], global_args), name))
        elif not stages:
            if keyword != "ARG":
                raise DockerfileError(f"line {line_number}: {keyword} before the first FROM")
            arg_name, _, default = body.partition("=")
            global_args[arg_name] = default
        else:
            stages[-1].instructions.append(instruction)
    if not stages:
        raise DockerfileError("no FROM instruction")
    return Dockerfile(global_args, stages)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not lines and not pending and re.match(r"#\s*escape\s*=", stripped):
            raise DockerfileError(f"line {number}: a custom escape character is not supported")
        if not stripped or stripped.startswith("#"):
            continue  # blank and comment lines vanish, also inside a continued instruction
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        lines.append((start, " ".join(part for part in pending if part)))
        pending = []
    if pending:
        raise DockerfileError("the file ends inside a continued instruction")
    return lines


def _split_flags(rest: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while match := _FLAG.match(rest):
        flags[match["name"]] = match["value"] or ""
        rest = rest[match.end() :]
    return flags, rest


def _substitute(word: str, args: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match["name"] or match["bare"]
        if name not in args:
            raise DockerfileError(f"FROM uses ${name}, which no global ARG defines")
        return args[name]

    return _VARIABLE.sub(value, word)


def json_words(body: str) -> list[str] | None:
    """The words of a JSON exec-form array, or None when ``body`` is not one."""
    if not body.startswith("["):
        return None
    try:
        words = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        return None
    return words
