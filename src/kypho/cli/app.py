"""The typer application shared by every ``kypho`` sub-command, and its error handling.

Each stage registers its commands in its own module (``kypho/cli/<stage>.py``) with
``@app.command()`` (or ``app.add_typer`` for a group) and wraps them in :func:`handle_errors`,
which turns a :class:`~kypho.errors.KyphoError` into one red line on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

from kypho.core.outputs import DISCLAIMER
from kypho.errors import KyphoError

__all__ = ["app", "err_console", "handle_errors", "out_console", "progress_bar"]

P = ParamSpec("P")
R = TypeVar("R")


app = typer.Typer(
    name="kypho",
    help=f"Vertebral compression fractures, kyphoplasty and vertebroplasty. {DISCLAIMER}",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage text: rendering typer's rich panels costs about 0.25 s of every
    # start-up, and they box errors that kypho promises on one line.
    rich_markup_mode=None,
)


class _LazyConsole:
    """A :class:`rich.console.Console` made on first use: ``kypho --help`` and a quick command
    do not pay for importing rich's console (about 0.1 s)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def real(self) -> Console:
        """The console itself (made now if need be), for APIs that need the object."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real(), name)


#: Progress, warnings and errors go to stderr; results to stdout.  Soft wrap: a message stays one
#: line whatever the terminal width, so scripts and logs can grep it.
err_console: Console = _LazyConsole(stderr=True, soft_wrap=True)  # type: ignore[assignment]
out_console: Console = _LazyConsole(soft_wrap=True)  # type: ignore[assignment]


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: report a :class:`KyphoError` (or an unwritable output) as one line, exit 2."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except KyphoError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            err_console.print(
                f"[bold red]error:[/] cannot write {exc.filename}: {exc.strerror}",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2) from None

    return wrapper


@contextlib.contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """A transient progress bar on stderr; yields ``update(fraction, message=None)``.

    The callback has the signature library code takes as ``progress=`` (fraction done in [0, 1]
    and a short message), so commands pass it straight through.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console.real(),  # type: ignore[attr-defined]
        transient=True,
        disable=not enabled,
    ) as bar:
        task = bar.add_task(description, total=1.0)

        def update(fraction: float, message: str | None = None) -> None:
            if message is None:
                bar.update(task, completed=fraction)
            else:
                bar.update(task, completed=fraction, description=message)

        yield update
