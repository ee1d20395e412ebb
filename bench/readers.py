"""Per-reader throughput over the corpus, beside the SHA-256 floor and the naive peer.

Figure: for each reader, MB/s over every ../shared/corpus file it reads (content
already in memory, one process, best of --repeat runs per file; files the reader
refuses count too, they are part of a scan).
Baselines measured in the same run, over the same bytes:
- floor: SHA-256 of the content (what every scan pays per byte);
- naive peer (mesh formats): trimesh.load() with its default processing, then
  bounds, volume, area and is_watertight — what peer managers do per file.
``--files`` also lists the slowest files with their read and embedded-picture times.
Targets (issue 2): a cold scan within 3x the read+SHA-256 floor and >= 10x faster
than the naive peer; see bench/scan_cold.py for the whole scan.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, row  # noqa: E402

from printmanager_core.readers import reader_for  # noqa: E402
from printmanager_core.readers.base import ReadError, Source  # noqa: E402

MESH_READERS = {"stl", "obj", "ply", "3mf"}


def best_of(fn: Callable[[], object], repeat: int) -> float:
    """Best wall-clock seconds of ``repeat`` calls (exceptions are part of the work)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            fn()
        except ReadError:
            pass
        best = min(best, time.perf_counter() - t0)
    return best


def naive(name: str, data: bytes) -> None:
    import trimesh

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            m = trimesh.load(io.BytesIO(data), file_type=name.rsplit(".", 1)[-1].lower(), force="mesh")
            _ = (m.bounds, m.volume, m.area, m.is_watertight)
        except Exception:  # noqa: BLE001 - the peer failing on a file is part of its run
            pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5, help="runs per file (best is kept)")
    ap.add_argument("--files", type=int, default=0, help="also list the N slowest files")
    ap.add_argument("--no-peer", action="store_true", help="skip the trimesh peer (slow)")
    args = ap.parse_args()

    files = [p for p in sorted(CORPUS.rglob("*")) if p.is_file() and reader_for(p.name) is not None]
    per_reader: dict[str, dict[str, float]] = {}
    per_file: list[tuple[float, float | None, str, int]] = []
    for path in files:
        data = path.read_bytes()
        reader = reader_for(path.name)
        assert reader is not None
        t_read = best_of(lambda: reader.read(Source.from_bytes(path.name, data)), args.repeat)
        t_hash = best_of(lambda: hashlib.sha256(data).digest(), args.repeat)
        t_peer = 0.0
        if reader.name in MESH_READERS and not args.no_peer:
            t_peer = best_of(lambda: naive(path.name, data), 1)
        t_images = None
        extract = getattr(reader, "embedded_images", None)
        if callable(extract):
            t_images = best_of(lambda: extract(Source.from_bytes(path.name, data)), args.repeat)
        totals = per_reader.setdefault(reader.name, {"files": 0, "bytes": 0, "read": 0.0, "hash": 0.0, "peer": 0.0})
        totals["files"] += 1
        totals["bytes"] += len(data)
        totals["read"] += t_read
        totals["hash"] += t_hash
        totals["peer"] += t_peer
        per_file.append((t_read, t_images, path.relative_to(CORPUS).as_posix(), len(data)))

    print(f"readers over {len(files)} corpus files, best of {args.repeat} per file, one process")
    for name, t in sorted(per_reader.items()):
        mb = t["bytes"] / 1e6
        label = f"{name} ({int(t['files'])} files, {mb:.1f} MB) MB/s"
        verdict = f"{t['read'] / t['hash']:.1f}x the hash time"
        if t["peer"]:
            verdict += f"; {t['peer'] / t['read']:.1f}x faster than trimesh ({t['peer'] * 1000:.0f} ms)"
        row(label, f"{mb / t['read']:.1f}", f"sha256 floor {mb / t['hash']:.0f} MB/s", verdict)
    total_read = sum(t["read"] for t in per_reader.values())
    total_hash = sum(t["hash"] for t in per_reader.values())
    total_peer = sum(t["peer"] for t in per_reader.values() if t["peer"])
    row("all readers (ms per corpus copy)", f"{total_read * 1000:.1f}", f"sha256 floor {total_hash * 1000:.1f} ms",
        f"{total_read / total_hash:.1f}x the hash time")
    if total_peer:
        mesh_read = sum(t["read"] for n, t in per_reader.items() if n in MESH_READERS)
        row("mesh readers (ms per corpus copy)", f"{mesh_read * 1000:.1f}", f"trimesh peer {total_peer * 1000:.0f} ms",
            f"{total_peer / mesh_read:.1f}x faster")
    if args.files:
        print(f"\nslowest {args.files} files (read; embedded_images where the reader has it):")
        for t_read, t_images, rel, size in sorted(per_file, reverse=True)[: args.files]:
            images = "" if t_images is None else f"images {t_images * 1000:7.2f} ms"
            print(f"  {t_read * 1000:8.2f} ms  {images:<19} {size / 1e6:6.2f} MB  {rel}")


if __name__ == "__main__":
    main()
