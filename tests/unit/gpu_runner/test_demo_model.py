"""The tiny demo model: an ordinary Hugging Face model directory, built offline and reproducibly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from gpu_runner.demo_model import build_tiny_llama
from tests.support.tiny_model import CHAT_TEMPLATES, TinyModels


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    """Tiny models for this module, built on first use."""
    return TinyModels(tmp_path_factory.mktemp("demo-models"))


@pytest.mark.parametrize("chat_template", CHAT_TEMPLATES)
def test_it_loads_with_auto_classes_and_generates(
    tiny_models: TinyModels, chat_template: str
) -> None:
    model_dir = tiny_models.model_dir(chat_template)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=False)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], add_generation_prompt=True, return_dict=False
    )

    with torch.no_grad():
        logits = model(torch.tensor([prompt])).logits
        generated = model.generate(
            torch.tensor([prompt]), max_new_tokens=4, min_new_tokens=4, do_sample=False
        )

    assert type(model).__name__ == "LlamaForCausalLM"
    assert logits.shape == (1, len(prompt), len(tokenizer))
    assert generated.shape == (1, len(prompt) + 4)
    assert tokenizer.eos_token_id in model.generation_config.eos_token_id
    assert model.config.eos_token_id == tokenizer.eos_token_id


def test_it_holds_safetensors_weights_only(tiny_models: TinyModels) -> None:
    files = sorted(path.name for path in tiny_models.model_dir("chatml").iterdir())

    assert "model.safetensors" in files
    assert not [name for name in files if name.endswith((".bin", ".pt", ".pth"))]


def test_its_byte_level_tokenizer_round_trips_any_text(tiny_models: TinyModels) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_models.model_dir("llama3"))
    text = "Zürich 東京 🙂 \t tabs\n\nnew lines and emoji 🧪 ∑ ǅ"

    ids = tokenizer.encode(text, add_special_tokens=False)

    assert tokenizer.decode(ids) == text


def test_the_same_arguments_build_identical_files(tmp_path: Path) -> None:
    first = build_tiny_llama(tmp_path / "a", chat_template="llama3", seed=7)
    second = build_tiny_llama(tmp_path / "b", chat_template="llama3", seed=7)
    other_seed = build_tiny_llama(tmp_path / "c", chat_template="llama3", seed=8)

    names = sorted(path.name for path in first.iterdir())
    assert names == sorted(path.name for path in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    weights = "model.safetensors"
    assert (first / weights).read_bytes() != (other_seed / weights).read_bytes()


def test_building_leaves_the_callers_random_stream_alone(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)

    build_tiny_llama(tmp_path / "m", seed=0)

    assert torch.equal(torch.rand(3), expected)
