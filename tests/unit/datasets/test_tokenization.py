"""Tokenization with loss masks on the tiny models: what is trained, what is flagged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tokenizers import Tokenizer

from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.tokenization.issues import IssueCode, IssueSeverity
from service.datasets.tokenization.preview import TRAINED_END, TRAINED_START
from service.datasets.tokenization.tokenized_example import TokenizedExample, TokenizedPreference
from service.datasets.tokenization.tokenizer_files import ModelTokenizerError
from service.datasets.validation.formats import DatasetFormat

MULTI_TURN: dict[str, Any] = {
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi there, café 東京 🙂"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a secret."},
        {"role": "assistant", "content": "I'd rather not.", "weight": 0},
        {"role": "user", "content": [{"type": "text", "text": "What is 2 + 3?"}]},
        {"role": "assistant", "content": "The answer is 5.", "weight": 1},
    ]
}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]

TOOL_EXAMPLE: dict[str, Any] = {
    "tools": TOOLS,
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees, sunny"},
        {"role": "assistant", "content": "It is 18 degrees and sunny."},
    ],
}

PREFERENCE: dict[str, Any] = {
    "input": {"messages": [{"role": "user", "content": "Name a colour."}]},
    "preferred_output": [{"role": "assistant", "content": "Blue."}],
    "non_preferred_output": [{"role": "assistant", "content": "I will not answer that."}],
}


def trained_runs(tokenizer: ChatTokenizer, tokens: TokenizedExample) -> list[str]:
    """The decoded text of each run of consecutive trained tokens."""
    runs: list[list[int]] = []
    previous = False
    for token_id, trained in zip(tokens.input_ids, tokens.trained, strict=True):
        if trained and not previous:
            runs.append([])
        if trained:
            runs[-1].append(token_id)
        previous = trained
    return [tokenizer.decode(run) for run in runs]


def codes(issues: list[Any]) -> list[IssueCode]:
    return [issue.code for issue in issues]


def test_trained_tokens_are_exactly_the_weighted_assistant_turns_and_their_end_tokens(
    any_tokenizer: ChatTokenizer,
) -> None:
    tokens, issues = any_tokenizer.tokenize_chat(MULTI_TURN)

    end = any_tokenizer.end_of_turn_token
    assert trained_runs(any_tokenizer, tokens) == [
        f"Hello! How can I help?{end}",
        f"The answer is 5.{end}",
    ]
    assert issues == []
    assert tokens.n_trained == sum(tokens.trained) > 0
    assert not tokens.truncated


def test_the_end_of_turn_token_is_the_one_each_template_closes_turns_with(
    chatml_tokenizer: ChatTokenizer, llama3_tokenizer: ChatTokenizer
) -> None:
    assert chatml_tokenizer.end_of_turn_token == "<|im_end|>"
    assert llama3_tokenizer.end_of_turn_token == "<|eot_id|>"


def test_weight_zero_turns_are_rendered_but_not_trained(any_tokenizer: ChatTokenizer) -> None:
    tokens, _ = any_tokenizer.tokenize_chat(MULTI_TURN)

    assert "I'd rather not." in any_tokenizer.decode(tokens.input_ids)
    assert all("rather" not in run for run in trained_runs(any_tokenizer, tokens))


def test_tool_calls_are_rendered_and_trained_and_tool_results_are_not(
    any_tokenizer: ChatTokenizer,
) -> None:
    tokens, issues = any_tokenizer.tokenize_chat(TOOL_EXAMPLE)

    text = any_tokenizer.decode(tokens.input_ids)
    assert '"description": "Weather for a city"' in text  # the tools block
    runs = trained_runs(any_tokenizer, tokens)
    assert len(runs) == 2
    assert '"get_weather"' in runs[0]
    assert '{"city": "Paris"}' in runs[0]
    assert runs[0].endswith(str(any_tokenizer.end_of_turn_token))
    assert runs[1] == f"It is 18 degrees and sunny.{any_tokenizer.end_of_turn_token}"
    assert "18 degrees, sunny" in text
    assert all("18 degrees, sunny" not in run for run in runs)
    assert issues == []


def test_a_template_that_writes_bos_gets_exactly_one(
    llama3_tokenizer: ChatTokenizer, llama3_model_dir: Path
) -> None:
    bos = llama3_tokenizer.bos_token_id
    assert bos is not None
    # The post-processor adds BOS to any text it encodes, so a careless encode would double it.
    raw = Tokenizer.from_file(str(llama3_model_dir / "tokenizer.json"))
    assert raw.encode("hi").ids[0] == bos
    assert llama3_tokenizer.render_chat(MULTI_TURN["messages"]).startswith("<|begin_of_text|>")

    tokens, _ = llama3_tokenizer.tokenize_chat(MULTI_TURN)

    assert tokens.input_ids[0] == bos
    assert tokens.input_ids.count(bos) == 1


def test_a_template_without_bos_gets_none(chatml_tokenizer: ChatTokenizer) -> None:
    tokens, _ = chatml_tokenizer.tokenize_chat(MULTI_TURN)

    assert chatml_tokenizer.bos_token_id is None
    assert chatml_tokenizer.decode(tokens.input_ids).startswith("<|im_start|>system\n")


def test_long_examples_are_truncated_from_the_end_and_flagged(chatml_model_dir: Path) -> None:
    full, _ = ChatTokenizer.from_model_dir(chatml_model_dir).tokenize_chat(MULTI_TURN)
    limit = full.trained.index(True) + 3  # three tokens into the first answer
    tokenizer = ChatTokenizer.from_model_dir(chatml_model_dir, max_seq_length=limit)

    tokens, issues = tokenizer.tokenize_chat(MULTI_TURN)

    assert tokens.truncated
    assert tokens.input_ids == full.input_ids[:limit]
    assert tokens.trained == full.trained[:limit]
    assert tokens.n_trained == 3
    assert issues == []


def test_truncation_that_removes_every_trained_token_is_flagged(chatml_model_dir: Path) -> None:
    tokenizer = ChatTokenizer.from_model_dir(chatml_model_dir, max_seq_length=8)

    tokens, issues = tokenizer.tokenize_chat(MULTI_TURN)

    assert tokens.truncated
    assert len(tokens.input_ids) == 8
    assert codes(issues) == [IssueCode.NO_TRAINED_TOKENS]


def test_only_weight_zero_assistant_turns_means_no_trained_tokens(
    any_tokenizer: ChatTokenizer,
) -> None:
    example = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello", "weight": 0},
        ]
    }

    tokens, issues = any_tokenizer.tokenize_chat(example)

    assert tokens.n_trained == 0
    assert codes(issues) == [IssueCode.NO_TRAINED_TOKENS]
    assert issues[0].severity is IssueSeverity.ERROR


@pytest.mark.parametrize(
    ("content", "param"),
    [
        ("stop here <|im_end|> and go on", "messages[1].content"),
        ([{"type": "text", "text": "x<|im_start|>system"}], "messages[1].content[0].text"),
    ],
)
def test_special_tokens_in_user_text_are_flagged(
    chatml_tokenizer: ChatTokenizer, content: Any, param: str
) -> None:
    example = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": content},
            {"role": "assistant", "content": "OK"},
        ]
    }

    _, issues = chatml_tokenizer.tokenize_chat(example)

    assert codes(issues) == [IssueCode.SPECIAL_TOKEN_IN_TEXT]
    assert issues[0].param == param
    assert "<|im_" in issues[0].message


def test_special_tokens_in_assistant_text_and_tool_arguments_are_flagged(
    llama3_tokenizer: ChatTokenizer,
) -> None:
    example = json.loads(json.dumps(TOOL_EXAMPLE))
    example["messages"][1]["tool_calls"][0]["function"]["arguments"] = '{"city": "<|eot_id|>"}'
    example["messages"][3]["content"] = "Sunny.<|begin_of_text|>"

    _, issues = llama3_tokenizer.tokenize_chat(example)

    assert [issue.param for issue in issues] == [
        "messages[1].tool_calls[0].function.arguments",
        "messages[3].content",
    ]
    assert set(codes(issues)) == {IssueCode.SPECIAL_TOKEN_IN_TEXT}


def test_text_resembling_a_special_token_is_not_flagged(chatml_tokenizer: ChatTokenizer) -> None:
    example = {
        "messages": [
            {"role": "user", "content": "What does <|im_end| mean, or <im_end>?"},
            {"role": "assistant", "content": "Nothing."},
        ]
    }

    _, issues = chatml_tokenizer.tokenize_chat(example)

    assert issues == []


def test_completion_trains_on_the_completion_and_eos_only(any_tokenizer: ChatTokenizer) -> None:
    tokens, issues = any_tokenizer.tokenize_completion(
        {"prompt": "Translate: bonjour ->", "completion": " good morning"}
    )

    assert trained_runs(any_tokenizer, tokens) == [f" good morning{any_tokenizer.eos_token}"]
    assert tokens.input_ids[-1] == any_tokenizer.eos_token_id
    assert any_tokenizer.decode(tokens.input_ids).endswith(
        f"Translate: bonjour -> good morning{any_tokenizer.eos_token}"
    )
    assert issues == []


def test_completion_gets_the_bos_the_tokenizer_gives_plain_text(
    llama3_tokenizer: ChatTokenizer,
) -> None:
    tokens, _ = llama3_tokenizer.tokenize_completion({"prompt": "Q", "completion": "A"})

    assert tokens.input_ids[0] == llama3_tokenizer.bos_token_id
    assert tokens.input_ids.count(tokens.input_ids[0]) == 1
    assert not tokens.trained[0]


@pytest.mark.parametrize("aliases", [False, True])
def test_preference_sequences_share_the_prompt_and_train_only_the_answers(
    any_tokenizer: ChatTokenizer, aliases: bool
) -> None:
    example = dict(PREFERENCE)
    if aliases:
        example["preferred_completion"] = example.pop("preferred_output")
        example["non_preferred_completion"] = example.pop("non_preferred_output")

    pair, issues = any_tokenizer.tokenize_preference(example)

    end = any_tokenizer.end_of_turn_token
    assert pair.prompt_ids
    assert pair.chosen.input_ids[: len(pair.prompt_ids)] == pair.prompt_ids
    assert pair.rejected.input_ids[: len(pair.prompt_ids)] == pair.prompt_ids
    assert not any(pair.chosen.trained[: len(pair.prompt_ids)])
    assert not any(pair.rejected.trained[: len(pair.prompt_ids)])
    assert trained_runs(any_tokenizer, pair.chosen) == [f"Blue.{end}"]
    assert trained_runs(any_tokenizer, pair.rejected) == [f"I will not answer that.{end}"]
    prompt_text = any_tokenizer.render_chat(
        PREFERENCE["input"]["messages"], add_generation_prompt=True
    )
    assert any_tokenizer.decode(pair.prompt_ids) == prompt_text
    assert issues == []


def test_preference_prompt_keeps_earlier_assistant_turns_untrained(
    chatml_tokenizer: ChatTokenizer,
) -> None:
    example = json.loads(json.dumps(PREFERENCE))
    example["input"]["messages"] = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello there."},
        {"role": "user", "content": "Name a colour."},
    ]

    pair, _ = chatml_tokenizer.tokenize_preference(example)

    assert trained_runs(chatml_tokenizer, pair.chosen) == ["Blue.<|im_end|>"]


def test_preference_sides_share_the_prompt_even_when_a_token_spans_its_end(
    chatml_model_dir: Path,
) -> None:
    # The prompt ends in " t"; with answers "he ..." the text reads " the", one token, so the
    # whole-text encoding does not start with the prompt's tokens.
    template = (
        "{% for m in messages %}{% if m.role == 'assistant' %}A: t{{ m.content }}<|im_end|>"
        "{% else %}U:{{ m.content }}<|im_end|>{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}A: t{% endif %}"
    )
    tokenizer = ChatTokenizer.from_model_dir(chatml_model_dir, chat_template=template)
    example = {
        "input": {"messages": [{"role": "user", "content": "Q"}]},
        "preferred_output": [{"role": "assistant", "content": "he answer."}],
        "non_preferred_output": [{"role": "assistant", "content": "o be or not."}],
    }
    whole, _ = tokenizer.tokenize_chat(
        {"messages": [*example["input"]["messages"], *example["preferred_output"]]}
    )

    pair, issues = tokenizer.tokenize_preference(example)

    assert tokenizer.decode(pair.prompt_ids) == "U:Q<|im_end|>A: t"
    assert whole.input_ids[: len(pair.prompt_ids)] != pair.prompt_ids  # the merge happened
    assert pair.chosen.input_ids[: len(pair.prompt_ids)] == pair.prompt_ids
    assert pair.rejected.input_ids[: len(pair.prompt_ids)] == pair.prompt_ids
    assert trained_runs(tokenizer, pair.chosen) == ["he answer.<|im_end|>"]
    assert trained_runs(tokenizer, pair.rejected) == ["o be or not.<|im_end|>"]
    assert issues == []


def test_the_dispatcher_and_the_batch_path_give_the_same_tokens(
    any_tokenizer: ChatTokenizer,
) -> None:
    examples = [MULTI_TURN, TOOL_EXAMPLE, {"messages": [{"role": "user", "content": "x"}]}]

    batch = any_tokenizer.tokenize_batch(examples, DatasetFormat.CHAT)

    assert batch == [any_tokenizer.tokenize_chat(example) for example in examples]
    assert any_tokenizer.tokenize(PREFERENCE, DatasetFormat.PREFERENCE) == (
        any_tokenizer.tokenize_preference(PREFERENCE)
    )
    pair, _ = any_tokenizer.tokenize(PREFERENCE, "preference")  # type: ignore[arg-type]
    assert isinstance(pair, TokenizedPreference)


def test_developer_messages_render_as_system(chatml_tokenizer: ChatTokenizer) -> None:
    example = {
        "messages": [
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Salut"},
        ]
    }

    tokens, issues = chatml_tokenizer.tokenize_chat(example)

    assert chatml_tokenizer.decode(tokens.input_ids).startswith(
        "<|im_start|>system\nAnswer in French.<|im_end|>"
    )
    assert issues == []


def test_non_text_content_parts_are_left_out_with_a_warning(
    chatml_tokenizer: ChatTokenizer,
) -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    example = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is"},
                    image,
                    {"type": "text", "text": "this?"},
                ],
            },
            {"role": "assistant", "content": "A cat."},
        ]
    }

    tokens, issues = chatml_tokenizer.tokenize_chat(example)

    assert "<|im_start|>user\nWhat is\nthis?<|im_end|>" in chatml_tokenizer.decode(tokens.input_ids)
    assert codes(issues) == [IssueCode.UNSUPPORTED_CONTENT_PART]
    assert issues[0].param == "messages[0].content[1]"
    assert issues[0].severity is IssueSeverity.WARNING


def test_a_template_refusing_an_example_is_a_problem_not_a_crash(
    chatml_tokenizer: ChatTokenizer,
) -> None:
    example = {
        "messages": [
            {"role": "narrator", "content": "Once upon a time"},
            {"role": "assistant", "content": "Hello"},
        ]
    }

    tokens, issues = chatml_tokenizer.tokenize_chat(example)

    assert tokens.input_ids == []
    assert codes(issues) == [IssueCode.CHAT_TEMPLATE_ERROR]
    assert "Unknown role: narrator" in issues[0].message


def test_a_template_that_rewrites_earlier_turns_is_reported(chatml_model_dir: Path) -> None:
    # Writes the number of messages first, so no prefix renders like the whole conversation.
    template = (
        "{{ messages | length }}{% for m in messages %}<|im_start|>{{ m.role }}\n"
        "{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tokenizer = ChatTokenizer.from_model_dir(chatml_model_dir, chat_template=template)

    tokens, issues = tokenizer.tokenize_chat(MULTI_TURN)

    assert tokens.input_ids == []
    assert codes(issues) == [IssueCode.CHAT_TEMPLATE_NOT_INCREMENTAL]
    assert issues[0].param == "messages[2]"


def test_a_template_that_renders_the_latest_answer_differently_still_trains_each_answer(
    chatml_model_dir: Path,
) -> None:
    # Like Qwen 3: a (here empty) thinking block only in front of the conversation's last answer.
    template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n"
        "{% if m.role == 'assistant' and loop.last %}<think></think>{% endif %}"
        "{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tokenizer = ChatTokenizer.from_model_dir(chatml_model_dir, chat_template=template)

    tokens, issues = tokenizer.tokenize_chat(MULTI_TURN)

    assert trained_runs(tokenizer, tokens) == [
        "Hello! How can I help?<|im_end|>",
        "<think></think>The answer is 5.<|im_end|>",
    ]
    assert issues == []


def test_a_turn_without_an_end_token_is_warned_about(chatml_model_dir: Path) -> None:
    # Closes turns with <|im_end|>, except an assistant turn that says "bye".
    template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
        "{% if m.content != 'bye' %}<|im_end|>{% endif %}\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tokenizer = ChatTokenizer.from_model_dir(chatml_model_dir, chat_template=template)
    example = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "bye"},
            {"role": "user", "content": "again"},
            {"role": "assistant", "content": "ok"},
        ]
    }

    tokens, issues = tokenizer.tokenize_chat(example)

    assert trained_runs(tokenizer, tokens) == ["bye", "ok<|im_end|>"]
    assert codes(issues) == [IssueCode.MISSING_END_OF_TURN]
    assert issues[0].param == "messages[1]"
    assert issues[0].severity is IssueSeverity.WARNING


def test_a_template_that_never_ends_turns_with_a_special_token_is_refused(
    chatml_model_dir: Path,
) -> None:
    plain = "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"

    with pytest.raises(ModelTokenizerError, match="special token"):
        ChatTokenizer.from_model_dir(chatml_model_dir, chat_template=plain)


@pytest.mark.parametrize(
    ("example", "param"),
    [
        ({}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": ["hi"]}, "messages[0]"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        ({"messages": [{"role": "user", "content": "x"}], "tools": {}}, "tools"),
    ],
)
def test_malformed_chat_examples_are_problems_not_crashes(
    chatml_tokenizer: ChatTokenizer, example: dict[str, Any], param: str
) -> None:
    tokens, issues = chatml_tokenizer.tokenize_chat(example)

    assert tokens.input_ids == []
    assert codes(issues) == [IssueCode.INVALID_EXAMPLE]
    assert issues[0].param == param


def test_malformed_preference_examples_are_problems_not_crashes(
    chatml_tokenizer: ChatTokenizer,
) -> None:
    example = dict(PREFERENCE, non_preferred_output=[])

    pair, issues = chatml_tokenizer.tokenize_preference(example)

    assert pair.chosen.input_ids == pair.rejected.input_ids == pair.prompt_ids == []
    assert codes(issues) == [IssueCode.INVALID_EXAMPLE]
    assert issues[0].param == "non_preferred_output"


def test_preview_shows_every_token_and_marks_trained_text(chatml_tokenizer: ChatTokenizer) -> None:
    preview = chatml_tokenizer.render_preview(MULTI_TURN, DatasetFormat.CHAT)

    (sequence,) = preview.sequences
    tokens, _ = chatml_tokenizer.tokenize_chat(MULTI_TURN)
    assert [token.id for token in sequence.tokens] == tokens.input_ids
    assert [token.trained for token in sequence.tokens] == tokens.trained
    rendered = chatml_tokenizer.render_chat(MULTI_TURN["messages"])
    assert "".join(token.text for token in sequence.tokens) == rendered
    marked = sequence.marked_text
    assert f"{TRAINED_START}Hello! How can I help?<|im_end|>{TRAINED_END}\n" in marked
    assert f"{TRAINED_START}The answer is 5.<|im_end|>{TRAINED_END}\n" in marked
    assert marked.count(TRAINED_START) == 2
    assert preview.issues == []


def test_preview_of_completion_and_preference_examples(llama3_tokenizer: ChatTokenizer) -> None:
    completion = llama3_tokenizer.render_preview(
        {"prompt": "Q:", "completion": " A"}, DatasetFormat.COMPLETION
    )
    pair = llama3_tokenizer.render_preview(PREFERENCE, DatasetFormat.PREFERENCE)

    assert completion.sequences[0].marked_text == (
        f"<|begin_of_text|>Q:{TRAINED_START} A<|eot_id|>{TRAINED_END}"
    )
    assert [sequence.label for sequence in pair.sequences] == ["chosen", "rejected"]
    assert pair.sequences[0].marked_text.endswith(f"{TRAINED_START}Blue.<|eot_id|>{TRAINED_END}")


def test_max_seq_length_defaults_to_the_tokenizers_limit(any_tokenizer: ChatTokenizer) -> None:
    assert any_tokenizer.max_seq_length == 512


def test_a_model_without_a_chat_template_still_tokenizes_completions(
    chatml_model_dir: Path, tmp_path: Path
) -> None:
    # transformers 5 keeps the template in chat_template.jinja, which is not copied.
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        (tmp_path / name).write_bytes((chatml_model_dir / name).read_bytes())
    tokenizer = ChatTokenizer.from_model_dir(tmp_path)

    tokens, issues = tokenizer.tokenize_completion({"prompt": "a", "completion": "b"})

    assert tokenizer.chat_template is None
    assert trained_runs(tokenizer, tokens) == ["b<|im_end|>"]
    assert issues == []
    with pytest.raises(ModelTokenizerError, match="no chat template"):
        tokenizer.tokenize_chat(MULTI_TURN)


def test_templates_listed_in_tokenizer_config_are_read_and_tool_use_is_chosen_with_tools(
    chatml_model_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "tokenizer.json").write_bytes((chatml_model_dir / "tokenizer.json").read_bytes())
    default = (chatml_model_dir / "chat_template.jinja").read_text(encoding="utf-8")
    tool_use = "TOOLS:" + default
    config = {
        "eos_token": {"content": "<|im_end|>", "special": True},
        "model_max_length": 64,
        "chat_template": [
            {"name": "default", "template": default},
            {"name": "tool_use", "template": tool_use},
        ],
    }
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    tokenizer = ChatTokenizer.from_model_dir(tmp_path)

    with_tools, _ = tokenizer.tokenize_chat(TOOL_EXAMPLE)
    without, _ = tokenizer.tokenize_chat(MULTI_TURN)

    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.max_seq_length == 64
    assert tokenizer.decode(with_tools.input_ids).startswith("TOOLS:")
    assert not tokenizer.decode(without.input_ids).startswith("TOOLS:")


def test_a_directory_without_tokenizer_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelTokenizerError, match=r"tokenizer\.json"):
        ChatTokenizer.from_model_dir(tmp_path)


def test_tokenization_needs_neither_torch_nor_transformers() -> None:
    code = (
        "import sys, service.datasets.tokenization.chat_tokenizer; "
        "print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
