"""Atomic file writes: a reader never sees a half-written file, a failed write leaves no file.

A write goes to a hidden temporary file beside the target (``.NAME.<owner>.<random>.tmp``),
which is flushed to disk (``fsync``) and renamed onto the target; the folder is then synced
too, so that after a power loss the target holds the old or the new content, never an empty or
partial file.  ``<owner>`` is the writing process's id and a short host tag: a temporary left
by a killed writer (``kill -9``, a crash) is removed by the next write of the same target once
its owner is gone, or once it is older than :data:`STALE_TEMPORARY_S` whatever its owner.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from kypho.errors import OutputFileError

__all__ = [
    "STALE_TEMPORARY_S",
    "atomic_path",
    "clean_stale_temporaries",
    "fsync_folder",
    "fsync_path",
    "temporary_prefix",
    "write_bytes_atomic",
    "write_files_atomic",
    "write_text_atomic",
    "write_with",
]

#: Age, seconds, after which a hidden temporary of kypho's beside a target is removed even when
#: its owner process might still run (another host sharing the folder).  Model choice: no
#: single kypho write takes an hour; killed writers' files do not pile up for longer.
STALE_TEMPORARY_S = 3600.0

_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def temporary_prefix(target: Path) -> str:
    """Prefix of the hidden temporaries kypho writes beside ``target``: ``.NAME.PID-HOST.``."""
    return f".{target.name}.{os.getpid()}-{_HOST}."


def _owner_gone(pid: int, host: str) -> bool:
    if host != _HOST or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, owned by someone else
        return False
    return False


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                with contextlib.suppress(OSError):
                    newest = max(newest, os.lstat(os.path.join(root, name)).st_mtime)
    return newest


def clean_stale_temporaries(target: str | os.PathLike[str], *, suffixes=(".tmp", ".old")) -> int:
    """Remove temporaries of ``target`` left beside it by killed writers; return how many.

    Only names kypho itself makes are touched (``.NAME.PID-HOST.XXXXXXXX.tmp...`` or
    ``.old``), and only when their owner process is gone (same host) or they are older than
    :data:`STALE_TEMPORARY_S`.  Errors are ignored: cleaning is best effort.
    """
    target = Path(target)
    folder = target.parent
    pattern = re.compile(
        re.escape(f".{target.name}.") + r"(\d+)-([0-9a-f]{6})\.[A-Za-z0-9_]{8}("
        + "|".join(re.escape(s) for s in suffixes) + r")(\..*)?$"
    )
    removed = 0
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    now = time.time()
    for name in names:
        m = pattern.match(name)
        if not m:
            continue
        path = folder / name
        try:
            stale = _owner_gone(int(m.group(1)), m.group(2)) or (
                now - _newest_mtime(path) > STALE_TEMPORARY_S
            )
            if not stale:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file's data to disk (best effort on file systems without fsync)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync_folder(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename into it) to disk; a no-op where folders cannot be
    opened (Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_beside(target: Path) -> tuple[int, Path]:
    """A new hidden temporary beside ``target`` keeping its suffixes (stale ones cleaned first);
    returns its open descriptor and path."""
    clean_stale_temporaries(target)
    fd, name = tempfile.mkstemp(prefix=temporary_prefix(target),
                                suffix=f".tmp{''.join(target.suffixes)}", dir=target.parent)
    return fd, Path(name)


def _as_plain_open(tmp: Path) -> None:
    """mkstemp makes 0600 files; give ``tmp`` the permissions a plain ``open()`` would."""
    os.chmod(tmp, 0o666 & ~_current_umask())


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``.

    The temporary file keeps ``target``'s suffixes (``.nii.gz``) so writers that choose a
    format from the name still work.  Before the rename the file is synced to disk, after it
    the folder.  On any exception the temporary file is removed and ``target`` is left as it
    was.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _temporary_beside(target)
    except OSError as exc:
        raise OutputFileError(f"{target}: cannot write here ({exc.strerror})") from exc
    os.close(fd)
    try:
        yield tmp
        with contextlib.suppress(FileNotFoundError):
            _as_plain_open(tmp)
        fsync_path(tmp)
        os.replace(tmp, target)
        fsync_folder(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically and return the path."""
    return write_bytes_atomic(target, text.encode("utf-8"))


def write_files_atomic(folder: str | os.PathLike[str], files: Mapping[str, bytes]) -> Path:
    """Write several files into ``folder`` all or nothing (as far as a file system allows).

    Every file is written and synced to a hidden temporary beside its target first; only when
    all are complete are they renamed into place (renames do not need space, so a full disk
    fails before any target changes).  On any error the temporaries are removed and no target
    is touched.
    """
    folder = Path(folder)
    staged: list[tuple[Path, Path]] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            target = folder / name
            if target.is_dir():
                raise IsADirectoryError(21, "Is a directory", str(target))
            fd, tmp = _temporary_beside(target)
            staged.append((tmp, target))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            _as_plain_open(tmp)
        for tmp, target in staged:
            os.replace(tmp, target)
        fsync_folder(folder)
    except BaseException:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    return folder


def write_with(target: str | os.PathLike[str], writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)
