"""Tiny random Llama models for tests, built on first use (no download) and cached per session.

Wraps ``gpu_runner.demo_model.build_tiny_llama``; the fixtures that hand these out live in the
conftest of each test folder that needs a model.
"""

from __future__ import annotations

from pathlib import Path

from gpu_runner.demo_model import DemoChatTemplate, build_tiny_llama

CHAT_TEMPLATES = tuple(template.value for template in DemoChatTemplate)


class TinyModels:
    """Model directories under ``root``, one per chat template, each built once."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}

    def model_dir(self, chat_template: str = "chatml") -> Path:
        """The tiny model speaking ``chat_template`` (``chatml`` or ``llama3``)."""
        if chat_template not in self._built:
            target = self.root / f"tiny-llama-{chat_template}"
            self._built[chat_template] = build_tiny_llama(target, chat_template=chat_template)
        return self._built[chat_template]
