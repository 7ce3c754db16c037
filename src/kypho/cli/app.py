"""The typer application shared by every ``kypho`` sub-command, and its error handling.

Each stage registers its commands in its own module (``kypho/cli/<stage>.py``) with
``@app.command()`` (or ``app.add_typer`` for a group) and wraps them in :func:`handle_errors`,
which turns a :class:`~kypho.errors.KyphoError` into one red line on stderr and exit code 2.
"""

from __future__ import annotations

import contextlib
import functools
import re
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

from kypho.core.outputs import DISCLAIMER
from kypho.errors import KyphoError

__all__ = [
    "app",
    "err_console",
    "handle_errors",
    "markup_text",
    "out_console",
    "progress_bar",
    "safe_text",
]

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


#: C0 and C1 control characters (ESC starts an ANSI escape sequence; CR rewrites the line).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe_text(text: object) -> str:
    """``text`` made safe for a terminal: control characters become visible escapes.

    ANSI escape sequences in a file, case or patient name would otherwise reach the terminal
    (recolour it, move the cursor, clear the screen); a newline would break the one-line
    error.  Newlines and tabs become spaces, every other control character ``\\xNN``.
    """

    def visible(m: re.Match[str]) -> str:
        ch = m.group(0)
        return " " if ch in "\n\r\t" else f"\\x{ord(ch):02x}"

    return _CONTROL.sub(visible, str(text))


def markup_text(text: object) -> str:
    """User text to embed in a rich markup string: :func:`safe_text` with ``[`` escaped."""
    from rich.markup import escape

    return escape(safe_text(text))


def _error_line(message: object) -> Text:
    from rich.text import Text

    return Text.assemble(("error:", "bold red"), " ", safe_text(message))


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: report a :class:`KyphoError` (or an unwritable output) as one line, exit 2.

    The message is printed as plain text (no rich markup is parsed, control characters are
    escaped), so a file or patient name holding ``[/]`` or an ANSI escape prints as it is.
    Operating-system errors (a full disk, a read-only folder) and running out of memory are
    reported the same way instead of as a traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        # Warnings are held back while the command runs: after an error (exit 2) only the
        # error line is printed; otherwise they are shown as usual when the command ends.
        held: list[warnings.WarningMessage] = []
        show = True
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")
                try:
                    return _run(fn, *args, **kwargs)
                except typer.Exit as exc:
                    show = exc.exit_code != 2
                    raise
                finally:
                    held = list(caught)
        finally:
            if show:
                for w in held:
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file,
                                         w.line)

    return wrapper


def _run(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call ``fn``; report errors as one line and exit 2 (see :func:`handle_errors`)."""
    try:
        return fn(*args, **kwargs)
    except KyphoError as exc:
        err_console.print(_error_line(exc), highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        err_console.print(_error_line(f"cannot write {exc.filename}: {exc.strerror}"),
                          highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except OSError as exc:  # a full disk, an I/O error
        where = f"{exc.filename}: " if exc.filename else ""
        err_console.print(_error_line(f"{where}{exc.strerror or exc}"), highlight=False,
                          soft_wrap=True)
        raise typer.Exit(2) from None
    except MemoryError as exc:
        err_console.print(_error_line(f"not enough memory to finish ({str(exc) or 'MemoryError'})"),
                          highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


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
