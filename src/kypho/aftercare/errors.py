"""Errors raised by :mod:`kypho.aftercare`; each is a :class:`kypho.errors.KyphoError`.

The CLI turns them into one line on stderr and exit code 2; the messages name the file, field or
value at fault.
"""

from __future__ import annotations

from kypho.errors import FormatError, InvalidParameterError

__all__ = ["AftercareInputError", "ProtocolError", "UnitError"]


class ProtocolError(FormatError):
    """An after-care protocol file is broken: bad TOML, a schema violation or a rule conflict."""


class UnitError(InvalidParameterError):
    """A quantity has an unknown unit, the wrong kind of unit, or an impossible value."""


class AftercareInputError(InvalidParameterError):
    """A patient's dates, ids or logged values cannot be used (e.g. discharge before surgery)."""
