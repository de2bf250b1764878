"""``python -m service.cli``: the same CLI as the ``ftapi`` script."""

from service.cli.main import app

app()
