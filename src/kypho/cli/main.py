"""Entry point of the ``kypho`` console script: imports every stage's commands."""

from __future__ import annotations

import importlib

import typer

from kypho.cli.app import app

# One module per stage; each registers its commands on ``app`` when imported.
_COMMAND_MODULES = (
    "kypho.cli.data",
    "kypho.cli.anatomy",
    "kypho.cli.assess",
    "kypho.cli.demo",
    "kypho.cli.fluoro",
    "kypho.cli.phantom",
    "kypho.cli.aftercare",
    "kypho.cli.simulate",
    "kypho.cli.plan",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(_name)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"kypho {version('kypho')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_show_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """kypho: vertebral compression fractures, kyphoplasty and vertebroplasty (research only)."""


def run() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "run"]
