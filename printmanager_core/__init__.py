"""printmanager: a local-first, plugin-based organiser for 3D-printing files."""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("printmanager")
except _metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

from .errors import NotFound, PrintManagerError, UsageError
from .hookspecs import hookimpl
from .library import Library
from .records import FileRecord, ModelRecord, ScanReport

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
