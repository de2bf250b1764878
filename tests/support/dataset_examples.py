"""Hypothesis strategies for training examples of the three formats, valid and broken.

``examples`` draws structured examples (dicts and lists, as ``json.dumps`` can write them):
loose ones with any field of a wrong type, and valid ones after a few random edits, so most
rules are broken one at a time. Raw JSON text that ``json.dumps`` cannot write lives in
``tests.support.json_fuzz``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Values of the wrong type, to put where a field expects something else.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-2, 3)
    | st.sampled_from([0.5, 1.0])
    | st.text(max_size=4)
)
odd_values = (
    scalars
    | st.lists(scalars, max_size=2)
    | st.dictionaries(st.text(max_size=3), scalars, max_size=2)
)


def mostly(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually ``valid``, sometimes a value of some other type."""
    return st.one_of(valid, valid, valid, odd_values)


short_text = st.text(max_size=6)
arguments = st.sampled_from(['{"city": "Paris"}', "{}", "[]", "city=Paris", "", "1"])
function_call = st.fixed_dictionaries(
    {"name": mostly(st.sampled_from(["f", "get_weather", ""])), "arguments": mostly(arguments)},
    optional={"extra": scalars},
)
tool_call = st.fixed_dictionaries(
    {"id": mostly(st.sampled_from(["call_1", ""])), "function": mostly(function_call)},
    optional={"type": mostly(st.just("function"))},
)
text_part = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "input_audio"]), "text": mostly(short_text)},
    optional={"extra": scalars},
)
image_url = st.fixed_dictionaries(
    {
        "url": mostly(
            st.sampled_from(["https://x.test/a.png", "data:image/png;base64,AA", "ftp://x"])
        )
    },
    optional={"detail": mostly(st.sampled_from(["low", "high", "auto", "max"]))},
)
image_part = st.fixed_dictionaries({"type": st.just("image_url"), "image_url": mostly(image_url)})
content = st.one_of(
    short_text, short_text, st.lists(text_part | image_part, max_size=2), st.none(), odd_values
)
message = st.fixed_dictionaries(
    {
        "role": mostly(
            st.sampled_from(["system", "developer", "user", "assistant", "tool", "function", "bot"])
        )
    },
    optional={
        "content": content,
        "name": mostly(st.sampled_from(["alice", "get_weather", ""])),
        "weight": st.sampled_from([0, 1, 2, 0.5, 1.0, True, None]),
        "tool_calls": st.none() | st.lists(mostly(tool_call), max_size=2) | odd_values,
        "function_call": st.none() | mostly(function_call),
        "tool_call_id": mostly(st.sampled_from(["call_1", ""])),
        "refusal": st.none() | mostly(short_text),
        "metadata": scalars,
    },
)
messages = st.lists(mostly(message), max_size=4)
parameters = st.recursive(
    st.dictionaries(st.sampled_from(["type", "p"]), scalars, max_size=2),
    lambda inner: st.dictionaries(st.sampled_from(["p", "q"]), inner, min_size=1, max_size=2),
    max_leaves=12,
)
function_definition = st.fixed_dictionaries(
    {"name": mostly(st.sampled_from(["f", ""]))},
    optional={
        "description": mostly(short_text),
        "parameters": mostly(parameters),
        "strict": mostly(st.booleans()),
    },
)
tool = st.fixed_dictionaries(
    {"type": mostly(st.just("function")), "function": mostly(function_definition)}
)
tools_fields = {
    "tools": st.none() | st.lists(mostly(tool), max_size=2) | odd_values,
    "parallel_tool_calls": st.none() | mostly(st.booleans()),
}
chat_examples = st.fixed_dictionaries(
    {"messages": mostly(messages)},
    optional={
        **tools_fields,
        "functions": st.none() | st.lists(mostly(function_definition), max_size=2) | odd_values,
        "id": scalars,
    },
)
output = st.lists(
    mostly(
        st.fixed_dictionaries(
            {"role": mostly(st.sampled_from(["assistant", "user"])), "content": content},
            optional={"weight": scalars},
        )
    ),
    max_size=2,
)
preference_examples = st.fixed_dictionaries(
    {"input": mostly(st.fixed_dictionaries({"messages": mostly(messages)}, optional=tools_fields))},
    optional={
        "preferred_output": mostly(output),
        "non_preferred_output": mostly(output),
        "preferred_completion": mostly(output),
        "non_preferred_completion": mostly(output),
        "extra": scalars,
    },
)
completion_examples = st.fixed_dictionaries(
    {},
    optional={"prompt": mostly(short_text), "completion": mostly(short_text), "extra": scalars},
)
loose_examples = chat_examples | preference_examples | completion_examples

# Valid examples, then a few random edits: most rules are broken one at a time this way.
text = st.text(min_size=1, max_size=6)
text_parts = st.lists(
    st.fixed_dictionaries({"type": st.just("text"), "text": short_text}), min_size=1, max_size=2
)
valid_image_part = st.fixed_dictionaries(
    {
        "type": st.just("image_url"),
        "image_url": st.fixed_dictionaries(
            {"url": st.sampled_from(["https://x.test/a.png", "data:image/png;base64,AA"])},
            optional={"detail": st.sampled_from(["low", "high", "auto"])},
        ),
    }
)
names = {"name": st.none() | st.sampled_from(["alice", "bob"])}
valid_call = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["call_1", "call_2"]),
        "function": st.fixed_dictionaries(
            {
                "name": st.just("get_weather"),
                "arguments": st.sampled_from(["{}", '{"city": "Paris"}']),
            }
        ),
    },
    optional={"type": st.just("function")},
)
valid_user = st.fixed_dictionaries(
    {
        "role": st.just("user"),
        "content": text
        | st.lists(
            text_parts.map(lambda parts: parts[0]) | valid_image_part, min_size=1, max_size=2
        ),
    },
    optional=names,
)
valid_assistant = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": text | text_parts},
    optional={**names, "weight": st.sampled_from([0, 1]), "refusal": st.none() | short_text},
) | st.fixed_dictionaries(
    {"role": st.just("assistant"), "tool_calls": st.lists(valid_call, min_size=1, max_size=2)},
    optional={"content": st.none() | st.just(""), "weight": st.sampled_from([0, 1])},
)
valid_trained_assistant = st.fixed_dictionaries(
    {"role": st.just("assistant"), "content": text}, optional={"weight": st.just(1)}
)
valid_other = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "developer"]), "content": text | text_parts},
        optional=names,
    ),
    st.fixed_dictionaries(
        {
            "role": st.just("tool"),
            "tool_call_id": st.just("call_1"),
            "content": short_text | text_parts,
        }
    ),
    st.fixed_dictionaries(
        {"role": st.just("function"), "name": st.just("get_weather"), "content": short_text}
    ),
)
any_valid_message = valid_user | valid_assistant | valid_other
valid_messages = st.builds(
    lambda head, user, middle, last: [*head, user, *middle, last],
    st.lists(any_valid_message, max_size=2),
    valid_user,
    st.lists(any_valid_message, max_size=2),
    valid_trained_assistant,
)
valid_tools = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.just("function"),
            "function": st.fixed_dictionaries(
                {"name": st.just("get_weather")},
                optional={
                    "description": short_text,
                    "parameters": parameters,
                    "strict": st.booleans(),
                },
            ),
        }
    ),
    max_size=2,
)
valid_chat = st.fixed_dictionaries(
    {"messages": valid_messages},
    optional={"tools": valid_tools, "parallel_tool_calls": st.booleans()},
)
valid_output = st.builds(lambda content: [{"role": "assistant", "content": content}], text)
valid_preference = st.builds(
    lambda prompt, good, bad, good_key, bad_key: {"input": prompt, good_key: good, bad_key: bad},
    st.fixed_dictionaries(
        {
            "messages": st.builds(
                lambda head, user: [*head, user],
                st.lists(any_valid_message, max_size=2),
                valid_user,
            )
        },
        optional={"tools": valid_tools, "parallel_tool_calls": st.booleans()},
    ),
    valid_output,
    valid_output,
    st.sampled_from(["preferred_output", "preferred_completion"]),
    st.sampled_from(["non_preferred_output", "non_preferred_completion"]),
)
valid_completion = st.fixed_dictionaries({"prompt": short_text, "completion": text})


def value_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path (keys and indexes from the root) of a JSON value, the root's () first."""
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += value_paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += value_paths(child, (*path, index))
    return found


EDIT_KEYS = [
    "extra",
    "weight",
    "name",
    "content",
    "role",
    "tool_calls",
    "tool_call_id",
    "type",
    "input",
]


@st.composite
def edited(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]]) -> Any:
    """A valid example after 0 to 2 edits: a value replaced, a key or item removed, a key added."""
    example: Any = draw(valid)
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(value_paths(example)))
        operation = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if operation == "replace":
                return draw(odd_values)
            continue
        parent = example
        for step in path[:-1]:
            parent = parent[step]
        target = parent[path[-1]]
        if operation == "replace":
            parent[path[-1]] = draw(odd_values | text)
        elif operation == "delete":
            del parent[path[-1]]
        elif isinstance(target, dict):
            target[draw(st.sampled_from(EDIT_KEYS))] = draw(odd_values)
    return example


examples = edited(valid_chat) | edited(valid_preference) | edited(valid_completion) | loose_examples
