"""Reader for Prusa binary G-code (``.bgcode``).

Layout (prusa3d/libbgcode ``doc/specifications.md``): a 10-byte file header
(magic ``GCDE``, version 1, checksum type 0 = none / 1 = CRC32), then blocks:
file metadata (optional), printer metadata, thumbnails, print metadata, slicer
metadata, G-code. Every block is a header (type, compression, uncompressed size,
and the compressed size when compressed), type-specific parameters, the data, and
a CRC32 over header + parameters + data when the file has checksums.

The reader walks every block. Metadata and thumbnail blocks are read, their
CRC32 checked and their data inflated (Deflate); G-code blocks are not decoded
(Heatshrink/MeatPack), only their CRC32 is checked, streamed in chunks so memory
stays bounded. Any size that runs past the end of the file, a checksum mismatch
or an unknown block type is a :class:`ReadError` naming the block.

The reader declares the ``GCDE`` magic, so the reader table also gives it a
binary G-code file saved under a text G-code name.
"""

from __future__ import annotations

import struct
import zlib
from typing import IO, Any

import attrs

from ..hookspecs import hookimpl
from .base import EmbeddedImage, ReadError, ReadResult, Source
from .gcode_scan import MAX_THUMBNAILS, add_problem, skip_forward
from .images import image_problem
from .slicer_vocab import MAX_KEYS, setting, slicer_facts

MAGIC = b"GCDE"
SUPPORTED_VERSION = 1

FILE_METADATA, GCODE, SLICER_METADATA, PRINTER_METADATA, PRINT_METADATA, THUMBNAIL = range(6)
BLOCK_NAMES = {
    FILE_METADATA: "file metadata",
    GCODE: "G-code",
    SLICER_METADATA: "slicer metadata",
    PRINTER_METADATA: "printer metadata",
    PRINT_METADATA: "print metadata",
    THUMBNAIL: "thumbnail",
}
COMPRESSION_NAMES = {0: "none", 1: "Deflate", 2: "Heatshrink 11,4", 3: "Heatshrink 12,4"}
THUMBNAIL_FORMATS = {0: "png", 1: "jpg", 2: "qoi"}
CHECKSUM_NONE, CHECKSUM_CRC32 = 0, 1

#: a metadata block larger than this (uncompressed) is refused
MAX_METADATA_BYTES = 16 * 1024 * 1024
#: a thumbnail larger than this (uncompressed) is skipped with a problem noted
MAX_THUMBNAIL_BYTES = 16 * 1024 * 1024
#: G-code blocks are checksummed in chunks of this size
CHUNK_BYTES = 1024 * 1024


@attrs.define
class BgcodeScan:
    """What the blocks of a binary G-code file hold (filled by :func:`scan_bgcode`)."""

    version: int = 0
    checksum: str = "none"
    kv: dict[str, str] = attrs.field(factory=dict)
    images: list[EmbeddedImage] = attrs.field(factory=list)
    thumbnails: int = 0
    gcode_blocks: int = 0
    over_limit: bool = False
    problems: list[str] = attrs.field(factory=list)


def _read_exact(fh: IO[bytes], count: int, what: str) -> bytes:
    data = fh.read(count)
    if len(data) != count:
        raise ReadError(f"file is truncated in {what}")
    return data


def _inflate(data: bytes, expected: int, what: str) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, expected + 1)
    except zlib.error as exc:
        raise ReadError(f"{what}: Deflate data is corrupt ({exc})") from None
    if len(out) != expected or not inflater.eof:
        raise ReadError(f"{what}: Deflate data does not inflate to its declared {expected} bytes")
    return out


def parse_ini(data: bytes) -> dict[str, str]:
    """``key=value`` lines of a metadata block, keys lower-cased (see :func:`.slicer_vocab.setting`)."""
    kv: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        pair = setting(line)
        if pair is not None and (len(kv) < MAX_KEYS or pair[0] in kv):
            kv[pair[0]] = pair[1]
    return kv


def scan_bgcode(fh: IO[bytes], size: int, *, want_images: bool = False, verify_gcode: bool = True) -> BgcodeScan:
    """Walk every block of a binary G-code stream.

    :param size: the stream's size in bytes; no block may claim more.
    :param want_images: keep the thumbnails' bytes in ``scan.images``.
    :param verify_gcode: also check the CRC32 of G-code blocks (streams through
        the whole file); metadata and thumbnail blocks are always checked.
    :raises ReadError: not binary G-code, truncated, a checksum mismatch, a bad block.
    """
    scan = BgcodeScan()
    header = fh.read(10)
    if len(header) < 4 or header[:4] != MAGIC:
        raise ReadError("not a binary G-code file (no GCDE signature)")
    if len(header) < 10:
        raise ReadError("file is truncated in the file header")
    scan.version, checksum_type = struct.unpack_from("<IH", header, 4)
    if scan.version != SUPPORTED_VERSION:
        raise ReadError(f"binary G-code version {scan.version} is not supported (only {SUPPORTED_VERSION})")
    if checksum_type not in (CHECKSUM_NONE, CHECKSUM_CRC32):
        raise ReadError(f"unknown checksum type {checksum_type} in the file header")
    scan.checksum = "crc32" if checksum_type == CHECKSUM_CRC32 else "none"
    checksum_size = 4 if checksum_type == CHECKSUM_CRC32 else 0

    offset = 10
    index = 0
    thumb_count = 0
    while offset < size:
        index += 1
        where = f"block {index} at byte {offset}"
        if size - offset < 8:
            raise ReadError(f"file is truncated in the header of {where}")
        head = _read_exact(fh, 8, f"the header of {where}")
        block_type, compression, uncompressed = struct.unpack("<HHI", head)
        if block_type not in BLOCK_NAMES:
            raise ReadError(f"{where} has unknown type {block_type}")
        if compression not in COMPRESSION_NAMES:
            raise ReadError(f"{where} ({BLOCK_NAMES[block_type]}) has unknown compression {compression}")
        what = f"{BLOCK_NAMES[block_type]} {where}"
        if compression:
            extra = _read_exact(fh, 4, f"the header of {what}")
            head += extra
            (stored,) = struct.unpack("<I", extra)
        else:
            stored = uncompressed
        params_size = 6 if block_type == THUMBNAIL else 2
        total = len(head) + params_size + stored + checksum_size
        if offset + total > size:
            raise ReadError(
                f"{what} claims {total} bytes but only {size - offset} remain: file is truncated or corrupt"
            )
        params = _read_exact(fh, params_size, f"the parameters of {what}")
        crc = zlib.crc32(params, zlib.crc32(head))

        keep = block_type != GCODE
        if block_type in (FILE_METADATA, PRINTER_METADATA, PRINT_METADATA, SLICER_METADATA):
            if uncompressed > MAX_METADATA_BYTES or stored > MAX_METADATA_BYTES:
                raise ReadError(f"{what} is {max(uncompressed, stored)} bytes, more than the "
                                f"{MAX_METADATA_BYTES}-byte limit for metadata")
        elif block_type == THUMBNAIL and (uncompressed > MAX_THUMBNAIL_BYTES or stored > MAX_THUMBNAIL_BYTES):
            keep = False
            add_problem(scan.problems, f"{what} is larger than {MAX_THUMBNAIL_BYTES} bytes; skipped")

        data = b""
        if keep:
            data = _read_exact(fh, stored, f"the data of {what}")
            crc = zlib.crc32(data, crc)
        elif checksum_size and (verify_gcode or block_type != GCODE):
            left = stored
            while left:
                chunk = _read_exact(fh, min(left, CHUNK_BYTES), f"the data of {what}")
                crc = zlib.crc32(chunk, crc)
                left -= len(chunk)
        else:
            skip_forward(fh, stored)
        if checksum_size:
            (expected,) = struct.unpack("<I", _read_exact(fh, 4, f"the checksum of {what}"))
            verified = keep or verify_gcode or block_type != GCODE
            if verified and crc != expected:
                raise ReadError(f"checksum mismatch in {what}: the file is corrupt")
        offset += total

        if block_type == GCODE:
            scan.gcode_blocks += 1
            continue
        if block_type == THUMBNAIL:
            thumb_count += 1
            if keep:
                _take_thumbnail(scan, thumb_count, params, compression, uncompressed, data, want_images)
            continue
        if not keep:
            continue
        (encoding,) = struct.unpack("<H", params)
        if encoding != 0:
            add_problem(scan.problems, f"{what} has unknown encoding {encoding}; not read")
            continue
        if compression == 1:
            data = _inflate(data, uncompressed, what)
        elif compression != 0:
            add_problem(scan.problems, f"{what} uses {COMPRESSION_NAMES[compression]} compression; not read")
            continue
        # later blocks do not override earlier ones: the printer and print metadata
        # carry the summary, the slicer metadata the whole configuration
        for key, value in parse_ini(data).items():
            if len(scan.kv) < MAX_KEYS:
                scan.kv.setdefault(key, value)
    return scan


def _take_thumbnail(scan: BgcodeScan, number: int, params: bytes, compression: int, uncompressed: int,
                    data: bytes, want_images: bool) -> None:
    fmt_code, width, height = struct.unpack("<HHH", params)
    fmt = THUMBNAIL_FORMATS.get(fmt_code)
    label = f"thumbnail {number} ({width}x{height})"
    if fmt is None:
        add_problem(scan.problems, f"{label} has unknown image format {fmt_code}; skipped")
        return
    label = f"thumbnail {number} ({width}x{height} {fmt.upper()})"
    if compression == 1:
        try:
            data = _inflate(data, uncompressed, label)
        except ReadError as exc:
            add_problem(scan.problems, f"{exc}; skipped")
            return
    elif compression != 0:
        add_problem(scan.problems, f"{label} uses {COMPRESSION_NAMES[compression]} compression; skipped")
        return
    problem = image_problem(data, fmt)
    if problem:
        add_problem(scan.problems, f"{label}: {problem}; skipped")
        return
    if scan.thumbnails >= MAX_THUMBNAILS:
        if not scan.over_limit:
            scan.over_limit = True
            add_problem(scan.problems, f"more than {MAX_THUMBNAILS} thumbnails; the rest are ignored")
        return
    scan.thumbnails += 1
    if want_images:
        scan.images.append(EmbeddedImage(width=width, height=height, format=fmt, data=data,
                                         name=f"thumbnail-{width}x{height}.{fmt}"))


class BgcodeReader:
    """Prusa binary G-code (PrusaSlicer 2.6+)."""

    name = "bgcode"
    title = "binary G-code (bgcode)"
    extensions = (".bgcode",)
    #: what the file starts with: a ``.gcode`` that starts so is read here too
    magic = (MAGIC,)
    #: check the CRC32 of G-code blocks too (reads the whole file, in chunks)
    verify_gcode = True

    def read(self, source: Source) -> ReadResult:
        """Slicer facts and thumbnail count of a binary G-code file; checks every block's CRC32."""
        if source.size == 0:
            raise ReadError("file is empty")
        with source.open() as fh:
            scan = scan_bgcode(fh, source.size, verify_gcode=self.verify_gcode)
        info, meta = slicer_facts(scan.kv)
        meta.update(bgcode_version=scan.version, checksum=scan.checksum, gcode_blocks=scan.gcode_blocks)
        return ReadResult(format=self.name, thumbnails=scan.thumbnails, slicer=info,
                          problems=scan.problems, meta=meta)

    def embedded_images(self, source: Source) -> list[EmbeddedImage]:
        """The thumbnail blocks' images (valid ones only)."""
        if source.size == 0:
            return []
        with source.open() as fh:
            return scan_bgcode(fh, source.size, want_images=True, verify_gcode=False).images


@hookimpl
def register_readers(register: Any) -> None:
    """The binary G-code reader."""
    register(BgcodeReader())


__all__ = ["BgcodeReader", "BgcodeScan", "parse_ini", "scan_bgcode"]
