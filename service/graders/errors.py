"""What grader configuration can be refused with (both are 400s in ftapi's one error tree).

    InvalidRequest (service/errors.py)  400 invalid_request_error
    ├── GraderInvalid                   invalid_grader         a field of the grader is wrong
    └── GraderNotSupported              grader_not_supported   valid for OpenAI, not run by ftapi

Both always carry ``param``: the path of the bad field, such as ``grader.input`` or
``testing_criteria[2].evaluation_metric``. Nothing about a sample or an item raises: a run records
those problems in the result's metadata instead (see ``grading.py``).
"""

from __future__ import annotations

from service.errors import InvalidRequest

INVALID_GRADER = "invalid_grader"
GRADER_NOT_SUPPORTED = "grader_not_supported"


class GraderInvalid(InvalidRequest):
    """The grader's configuration is malformed or inconsistent; ``param`` names the field."""

    def __init__(self, message: str, *, param: str, code: str | None = None) -> None:
        super().__init__(message, param=param, code=code or INVALID_GRADER)


class GraderNotSupported(InvalidRequest):
    """A grader OpenAI defines that this ftapi cannot run (the message says why)."""

    def __init__(self, message: str, *, param: str) -> None:
        super().__init__(message, param=param, code=GRADER_NOT_SUPPORTED)
