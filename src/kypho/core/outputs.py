"""What every stage's outputs share: the disclaimer, one versioned JSON envelope, output folders.

Every JSON document kypho writes is an *envelope*::

    {"format": "kypho.<stage>/<N>", "kypho_version": "...", "disclaimer": "...", ...}

``format`` names the stage that wrote it and the version of its layout; readers check it with
:func:`open_envelope` and refuse anything else with one clear line.  Each stage owns its files
through a ``write_outputs(result, folder)`` function; the command line only parses options and
calls it.  Output folders follow one rule (:func:`output_folder`): ``-o/--out`` is always a
folder, and a file kypho would replace there is replaced only with ``--force``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kypho.core.atomic import write_text_atomic
from kypho.errors import FormatError, OutputFileError

__all__ = [
    "DISCLAIMER",
    "dumps",
    "envelope",
    "figure_png",
    "format_name",
    "open_envelope",
    "output_folder",
    "write_json",
]

#: The one disclaimer every output carries.
DISCLAIMER = (
    "kypho is research and education software, not a medical device: its outputs must not be "
    "used for diagnosis, treatment planning or patient care."
)


def format_name(stage: str, version: int) -> str:
    """``"kypho.<stage>/<version>"``."""
    return f"kypho.{stage}/{int(version)}"


def envelope(stage: str, version: int, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` wrapped with its format, kypho's version and the disclaimer."""
    from kypho._version import __version__

    return {
        "format": format_name(stage, version),
        "kypho_version": __version__,
        "disclaimer": DISCLAIMER,
        **payload,
    }


def _finite(obj: Any) -> Any:
    """NaN and infinities as ``None`` (JSON has no NaN), recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # NumPy scalars
        return _finite(obj.item())
    return obj


def dumps(doc: Mapping[str, Any], *, ascii_only: bool = False) -> str:
    """Strict JSON text of ``doc`` (NaN as null), indented, ending in a newline.

    ``ascii_only`` escapes every non-ASCII character (for a terminal: no raw control or
    bidirectional characters from a user's file names reach it).
    """
    return json.dumps(_finite(doc), indent=2, allow_nan=False, ensure_ascii=ascii_only) + "\n"


def write_json(path: str | Path, stage: str, version: int, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` in its envelope to ``path`` atomically."""
    return write_text_atomic(path, dumps(envelope(stage, version, payload)))


def figure_png(fig: Any, *, dpi: int = 110, tight: bool = False) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed.

    ``tight`` crops the picture to what is drawn (``bbox_inches="tight"``); without it the
    picture keeps the figure's size exactly (``figsize x dpi`` pixels).
    """
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    plt.close(fig)
    return buf.getvalue()


def open_envelope(
    doc: Any, stage: str, versions: Iterable[int], *, source: str = "document"
) -> dict[str, Any]:
    """Check that ``doc`` is a kypho ``stage`` document of one of ``versions``; return it.

    Raises
    ------
    FormatError
        One line naming the source, what it is and what was expected.
    """
    wanted = [format_name(stage, v) for v in versions]
    found = doc.get("format") if isinstance(doc, Mapping) else None
    if found not in wanted:
        what = f"format {found!r}" if isinstance(found, str) else "no kypho format field"
        raise FormatError(f"{source}: not a kypho {stage} file ({what}; expected "
                          f"{' or '.join(repr(w) for w in wanted)})")
    return dict(doc)


def output_folder(out: str | Path, names: Iterable[str], *, force: bool = False) -> Path:
    """Check ``out`` as an output folder for files called ``names`` (nothing is created).

    ``out`` must be a folder or not exist yet (the stage's writer creates it when it writes);
    a file already there with one of ``names`` is replaced only with ``force``.  Commands call
    this before any work, so a refusal costs nothing and leaves nothing behind.

    Raises
    ------
    OutputFileError
        ``out`` is a file, lies below a file, or holds one of ``names`` and ``force`` is off.
    """
    folder = Path(out)
    for parent in (folder, *folder.parents):
        if parent.exists() and not parent.is_dir():
            raise OutputFileError(f"{folder}: cannot write here, {parent} is a file, not a folder")
        if parent.exists():
            break
    if folder.is_dir() and not force:
        present = sorted(n for n in set(names) if (folder / n).exists())
        if present:
            raise OutputFileError(
                f"{folder}: already holds {', '.join(present)} (use --force to replace)"
            )
    return folder
