"""The installed version of kypho (``0+unknown`` in a source tree that was never installed)."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("kypho")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"
