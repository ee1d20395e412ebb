"""One line per file or model, for people.

Names with control characters and undecodable bytes are escaped (``\\n``,
``\\xe9``): one file is always one line. ``--json`` is lossless.
"""

from __future__ import annotations

from ..paths import printable
from ..records import FileRecord, ModelRecord


def file_line(f: FileRecord) -> str:
    """``[id]  format  path  triangles  bbox`` (and the error, if any)."""
    bbox = "x".join(f"{v:.1f}" for v in f.bbox_mm) + " mm" if f.bbox_mm else ""
    tri = f"{f.triangles:,} tri" if f.triangles is not None else ""
    extra = f"  ERROR: {printable(f.error)}" if f.error else ""
    parts = [p for p in (f"[{f.id}]", printable(f.format or "?"), printable(f.path), tri, bbox) if p]
    return "  ".join(parts) + extra


def model_line(m: ModelRecord) -> str:
    """``[id] name  (N files, kind)  path  #tags``."""
    tags = f"  #{' #'.join(m.tags)}" if m.tags else ""
    return printable(f"[{m.id}] {m.name}  ({m.files} files, {m.kind})  {m.path}{tags}")
