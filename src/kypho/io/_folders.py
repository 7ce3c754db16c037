"""Atomic writes of whole folders: build beside the target, then swap it into place (not public).

The new folder is built complete in a hidden temporary folder beside the target
(``.NAME.<owner>.<random>.tmp``, see :mod:`kypho.core.atomic`), synced to disk, and then:

- a missing or empty target: renamed onto it;
- a non-empty target being replaced: swapped with it in one step (Linux ``renameat2`` with
  ``RENAME_EXCHANGE``), so that the target path holds the whole old folder or the whole new one
  at every instant, whatever kills the process; the old folder then sits at the temporary name
  and is deleted.  Where the exchange is not available the old folder is first renamed aside
  (``.NAME.<owner>.<random>.old``) and the new one renamed in; a crash between the two renames
  leaves the target missing, and the next write of the target puts the old folder back before
  anything else.

Temporaries of killed writers are removed by the next write of the same target
(:func:`kypho.core.atomic.clean_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kypho.core.atomic import (
    clean_stale_temporaries,
    fsync_folder,
    fsync_path,
    temporary_prefix,
)
from kypho.errors import InputFileError, OutputFileError

__all__ = ["atomic_folder", "exchange_paths", "is_empty_folder"]

_AT_FDCWD = -100  # <fcntl.h>
_RENAME_EXCHANGE = 2  # <linux/fs.h>


def is_empty_folder(path: Path) -> bool:
    """True when ``path`` is a folder with nothing in it."""
    return path.is_dir() and not any(path.iterdir())


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _renameat2() -> object | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step; ``False`` where the system cannot.

    Uses Linux's ``renameat2(..., RENAME_EXCHANGE)`` (glibc 2.28+, most local file systems).
    Other errors than "not supported" raise :class:`OSError`.
    """
    fn = _renameat2()
    if fn is None:
        return False
    rc = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)  # type: ignore[operator]
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                fsync_path(os.path.join(root, name))
        fsync_folder(root)


def _restore_aside(target: Path) -> None:
    """Put back an old folder that a crash left renamed aside (see the module docstring)."""
    if target.exists():
        return
    prefix = f".{target.name}."
    for entry in sorted(target.parent.glob(prefix + "*.old")):
        kept = entry / target.name
        if entry.is_dir() and kept.is_dir():
            os.replace(kept, target)
            shutil.rmtree(entry, ignore_errors=True)
            return


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike[str], *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success move it onto ``target``.

    ``target`` must not exist or be an empty folder, unless ``replace`` is true: then the old
    folder is swapped out (see the module docstring) and deleted.  On any exception the
    temporary folder is removed and ``target`` is left as it was.
    """
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise InputFileError(f"{target}: exists and is not a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _restore_aside(target)
        clean_stale_temporaries(target)
    except OSError as exc:
        raise OutputFileError(f"{target}: cannot write here ({exc.strerror or exc})") from None
    if target.exists() and not is_empty_folder(target) and not replace:
        raise InputFileError(f"{target}: folder exists and is not empty (use overwrite/--force)")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(target), suffix=".tmp",
                                    dir=target.parent))
    except OSError as exc:
        raise OutputFileError(f"{target}: cannot write here ({exc.strerror or exc})") from None
    try:
        # mkdtemp makes the folder private (0700); give it the permissions mkdir would.
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        _fsync_tree(tmp)
        if target.exists() and not is_empty_folder(target):
            if exchange_paths(tmp, target):
                fsync_folder(target.parent)
                shutil.rmtree(tmp, ignore_errors=True)  # now the old folder
                return
            old = Path(tempfile.mkdtemp(prefix=temporary_prefix(target), suffix=".old",
                                        dir=target.parent))
            os.replace(target, old / target.name)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old / target.name, target)  # put the old folder back
                shutil.rmtree(old, ignore_errors=True)
                raise
            fsync_folder(target.parent)
            shutil.rmtree(old, ignore_errors=True)
            return
        if target.exists():
            target.rmdir()
        os.replace(tmp, target)
        fsync_folder(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
