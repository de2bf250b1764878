"""Files generated from the code (the OpenAPI document, the README's configuration table):
written, or checked for drift, one way."""

from __future__ import annotations

from pathlib import Path

import typer


def write_or_check(output: Path, generated: str, *, check: bool, regenerate: str) -> None:
    """Write ``generated`` to ``output``; with ``check``, exit 1 instead when they differ,
    naming the ``regenerate`` command that fixes it."""
    current = output.read_text() if output.exists() else None
    if not check:
        output.write_text(generated)
        typer.echo(f"wrote {output}")
    elif current != generated:
        typer.echo(f"{output} is stale: run `{regenerate}`", err=True)
        raise typer.Exit(1)
    else:
        typer.echo(f"{output} is up to date")
