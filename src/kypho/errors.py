"""Exception types raised by kypho.

Every error a user can cause derives from :class:`KyphoError`; the CLI turns any of them into one
clear line on stderr and exit code 2, the web app into a 4xx response.  Messages name the file,
field or value at fault.
"""

from __future__ import annotations

__all__ = [
    "EmptyLabelMapError",
    "FormatError",
    "GeometryMismatchError",
    "InputFileError",
    "InvalidParameterError",
    "KyphoError",
    "NotMeasurableError",
    "OutputFileError",
    "UnsupportedFormatError",
]


class KyphoError(Exception):
    """Base class of every error caused by input that kypho cannot use."""


class InputFileError(KyphoError):
    """A file or folder is missing or unreadable."""


class OutputFileError(KyphoError):
    """An output file or folder cannot be written (missing parent, no permission, read-only)."""


class FormatError(KyphoError):
    """A file is corrupt, truncated or violates its format."""


class UnsupportedFormatError(KyphoError):
    """A file's format is not one kypho reads or writes."""


class GeometryMismatchError(KyphoError):
    """Two images that must share a voxel grid (CT and labels) do not."""


class EmptyLabelMapError(KyphoError):
    """A label map holds no vertebra label."""


class InvalidParameterError(KyphoError, ValueError):
    """A parameter is out of its allowed range (a non-positive voxel size, an unknown level)."""


class NotMeasurableError(KyphoError):
    """A structure cannot be measured (cut by the scan edge, too few voxels, merged labels)."""
