"""Why a training run can fail in a way the user can act on.

    TrainingRunError                 code            raised inside the training process
    ├── OutOfMemoryError             out_of_memory   the device ran out of memory
    ├── TrainingDivergedError        training_diverged  a loss or gradient is NaN or infinite
    ├── UnusableTrainingDataError    invalid_training_file  nothing left to train on
    ├── QuantizationUnavailableError quantization_unavailable  4-bit asked where it cannot run
    └── ScratchDiskFullError         storage_full    no space left to write a checkpoint or adapter

The training process reports one of these as a ``failed`` message with its ``code`` and
``message``; the parent turns it into the runner contract's ``TrainingFailed``. Anything else
the process raises is a bug: it becomes ``training_error`` and only the operators see the trace.
"""

from __future__ import annotations

from typing import ClassVar

from service.jobs.trainer_contract import STORAGE_FULL_CODE

INTERNAL_ERROR_CODE = "training_error"
INTERNAL_ERROR_MESSAGE = "Training stopped on an internal error; the operators have the log."


class TrainingRunError(Exception):
    """A failure with a stable ``code`` and a message a user can act on."""

    code: ClassVar[str] = INTERNAL_ERROR_CODE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OutOfMemoryError(TrainingRunError):
    """The accelerator ran out of memory during a step."""

    code = "out_of_memory"

    def __init__(self, step: int) -> None:
        super().__init__(
            f"The GPU ran out of memory at step {step}. Retry with a smaller batch_size or "
            "shorter examples."
        )


class TrainingDivergedError(TrainingRunError):
    """The loss or the gradient norm became NaN or infinite."""

    code = "training_diverged"

    def __init__(self, step: int, what: str = "loss") -> None:
        super().__init__(
            f"Training diverged at step {step}: the {what} is not a finite number. Retry with a "
            "smaller learning_rate_multiplier."
        )


class UnusableTrainingDataError(TrainingRunError):
    """The training file holds no example the trainer can use."""

    code = "invalid_training_file"


class QuantizationUnavailableError(TrainingRunError):
    """The runner is set to train on a 4-bit base but lacks a CUDA GPU or bitsandbytes."""

    code = "quantization_unavailable"

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"This runner is configured to train on a 4-bit (QLoRA) base model, but {missing}. "
            "Retry later; the operators have to install it or unset FTAPI_LORA_QUANTIZATION."
        )


class ScratchDiskFullError(TrainingRunError):
    """The attempt's scratch directory has no space left for a checkpoint or the adapter."""

    code = STORAGE_FULL_CODE

    def __init__(self, what: str) -> None:
        super().__init__(
            f"The {what} could not be written: the training machine's disk is full. Create the "
            "job again later, or ask the service's operators to free space."
        )
