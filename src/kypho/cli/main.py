"""Entry point of the ``kypho`` console script: imports every stage's commands."""

from __future__ import annotations

import importlib

from kypho.cli.app import app

# One module per stage; each registers its commands on ``app`` when imported.
_COMMAND_MODULES = (
    "kypho.cli.data",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(_name)


@app.callback()
def _main(
    version: bool = False,
) -> None:
    """kypho: vertebral compression fractures, kyphoplasty and vertebroplasty (research only)."""


def run() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "run"]
