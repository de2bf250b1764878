"""The variables of a completions run's ``input_messages``, checked at create.

The messages are rendered per item before the model is sampled, so only ``{{item.…}}`` exists
there, and each such path must exist in the eval's item schema. The templates are the graders'
(``service/graders/templates.py``), and so is the schema check: the text is handed to it as a
probe grader, the one public way in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from service.errors import InvalidRequest
from service.evals.data_sources import InputMessagesTemplate
from service.graders.config import check_template_variables
from service.graders.errors import GraderInvalid
from service.graders.shapes import StringCheckGrader
from service.graders.templates import TemplateSyntaxError, parse_template

PARAM = "data_source.input_messages"
_PROBE_FIELD = "'.input'"  # how the graders' message names the probe's templated field


def check_input_messages(
    messages: InputMessagesTemplate, *, item_schema: Mapping[str, object]
) -> None:
    """Raise a 400 naming the first text whose template cannot render for the eval's items."""
    for where, text in _texts(messages):
        try:
            template = parse_template(text)
        except TemplateSyntaxError as exc:
            raise InvalidRequest(f"Invalid template in '{where}': {exc}", param=where) from None
        for variable in template.variables:
            if variable.namespace != "item":
                raise InvalidRequest(
                    f"'{where}' uses {{{{ {variable} }}}}, but input_messages are rendered "
                    "before the model is sampled: only item variables exist there.",
                    param=where,
                )
        probe = StringCheckGrader(
            type="string_check", name="input_messages", input=text, reference="", operation="eq"
        )
        try:
            check_template_variables(probe, param="", item_schema=item_schema, sample_allowed=False)
        except GraderInvalid as exc:
            raise InvalidRequest(
                exc.message.replace(_PROBE_FIELD, f"'{where}'"), param=where
            ) from None


def _texts(messages: InputMessagesTemplate) -> Iterator[tuple[str, str]]:
    for i, message in enumerate(messages.template):
        if isinstance(message.content, str):
            yield f"{PARAM}.template[{i}].content", message.content
        else:
            for j, part in enumerate(message.content):
                yield f"{PARAM}.template[{i}].content[{j}].text", part.text
