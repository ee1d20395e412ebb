"""Readers for sliced G-code: text G-code (``.gcode``) and Bambu/Orca ``.gcode.3mf``.

What a slicer writes, and where:

* PrusaSlicer, SuperSlicer, OrcaSlicer, Bambu Studio: ``; key = value`` comment
  lines. PrusaSlicer and Orca put a summary and the whole config at the END of the
  file, thumbnails and a short header at the START; Bambu Studio puts a header
  block, the thumbnails and the config at the start.
* Cura: ``;KEY:value`` lines at the start (``;TIME:``, ``;Filament used:``,
  ``;Layer height:``, ``;MINX:``...). Headless CuraEngine leaves placeholders
  there (``;TIME:6666``, ``;Filament used: 0m``, ``;MINX:2.14748e+06``): those are
  read as unknown, and the print time is taken from the last ``;TIME_ELAPSED:``.

A G-code file can be hundreds of megabytes, nearly all of it moves. The reader
never reads it whole: it reads the first :data:`HEAD_BYTES` (longer while still
inside the leading comment block, e.g. large thumbnails, up to
:data:`HEAD_MAX_BYTES`) and the last :data:`TAIL_BYTES`, and looks only at
comment lines there. Thumbnails (``; thumbnail begin WxH LEN`` ... ``; thumbnail
end``, also ``thumbnail_JPG`` / ``thumbnail_QOI``) are counted when they lie in
what was read, which is where every slicer puts them.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import struct
import zipfile
import zlib
from typing import IO, Any, Iterable, Mapping

import attrs
import defusedxml
from defusedxml import ElementTree

from ..hookspecs import hookimpl
from . import ziputil
from .base import EmbeddedImage, Limits, ReadError, ReadResult, SlicerInfo, Source

#: at least this much of the start of a file is read
HEAD_BYTES = 512 * 1024
#: the start is read further while still in its leading comments, up to this much
HEAD_MAX_BYTES = 16 * 1024 * 1024
#: this much of the end of a file is read
TAIL_BYTES = 512 * 1024
#: a thumbnail's base64 text longer than this is skipped (a problem is noted)
THUMBNAIL_MAX_CHARS = 16 * 1024 * 1024
#: a line longer than this is not a comment we care about
MAX_LINE_BYTES = 1024 * 1024
#: read in chunks of this size
CHUNK_BYTES = 64 * 1024
#: at most this many thumbnails are taken from one file
MAX_THUMBNAILS = 64
#: at most this many distinct comment keys are kept (a slicer config has ~600)
MAX_KEYS = 10_000
#: at most this many problems are listed for one file
MAX_PROBLEMS = 20

#: Cura's placeholders in a header CuraEngine did not fill in
CURA_PLACEHOLDER_TIME = "6666"
CURA_PLACEHOLDER_BOUND = 2_000_000.0  # INT_MAX micrometres, printed as 2.14748e+06

_MAGIC = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "qoi": (b"qoif",),
}

_THUMB_BEGIN = re.compile(
    r"^thumbnail(?:_(png|jpg|jpeg|qoi))?\s+begin\s+(\d{1,5})\s*x\s*(\d{1,5})\s+(\d{1,12})\s*$", re.I
)
_THUMB_END = re.compile(r"^thumbnail(?:_[a-z]+)?\s+end\s*$", re.I)
_GENERATED_BY = re.compile(
    r"^(?:g-code\s+)?generated\s+(?:by|with)\s+(.+?)(?:\s+on\s+\d{4}-\d\d-\d\d\b.*)?$", re.I
)
_SLICER_LINE = re.compile(
    r"^((?:BambuStudio|Bambu Studio|OrcaSlicer|SuperSlicer|PrusaSlicer|Slic3r\S*|ideaMaker|"
    r"Sliced by ideaMaker)\s+v?\d[\w.+\-]*)$",
    re.I,
)
_DURATION_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(d|days?|h|hours?|hrs?|m|mins?|minutes?|s|secs?|seconds?)\b", re.I
)
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


# --------------------------------------------------------------------------
# small parsers
# --------------------------------------------------------------------------


def parse_duration(text: str | None) -> float | None:
    """Seconds in a slicer's duration text, or None if it is not one.

    Understands ``"1d 2h 3m 4s"``, ``"32m 6s"``, ``"0 hours 42 minutes"`` and a
    plain number of seconds (Cura's ``;TIME:1234``).
    """
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    number = parse_number(text)
    if number is not None:
        return number
    total = 0.0
    pos = 0
    matched = False
    for m in _DURATION_PART.finditer(text):
        if text[pos : m.start()].strip(" ,"):
            return None  # something in between that is not a duration part
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)[0].lower()]
        pos = m.end()
        matched = True
    if not matched or text[pos:].strip(" ,"):
        return None
    return total


def parse_number(text: str | None) -> float | None:
    """A finite, non-negative number, or None."""
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def parse_number_sum(text: str | None, unit: str = "") -> float | None:
    """The sum of a comma-separated list of numbers (one per extruder), or None.

    :param unit: a unit suffix each item may carry, e.g. ``"m"`` for ``"1.2m, 0.3m"``.
    """
    if text is None:
        return None
    total = 0.0
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        return None
    for part in parts:
        if unit and part.lower().endswith(unit):
            part = part[: -len(unit)]
        value = parse_number(part)
        if value is None:
            return None
        total += value
    return total


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def comment_pairs(text: str) -> list[tuple[str, str]]:
    """Key/value pairs in one comment's text (without the leading ``;``).

    ``key = value`` (PrusaSlicer family), ``KEY:value`` (Cura, Orca's header; Orca
    puts two on a line separated by ``; ``) and ``key,value`` (Simplify3D).
    """
    eq = text.find("=")
    colon = text.find(":")
    if eq > 0 and (colon < 0 or eq < colon):
        return [(text[:eq].strip().lower(), _unquote(text[eq + 1 :]))]
    if colon > 0:
        pairs = []
        for part in text.split("; "):
            key, sep, value = part.partition(":")
            if sep and key.strip():
                pairs.append((key.strip().lower(), _unquote(value)))
        return pairs
    comma = text.find(",")
    if comma > 0 and " " not in text[:comma]:
        return [(text[:comma].strip().lower(), text[comma + 1 :].strip())]
    return []


def slicer_name(text: str) -> str | None:
    """The slicer and version in a comment like ``generated by PrusaSlicer 2.6.0 on ...``."""
    m = _GENERATED_BY.match(text)
    if m:
        name = m.group(1).strip()
        name = re.sub(r"\(R\)\s*Version\s+", " ", name)  # Simplify3D(R) Version 4.1.2
        return name or None
    m = _SLICER_LINE.match(text)
    if m:
        name = m.group(1)
        return name[len("sliced by ") :] if name.lower().startswith("sliced by ") else name
    return None


def image_problem(data: bytes, fmt: str) -> str | None:
    """Why ``data`` is not an image of format ``fmt`` (by its signature), or None."""
    signatures = _MAGIC.get(fmt)
    if signatures is None:
        return f"unknown image format {fmt!r}"
    if not any(data.startswith(sig) for sig in signatures):
        return f"data is not a {fmt.upper()} image"
    return None


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, or None if it is not a PNG."""
    if len(data) < 24 or not data.startswith(_MAGIC["png"][0]) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def add_problem(problems: list[str], text: str) -> None:
    """Note a problem, listing at most :data:`MAX_PROBLEMS` of them."""
    if len(problems) < MAX_PROBLEMS:
        problems.append(text)
    elif len(problems) == MAX_PROBLEMS:
        problems.append("more problems not listed")


# --------------------------------------------------------------------------
# the facts a slicer wrote
# --------------------------------------------------------------------------


def _first(kv: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = kv.get(key)
        if value is not None and value.strip() != "":
            return value.strip()
    return None


def slicer_facts(kv: Mapping[str, str], generator: str | None = None) -> tuple[SlicerInfo | None, dict[str, Any]]:
    """Turn a slicer's key/value comments into :class:`SlicerInfo` plus extra ``meta``.

    :param kv: lower-cased keys to values, as :func:`comment_pairs` (or a binary
        G-code metadata block) gives them.
    :param generator: the slicer's name and version when the file named it.
    """
    meta: dict[str, Any] = {}

    # which slicer
    slicer = generator or _first(kv, "producer")
    if slicer is None and _first(kv, "generator.name"):
        slicer = " ".join(v for v in (_first(kv, "generator.name"), _first(kv, "generator.version")) if v)

    printer = _first(kv, "printer_model", "target_machine.name", "machine_name", "printer_settings_id")

    layer = parse_number(_first(kv, "layer_height", "layer height", "layerheight"))
    if layer is not None and layer <= 0:
        layer = None

    # print time: the slicer's estimate; Cura's 6666 is a placeholder
    time_s = None
    for key in ("estimated printing time (normal mode)", "total estimated time", "print.time",
                "estimated printing time (silent mode)", "build time", "print time"):
        time_s = parse_duration(_first(kv, key))
        if time_s is not None:
            break
    if time_s is None:
        cura_time = _first(kv, "time")
        if cura_time is not None and cura_time != CURA_PLACEHOLDER_TIME:
            time_s = parse_duration(cura_time)
        elif cura_time == CURA_PLACEHOLDER_TIME:
            meta["placeholder_header"] = True
    if time_s is None and _first(kv, "time_elapsed") is not None:
        # CuraEngine's running estimate at the end of the last layer
        time_s = parse_duration(_first(kv, "time_elapsed"))
        if time_s is not None:
            meta["print_time_from"] = "TIME_ELAPSED"

    grams = parse_number_sum(_first(kv, "total filament used [g]", "total filament weight [g]"))
    if grams is None:
        grams = parse_number_sum(_first(kv, "filament used [g]"))
    if grams is None:
        plastic = _first(kv, "plastic weight")  # Simplify3D: "10.06 g (0.02 lb)"
        if plastic:
            grams = parse_number(plastic.split("g")[0])

    length = parse_number_sum(_first(kv, "filament used [mm]", "total filament length [mm]"))
    if length is None:
        cura_used = _first(kv, "filament used")  # Cura: "1.23456m" or "0m" (placeholder)
        if cura_used is not None:
            metres = parse_number_sum(cura_used, unit="m")
            if metres:
                length = round(metres * 1000.0, 6)
            elif metres == 0:
                meta["placeholder_header"] = True
    if length is None:
        s3d = _first(kv, "filament length")  # Simplify3D: "3372.8 mm (3.37 m)"
        if s3d:
            length = parse_number(s3d.split("mm")[0])

    # Cura's print bounds (placeholders when CuraEngine did not fill them in)
    bounds = [parse_float_any(_first(kv, k)) for k in ("minx", "miny", "minz", "maxx", "maxy", "maxz")]
    if all(b is not None for b in bounds):
        lo, hi = bounds[:3], bounds[3:]
        if all(abs(b) < CURA_PLACEHOLDER_BOUND for b in bounds) and all(a <= b for a, b in zip(lo, hi)):
            meta["print_bounds_mm"] = {"min": lo, "max": hi}
        else:
            meta["placeholder_header"] = True

    for key, name in (("filament_type", "filament_type"), ("nozzle_diameter", "nozzle_diameter_mm"),
                      ("gcode_flavor", "gcode_flavor"), ("flavor", "gcode_flavor")):
        value = _first(kv, key)
        if value is not None and name not in meta:
            meta[name] = parse_number(value) if name.endswith("_mm") else value
            if meta[name] is None:
                del meta[name]

    info = SlicerInfo(
        printer_model=printer,
        layer_height_mm=layer,
        print_time_s=time_s,
        filament_g=grams,
        filament_mm=length,
        slicer=slicer,
    )
    return (info if info.as_dict() else None), meta


def parse_float_any(text: str | None) -> float | None:
    """A finite number (negative allowed), or None."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------
# scanning comment lines
# --------------------------------------------------------------------------


@attrs.define
class _OpenThumbnail:
    index: int
    fmt: str
    width: int
    height: int
    declared: int
    parts: list[bytes] = attrs.field(factory=list)
    chars: int = 0
    too_big: bool = False


@attrs.define
class GcodeScan:
    """What the comment lines of a G-code file said (filled by :func:`scan_gcode`)."""

    want_images: bool = False
    kv: dict[str, str] = attrs.field(factory=dict)
    generator: str | None = None
    images: list[EmbeddedImage] = attrs.field(factory=list)
    thumbnails: int = 0
    problems: list[str] = attrs.field(factory=list)
    seen_command: bool = False
    comment_lines: int = 0
    bytes_read: int = 0
    _thumb: _OpenThumbnail | None = None
    _thumb_count: int = 0
    _over_limit: bool = False

    @property
    def in_preamble(self) -> bool:
        """Still in the leading comments (or inside a thumbnail)."""
        return self._thumb is not None or not self.seen_command

    def feed(self, line: bytes) -> None:
        """Take one line (without its newline)."""
        stripped = line.strip()
        if not stripped:
            return
        if not stripped.startswith(b";"):
            self.seen_command = True
            if self._thumb is not None:
                self._close_thumbnail("is interrupted by G-code before its end line")
            return
        text = stripped[1:].strip()
        if self._thumb is not None:
            if text[:9].lower() == b"thumbnail" and _THUMB_END.match(text.decode("ascii", "replace")):
                self._close_thumbnail(None)
            else:
                self._add_thumbnail_text(text)
            return
        self.comment_lines += 1
        comment = text.decode("utf-8", "replace")
        if comment[:9].lower() == "thumbnail":
            m = _THUMB_BEGIN.match(comment)
            if m:
                self._thumb_count += 1
                fmt = (m.group(1) or "png").lower()
                self._thumb = _OpenThumbnail(
                    self._thumb_count, "jpg" if fmt == "jpeg" else fmt,
                    int(m.group(2)), int(m.group(3)), int(m.group(4)),
                )
                return
        if self.generator is None and self.comment_lines <= 200:
            name = slicer_name(comment)
            if name:
                self.generator = name
                return
        for key, value in comment_pairs(comment):
            if len(self.kv) < MAX_KEYS or key in self.kv:
                self.kv[key] = value

    def finish(self, why: str) -> None:
        """End of what is read; a thumbnail still open is a problem."""
        if self._thumb is not None:
            self._close_thumbnail(why)

    def _label(self, t: _OpenThumbnail) -> str:
        return f"thumbnail {t.index} ({t.width}x{t.height} {t.fmt.upper()})"

    def _add_thumbnail_text(self, text: bytes) -> None:
        t = self._thumb
        assert t is not None
        if t.too_big:
            return
        t.chars += len(text)
        if t.chars > THUMBNAIL_MAX_CHARS:
            t.too_big = True
            t.parts.clear()
            return
        t.parts.append(text)

    def _close_thumbnail(self, failure: str | None) -> None:
        t = self._thumb
        assert t is not None
        self._thumb = None
        label = self._label(t)
        if self.thumbnails >= MAX_THUMBNAILS:
            if not self._over_limit:
                self._over_limit = True
                add_problem(self.problems, f"more than {MAX_THUMBNAILS} thumbnails; the rest are ignored")
            return
        if failure is not None:
            add_problem(self.problems, f"{label} {failure}; skipped")
            return
        if t.too_big:
            add_problem(self.problems, f"{label} is larger than {THUMBNAIL_MAX_CHARS} base64 characters; skipped")
            return
        if t.chars != t.declared:
            add_problem(self.problems, f"{label} declares {t.declared} base64 characters but has {t.chars}; skipped")
            return
        try:
            data = base64.b64decode(b"".join(t.parts), validate=True)
        except (binascii.Error, ValueError):
            add_problem(self.problems, f"{label} is not valid base64; skipped")
            return
        problem = image_problem(data, t.fmt)
        if problem:
            add_problem(self.problems, f"{label}: {problem}; skipped")
            return
        self.thumbnails += 1
        if self.want_images:
            self.images.append(
                EmbeddedImage(width=t.width, height=t.height, format=t.fmt, data=data,
                              name=f"thumbnail-{t.width}x{t.height}.{t.fmt}")
            )


def _feed_lines(scan: GcodeScan, pending: bytes, chunk: bytes) -> bytes:
    """Feed the complete lines of ``pending + chunk``; return the unfinished rest."""
    data = pending + chunk if pending else chunk
    end = data.rfind(b"\n")  # the complete lines are data[:end + 1]
    rest = data[end + 1 :]
    feed = scan.feed
    pos = 0
    while pos <= end:
        if scan._thumb is None and scan.seen_command:
            # past the leading comments and outside a thumbnail a G-code line changes
            # nothing: go straight to the next line that has a ';'
            semi = data.find(b";", pos, end)
            if semi < 0:
                break
            line_start = data.rfind(b"\n", pos, semi) + 1
            if line_start > pos:
                pos = line_start
        nl = data.find(b"\n", pos, end + 1)
        feed(data[pos:nl])
        pos = nl + 1
    if len(rest) > MAX_LINE_BYTES:
        # no comment is this long: treat it as G-code and drop it
        scan.seen_command = True
        rest = b""
    return rest


def skip_forward(fh: IO[bytes], count: int) -> None:
    """Move ``count`` bytes forward (seek when possible)."""
    if count <= 0:
        return
    if fh.seekable():
        fh.seek(count, 1)
        return
    while count > 0:
        got = fh.read(min(count, 1024 * 1024))
        if not got:
            return
        count -= len(got)


def scan_gcode(fh: IO[bytes], size: int, *, want_images: bool = False) -> GcodeScan:
    """Read the head and the tail of a text G-code stream and collect its comments.

    Reads at least :data:`HEAD_BYTES` from the start — longer while still in the
    leading comments or inside a thumbnail, up to :data:`HEAD_MAX_BYTES` — and the
    last :data:`TAIL_BYTES`. Memory stays bounded whatever the file size.

    :param size: the stream's size in bytes (as the source says).
    :param want_images: keep the decoded thumbnails in ``scan.images``.
    """
    scan = GcodeScan(want_images=want_images)
    pending = b""
    consumed = 0
    eof = False
    while True:
        chunk = fh.read(CHUNK_BYTES)
        if not chunk:
            eof = True
            break
        consumed += len(chunk)
        pending = _feed_lines(scan, pending, chunk)
        if consumed >= HEAD_BYTES and not scan.in_preamble:
            break
        if consumed >= HEAD_MAX_BYTES:
            if scan._thumb is not None:
                scan.finish(f"does not end within the first {HEAD_MAX_BYTES} bytes")
            break
    if not eof:
        start = max(consumed, size - TAIL_BYTES)
        mid_line = start > consumed
        if mid_line:
            scan.finish("does not end before the part of the file that is not read")
            skip_forward(fh, start - consumed)
            pending = b""
        read = 0
        while read <= TAIL_BYTES + CHUNK_BYTES:
            chunk = fh.read(CHUNK_BYTES)
            if not chunk:
                eof = True
                break
            read += len(chunk)
            if mid_line:
                # the tail starts inside a line: drop up to the first newline
                newline = chunk.find(b"\n")
                if newline < 0:
                    continue
                chunk = chunk[newline + 1 :]
                mid_line = False
            pending = _feed_lines(scan, pending, chunk)
        consumed = start + read
    if pending and eof:
        scan.feed(pending)
    scan.finish("has no end line")
    scan.bytes_read = consumed
    return scan


def _result_from_scan(scan: GcodeScan, fmt: str) -> ReadResult:
    info, meta = slicer_facts(scan.kv, scan.generator)
    return ReadResult(format=fmt, thumbnails=scan.thumbnails, slicer=info,
                      problems=list(scan.problems), meta=meta)


def _check_text(head: bytes) -> None:
    if b"\x00" in head:
        raise ReadError("not a text G-code file (it holds binary data)")


# --------------------------------------------------------------------------
# the readers
# --------------------------------------------------------------------------


class GcodeReader:
    """Text G-code from PrusaSlicer, SuperSlicer, OrcaSlicer, Bambu Studio, Cura, Simplify3D."""

    name = "gcode"
    extensions = (".gcode", ".gco", ".g")

    def read(self, source: Source) -> ReadResult:
        """Slicer facts and thumbnail count of a text G-code file."""
        if source.size == 0:
            raise ReadError("file is empty")
        with source.open() as fh:
            head = fh.read(4)
            if head == b"GCDE":
                from .bgcode import BgcodeReader

                result = BgcodeReader().read(source)
                result.problems.append("binary G-code (bgcode) under a text G-code name")
                return result
            fh.seek(0)
            peek = fh.read(4096)
            _check_text(peek)
            fh.seek(0)
            scan = scan_gcode(fh, source.size)
        return _result_from_scan(scan, self.name)

    def embedded_images(self, source: Source) -> list[EmbeddedImage]:
        """The thumbnails the slicer embedded (valid ones only; see ``read`` problems)."""
        if source.size == 0:
            return []
        with source.open() as fh:
            head = fh.read(4096)
            if head.startswith(b"GCDE"):
                from .bgcode import BgcodeReader

                return BgcodeReader().embedded_images(source)
            if b"\x00" in head:
                return []
            fh.seek(0)
            return scan_gcode(fh, source.size, want_images=True).images


# --------------------------------------------------------------------------
# .gcode.3mf (Bambu Studio / OrcaSlicer print archives)
# --------------------------------------------------------------------------

_PLATE_GCODE = re.compile(r"^Metadata/plate_(\d+)\.gcode$")
_PLATE_PNG = re.compile(r"^Metadata/(plate|plate_no_light|top)_(\d+)(_small)?\.png$")
_PNG_ORDER = {"plate": 0, "plate_no_light": 1, "top": 2}


def _slice_info(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Header items and plates from ``Metadata/slice_info.config`` (Bambu's XML)."""
    root = ElementTree.fromstring(data)
    header: dict[str, Any] = {}
    for item in root.iter("header_item"):
        if item.get("key"):
            header[item.get("key")] = item.get("value")
    plates = []
    for plate in root.iter("plate"):
        facts: dict[str, Any] = {}
        for md in plate.findall("metadata"):
            if md.get("key"):
                facts[md.get("key")] = md.get("value")
        filaments = []
        for fil in plate.findall("filament"):
            filaments.append({k: fil.get(k) for k in ("id", "type", "color", "used_m", "used_g")})
        facts["filaments"] = filaments
        plates.append(facts)
    return header, plates


def _plate_facts(plate: Mapping[str, Any]) -> dict[str, float | None]:
    used_m = [parse_number(f.get("used_m")) for f in plate.get("filaments", [])]
    used_g = [parse_number(f.get("used_g")) for f in plate.get("filaments", [])]
    grams = parse_number(plate.get("weight"))
    if grams is None and used_g and all(g is not None for g in used_g):
        grams = sum(g for g in used_g if g is not None)
    metres = sum(m for m in used_m if m is not None) if used_m and all(m is not None for m in used_m) else None
    return {
        "print_time_s": parse_duration(plate.get("prediction")),
        "filament_g": grams,
        "filament_mm": None if metres is None else round(metres * 1000.0, 6),
        "layer_height_mm": parse_number(plate.get("layer_height")),
    }


def _sum_or_none(values: Iterable[float | None]) -> float | None:
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return round(sum(v for v in values if v is not None), 6)


def _scan_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> GcodeScan:
    """Scan a zip member's G-code head and tail, streaming (a plate's G-code can be huge).

    The same bounds as :func:`ziputil.read_member` apply, without reading it whole.
    """
    name = info.filename
    if info.flag_bits & 0x1:
        raise ReadError(f"zip member {name!r} is encrypted")
    if info.file_size > limits.max_member_bytes:
        raise ReadError(f"zip member {name!r} is {info.file_size} bytes uncompressed, "
                        f"more than the limit of {limits.max_member_bytes}")
    if info.file_size > 1024 * 1024 and info.file_size / max(info.compress_size, 1) > limits.max_compression_ratio:
        raise ReadError(f"zip member {name!r} has a compression ratio over "
                        f"{limits.max_compression_ratio:.0f}:1 (zip bomb?)")
    try:
        with zf.open(info) as fh:
            return scan_gcode(fh, info.file_size)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        raise ReadError(f"cannot extract zip member {name!r}: {exc}") from None


class Gcode3mfReader:
    """Bambu Studio / OrcaSlicer sliced archives (``.gcode.3mf``): a zip of plates.

    Metadata come from each plate's G-code header (``Metadata/plate_N.gcode``) and
    ``Metadata/slice_info.config``; several plates add up. Thumbnails are the
    plate pictures (``Metadata/plate_N.png``, ``plate_N_small.png``,
    ``plate_no_light_N.png``, ``top_N.png``; not ``pick_N.png``, an object mask).
    """

    name = "gcode.3mf"
    extensions = (".gcode.3mf",)

    def read(self, source: Source) -> ReadResult:
        """Slicer facts and picture count of a sliced 3MF."""
        problems: list[str] = []
        with ziputil.open_zip(source) as zf:
            members = {info.filename: info for info in ziputil.safe_members(zf, source.limits)}
            plate_gcode = sorted(
                ((int(m.group(1)), info) for n, info in members.items() if (m := _PLATE_GCODE.match(n))),
                key=lambda pair: pair[0],
            )
            if not plate_gcode:
                raise ReadError("not a sliced 3MF: no Metadata/plate_N.gcode inside")

            # 1. each plate's G-code header (and tail)
            scans: list[GcodeScan] = []
            for _, info in plate_gcode:
                scan = _scan_member(zf, info, source.limits)
                scans.append(scan)
                problems.extend(f"{info.filename}: {p}" for p in scan.problems)

            # 2. Metadata/slice_info.config
            header: dict[str, Any] = {}
            plates_info: list[dict[str, Any]] = []
            if "Metadata/slice_info.config" in members:
                try:
                    header, plates_info = _slice_info(
                        ziputil.read_member(zf, members["Metadata/slice_info.config"], source.limits)
                    )
                except (ElementTree.ParseError, defusedxml.DefusedXmlException, ValueError) as exc:
                    # malformed XML: note it, the G-code still counts
                    problems.append(f"Metadata/slice_info.config is unreadable: {type(exc).__name__}")

            # 3. the plate pictures
            pictures = _plate_pictures(zf, members, source.limits, problems)

        facts = [slicer_facts(s.kv, s.generator) for s in scans]
        meta: dict[str, Any] = dict(facts[0][1])
        meta["plates"] = len(plate_gcode)
        infos = [f[0] or SlicerInfo() for f in facts]
        per_plate = [_plate_facts(p) for p in plates_info]

        def total(field: str) -> float | None:
            from_gcode = _sum_or_none(getattr(i, field) for i in infos)
            if from_gcode is not None:
                return from_gcode
            return _sum_or_none(p[field] for p in per_plate) if per_plate else None

        slicer = next((i.slicer for i in infos if i.slicer), None)
        if slicer is None and header.get("X-BBL-Client-Version"):
            slicer = f"BambuStudio {header['X-BBL-Client-Version']}"
        layer = next((i.layer_height_mm for i in infos if i.layer_height_mm), None)
        if layer is None:
            layer = next((p["layer_height_mm"] for p in per_plate if p["layer_height_mm"]), None)
        printer = next((i.printer_model for i in infos if i.printer_model), None)
        if plates_info and plates_info[0].get("printer_model_id"):
            meta["printer_model_id"] = plates_info[0]["printer_model_id"]
        info = SlicerInfo(
            printer_model=printer,
            layer_height_mm=layer,
            print_time_s=total("print_time_s"),
            filament_g=total("filament_g"),
            filament_mm=total("filament_mm"),
            slicer=slicer,
        )
        return ReadResult(format=self.name, thumbnails=len(pictures), slicer=info if info.as_dict() else None,
                          problems=problems, meta=meta)

    def embedded_images(self, source: Source) -> list[EmbeddedImage]:
        """The plate pictures (PNG), the first plate's main picture first."""
        with ziputil.open_zip(source) as zf:
            members = {info.filename: info for info in ziputil.safe_members(zf, source.limits)}
            return _plate_pictures(zf, members, source.limits, [])


def _plate_pictures(zf: zipfile.ZipFile, members: Mapping[str, zipfile.ZipInfo], limits: Limits,
                    problems: list[str]) -> list[EmbeddedImage]:
    """The valid plate PNGs, ordered by plate then kind; bad ones noted in ``problems``."""
    found = []
    for name, info in members.items():
        m = _PLATE_PNG.match(name)
        if m:
            found.append(((int(m.group(2)), _PNG_ORDER[m.group(1)], bool(m.group(3))), info))
    found.sort(key=lambda pair: pair[0])
    images = []
    for _, info in found:
        data = ziputil.read_member(zf, info, limits)
        size = png_size(data)
        if size is None:
            problems.append(f"{info.filename} is not a PNG image; skipped")
            continue
        images.append(EmbeddedImage(width=size[0], height=size[1], format="png", data=data,
                                    name=info.filename.rsplit("/", 1)[-1]))
    return images


@hookimpl
def register_readers(register: Any) -> None:
    """The text G-code and sliced-3MF readers."""
    register(GcodeReader())
    register(Gcode3mfReader())


__all__ = [
    "Gcode3mfReader",
    "GcodeReader",
    "GcodeScan",
    "comment_pairs",
    "image_problem",
    "parse_duration",
    "parse_number",
    "parse_number_sum",
    "png_size",
    "scan_gcode",
    "skip_forward",
    "slicer_facts",
    "slicer_name",
]
