"""Reader for text G-code (``.gcode``, ``.gco``, ``.g``).

What a slicer writes, and where:

* PrusaSlicer, SuperSlicer, OrcaSlicer, Bambu Studio: ``; key = value`` comment
  lines. PrusaSlicer and Orca put a summary and the whole config at the END of the
  file, thumbnails and a short header at the START; Bambu Studio puts a header
  block, the thumbnails and the config at the start.
* Cura: ``;KEY:value`` lines at the start (``;TIME:``, ``;Filament used:``,
  ``;Layer height:``, ``;MINX:``...). Headless CuraEngine leaves placeholders
  there (``;TIME:6666``, ``;Filament used: 0m``, ``;MINX:2.14748e+06``): those are
  read as unknown, and the print time is taken from the last ``;TIME_ELAPSED:``.

The file is never read whole: only the comments of its head and tail are
scanned (:mod:`.gcode_scan`), and :mod:`.slicer_vocab` says what they mean. A
binary G-code file saved under a ``.gcode`` name is not this reader's: the
reader table gives it to the binary G-code reader by its ``GCDE`` magic.
"""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from .base import EmbeddedImage, ReadError, ReadResult, Source
from .gcode_scan import GcodeScan, scan_gcode
from .slicer_vocab import slicer_facts

__all__ = ["GcodeReader"]

#: this much of the start is checked for binary data
PEEK_BYTES = 4096


def _result_from_scan(scan: GcodeScan, fmt: str) -> ReadResult:
    """The :class:`~.base.ReadResult` of a scanned text G-code stream."""
    info, meta = slicer_facts(scan.kv, scan.generator)
    return ReadResult(format=fmt, thumbnails=scan.thumbnails, slicer=info,
                      problems=list(scan.problems), meta=meta)


class GcodeReader:
    """Text G-code from PrusaSlicer, SuperSlicer, OrcaSlicer, Bambu Studio, Cura, Simplify3D."""

    name = "gcode"
    title = "text G-code"
    extensions = (".gcode", ".gco", ".g")

    def read(self, source: Source) -> ReadResult:
        """Slicer facts and thumbnail count of a text G-code file."""
        if source.size == 0:
            raise ReadError("file is empty")
        with source.open() as fh:
            if b"\x00" in fh.read(PEEK_BYTES):
                raise ReadError("not a text G-code file (it holds binary data)")
            fh.seek(0)
            scan = scan_gcode(fh, source.size)
        return _result_from_scan(scan, self.name)

    def embedded_images(self, source: Source) -> list[EmbeddedImage]:
        """The thumbnails the slicer embedded (valid ones only; see ``read`` problems)."""
        if source.size == 0:
            return []
        with source.open() as fh:
            if b"\x00" in fh.read(PEEK_BYTES):
                return []
            fh.seek(0)
            return scan_gcode(fh, source.size, want_images=True).images


@hookimpl
def register_readers(register: Any) -> None:
    """The text G-code reader."""
    register(GcodeReader())
