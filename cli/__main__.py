"""``python -m cli``: the same CLI as the ``ftapi`` script."""

from cli.main import app

app()
