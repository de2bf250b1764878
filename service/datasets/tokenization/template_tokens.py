"""What tokenization must know about a model's chat template beyond the template itself.

- The **end-of-turn token** (``<|im_end|>``, ``<|eot_id|>``, ``</s>``…): the special token the
  template writes right after an assistant's answer. Training on it is what teaches a model to
  stop, so it is found once per template by rendering a probe conversation, and a template that
  writes none is refused.
- The **control tokens**: strings a user may not write in their text, because the tokenizer would
  turn them into markup: the tokenizer's special added tokens (``<|im_start|>``, ``<|eot_id|>``,
  ``<|fim_suffix|>``…), as in OpenAI's "contains an invalid token" check. Non-special added
  tokens such as Qwen 3's ``<think>`` are ordinary text that templates even parse out of answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tokenizers import AddedToken

from service.datasets.tokenization.chat_template import ChatTemplate, ChatTemplateRenderError
from service.errors import ModelTokenizerError

_PROBE_QUESTION = "ftapi probe question"
_PROBE_ANSWER = "ftapi probe answer"
_PROBE_PROMPTS = (
    [{"role": "user", "content": _PROBE_QUESTION}],
    [{"role": "system", "content": "probe"}, {"role": "user", "content": _PROBE_QUESTION}],
)


@dataclass(frozen=True)
class ChatFormat:
    """A compiled chat template and the token that closes its assistant turns."""

    template: ChatTemplate
    end_of_turn: str


def load_chat_format(
    source: str, special_tokens: Mapping[str, str], added_tokens: Iterable[AddedToken]
) -> ChatFormat:
    """Compile ``source`` and find its end-of-turn token; ``ModelTokenizerError`` if it has none."""
    try:
        template = ChatTemplate(source, special_tokens)
    except ChatTemplateRenderError as exc:
        raise ModelTokenizerError(str(exc)) from exc
    return ChatFormat(template, _probe_end_of_turn(template, added_tokens))


def control_tokens(added_tokens: Iterable[AddedToken]) -> tuple[str, ...]:
    """Tokens users may not write, longest first (so a regex prefers the longest match)."""
    tokens = {token.content for token in added_tokens if token.special and token.content.strip()}
    return tuple(sorted(tokens, key=len, reverse=True))


def _probe_end_of_turn(template: ChatTemplate, added_tokens: Iterable[AddedToken]) -> str:
    candidates = sorted(
        {token.content for token in added_tokens if token.content.strip()}, key=len, reverse=True
    )
    failure = "no probe conversation rendered"
    for prompt in _PROBE_PROMPTS:
        try:
            text = template.render([*prompt, {"role": "assistant", "content": _PROBE_ANSWER}])
        except ChatTemplateRenderError as exc:
            failure = str(exc)
            continue  # some templates insist on a system message
        if _PROBE_ANSWER not in text:
            failure = "it does not render the assistant's message"
            break
        tail = text[text.rfind(_PROBE_ANSWER) + len(_PROBE_ANSWER) :].lstrip()
        for token in candidates:
            if tail.startswith(token):
                return token
        failure = f"the answer is followed by {tail[:40]!r}, which starts with no special token"
        break
    raise ModelTokenizerError(
        "the chat template must close each assistant turn with a special token (such as "
        f"<|im_end|> or </s>) so that a fine-tuned model learns to stop: {failure}"
    )
