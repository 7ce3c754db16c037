"""Atomic writes of whole folders: build beside the target, then rename into place (not public)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kypho.errors import InputFileError

__all__ = ["atomic_folder", "is_empty_folder"]


def is_empty_folder(path: Path) -> bool:
    """True when ``path`` is a folder with nothing in it."""
    return path.is_dir() and not any(path.iterdir())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success move it onto ``target``.

    ``target`` must not exist or be an empty folder, unless ``replace`` is true: then the old
    folder is moved aside, the new one renamed in, and the old one deleted.  On any exception
    the temporary folder is removed and ``target`` is left as it was.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise InputFileError(f"{target}: exists and is not a folder")
    if target.exists() and not is_empty_folder(target) and not replace:
        raise InputFileError(f"{target}: folder exists and is not empty (use overwrite/--force)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        # mkdtemp makes the folder private (0700); give it the permissions mkdir would.
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        old: Path | None = None
        if target.exists():
            if is_empty_folder(target):
                target.rmdir()
            else:
                old = Path(
                    tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
                )
                os.replace(target, old / target.name)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old is not None:  # put the old folder back
                os.replace(old / target.name, target)
                shutil.rmtree(old, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
