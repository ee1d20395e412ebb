"""A glTF 2.0 document: its JSON, its buffers, its accessors, read with bounds.

:func:`load` reads a ``.glb`` (its JSON and binary chunks) or a ``.gltf`` (JSON,
external buffers beside it, ``data:`` URIs); :class:`Document` gives the
JSON's arrays and each accessor as a numpy array. Every accessor is checked
against its buffer view and buffer before anything is read (a count that does
not fit the bytes is refused at once); sparse accessors are refused. A
``.gltf``'s external buffers (``"uri": "mesh.bin"``) are read only from the
file's own folder (no ``..``, no absolute paths, no links out of it). A
``.glb`` without the glTF magic, or a ``.gltf`` that is not a JSON object, is
declined (:class:`~.base.NotThisFormat`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
import struct
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from .base import Limits, NotThisFormat, ReadError, Source
from .mesh import read_all

__all__ = ["Document", "load"]

GLB_MAGIC = 0x46546C67
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
#: component type -> numpy dtype (little-endian)
COMPONENTS = {5120: "<i1", 5121: "<u1", 5122: "<i2", 5123: "<u2", 5125: "<u4", 5126: "<f4"}
WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}


class Document:
    """A parsed glTF: its JSON and the bytes of its buffers (loaded on first use)."""

    def __init__(self, doc: dict[str, Any], binary: bytes | None, folder: Path | None, limits: Limits,
                 name: str) -> None:
        self.doc = doc
        self.binary = binary
        self.folder = folder
        self.limits = limits
        self.name = name
        self.buffers: dict[int, bytes] = {}
        self.problems: list[str] = []

    def items(self, key: str) -> list[Any]:
        """The top-level array ``key`` (empty if absent)."""
        value = self.doc.get(key, [])
        if not isinstance(value, list):
            raise ReadError(f"glTF '{key}' is not a list")
        return value

    def item(self, key: str, index: Any, where: str) -> dict[str, Any]:
        """Element ``index`` of array ``key``, which must exist and be an object (``where`` names the referrer)."""
        items = self.items(key)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(items):
            raise ReadError(f"glTF {where} names {key} {index!r}, which does not exist")
        value = items[index]
        if not isinstance(value, dict):
            raise ReadError(f"glTF {key} {index} is not an object")
        return value

    def buffer(self, index: int) -> bytes:
        """The bytes of buffer ``index`` (read once)."""
        if index in self.buffers:
            return self.buffers[index]
        info = self.item("buffers", index, "a buffer view")
        length = _int(info.get("byteLength"), f"buffer {index} byteLength")
        uri = info.get("uri")
        if uri is None:
            if self.binary is None:
                raise ReadError(f"glTF buffer {index} has no uri and the file has no binary chunk")
            data = self.binary
        elif not isinstance(uri, str):
            raise ReadError(f"glTF buffer {index} uri is not a string")
        elif uri.startswith("data:"):
            data = _data_uri(uri, index, self.limits)
        else:
            data = self._external(uri, index, length)
        if len(data) < length:
            raise ReadError(f"glTF buffer {index} declares {length} bytes but has {len(data)}")
        self.buffers[index] = data
        return data

    def _external(self, uri: str, index: int, length: int) -> bytes:
        if self.folder is None:
            raise ReadError(f"glTF buffer {index} is an external file ({uri[:80]!r}), which is not available here")
        name = unquote(uri)
        if "\0" in name or os.path.isabs(name) or name.replace("\\", "/").startswith("/") or ":" in name:
            raise ReadError(f"glTF buffer {index} names {uri[:80]!r}: only files beside the .gltf are read")
        folder = os.path.realpath(self.folder)
        target = os.path.realpath(os.path.join(folder, name))
        if os.path.dirname(target) != folder:
            raise ReadError(f"glTF buffer {index} names {uri[:80]!r}, outside the folder of the .gltf")
        try:
            with open(target, "rb", opener=_nonblocking) as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise ReadError(f"glTF buffer {index} ({uri[:80]!r}) is not a regular file")
                if st.st_size > self.limits.max_read_bytes:
                    raise ReadError(f"glTF buffer {index} is {st.st_size} bytes, more than the "
                                    f"{self.limits.max_read_bytes}-byte limit")
                return fh.read(max(length, 0) + 1)[:length]
        except OSError as exc:
            raise ReadError(f"glTF buffer {index} ({uri[:80]!r}) cannot be read: {exc.strerror or exc}") from None

    def accessor(self, index: Any, where: str, kinds: tuple[str, ...]) -> np.ndarray:
        """The accessor's elements as an ``(count, width)`` array, bounds-checked before reading."""
        acc = self.item("accessors", index, where)
        if "sparse" in acc:
            raise ReadError(f"glTF accessor {index} is sparse, which is not supported")
        kind = acc.get("type")
        if kind not in kinds:
            raise ReadError(f"glTF accessor {index} is {kind!r}, not {' or '.join(kinds)}")
        ctype = acc.get("componentType")
        if ctype not in COMPONENTS:
            raise ReadError(f"glTF accessor {index} has unknown componentType {ctype!r}")
        dtype = np.dtype(COMPONENTS[ctype])
        width = WIDTHS[kind]
        count = _int(acc.get("count"), f"accessor {index} count")
        element = dtype.itemsize * width
        if "bufferView" not in acc:
            if count > self.limits.max_triangles * 3:
                raise ReadError(f"glTF accessor {index} declares {count} elements and no data")
            return np.zeros((count, width), dtype=dtype)
        view = self.item("bufferViews", acc["bufferView"], f"accessor {index}")
        buffer = self.buffer(_int(view.get("buffer"), f"bufferView {acc['bufferView']} buffer"))
        view_offset = _int(view.get("byteOffset", 0), "bufferView byteOffset")
        view_length = _int(view.get("byteLength"), "bufferView byteLength")
        stride = _int(view.get("byteStride", 0), "bufferView byteStride") or element
        offset = _int(acc.get("byteOffset", 0), f"accessor {index} byteOffset")
        if view_offset + view_length > len(buffer):
            raise ReadError(f"glTF bufferView {acc['bufferView']} runs past the end of its buffer")
        if stride < element:
            raise ReadError(f"glTF bufferView {acc['bufferView']} byteStride {stride} is less than its "
                            f"{element}-byte elements")
        need = 0 if count == 0 else offset + stride * (count - 1) + element
        if need > view_length:
            raise ReadError(
                f"glTF accessor {index} declares {count} elements ({need} bytes) but its buffer view has "
                f"{view_length} bytes"
            )
        if count == 0:
            return np.zeros((0, width), dtype=dtype)
        start = view_offset + offset
        if stride == element:
            return np.frombuffer(buffer, dtype=dtype, count=count * width, offset=start).reshape(count, width)
        rows = np.frombuffer(buffer, dtype=np.uint8, count=need - offset, offset=start)
        table = np.lib.stride_tricks.as_strided(rows, shape=(count, element), strides=(stride, 1))
        return np.ascontiguousarray(table).view(dtype).reshape(count, width)


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReadError(f"glTF {where} is not a whole number >= 0: {str(value)[:40]!r}")
    return value


def _data_uri(uri: str, index: int, limits: Limits) -> bytes:
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise ReadError(f"glTF buffer {index} is a data URI that is not base64")
    if len(payload) * 3 // 4 > limits.max_read_bytes:
        raise ReadError(f"glTF buffer {index} data URI is larger than the {limits.max_read_bytes}-byte limit")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ReadError(f"glTF buffer {index} data URI is not valid base64") from None


def _parse_glb(data: bytes) -> tuple[bytes, bytes | None]:
    """The JSON and binary chunks of a GLB."""
    if len(data) < 12 or struct.unpack_from("<I", data, 0)[0] != GLB_MAGIC:
        raise NotThisFormat("not a binary glTF (GLB) file: no 'glTF' magic")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise ReadError(f"GLB version {version} is not supported (only glTF 2.0)")
    if length > len(data):
        raise ReadError(f"truncated GLB: the header declares {length} bytes, the file has {len(data)}")
    pos = 12
    json_chunk: bytes | None = None
    binary: bytes | None = None
    while pos + 8 <= length:
        size, kind = struct.unpack_from("<II", data, pos)
        end = pos + 8 + size
        if end > length:
            raise ReadError(f"truncated GLB: a chunk declares {size} bytes past the end of the file")
        if kind == CHUNK_JSON and json_chunk is None:
            json_chunk = data[pos + 8 : end]
        elif kind == CHUNK_BIN and binary is None:
            binary = data[pos + 8 : end]
        pos = end + (-end % 4)
    if json_chunk is None:
        raise ReadError("GLB has no JSON chunk")
    return json_chunk, binary


def load(source: Source) -> Document:
    """The glTF document of ``source`` (``.glb`` by its name, else JSON)."""
    data = read_all(source)
    if not data.strip():
        raise ReadError("empty file")
    binary = None
    if source.name.lower().endswith(".glb"):
        text, binary = _parse_glb(data)
    else:
        text = data
        if not text.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
            raise NotThisFormat("not a glTF file: it is not a JSON object")
    try:
        doc = json.loads(text)
    except RecursionError:
        raise ReadError("glTF JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReadError(f"glTF JSON is malformed: {str(exc).splitlines()[0][:120]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("asset"), dict):
        if source.name.lower().endswith(".gltf"):
            raise NotThisFormat("not a glTF file: the JSON has no 'asset'")
        raise ReadError("GLB JSON has no 'asset'")
    version = str(doc["asset"].get("version", ""))
    if not version.startswith("2"):
        raise ReadError(f"glTF version {version[:20]!r} is not supported (only 2.0)")
    folder = source.path.parent if source.path is not None else None
    return Document(doc, binary, folder, source.limits, source.name)
