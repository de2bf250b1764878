"""``ftapi config-doc``: print the configuration table, or keep the README's copy current."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.generated_files import write_or_check


def config_doc(
    output: Annotated[
        Path | None, typer.Option(help="Rewrite the table between this file's markers.")
    ] = None,
    check: Annotated[bool, typer.Option(help="Fail if OUTPUT's table differs.")] = False,
) -> None:
    """Print the table of every FTAPI_* setting, or write (or check) it into a Markdown file."""
    from service.settings_doc import render_config_table, replace_config_table

    table = render_config_table()
    if output is None:
        sys.stdout.write(table)
        return
    current = output.read_text()
    try:
        updated = replace_config_table(current, table)
    except ValueError as exc:
        raise typer.BadParameter(f"{output}: {exc}", param_hint="--output") from None
    write_or_check(output, updated, check=check, regenerate=f"ftapi config-doc --output {output}")
