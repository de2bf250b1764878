"""The demo base's pretraining corpus: seeded, covers every skill, keeps its held-out slice and the
README tour's phrasing out."""

from __future__ import annotations

import itertools
import json
import random
import re

from gpu_runner.demo_base.corpus import (
    SKILLS,
    ChatExample,
    draw_example,
    is_held_out,
    pretraining_stream,
    reference_set,
)


def first(seed: int, n: int) -> list[ChatExample]:
    return list(itertools.islice(pretraining_stream(seed), n))


def test_the_same_seed_gives_the_same_corpus_and_another_seed_another() -> None:
    assert first(3, 200) == first(3, 200)
    assert first(3, 200) != first(4, 200)


def test_every_skill_is_in_the_stream_with_right_answers() -> None:
    examples = first(0, 2000)

    assert {example.skill for example in examples} == set(SKILLS)
    by_skill = {example.skill: example for example in examples}
    reverse = by_skill["reverse"]
    assert reverse.answer[::-1] in reverse.prompt
    assert by_skill["upper"].answer == by_skill["upper"].answer.upper()
    assert by_skill["lower"].answer == by_skill["lower"].answer.lower()
    assert set(json.loads(by_skill["json"].answer)) == {"name", "age", "city"}
    sums = [re.fullmatch(r"(\d+)([+-])(\d+)=", example.prompt) for example in examples]
    checked = [(match, example) for match, example in zip(sums, examples, strict=True) if match]
    assert checked
    for match, example in checked:
        a, sign, b = int(match[1]), match[2], int(match[3])
        assert example.answer == str(a + b if sign == "+" else a - b)


def test_held_out_prompts_and_the_tour_phrasing_never_reach_pretraining() -> None:
    examples = first(0, 5000)

    assert not any(is_held_out(example.prompt) for example in examples)
    assert not any(" plus " in example.prompt for example in examples)
    assert not any(example.prompt.startswith("What is") for example in examples)
    drawn = [draw_example(random.Random(seed)) for seed in range(400)]
    assert any(is_held_out(example.prompt) for example in drawn)  # the filter has work to do


def test_the_reference_set_is_distinct_held_out_and_mixed() -> None:
    references = reference_set(1000, 50)

    assert references == reference_set(1000, 50)
    assert len({example.prompt for example in references}) == 50
    assert all(is_held_out(example.prompt) for example in references)
    assert len({example.skill for example in references}) >= 6
    assert references[0].messages()[1] == {"role": "assistant", "content": references[0].answer}
