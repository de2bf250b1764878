"""A tiny random Llama-architecture model with a real tokenizer and chat template, built offline.

Tests use it wherever they need a model, and ``ftapi dev`` builds one as its demo base model on
first start. Nothing is downloaded: a byte-level BPE tokenizer is trained with ``tokenizers`` on a
small built-in corpus (byte-level, so any unicode text round-trips), and the weights are a seeded
random initialisation. The same arguments always give byte-identical files.

The result is an ordinary Hugging Face model directory (``config.json``, ``model.safetensors``,
``generation_config.json``, ``tokenizer.json``, ``tokenizer_config.json``, ``chat_template.jinja``)
that ``AutoTokenizer`` and ``AutoModelForCausalLM`` load without ``trust_remote_code``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


class DemoChatTemplate(StrEnum):
    """Which chat format the tiny model's tokenizer speaks."""

    CHATML = "chatml"
    LLAMA3 = "llama3"


# ChatML in the style of Qwen 2.5: no BOS, `<|im_end|>` closes every turn, tools in the system turn,
# tool calls as JSON inside <tool_call> tags.
_CHATML_TEMPLATE = r"""
{%- if messages[0].role == 'system' %}
    {%- set system_message = messages[0].content %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set system_message = none %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if system_message is not none %}{{- system_message + '\n\n' }}{%- endif %}
    {{- '# Tools\n\nYou may call functions. Their signatures:\n<tools>' }}
    {%- for tool in tools %}{{- '\n' + tool | tojson }}{%- endfor %}
    {{- '\n</tools>\nCall one with <tool_call>{"name": ..., "arguments": ...}</tool_call>.' }}
    {{- '<|im_end|>\n' }}
{%- elif system_message is not none %}
    {{- '<|im_start|>system\n' + system_message + '<|im_end|>\n' }}
{%- endif %}
{%- for message in loop_messages %}
    {%- if message.role == 'assistant' %}
        {{- '<|im_start|>assistant\n' }}
        {%- if message.content %}{{- message.content }}{%- endif %}
        {%- for tool_call in message.tool_calls or [] %}
            {%- set call = tool_call.function if tool_call.function is defined else tool_call %}
            {%- if message.content or not loop.first %}{{- '\n' }}{%- endif %}
            {{- '<tool_call>\n{"name": "' + call.name + '", "arguments": ' }}
            {%- if call.arguments is string %}{{- call.arguments }}
            {%- else %}{{- call.arguments | tojson }}{%- endif %}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == 'tool' %}
        {{- '<|im_start|>tool\n' + message.content + '<|im_end|>\n' }}
    {%- elif message.role in ['user', 'system'] %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
    {%- else %}
        {{- raise_exception('Unknown role: ' + message.role) }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\n' }}{%- endif %}
""".strip()

# Llama 3.1 style: the template writes BOS itself (and the tokenizer's post-processor would add one
# too, as Meta's does), headers in special tokens, `<|eot_id|>` closes every turn, content trimmed.
_LLAMA3_TEMPLATE = r"""
{{- bos_token }}
{%- if messages[0].role == 'system' %}
    {%- set system_message = messages[0].content | trim %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set system_message = '' %}
    {%- set loop_messages = messages %}
{%- endif %}
{{- '<|start_header_id|>system<|end_header_id|>\n\n' }}
{%- if tools %}
    {{- 'Environment: ipython\nYou have access to these functions:\n' }}
    {%- for tool in tools %}{{- tool | tojson(indent=2) + '\n' }}{%- endfor %}
    {{- 'Answer a call with {"name": function name, "parameters": arguments}.\n\n' }}
{%- endif %}
{{- system_message + '<|eot_id|>' }}
{%- for message in loop_messages %}
    {%- if message.role == 'assistant' and message.tool_calls %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
        {%- for tool_call in message.tool_calls %}
            {%- set call = tool_call.function %}
            {{- '{"name": "' + call.name + '", "parameters": ' + call.arguments | tojson + '}' }}
        {%- endfor %}
        {{- '<|eot_id|>' }}
    {%- elif message.role == 'tool' %}
        {{- '<|start_header_id|>ipython<|end_header_id|>\n\n' }}
        {{- message.content | trim + '<|eot_id|>' }}
    {%- else %}
        {{- '<|start_header_id|>' + message.role + '<|end_header_id|>\n\n' }}
        {{- message.content | trim + '<|eot_id|>' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
""".strip()


@dataclass(frozen=True)
class _TokenizerSpec:
    """The special tokens and template of one chat format."""

    template: str
    bos: str | None
    eos: str
    pad: str
    extra_special: tuple[str, ...]
    generation_eos: tuple[str, ...]

    @property
    def special_tokens(self) -> list[str]:
        named = [token for token in (self.bos, self.eos, self.pad) if token is not None]
        return named + [token for token in self.extra_special if token not in named]


_SPECS = {
    DemoChatTemplate.CHATML: _TokenizerSpec(
        template=_CHATML_TEMPLATE,
        bos=None,
        eos="<|im_end|>",
        pad="<|endoftext|>",
        extra_special=("<|im_start|>",),
        generation_eos=("<|im_end|>", "<|endoftext|>"),
    ),
    DemoChatTemplate.LLAMA3: _TokenizerSpec(
        template=_LLAMA3_TEMPLATE,
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        pad="<|end_of_text|>",
        extra_special=("<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>"),
        generation_eos=("<|eot_id|>", "<|end_of_text|>", "<|eom_id|>"),
    ),
}

# Pre-tokenization regex of Llama 3 / GPT-4 (cl100k): splits words, numbers, punctuation, spaces.
_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Enough varied text for a few hundred merges: chat phrases, role names, JSON and code fragments.
_CORPUS = (
    "You are a helpful assistant. Answer briefly and politely.",
    "Hello! How can I help you today? What is the weather like in Paris?",
    "The quick brown fox jumps over the lazy dog while the cat sleeps in the sun.",
    "system user assistant tool function arguments name content role messages",
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
    '{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}',
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))",
    "The answer is 42. The total is 1234 and the year is 2024; 3.14159 is pi.",
    "Fine-tuning adapts a language model to a task with a small set of examples.",
    "Thank you very much! You're welcome. I'd like a cup of tea, please.",
    "Translate to French: good morning -> bonjour; thank you -> merci.",
    "Question: what is the capital of France? Answer: The capital of France is Paris.",
    "Les élèves étudient à l'école; naïve café, déjà vu, Zürich, São Paulo, 東京, Москва.",
    "Step 1: read the data. Step 2: train the model. Step 3: evaluate the results.",
    "I cannot help with that request, but here is something related that might help.",
)


def build_tiny_llama(
    out_dir: Path,
    *,
    chat_template: DemoChatTemplate | str = DemoChatTemplate.CHATML,
    vocab_size: int = 512,
    hidden_size: int = 64,
    intermediate_size: int = 128,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    max_position_embeddings: int = 512,
    seed: int = 0,
) -> Path:
    """Write a tiny random ``LlamaForCausalLM`` and its tokenizer to ``out_dir`` and return it.

    ``vocab_size`` is the BPE trainer's target; the model's vocabulary is exactly the trained
    tokenizer's. The tokenizer's ``model_max_length`` is ``max_position_embeddings``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    model = random_llama(
        save_chat_tokenizer(out_dir, chat_template, vocab_size, max_position_embeddings),
        chat_template,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        layers=layers,
        heads=heads,
        kv_heads=kv_heads,
        max_position_embeddings=max_position_embeddings,
        seed=seed,
    )
    model.save_pretrained(
        out_dir
    )  # safetensors: the default, and the only format in transformers 5
    return out_dir


def save_chat_tokenizer(
    out_dir: Path,
    chat_template: DemoChatTemplate | str,
    vocab_size: int,
    model_max_length: int,
) -> Tokenizer:
    """Train the byte-level BPE tokenizer, save it with its chat template, and return it.

    A ``vocab_size`` no larger than the 256 bytes plus the special tokens trains no merges: every
    byte is its own token (what the pretrained demo base uses, so digits and letters are single
    tokens for arithmetic and reversing).
    """
    spec = _SPECS[DemoChatTemplate(chat_template)]
    tokenizer = _train_tokenizer(spec, vocab_size)
    _save_tokenizer(out_dir, tokenizer, spec, model_max_length)
    return tokenizer


def random_llama(
    tokenizer: Tokenizer,
    chat_template: DemoChatTemplate | str,
    *,
    hidden_size: int,
    intermediate_size: int,
    layers: int,
    heads: int,
    kv_heads: int,
    max_position_embeddings: int,
    seed: int,
) -> LlamaForCausalLM:
    """A seeded random ``LlamaForCausalLM`` sized for ``tokenizer``, its special ids set."""
    spec = _SPECS[DemoChatTemplate(chat_template)]

    def token_id(token: str | None) -> int | None:
        return None if token is None else tokenizer.token_to_id(token)

    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(with_added_tokens=True),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=token_id(spec.bos),
        eos_token_id=token_id(spec.eos),
        pad_token_id=token_id(spec.pad),
        tie_word_embeddings=False,
    )
    # A private RNG scope: building a model never shifts the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
        bos_token_id=token_id(spec.bos),
        eos_token_id=[token_id(token) for token in spec.generation_eos],
        pad_token_id=token_id(spec.pad),
    )
    return model


def _train_tokenizer(spec: _TokenizerSpec, vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(pattern=Regex(_SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=spec.special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS, trainer)
    post_steps: list[processors.PostProcessor] = [
        processors.ByteLevel(add_prefix_space=False, trim_offsets=False)
    ]
    if spec.bos is not None:
        # Like Meta's tokenizer: plain text gets a BOS, so the chat path must not add another.
        post_steps.append(
            processors.TemplateProcessing(
                single=f"{spec.bos} $A",
                pair=f"{spec.bos} $A {spec.bos} $B",
                special_tokens=[(spec.bos, tokenizer.token_to_id(spec.bos))],
            )
        )
    tokenizer.post_processor = processors.Sequence(post_steps)
    return tokenizer


def _save_tokenizer(
    out_dir: Path, tokenizer: Tokenizer, spec: _TokenizerSpec, model_max_length: int
) -> None:
    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        bos_token=spec.bos,
        eos_token=spec.eos,
        pad_token=spec.pad,
        extra_special_tokens=list(spec.extra_special),
        model_max_length=model_max_length,
        chat_template=spec.template,
        clean_up_tokenization_spaces=False,
    )
    wrapped.save_pretrained(out_dir)
    # transformers 5 writes its own class name, which transformers 4 (e.g. an older vLLM) lacks;
    # the generic fast class loads under both.
    config_path = out_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
