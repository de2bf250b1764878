"""Fine-tuned model names: ``ft:{base}:{org}:{suffix}:{id}`` and ``…:ckpt-step-{n}``."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")


def fine_tuned_model_name(
    base: str, organization_slug: str, suffix: str | None, job_id: str
) -> str:
    """OpenAI's shape: the suffix slot stays empty when no suffix was given."""
    short_id = job_id.removeprefix("ftjob-")[:8]
    clean_suffix = _UNSAFE.sub("-", suffix or "").strip("-")
    return f"ft:{base}:{organization_slug}:{clean_suffix}:{short_id}"


def checkpoint_model_name(model_name: str, step: int) -> str:
    """The callable name of a checkpoint of ``model_name``."""
    return f"{model_name}:ckpt-step-{step}"


def root_base_model(model: str) -> str:
    """The registry base model under ``model``: itself, or the base an ``ft:`` name was built on.

    Base ids never contain ``:`` (the registry refuses them), so in ``ft:{base}:…`` the base is
    the second field however many times a model was fine-tuned again (each new name carries the
    root base, not its parent's name).
    """
    if not model.startswith("ft:"):
        return model
    return model.split(":", 2)[1]
