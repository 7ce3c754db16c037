"""One option vocabulary for every ``kypho`` command that reads a case or writes outputs.

* ``CASE``: a case folder, a CT file (``.nii``, ``.nii.gz``, ``.nrrd``, ``.nhdr``) or a DICOM
  series folder; ``--labels`` and ``--labels-scheme`` give or interpret its vertebra labels.
* ``--level``: repeatable, and each value may be a range or a list: ``--level L1``,
  ``--level T12 --level L1``, ``--level T10-L3``, ``--level T12,L1``.
* ``-o/--out``: always a folder; a named file is asked for by its own option (``--png F``,
  ``--csv F``).  A file kypho would replace in that folder is replaced only with ``--force``.
* ``--json``: print the result (kypho's JSON envelope) on stdout instead of a summary.
* ``--progress/--no-progress``: a progress bar on stderr.
* A point (``--entry``, ``--target``, ``--tip``): ``R,A,S`` in mm (:func:`point_of`).

The option objects are made here once and reused by each command, so names, short forms and
help texts cannot drift apart.  Importing this module loads typer only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from kypho.core.case import Case

__all__ = [
    "CaseArg",
    "ForceOpt",
    "JsonOpt",
    "LabelsOpt",
    "LabelsSchemeOpt",
    "LevelsOpt",
    "ProgressOpt",
    "levels_of",
    "load",
    "out_option",
    "point_of",
    "print_envelope",
    "report_written",
]

#: Largest distance of a point given by hand (``--entry``, ``--target``, ``--tip``) from the
#: scanner's origin (mm): model choice, beyond any CT's field of view.
MAX_POINT_MM = 5000.0

CaseArg = Annotated[
    Path,
    typer.Argument(help="Case folder, CT file (.nii, .nii.gz, .nrrd, .nhdr) or DICOM folder.",
                   show_default=False),
]
LabelsOpt = Annotated[
    Path | None,
    typer.Option("--labels", help="Vertebra label map on the CT's grid (e.g. TotalSegmentator's).",
                 show_default=False),
]
LabelsSchemeOpt = Annotated[
    str,
    typer.Option("--labels-scheme", help="Label ids: auto, kypho, totalsegmentator or verse."),
]
LevelsOpt = Annotated[
    list[str] | None,
    typer.Option("--level", help="Level(s): repeatable, ranges and lists accepted (L1, T10-L3, "
                 "T12,L1).", show_default=False),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace kypho's files already in the output folder.")
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout.")
]
ProgressOpt = Annotated[
    bool, typer.Option("--progress/--no-progress", help="Show progress on stderr.")
]


def out_option(what: str, default: Path | None = None) -> object:
    """The ``-o/--out`` folder option, with what goes in it."""
    return typer.Option(default, "-o", "--out", help=f"Output folder for {what}.",
                        show_default=default is not None)


def levels_of(
    values: list[str] | None, *, one: bool = False, required: bool = False
) -> tuple[str, ...]:
    """The levels named by repeated ``--level`` values (ranges and lists expanded).

    With ``one``, exactly one level must be named; with ``required``, at least one.
    """
    from kypho.core.levels import parse_levels
    from kypho.errors import InvalidParameterError

    if not values:
        if required or one:
            raise InvalidParameterError(
                "--level is required (e.g. --level L1" + ("" if one else " or --level T12-L1")
                + ")")
        return ()
    levels = parse_levels(values)
    if one and len(levels) != 1:
        raise InvalidParameterError(
            f"--level: name exactly one level here, got {', '.join(levels)}"
        )
    return levels


def report_written(paths: Iterable[Path], *, to_stderr: bool = False) -> None:
    """One line naming the files a command wrote (user paths made safe for the terminal)."""
    from kypho.cli.app import err_console, out_console, safe_text

    console = err_console if to_stderr else out_console
    console.print("Wrote " + ", ".join(safe_text(p) for p in paths), highlight=False,
                  markup=False, soft_wrap=True)


def print_envelope(stage: str, version: int, payload: dict[str, Any]) -> None:
    """``--json``: the stage's result in kypho's envelope on stdout, strict JSON (NaN as null)
    like the files it wrote, non-ASCII escaped."""
    from kypho.core.outputs import dumps, envelope

    typer.echo(dumps(envelope(stage, version, payload), ascii_only=True), nl=False)


def point_of(text: str, what: str) -> tuple[float, float, float]:
    """The RAS mm point ``x,y,z`` given to option ``what``; refused beyond :data:`MAX_POINT_MM`."""
    from kypho.core.params import parse_point

    return parse_point(text, what, MAX_POINT_MM)  # type: ignore[return-value]


def load(case: Path, labels: Path | None = None, labels_scheme: str = "auto") -> Case:
    """The case behind ``CASE``, ``--labels`` and ``--labels-scheme``."""
    from kypho.io import load_case

    return load_case(case, labels=labels, labels_scheme=labels_scheme)  # type: ignore[arg-type]
