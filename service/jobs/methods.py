"""Fine-tuning methods as domain types: which kind of training a job does, with its
hyperparameters.

A method is one variant of a tagged union, named by its ``type``. Its hyperparameters hold what
the caller asked for (a number, or ``"auto"``) until the job's validation resolves them against
the training data; from then on they are numbers. A new method is one more variant here plus
its trainer's branch: the HTTP edge, the store and the wire shapes convert each variant in one
place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import ClassVar, Literal, Self

from service.jobs.hyperparameters import (
    DEFAULT_DPO_BETA,
    auto_batch_size,
    auto_learning_rate_multiplier,
    auto_n_epochs,
)

Auto = Literal["auto"]


class MethodType(StrEnum):
    """``method.type``: the kind of fine-tuning."""

    SUPERVISED = "supervised"
    DPO = "dpo"
    REINFORCEMENT = "reinforcement"


@dataclass(frozen=True)
class ResolvedHyperparameters:
    """Concrete numbers a trainer can use; ``beta`` only for DPO."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    beta: float | None = None


@dataclass(frozen=True)
class Hyperparameters:
    """The hyperparameters every method has: each a number, or ``"auto"`` until resolved."""

    n_epochs: int | Auto
    batch_size: int | Auto
    learning_rate_multiplier: float | Auto

    def resolve(self, n_examples: int) -> Self:
        """``"auto"`` replaced by what suits ``n_examples`` training examples."""
        batch_size = auto_batch_size(n_examples) if self.batch_size == "auto" else self.batch_size
        multiplier = (
            auto_learning_rate_multiplier(batch_size)
            if self.learning_rate_multiplier == "auto"
            else self.learning_rate_multiplier
        )
        return replace(
            self,
            n_epochs=auto_n_epochs(n_examples) if self.n_epochs == "auto" else self.n_epochs,
            batch_size=batch_size,
            learning_rate_multiplier=float(multiplier),
        )

    def numbers(self) -> ResolvedHyperparameters:
        """The resolved numbers; ``ValueError`` while any is still ``"auto"``."""
        if (
            self.n_epochs == "auto"
            or self.batch_size == "auto"
            or self.learning_rate_multiplier == "auto"
        ):
            raise ValueError(f"hyperparameters not resolved yet: {self}")
        return ResolvedHyperparameters(
            n_epochs=self.n_epochs,
            batch_size=self.batch_size,
            learning_rate_multiplier=self.learning_rate_multiplier,
        )


@dataclass(frozen=True)
class DpoHyperparameters(Hyperparameters):
    """DPO's hyperparameters: the shared ones plus ``beta``, the strength of the preference."""

    beta: float | Auto

    def resolve(self, n_examples: int) -> Self:
        """``"auto"`` replaced by what suits ``n_examples`` training examples."""
        beta = DEFAULT_DPO_BETA if self.beta == "auto" else self.beta
        return replace(super().resolve(n_examples), beta=beta)

    def numbers(self) -> ResolvedHyperparameters:
        """The resolved numbers; ``ValueError`` while any is still ``"auto"``."""
        if self.beta == "auto":
            raise ValueError(f"hyperparameters not resolved yet: {self}")
        return replace(super().numbers(), beta=self.beta)


@dataclass(frozen=True)
class SupervisedSpec:
    """Supervised fine-tuning on chat or completion examples."""

    type: ClassVar[Literal[MethodType.SUPERVISED]] = MethodType.SUPERVISED
    hyperparameters: Hyperparameters

    def resolve(self, n_examples: int) -> SupervisedSpec:
        """This method with its hyperparameters resolved for ``n_examples`` examples."""
        return SupervisedSpec(self.hyperparameters.resolve(n_examples))


@dataclass(frozen=True)
class DpoSpec:
    """Direct preference optimization on preference pairs."""

    type: ClassVar[Literal[MethodType.DPO]] = MethodType.DPO
    hyperparameters: DpoHyperparameters

    def resolve(self, n_examples: int) -> DpoSpec:
        """This method with its hyperparameters resolved for ``n_examples`` examples."""
        return DpoSpec(self.hyperparameters.resolve(n_examples))


@dataclass(frozen=True)
class ReinforcementSpec:
    """Reinforcement fine-tuning: accepted on the wire, but no trainer takes it, so a request
    with it is refused (``unsupported_method``) and no job ever holds it."""

    type: ClassVar[Literal[MethodType.REINFORCEMENT]] = MethodType.REINFORCEMENT


# What a job trains with (the methods a trainer takes), and what a request may ask for.
MethodSpec = SupervisedSpec | DpoSpec
RequestedMethod = MethodSpec | ReinforcementSpec
