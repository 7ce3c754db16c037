"""The validated reading layer: regular files only, bounded sizes, bounded and schema-checked JSON.

Every reader in kypho goes through these helpers before it trusts a byte:

- :func:`check_regular_file` stats the path *before* anything opens it: a FIFO would block the
  open for ever, a device (``/dev/zero``) never ends, a socket cannot be read; all are refused.
  :func:`open_regular` then opens without blocking and checks the opened file again (the path
  could have been swapped in between).
- :func:`read_bytes_bounded` refuses files larger than the caller's limit before reading them.
- :func:`loads_json` parses JSON with bounded nesting (Python's parser recurses: 100 000 ``[``
  raise ``RecursionError``), bounded number length (a 5000-digit integer trips Python's
  int-to-str limit; a 10**6-digit one takes seconds) and no ``NaN``/``Infinity`` (not JSON).
- :func:`validate_json` checks a document against a JSON schema (``jsonschema``) and names the
  field at fault (``files.ct: expected a string, got null``).

All errors are :class:`~kypho.errors.KyphoError` subclasses naming the file.  The limits are
model choices (see ``docs/hardening.md``).
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from kypho.core.limits import format_bytes
from kypho.errors import FormatError, InputFileError

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_NUMBER_CHARS",
    "check_regular_file",
    "decode_text",
    "describe_json_path",
    "json_depth",
    "loads_json",
    "open_regular",
    "read_bytes_bounded",
    "read_json",
    "validate_json",
]

#: Largest JSON file kypho reads, bytes.  Model choice: kypho's own JSON files (case.json,
#: truth.json, plan JSON, after-care records) stay below 1 MiB; 16 MiB leaves room for years
#: of logged walks and keeps the parsed objects well under 1 GiB.
MAX_JSON_BYTES = 16 << 20
#: Deepest nesting of arrays and objects accepted in JSON.  Model choice: kypho's own files
#: nest at most 6 levels; Python's recursive parser fails near 1000.
MAX_JSON_DEPTH = 64
#: Longest number literal accepted in JSON, characters.  Model choice: a float64 needs at most
#: 24 characters (``-2.2250738585072014e-308``), an int64 20.
MAX_NUMBER_CHARS = 40

_KIND = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def _kind(mode: int) -> str:
    return _KIND.get(stat.S_IFMT(mode), "not a regular file")


def check_regular_file(
    path: str | os.PathLike[str], what: str = "file", *, folder_ok: bool = False
) -> os.stat_result:
    """``os.stat`` of ``path`` (symlinks followed); refuse anything but a regular file (or, with
    ``folder_ok``, a folder).

    Raises :class:`InputFileError` for a missing path, a FIFO, a device, a socket or a folder;
    nothing is opened.
    """
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputFileError(f"{p}: no such {what}") from None
    except OSError as exc:
        raise InputFileError(f"{p}: cannot read this {what} ({exc.strerror or exc})") from None
    if not (stat.S_ISREG(st.st_mode) or (folder_ok and stat.S_ISDIR(st.st_mode))):
        raise InputFileError(f"{p}: is {_kind(st.st_mode)}, not a regular {what}")
    return st


def open_regular(path: str | os.PathLike[str], what: str = "file") -> IO[bytes]:
    """Open a regular file for binary reading, never blocking on a FIFO.

    The path is stat-ed first (:func:`check_regular_file`); the open uses ``O_NONBLOCK`` (an
    open of a FIFO swapped in meanwhile returns at once) and the opened descriptor is checked
    again with ``fstat``.
    """
    p = Path(path)
    check_regular_file(p, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(p, flags)
    except OSError as exc:
        raise InputFileError(f"{p}: cannot open this {what} ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputFileError(f"{p}: is {_kind(st.st_mode)}, not a regular {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes_bounded(path: str | os.PathLike[str], max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; larger files are refused unread."""
    p = Path(path)
    with open_regular(p, what) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise InputFileError(
                f"{p}: {what} of {format_bytes(size)} is larger than kypho reads "
                f"({format_bytes(max_bytes)})"
            )
        try:
            data = f.read(max_bytes + 1)
        except OSError as exc:
            raise InputFileError(f"{p}: cannot read this {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # grew while we read it
        raise InputFileError(f"{p}: {what} is larger than kypho reads ({format_bytes(max_bytes)})")
    return data


def decode_text(data: bytes, source: object, what: str = "file") -> str:
    """UTF-8 text of ``data`` (a UTF-8 byte-order mark is dropped).

    UTF-16/32 text (a byte-order mark or NUL bytes) and undecodable bytes are a
    :class:`FormatError` naming the byte offset; nothing is guessed.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FormatError(f"{source}: {what} is UTF-16 text; kypho reads UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"{source}: {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}; binary data or another encoding?)"
        ) from None
    if "\x00" in text:
        raise FormatError(
            f"{source}: {what} holds NUL bytes (offset {text.index(chr(0))}; binary data or "
            "UTF-16/32 text?)"
        )
    return text


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)


def json_depth(text: str) -> int:
    """Deepest nesting of ``[`` and ``{`` outside strings (linear time, no recursion)."""
    bare = _JSON_STRING.sub('""', text).encode("utf-8")
    arr = np.frombuffer(bare, dtype=np.uint8)
    if arr.size == 0:
        return 0
    opens = (arr == ord("[")) | (arr == ord("{"))
    closes = (arr == ord("]")) | (arr == ord("}"))
    depth = np.cumsum(opens.astype(np.int64) - closes.astype(np.int64))
    return int(depth.max(initial=0))


def _number_hooks(source: object) -> dict[str, Any]:
    def check_len(s: str) -> None:
        if len(s) > MAX_NUMBER_CHARS:
            raise FormatError(
                f"{source}: number of {len(s)} characters ({s[:12]}...); kypho reads numbers of "
                f"at most {MAX_NUMBER_CHARS} characters"
            )

    def parse_int(s: str) -> int:
        check_len(s)
        return int(s)

    def parse_float(s: str) -> float:
        check_len(s)
        x = float(s)
        if not math.isfinite(x):
            raise FormatError(f"{source}: number {s} is beyond the range of a float64")
        return x

    def parse_constant(s: str) -> float:
        raise FormatError(f"{source}: {s} is not a JSON number (JSON has no NaN or Infinity)")

    return {"parse_int": parse_int, "parse_float": parse_float, "parse_constant": parse_constant}


def loads_json(text: str, source: object, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON text with bounded nesting and number length, refusing NaN and Infinity."""
    depth = json_depth(text)
    if depth > max_depth:
        raise FormatError(
            f"{source}: JSON nested {depth} levels deep; kypho reads at most {max_depth}"
        )
    try:
        return json.loads(text, **_number_hooks(source))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{source}: not valid JSON ({exc})") from None
    except (RecursionError, ValueError) as exc:  # belt and braces: bounded above
        raise FormatError(f"{source}: not valid JSON ({type(exc).__name__})") from None


def read_json(
    path: str | os.PathLike[str],
    *,
    what: str = "JSON file",
    schema: Mapping[str, Any] | None = None,
    max_bytes: int = MAX_JSON_BYTES,
) -> Any:
    """Read, decode, parse and (with ``schema``) validate a JSON file; errors name the file."""
    p = Path(path)
    data = read_bytes_bounded(p, max_bytes, what)
    doc = loads_json(decode_text(data, p, what), p)
    if schema is not None:
        validate_json(doc, schema, p)
    return doc


def describe_json_path(parts: Iterable[object]) -> str:
    """``files.ct``, ``walks[2].minutes``; ``(top level)`` for the document itself."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_JSON_TYPE_NAMES = {
    "string": "a string", "number": "a number", "integer": "an integer", "boolean": "true or false",
    "object": "an object", "array": "an array", "null": "null",
}  # fmt: skip


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: object, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str) if not isinstance(value, str) else (
        json.dumps(value, ensure_ascii=True))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_json(doc: Any, schema: Mapping[str, Any], source: object) -> None:
    """Raise :class:`FormatError` naming the first field of ``doc`` that breaks ``schema``."""
    import jsonschema
    from jsonschema.exceptions import best_match

    validator = jsonschema.Draft202012Validator(schema)
    err = best_match(validator.iter_errors(doc))
    if err is None:
        return
    where = describe_json_path(err.absolute_path)
    if err.validator == "type":
        expected = err.validator_value
        names = [expected] if isinstance(expected, str) else list(expected)
        want = " or ".join(_JSON_TYPE_NAMES.get(n, n) for n in names)
        msg = f"expected {want}, got {_json_type(err.instance)}"
        if not isinstance(err.instance, dict | list):
            msg += f" {_short(err.instance)}" if err.instance is not None else ""
    elif err.validator == "required":
        missing = [k for k in err.validator_value if k not in err.instance]
        msg = f"missing field {missing[0]!r}" if missing else err.message
    elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = set((err.schema.get("properties") or {}).keys())
        extra = sorted(str(k) for k in err.instance if k not in allowed)
        msg = f"unknown field {extra[0]!r}" if extra else err.message
    elif err.validator in ("enum", "const"):
        msg = f"{_short(err.instance)} is not one of {_short(err.validator_value)}"
    else:
        msg = err.message if len(err.message) <= 200 else err.message[:197] + "..."
    raise FormatError(f"{source}: {where}: {msg}")

