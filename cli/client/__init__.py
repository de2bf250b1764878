"""User commands of ``ftapi``: they talk HTTP to any ftapi (or OpenAI-compatible) URL.

``connection`` holds the URL, key and error handling every command shares; one module per
command group (``files``, ``jobs``, ``models``, ``chat``), plus the pieces they draw with
(``progress``, ``sparkline``, ``eta``, ``tables``).
"""
