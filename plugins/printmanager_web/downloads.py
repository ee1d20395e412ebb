"""File downloads (range requests for files on disk) and a model's files as a streamed zip."""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING, Iterator
from urllib.parse import quote

from starlette.responses import FileResponse, Response, StreamingResponse

from .security import served_path

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library
    from printmanager_core.records import FileRecord, ModelRecord

CHUNK = 1024 * 1024


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(library: "Library", file: "FileRecord") -> Response:
    """The file's bytes as an attachment; a file on disk answers ``Range`` requests.

    :raises OutsideRoots: the file's real path is outside the library's roots.
    """
    real = served_path(library, file)
    headers = {"content-disposition": _disposition(file.name), "cache-control": "private, no-cache"}
    if file.archive_path:  # a member of a zip: read (bounded) through the library
        with library.open_file(file) as fh:
            data = fh.read()
        return Response(data, media_type="application/octet-stream", headers=headers)
    return FileResponse(real, media_type="application/octet-stream", headers=headers)


class _Sink:
    """A write-only stream that hands what was written to the generator reading it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.offset = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self.offset

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def zip_stream(library: "Library", files: list["FileRecord"]) -> Iterator[bytes]:
    """Yield a zip of ``files`` as it is written, a chunk at a time (never whole in memory).

    A file outside the roots, or one that cannot be read any more, is left out.
    """
    sink = _Sink()
    used: set[str] = set()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:  # type: ignore[arg-type]
        for file in files:
            try:
                served_path(library, file)
                source = library.open_file(file)
            except Exception:  # noqa: BLE001 - outside the roots, gone, or unreadable: skipped
                continue
            arcname = _unique(file.name, used)
            with source, zf.open(arcname, "w", force_zip64=True) as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    if sink.offset and sink.parts:
                        yield sink.take()
            yield sink.take()
    yield sink.take()


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 1
    while candidate in used:
        n += 1
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem} ({n}).{ext}" if dot else f"{name} ({n})"
    used.add(candidate)
    return candidate


def model_zip_response(library: "Library", model: "ModelRecord") -> StreamingResponse:
    """The model's present files as one zip, streamed."""
    files = library.model_files(model.id)
    return StreamingResponse(
        zip_stream(library, files),
        media_type="application/zip",
        headers={"content-disposition": _disposition(f"{model.name}.zip"), "cache-control": "private, no-cache"},
    )
