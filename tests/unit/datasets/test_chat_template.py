"""ftapi's Jinja environment renders chat templates exactly as transformers' apply_chat_template."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from service.datasets.tokenization.chat_template import ChatTemplate, ChatTemplateRenderError
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer
from service.datasets.tokenization.template_messages import convert_messages
from tests.support.tiny_model import TinyModels

CONVERSATIONS: list[dict[str, Any]] = [
    {
        "messages": [
            {"role": "system", "content": "  Be brief.  "},
            {"role": "user", "content": "Hi <b>&</b> 'quoted' café 東京 🙂"},
            {"role": "assistant", "content": "Hello!"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Two"}, {"type": "text", "text": "parts"}],
            },
            {"role": "assistant", "content": "Noted.", "weight": 0},
        ]
    },
    {
        "messages": [
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": "Hi"},
        ]
    },
    {
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather <now> & later",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string", "enum": ["Paris", "Zürich"]}},
                    },
                },
            }
        ],
        "messages": [
            {"role": "user", "content": "Weather in Zürich?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Zürich"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "  18 degrees  "},
            {"role": "assistant", "content": "Mild."},
        ],
    },
]


@pytest.fixture(scope="module")
def hf_tokenizers(tiny_models: TinyModels) -> dict[str, Any]:
    """transformers' own tokenizer of each tiny model, for reference renderings."""
    return {
        name: AutoTokenizer.from_pretrained(tiny_models.model_dir(name))
        for name in ("chatml", "llama3")
    }


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["multi-turn", "developer", "tools"])
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_rendering_matches_transformers_apply_chat_template(
    any_tokenizer: ChatTokenizer,
    chat_template_name: str,
    hf_tokenizers: dict[str, Any],
    conversation: dict[str, Any],
    add_generation_prompt: bool,
) -> None:
    messages, tools = conversation["messages"], conversation.get("tools")
    reference = hf_tokenizers[chat_template_name].apply_chat_template(
        convert_messages(messages).messages,
        tools=tools,
        tokenize=False,
        add_generation_prompt=add_generation_prompt,
    )

    ours = any_tokenizer.render_chat(
        messages, tools=tools, add_generation_prompt=add_generation_prompt
    )

    assert ours == reference


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=["multi-turn", "developer", "tools"])
def test_token_ids_match_transformers(
    any_tokenizer: ChatTokenizer,
    chat_template_name: str,
    hf_tokenizers: dict[str, Any],
    conversation: dict[str, Any],
) -> None:
    reference = hf_tokenizers[chat_template_name].apply_chat_template(
        convert_messages(conversation["messages"]).messages,
        tools=conversation.get("tools"),
        tokenize=True,
        return_dict=False,
    )

    tokens, _ = any_tokenizer.tokenize_chat(conversation)

    assert tokens.input_ids == list(reference)


FEATURES = r"""
{%- set ns = namespace(users=0) %}
{%- for m in messages %}
    {%- if m.role == 'skip' %}{% continue %}{% endif %}
    {%- if m.role == 'stop' %}{% break %}{% endif %}
    {%- if m.role == 'user' %}{% set ns.users = ns.users + 1 %}{% endif %}
    {{- m.role }}: {{ m.content | tojson }} {{ m | tojson(indent=1, sort_keys=true) }}
    {% generation %}[{{ m.content | trim }}]{% endgeneration %}
{% endfor %}
users={{ ns.users }} {{ dict(a=1) | tojson }} {{ tools | tojson(separators=(',', ':')) }}
{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ documents }}
    indented {% if true %}
        block
    {% endif %}
"""


def test_jinja_features_render_as_in_transformers(hf_tokenizers: dict[str, Any]) -> None:
    hf = hf_tokenizers["llama3"]
    messages = [
        {"role": "user", "content": ' <tag> & "quotes" 東京 '},
        {"role": "skip", "content": "hidden"},
        {"role": "assistant", "content": "ok"},
        {"role": "stop", "content": "end"},
        {"role": "user", "content": "never"},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    reference = hf.apply_chat_template(
        messages, tools=tools, chat_template=FEATURES, tokenize=False, add_generation_prompt=True
    )

    ours = ChatTemplate(FEATURES, hf.special_tokens_map).render(
        messages, tools=tools, add_generation_prompt=True
    )

    assert ours == reference
    assert '"<tag> & \\"quotes\\" 東京"' not in ours  # tojson keeps text as is, no HTML escaping
    assert '" <tag> & \\"quotes\\" 東京 "' in ours


def test_strftime_now_formats_the_current_time() -> None:
    template = ChatTemplate("{{ strftime_now('%Y') }}", {})

    assert template.render([]) == str(datetime.now().year)


def test_raise_exception_becomes_a_render_error() -> None:
    template = ChatTemplate("{{ raise_exception('Only user turns, please') }}", {})

    with pytest.raises(ChatTemplateRenderError, match="Only user turns, please"):
        template.render([{"role": "system", "content": "x"}])


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",  # reaching Python internals
        "{% set ns = namespace() %}{% set ns._private = 1 %}",  # underscore on a namespace
        "{% set x = messages.append(1) %}",  # mutating the caller's messages
    ],
)
def test_the_sandbox_refuses_unsafe_templates(source: str) -> None:
    with pytest.raises(ChatTemplateRenderError):
        ChatTemplate(source, {}).render([])


def test_a_template_that_does_not_compile_is_refused() -> None:
    with pytest.raises(ChatTemplateRenderError, match="does not compile"):
        ChatTemplate("{% for m in messages %}", {})


def test_the_tiny_models_tokenizer_config_names_its_special_tokens(
    llama3_model_dir: Path,
) -> None:
    config = json.loads((llama3_model_dir / "tokenizer_config.json").read_text(encoding="utf-8"))

    assert config["bos_token"] == "<|begin_of_text|>"
    assert config["eos_token"] == "<|eot_id|>"
    assert config["model_max_length"] == 512
