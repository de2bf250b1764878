"""User commands of ``ftapi``: they talk HTTP to any ftapi (or OpenAI-compatible) URL.

``connection`` holds the URL, key and error handling every command shares; one module per
command group (``files``, ``jobs``, ``models``, ``chat``, ``evals``), plus the pieces they draw
with (``progress``, ``sparkline``, ``eta``, ``tables``; ``eval_inputs``, ``eval_watch``,
``eval_compare`` and ``eval_report`` for ``evals``).
"""
