"""The shipped demo base learns a skill it lacks from a few dozen examples, with the real trainer.

The skill is a new question with a one-word answer that depends on the input: "Loud or quiet:
RIVER" → "loud", "... river" → "quiet". It is judged greedily on words the training file does not
hold, base against tuned. (Copying a word into a new answer format is beyond this toy base: it
copies poorly, see the README's figures.)
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

from gpu_runner.demo_base.build import DEMO_LEARNING_RATE
from gpu_runner.demo_base.shipped import SHIPPED_DIR
from gpu_runner.training.config import LoraTrainerSettings, RunConfig
from gpu_runner.training.distributed import Ranks
from gpu_runner.training.loop import TrainingRun
from service.jobs.hyperparameters import (
    auto_batch_size,
    auto_learning_rate_multiplier,
    auto_n_epochs,
)
from tests.support.lora import RecordingChannel, training_spec

WORDS = (
    "apple", "river", "stone", "cloud", "green", "tiger", "music", "paper", "light", "house",
    "bread", "chair", "ocean", "plant", "smile", "train", "water", "zebra", "night", "table",
    "mango", "lemon", "eagle", "quiet", "brave", "sugar", "pilot", "robot", "spark", "delta",
)  # fmt: skip
TEMPLATES = ("Loud or quiet: {w}", "Is this loud or quiet? {w}")
N_TRAIN_WORDS = 10  # 40 training examples; the other 20 words are held out
MARGIN = 0.5  # tuned exact match must beat the base's by this much


def loudness_examples() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(prompt, answer) pairs of the new skill: training ones, then held-out ones."""

    def pairs(words: tuple[str, ...]) -> list[tuple[str, str]]:
        return [
            (template.format(w=shown), label)
            for word in words
            for shown, label in ((word.upper(), "loud"), (word, "quiet"))
            for template in TEMPLATES
        ]

    return pairs(WORDS[:N_TRAIN_WORDS]), pairs(WORDS[N_TRAIN_WORDS:])


def exact_match(model: Any, tokenizer: Any, pairs: list[tuple[str, str]]) -> float:
    """The share of prompts the model answers exactly, greedily, ending its turn."""
    hits = 0
    for prompt, answer in pairs:
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, return_dict=False
        )
        with torch.no_grad():
            output = model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=24,
                do_sample=False,
            )
        reply = tokenizer.decode(output[0, len(ids) :], skip_special_tokens=True)
        hits += reply == answer
    return hits / len(pairs)


@pytest.mark.usefixtures("one_thread")
def test_lora_on_the_demo_base_learns_a_new_format_that_holds_on_unseen_prompts(
    tmp_path: Path,
) -> None:
    train, held_out = loudness_examples()
    training_file = tmp_path / "train.jsonl"
    training_file.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": prompt},
                        {"role": "assistant", "content": answer},
                    ]
                }
            )
            + "\n"
            for prompt, answer in train
        )
    )
    batch_size = auto_batch_size(len(train))  # the job's `auto` hyperparameters
    spec = training_spec(
        SHIPPED_DIR,
        training_file,
        tmp_path / "work",
        base_model_id="ftapi/demo-tiny",
        n_epochs=auto_n_epochs(len(train)),
        batch_size=batch_size,
        learning_rate_multiplier=auto_learning_rate_multiplier(batch_size),
        base_learning_rate=DEMO_LEARNING_RATE,  # what its registry entry says
    )
    config = RunConfig.from_spec(spec, LoraTrainerSettings())
    channel = RecordingChannel()

    TrainingRun(config, channel, channel, Ranks()).run()

    tokenizer = AutoTokenizer.from_pretrained(SHIPPED_DIR)
    base = AutoModelForCausalLM.from_pretrained(SHIPPED_DIR, dtype=torch.float32).eval()
    base_score = exact_match(base, tokenizer, held_out)
    with warnings.catch_warnings():
        # peft 0.21 still reads transformers 5's deprecated `is_gradient_checkpointing`.
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated")
        tuned = PeftModel.from_pretrained(base, config.adapter_dir).eval()
    tuned_score = exact_match(tuned, tokenizer, held_out)
    print(f"held-out loudness skill: base {base_score:.2f}, tuned {tuned_score:.2f}")
    assert tuned_score >= base_score + MARGIN, (base_score, tuned_score)
