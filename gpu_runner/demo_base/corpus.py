"""The demo base model's pretraining corpus: seeded synthetic chat examples of simple skills.

Each skill draws a user prompt and its one right answer from a ``random.Random``; the same seed
always gives the same stream. The skills are arithmetic, copying, reversing, upper and lower
casing, JSON formatting and a small table of facts, each asked in a few phrasings.

Two things are kept out of the pretraining stream on purpose:

- the README tour's phrasing (``What is 3 plus 3?``): no arithmetic prompt starts with "What is",
  so fine-tuning on the tour's file visibly changes the answers;
- a held-out slice (``is_held_out``: a stable hash of the prompt), which the shipped reference set
  is drawn from, so a forgetting eval measures skills on prompts the model never saw.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

SKILLS = ("add", "subtract", "copy", "reverse", "upper", "lower", "json", "fact")
HELD_OUT_ONE_IN = 20  # about 5% of all prompts belong to the reference slice only

_WORDS = (
    "apple", "river", "stone", "cloud", "green", "tiger", "music", "paper", "light", "house",
    "bread", "chair", "ocean", "plant", "smile", "train", "water", "zebra", "night", "table",
    "mango", "lemon", "eagle", "quiet", "brave", "sugar", "pilot", "robot", "spark", "delta",
)  # fmt: skip
_NAMES = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy")
_CITIES = ("Paris", "Rome", "Oslo", "Lima", "Cairo", "Tokyo", "Madrid", "Berlin", "Delhi", "Quito")
# (country, capital): the fact table, small enough for a few-million-parameter model to hold.
FACTS = (
    ("France", "Paris"), ("Italy", "Rome"), ("Norway", "Oslo"), ("Peru", "Lima"),
    ("Egypt", "Cairo"), ("Japan", "Tokyo"), ("Spain", "Madrid"), ("Germany", "Berlin"),
    ("India", "New Delhi"), ("Ecuador", "Quito"), ("Kenya", "Nairobi"), ("Canada", "Ottawa"),
)  # fmt: skip


@dataclass(frozen=True)
class ChatExample:
    """One single-turn chat example and the skill it exercises."""

    skill: str
    prompt: str
    answer: str

    def messages(self) -> list[dict[str, str]]:
        """The example as OpenAI chat messages (the fine-tuning file format)."""
        return [
            {"role": "user", "content": self.prompt},
            {"role": "assistant", "content": self.answer},
        ]


def is_held_out(prompt: str) -> bool:
    """Whether a prompt belongs to the reference slice (never in the pretraining stream)."""
    digest = hashlib.sha256(prompt.encode()).digest()
    return int.from_bytes(digest[:4], "big") % HELD_OUT_ONE_IN == 0


def pretraining_stream(seed: int) -> Iterator[ChatExample]:
    """An endless stream of examples outside the held-out slice, the same for the same seed."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible corpus, not a secret)
    while True:
        example = draw_example(rng)
        if not is_held_out(example.prompt):
            yield example


def reference_set(seed: int, size: int) -> list[ChatExample]:
    """``size`` distinct held-out examples of mixed skills (the forgetting eval's set)."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible corpus, not a secret)
    chosen: dict[str, ChatExample] = {}
    while len(chosen) < size:
        example = draw_example(rng)
        if is_held_out(example.prompt):
            chosen.setdefault(example.prompt, example)
    return list(chosen.values())


def draw_example(rng: random.Random) -> ChatExample:
    """One example of a skill drawn uniformly."""
    return _GENERATORS[rng.choice(SKILLS)](rng)


def _add(rng: random.Random) -> ChatExample:
    a, b = rng.randint(0, 49), rng.randint(0, 49)
    template = rng.choice(
        ("{a}+{b}=", "Add {a} and {b}.", "Compute {a} + {b}.", "Sum of {a} and {b}?")
    )
    return ChatExample("add", template.format(a=a, b=b), str(a + b))


def _subtract(rng: random.Random) -> ChatExample:
    a = rng.randint(0, 49)
    b = rng.randint(0, a)
    template = rng.choice(("{a}-{b}=", "Subtract {b} from {a}.", "Compute {a} - {b}."))
    return ChatExample("subtract", template.format(a=a, b=b), str(a - b))


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))


def _copy(rng: random.Random) -> ChatExample:
    text = _text(rng)
    template = rng.choice(("Repeat after me: {t}", "Copy this: {t}", "Say exactly: {t}"))
    return ChatExample("copy", template.format(t=text), text)


def _reverse(rng: random.Random) -> ChatExample:
    word = rng.choice(_WORDS) if rng.random() < 0.7 else str(rng.randint(10, 9999))
    template = rng.choice(("Reverse: {w}", "Write {w} backwards.", "Reverse the letters of {w}."))
    return ChatExample("reverse", template.format(w=word), word[::-1])


def _upper(rng: random.Random) -> ChatExample:
    text = _text(rng)
    template = rng.choice(("Uppercase: {t}", "Write in capitals: {t}", "Shout: {t}"))
    return ChatExample("upper", template.format(t=text), text.upper())


def _lower(rng: random.Random) -> ChatExample:
    text = _text(rng).upper() if rng.random() < 0.5 else _text(rng).title()
    template = rng.choice(("Lowercase: {t}", "Write in small letters: {t}"))
    return ChatExample("lower", template.format(t=text), text.lower())


def _json(rng: random.Random) -> ChatExample:
    name, age, city = rng.choice(_NAMES), rng.randint(18, 90), rng.choice(_CITIES)
    template = rng.choice(
        (
            "Format as JSON: name {n}, age {a}, city {c}",
            "JSON for {n}, {a} years old, from {c}.",
        )
    )
    answer = json.dumps({"name": name, "age": age, "city": city})
    return ChatExample("json", template.format(n=name, a=age, c=city), answer)


def _fact(rng: random.Random) -> ChatExample:
    country, capital = rng.choice(FACTS)
    template = rng.choice(
        ("Capital of {c}?", "Name the capital of {c}.", "Which city is the capital of {c}?")
    )
    return ChatExample("fact", template.format(c=country), capital)


_GENERATORS: dict[str, Callable[[random.Random], ChatExample]] = {
    "add": _add,
    "subtract": _subtract,
    "copy": _copy,
    "reverse": _reverse,
    "upper": _upper,
    "lower": _lower,
    "json": _json,
    "fact": _fact,
}
