"""What ``gpu_runner`` uses of the datasets package, in one place.

The trainer reads training files with the validator's example reader and tokenizes them with
``ChatTokenizer``, the code the dataset report and preview run, so what users were shown is what
is trained; the inference engine renders chats with the same tokenizer and template. Every
``gpu_runner`` import of ``service.datasets`` goes through this module, so that surface is this
list and the package may be regrouped behind it.
"""

from service.datasets.tokenization.chat_template import ChatTemplateRenderError
from service.datasets.tokenization.chat_tokenizer import ChatTokenizer, Tokenized
from service.datasets.tokenization.issues import ExampleIssue, IssueSeverity
from service.datasets.tokenization.template_messages import MalformedExampleError
from service.datasets.tokenization.tokenized_example import TokenizedExample, TokenizedPreference
from service.datasets.tokenization.tokenizer_files import read_tokenizer_files
from service.datasets.validation.formats import DatasetFormat, detect_format, formats_for_method
from service.datasets.validation.validator import iter_examples

__all__ = [
    "ChatTemplateRenderError",
    "ChatTokenizer",
    "DatasetFormat",
    "ExampleIssue",
    "IssueSeverity",
    "MalformedExampleError",
    "Tokenized",
    "TokenizedExample",
    "TokenizedPreference",
    "detect_format",
    "formats_for_method",
    "iter_examples",
    "read_tokenizer_files",
]
