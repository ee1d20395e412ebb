"""Export everything the library holds about the user as one zip (PROMISE 6).

The zip holds documented JSON files and a ``manifest.json`` listing every file
with its description, size, SHA-256 and the plugin that added it. The core's
own data (settings, consent ledger, catalogue, analytics, crash reports, share
records) is added by the core privacy plugin; other plugins add theirs through
the ``export_user_data(library, export)`` hook, using :class:`Export`'s methods.
With ``include_cloud`` the sync plugin also adds the user's files from the
container (under ``cloud/``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import attrs

from ..errors import PrintManagerError, UsageError
from ..settings import POLICY_VERSION, now_iso

FORMAT = "printmanager-export"
SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


@attrs.frozen
class ManifestEntry:
    """One file of an export."""

    name: str
    description: str
    size: int
    sha256: str
    plugin: str
    schema_version: int | None = None


class Export:
    """An export being written; what ``export_user_data`` hooks receive.

    :ivar include_cloud: the user asked for their files from the cloud too.
    """

    def __init__(self, zf: zipfile.ZipFile, *, include_cloud: bool = False):
        self._zf = zf
        self.include_cloud = include_cloud
        self.entries: list[ManifestEntry] = []
        self._plugin = "printmanager"

    def add_json(self, name: str, data: Any, description: str) -> None:
        """Add ``data`` as the JSON file ``name`` (``.json`` is appended if missing)."""
        if not name.endswith(".json"):
            name += ".json"
        payload = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode("utf-8")
        self._add(name, payload, description, schema_version=SCHEMA_VERSION)

    def add_bytes(self, arcname: str, data: bytes, description: str = "") -> None:
        """Add raw bytes as the file ``arcname``."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise UsageError(f"{arcname}: add_bytes takes bytes")
        self._add(arcname, bytes(data), description)

    def add_file(self, arcname: str, path: str | os.PathLike[str], description: str = "") -> None:
        """Add the file at ``path`` as ``arcname`` (streamed, not read into memory)."""
        name = self._check_name(arcname)
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as src, self._zf.open(name, "w", force_zip64=True) as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
                dst.write(chunk)
        self.entries.append(ManifestEntry(name, description, size, digest.hexdigest(), self._plugin))

    def names(self) -> list[str]:
        """Names of the files added so far."""
        return [e.name for e in self.entries]

    def _add(self, arcname: str, data: bytes, description: str, schema_version: int | None = None) -> None:
        name = self._check_name(arcname)
        self._zf.writestr(name, data)
        self.entries.append(
            ManifestEntry(name, description, len(data), hashlib.sha256(data).hexdigest(), self._plugin, schema_version)
        )

    def _check_name(self, arcname: str) -> str:
        name = str(arcname).replace("\\", "/")
        parts = PurePosixPath(name).parts
        if not name or name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            raise UsageError(f"{arcname!r} is not a relative name inside the export")
        if name == MANIFEST or name in self.names():
            raise UsageError(f"{name} is already in the export")
        return name


@attrs.frozen
class ExportResult:
    """The written export: where, and its manifest."""

    path: Path
    manifest: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """``{"path", "files": [...]}``."""
        return {"path": str(self.path), "files": self.manifest["files"]}


def _ordered_impls(hook_name: str) -> list[Any]:
    from ..plugins import get_plugin_manager

    caller = getattr(get_plugin_manager().hook, hook_name)
    # pluggy calls the last of get_hookimpls() first
    return [i for i in reversed(caller.get_hookimpls()) if not (i.hookwrapper or getattr(i, "wrapper", False))]


def export_library(library: Any, path: str | os.PathLike[str], *, include_cloud: bool = False) -> ExportResult:
    """Write everything ``library`` (and its plugins) hold about the user to the zip ``path``.

    The zip is written next to ``path`` and moved into place when complete, with
    owner-only permissions. It may not be inside the library folder (so that
    deleting the library leaves nothing behind).

    :raises UsageError: for a destination inside the library folder or not a ``.zip``.
    :raises PrintManagerError: when a plugin fails to add its data (nothing is written).
    """
    dest = Path(path).expanduser().resolve()
    if dest.suffix.lower() != ".zip":
        raise UsageError(f"{path}: the export is a .zip file")
    if dest == library.directory or library.directory in dest.parents:
        raise UsageError(f"{path}: write the export outside the library folder")
    if not dest.parent.is_dir():
        raise UsageError(f"{dest.parent}: no such folder")
    fd, tmp_name = tempfile.mkstemp(prefix=".export-", suffix=".zip.part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            export = Export(zf, include_cloud=include_cloud)
            for impl in _ordered_impls("export_user_data"):
                export._plugin = impl.plugin_name
                try:
                    impl.function(library=library, export=export)
                except PrintManagerError as exc:
                    raise PrintManagerError(f"export: {impl.plugin_name}: {exc}") from exc
                except OSError as exc:
                    raise PrintManagerError(f"export: {impl.plugin_name}: {exc.strerror or exc}") from exc
                except Exception as exc:  # a plugin's bug: name it, write nothing (an export must be whole)
                    raise PrintManagerError(
                        f"export: plugin {impl.plugin_name!r} failed ({type(exc).__name__}: {exc}); nothing was "
                        f"written. To export without it: PRINTMANAGER_BLOCK_PLUGINS={impl.plugin_name}"
                    ) from exc
            from .. import __version__

            manifest = {
                "format": FORMAT,
                "schema_version": SCHEMA_VERSION,
                "created_at": now_iso(),
                "app_version": __version__,
                "policy_version": POLICY_VERSION,
                "include_cloud": include_cloud,
                "files": [attrs.asdict(e) for e in export.entries],
            }
            zf.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False))
        os.chmod(tmp, 0o600)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ExportResult(dest, manifest)
