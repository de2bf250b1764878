"""The one place where a training example becomes tokens and a loss mask.

The API side (dataset report, preview, estimate) and the trainer both call ``ChatTokenizer``, so
what users are shown is what is trained. It needs only ``tokenizers`` and ``jinja2``.

Rules, per format:

- **chat**: the example is rendered with the model's chat template, as vLLM and transformers
  render it, and tokenized without the tokenizer's post-processor (``add_special_tokens=False``,
  like ``apply_chat_template``): a template that writes BOS gets exactly one BOS, and one that
  does not gets none, which is also what the inference engine will feed the model. Trained:
  assistant turns whose ``weight`` is not 0, each through its end-of-turn token (see
  ``turn_spans``).
- **completion** (legacy ``prompt``/``completion``): plain text, encoded as the tokenizer encodes
  text (its post-processor's BOS, if any), then the completion and EOS, which are trained.
- **preference**: chosen and rejected are the prompt's conversation plus one assistant answer
  each; both start with the same prompt tokens and only the answer is trained.

Sequences longer than ``max_seq_length`` are cut from the end (``truncated``). Problems in an
example are returned as ``ExampleIssue`` values, never raised; only an unusable model raises
``ModelTokenizerError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Encoding

from service.datasets.tokenization.chat_template import ChatTemplateRenderError
from service.datasets.tokenization.issues import (
    ExampleIssue,
    SpecialTokenScanner,
    end_of_turn_issues,
    malformed_issue,
    no_trained_tokens_issue,
    render_issue,
)
from service.datasets.tokenization.preview import ExamplePreview, preview_sequence
from service.datasets.tokenization.template_messages import (
    MalformedExampleError,
    TextField,
    convert_messages,
    convert_tools,
)
from service.datasets.tokenization.template_tokens import (
    ChatFormat,
    control_tokens,
    load_chat_format,
)
from service.datasets.tokenization.token_sequence import TokenSequence
from service.datasets.tokenization.tokenized_example import TokenizedExample, TokenizedPreference
from service.datasets.tokenization.tokenizer_files import (
    TokenizerFiles,
    read_tokenizer_files,
)
from service.datasets.tokenization.turn_spans import (
    RenderedChat,
    TemplatePrefixError,
    render_trained_turns,
)
from service.datasets.validation.formats import NON_PREFERRED_KEYS, PREFERRED_KEYS, DatasetFormat
from service.errors import ModelTokenizerError

Tokenized = TokenizedExample | TokenizedPreference


@dataclass(frozen=True)
class _Outcome:
    """Labelled sequences of one example before truncation, plus its issues."""

    sequences: list[tuple[str, TokenSequence]]
    prompt_tokens: int
    issues: list[ExampleIssue]


@dataclass(frozen=True)
class _Plan:
    """Texts one example needs encoded, and how to build its outcome from their encodings."""

    texts: list[str]
    finish: Callable[[Sequence[Encoding], bool], _Outcome]  # (encodings, keep_offsets)


class ChatTokenizer:
    """A base model's tokenizer and chat template, turning examples into tokens and loss masks."""

    def __init__(
        self, files: TokenizerFiles, *, max_seq_length: int | None, chat_template: str | None
    ) -> None:
        self._tokenizer = files.tokenizer
        self._added_tokens = files.tokenizer.get_added_tokens_decoder()
        self.special_tokens = files.special_tokens
        self.bos_token = files.special_tokens.get("bos_token")
        self.eos_token = files.special_tokens.get("eos_token")
        self.bos_token_id = self._token_id(self.bos_token)
        self.eos_token_id = self._token_id(self.eos_token)
        self.max_seq_length = _resolve_max_seq_length(max_seq_length, files)
        templates = {"default": chat_template} if chat_template else files.chat_templates
        added = list(self._added_tokens.values())
        self._formats = {
            name: load_chat_format(source, self.special_tokens, added)
            for name, source in templates.items()
        }
        self.control_tokens = control_tokens(added)
        self._scanner = SpecialTokenScanner(self.control_tokens)
        self._text_prefix, self._text_suffix = self._post_processor_additions()

    @classmethod
    def from_model_dir(
        cls, path: Path, *, max_seq_length: int | None = None, chat_template: str | None = None
    ) -> ChatTokenizer:
        """Load the tokenizer of the model in ``path``.

        ``max_seq_length`` defaults to the tokenizer's ``model_max_length``, else the model's
        ``max_position_embeddings``; ``chat_template`` (a Jinja source, e.g. from the model
        registry) replaces the model's own templates.
        """
        return cls(
            read_tokenizer_files(path), max_seq_length=max_seq_length, chat_template=chat_template
        )

    @property
    def chat_template(self) -> str | None:
        """The default chat template's source, if the model has one."""
        chat_format = self._formats.get("default")
        return chat_format.template.source if chat_format else None

    @property
    def end_of_turn_token(self) -> str | None:
        """The special token the default template closes assistant turns with."""
        chat_format = self._formats.get("default")
        return chat_format.end_of_turn if chat_format else None

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``, special tokens included."""
        return self._tokenizer.decode(list(ids), skip_special_tokens=False)

    def render_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        add_generation_prompt: bool = False,
    ) -> str:
        """Render OpenAI-shaped ``messages`` with the chat template (what the model will read)."""
        conversation = convert_messages(list(messages))
        return self._chat_format_for(tools).template.render(
            conversation.messages, tools=tools, add_generation_prompt=add_generation_prompt
        )

    def tokenize_chat(
        self, example: Mapping[str, Any]
    ) -> tuple[TokenizedExample, list[ExampleIssue]]:
        """Tokenize a chat example (``messages``, optional ``tools``)."""
        return self._as_example(self._outcomes([example], DatasetFormat.CHAT)[0])

    def tokenize_completion(
        self, example: Mapping[str, Any]
    ) -> tuple[TokenizedExample, list[ExampleIssue]]:
        """Tokenize a legacy ``prompt``/``completion`` example."""
        return self._as_example(self._outcomes([example], DatasetFormat.COMPLETION)[0])

    def tokenize_preference(
        self, example: Mapping[str, Any]
    ) -> tuple[TokenizedPreference, list[ExampleIssue]]:
        """Tokenize a preference example into chosen and rejected sequences sharing the prompt."""
        return self._as_pair(self._outcomes([example], DatasetFormat.PREFERENCE)[0])

    def tokenize(
        self, example: Mapping[str, Any], example_format: DatasetFormat
    ) -> tuple[Tokenized, list[ExampleIssue]]:
        """Tokenize one example of ``example_format``."""
        return self.tokenize_batch([example], example_format)[0]

    def tokenize_batch(
        self, examples: Sequence[Mapping[str, Any]], example_format: DatasetFormat
    ) -> list[tuple[Tokenized, list[ExampleIssue]]]:
        """Tokenize many examples of one format with a single (parallel) ``encode_batch`` call."""
        convert: Callable[[_Outcome], tuple[Tokenized, list[ExampleIssue]]]
        convert = self._as_pair if example_format == DatasetFormat.PREFERENCE else self._as_example
        return [convert(outcome) for outcome in self._outcomes(examples, example_format)]

    def render_preview(
        self, example: Mapping[str, Any], example_format: DatasetFormat
    ) -> ExamplePreview:
        """Each token of the example as text, with its trained flag, as training will see it."""
        outcome = self._outcomes([example], example_format, keep_offsets=True)[0]
        sequences = [
            preview_sequence(label, sequence, self.max_seq_length, self._token_content)
            for label, sequence in outcome.sequences
        ]
        return ExamplePreview(sequences=sequences, issues=self._final_issues(outcome))

    # -- planning: render texts, then encode every example's texts in one batch ---------------

    def _outcomes(
        self,
        examples: Sequence[Mapping[str, Any]],
        example_format: DatasetFormat,
        *,
        keep_offsets: bool = False,
    ) -> list[_Outcome]:
        planner, labels = self._planner(example_format)
        plans = [_guarded(planner, example, labels) for example in examples]
        texts = [text for plan in plans for text in plan.texts]
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False) if texts else []
        outcomes: list[_Outcome] = []
        position = 0
        for plan in plans:
            chunk = encodings[position : position + len(plan.texts)]
            outcomes.append(plan.finish(chunk, keep_offsets))
            position += len(plan.texts)
        return outcomes

    def _planner(
        self, example_format: DatasetFormat
    ) -> tuple[Callable[[Mapping[str, Any]], _Plan], tuple[str, ...]]:
        example_format = DatasetFormat(example_format)  # also accepts the plain string value
        if example_format is DatasetFormat.CHAT:
            return self._plan_chat, ("example",)
        if example_format is DatasetFormat.COMPLETION:
            return self._plan_completion, ("example",)
        return self._plan_preference, ("chosen", "rejected")

    def _plan_chat(self, example: Mapping[str, Any]) -> _Plan:
        conversation = convert_messages(example.get("messages"))
        tools = convert_tools(example.get("tools"))
        issues = self._scanner.conversation_issues(conversation)
        rendered = self._render(conversation.messages, conversation.trained, tools, "messages")
        if isinstance(rendered, ExampleIssue):
            return _failed_plan(("example",), [*issues, rendered])
        issues += end_of_turn_issues(rendered, "messages")
        spans = [(span.start, span.end) for span in rendered.spans]

        def finish(encodings: Sequence[Encoding], keep_offsets: bool) -> _Outcome:
            sequence = TokenSequence.from_encoding(
                encodings[0], rendered.text, spans, keep_offsets=keep_offsets
            )
            return _Outcome([("example", sequence)], 0, issues)

        return _Plan([rendered.text], finish)

    def _plan_completion(self, example: Mapping[str, Any]) -> _Plan:
        prompt, completion = example.get("prompt"), example.get("completion")
        if not isinstance(prompt, str):
            raise MalformedExampleError("prompt must be a string", "prompt")
        if not isinstance(completion, str):
            raise MalformedExampleError("completion must be a string", "completion")
        issues = self._scanner.issues(
            [TextField("prompt", prompt), TextField("completion", completion)]
        )
        prefix, end = self._text_prefix, self._completion_end()

        def finish(encodings: Sequence[Encoding], keep_offsets: bool) -> _Outcome:
            prompt_part = TokenSequence.from_encoding(
                encodings[0], prompt, keep_offsets=keep_offsets
            )
            answer = TokenSequence.from_encoding(
                encodings[1], completion, [(0, len(completion))], keep_offsets=keep_offsets
            )
            sequence = TokenSequence.concat(
                [
                    TokenSequence.inserted(prefix, trained=False),
                    prompt_part,
                    answer,
                    TokenSequence.inserted(end, trained=True),
                ]
            )
            return _Outcome([("example", sequence)], len(prefix) + len(prompt_part.ids), issues)

        return _Plan([prompt, completion], finish)

    def _plan_preference(self, example: Mapping[str, Any]) -> _Plan:
        prompt = example.get("input")
        if not isinstance(prompt, Mapping):
            raise MalformedExampleError("input must be an object with messages", "input")
        conversation = convert_messages(prompt.get("messages"), "input.messages")
        tools = convert_tools(prompt.get("tools"), "input.tools")
        issues = self._scanner.conversation_issues(conversation)
        renders: list[RenderedChat] = []
        for key in _preference_keys(example):
            answer = convert_messages(_one_answer(example, key), key)
            issues += self._scanner.conversation_issues(answer)
            messages = conversation.messages + answer.messages
            trained = [False] * len(conversation.messages) + [True]
            rendered = self._render(messages, trained, tools, key)
            if isinstance(rendered, ExampleIssue):
                return _failed_plan(("chosen", "rejected"), [*issues, rendered])
            issues += end_of_turn_issues(rendered, key)
            renders.append(rendered)
        chosen, rejected = renders
        prompt_text = chosen.text[: chosen.spans[0].start]

        def finish(encodings: Sequence[Encoding], keep_offsets: bool) -> _Outcome:
            prompt_encoding, chosen_encoding, rejected_encoding = encodings
            sides = [
                (label, self._answer_sequence(prompt_encoding, side, encoding, keep_offsets))
                for label, side, encoding in (
                    ("chosen", chosen, chosen_encoding),
                    ("rejected", rejected, rejected_encoding),
                )
            ]
            return _Outcome(sides, len(prompt_encoding.ids), issues)

        return _Plan([prompt_text, chosen.text, rejected.text], finish)

    def _answer_sequence(
        self, prompt: Encoding, rendered: RenderedChat, whole: Encoding, keep_offsets: bool
    ) -> TokenSequence:
        span = rendered.spans[0]
        prompt_text = rendered.text[: span.start]
        if whole.ids[: len(prompt.ids)] == prompt.ids:
            return TokenSequence.from_encoding(
                whole, rendered.text, [(span.start, span.end)], keep_offsets=keep_offsets
            )
        # A token merged across the prompt's end: encode the answer on its own so both sides
        # still start with the very same prompt tokens.
        answer_text = rendered.text[len(prompt_text) :]
        answer = self._tokenizer.encode(answer_text, add_special_tokens=False)
        answer_span = (0, span.end - len(prompt_text))
        return TokenSequence.concat(
            [
                TokenSequence.from_encoding(prompt, prompt_text, keep_offsets=keep_offsets),
                TokenSequence.from_encoding(
                    answer, answer_text, [answer_span], keep_offsets=keep_offsets
                ),
            ]
        )

    # -- pieces ----------------------------------------------------------------------------------

    def _render(
        self, messages: list[dict[str, Any]], trained: list[bool], tools: Any, path: str
    ) -> RenderedChat | ExampleIssue:
        chat_format = self._chat_format_for(tools)
        try:
            return render_trained_turns(
                chat_format.template,
                messages,
                trained,
                end_of_turn=chat_format.end_of_turn,
                tools=tools,
            )
        except (ChatTemplateRenderError, TemplatePrefixError) as exc:
            return render_issue(exc, path, len(messages))

    def _chat_format_for(self, tools: object) -> ChatFormat:
        if tools and "tool_use" in self._formats:
            return self._formats["tool_use"]
        chat_format = self._formats.get("default")
        if chat_format is None:
            raise ModelTokenizerError(
                "the model has no chat template; set chat_template for it in the model registry"
            )
        return chat_format

    def _as_example(self, outcome: _Outcome) -> tuple[TokenizedExample, list[ExampleIssue]]:
        ((_, sequence),) = outcome.sequences
        return sequence.to_example(self.max_seq_length), self._final_issues(outcome)

    def _as_pair(self, outcome: _Outcome) -> tuple[TokenizedPreference, list[ExampleIssue]]:
        (_, chosen_sequence), (_, rejected_sequence) = outcome.sequences
        chosen = chosen_sequence.to_example(self.max_seq_length)
        rejected = rejected_sequence.to_example(self.max_seq_length)
        prompt_ids = chosen.input_ids[: outcome.prompt_tokens]
        pair = TokenizedPreference(prompt_ids=prompt_ids, chosen=chosen, rejected=rejected)
        return pair, self._final_issues(outcome)

    def _final_issues(self, outcome: _Outcome) -> list[ExampleIssue]:
        if not any(sequence.ids for _, sequence in outcome.sequences):
            return outcome.issues  # nothing was tokenized; the issues say why
        return outcome.issues + [
            no_trained_tokens_issue(label, self.max_seq_length)
            for label, sequence in outcome.sequences
            if not any(sequence.trained[: self.max_seq_length])
        ]

    # -- set-up ----------------------------------------------------------------------------------

    def _token_id(self, token: str | None) -> int | None:
        return None if token is None else self._tokenizer.token_to_id(token)

    def _token_content(self, token_id: int) -> str:
        added = self._added_tokens.get(token_id)
        return added.content if added is not None else ""

    def _completion_end(self) -> list[int]:
        """What ends a completion: the post-processor's own suffix (its EOS) or else our EOS."""
        if self._text_suffix:
            return self._text_suffix
        if self.eos_token_id is None:
            raise ModelTokenizerError("the model's tokenizer has no eos_token to end completions")
        return [self.eos_token_id]

    def _post_processor_additions(self) -> tuple[list[int], list[int]]:
        """Ids the post-processor puts before and after plain text (e.g. Llama's BOS)."""
        bare = self._tokenizer.encode("a", add_special_tokens=False).ids
        full = self._tokenizer.encode("a", add_special_tokens=True).ids
        for start in range(len(full) - len(bare) + 1):
            if full[start : start + len(bare)] == bare:
                return full[:start], full[start + len(bare) :]
        return [], []


def _preference_keys(example: Mapping[str, Any]) -> tuple[str, str]:
    chosen = next((key for key in PREFERRED_KEYS if key in example), PREFERRED_KEYS[0])
    rejected = next((key for key in NON_PREFERRED_KEYS if key in example), NON_PREFERRED_KEYS[0])
    return chosen, rejected


def _one_answer(example: Mapping[str, Any], key: str) -> list[Any]:
    answer = example.get(key)
    if (
        not isinstance(answer, list)
        or len(answer) != 1
        or not isinstance(answer[0], Mapping)
        or answer[0].get("role") != "assistant"
    ):
        raise MalformedExampleError(f"{key} must hold exactly one assistant message", key)
    return answer


def _guarded(
    planner: Callable[[Mapping[str, Any]], _Plan],
    example: Mapping[str, Any],
    labels: tuple[str, ...],
) -> _Plan:
    try:
        return planner(example)
    except MalformedExampleError as exc:
        return _failed_plan(labels, [malformed_issue(exc)])


def _failed_plan(labels: tuple[str, ...], issues: list[ExampleIssue]) -> _Plan:
    empty = TokenSequence([], [], "", [])
    outcome = _Outcome([(label, empty) for label in labels], 0, issues)
    return _Plan([], lambda _encodings, _keep_offsets: outcome)


def _resolve_max_seq_length(requested: int | None, files: TokenizerFiles) -> int:
    resolved = requested or files.model_max_length or files.max_position_embeddings
    if resolved is None or resolved < 1:
        raise ModelTokenizerError(
            "cannot tell the model's maximum sequence length (no model_max_length in "
            "tokenizer_config.json, no max_position_embeddings in config.json); set max_seq_length"
        )
    return resolved
