"""printmanager: a local-first, plugin-based organiser for 3D-printing files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import NotFound, PrintManagerError, UsageError
from .hookspecs import hookimpl
from .records import FileRecord, ModelRecord, ScanReport

if TYPE_CHECKING:  # pragma: no cover
    from .library import Library

__all__ = [
    "FileRecord",
    "Library",
    "ModelRecord",
    "NotFound",
    "PrintManagerError",
    "ScanReport",
    "UsageError",
    "__version__",
    "hookimpl",
]


def __getattr__(name: str) -> object:
    """``Library`` and ``__version__``, on first use: importing a reader or the renderer
    (``printmanager_core.readers.base``) must not pay for the store (sqlite-utils) or
    ``importlib.metadata``."""
    if name == "Library":
        from .library import Library

        globals()["Library"] = Library
        return Library
    if name == "__version__":
        from importlib import metadata

        try:
            version = metadata.version("printmanager")
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
            version = "0.0.0"
        globals()["__version__"] = version
        return version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
