"""Sync of a large library when nothing (or one file) changed: seconds, requests, bytes.

Figure (issue 11): a no-change ``sync_now`` of a generated N-file library
(default 100,000; ``--quick`` 10,000), already synced once, against a local S3
server (moto, signatures checked, its own process): seconds, HTTP requests, and
bytes of new or rewritten objects in the container (its listing before and
after). Targets: < 2 s, <= 3 requests; snapshot bytes uploaded grow with the
change, not with the library.

Baselines in the same run: the first sync of the same library (seconds,
requests, bytes), and a sync after changing one file (bytes uploaded beside the
file's own size): met when the one-file sync uploads less than a tenth of the
first sync's non-file objects (the snapshot's manifest and pages, the database
backup's chunks), i.e. it does not write the whole catalogue again (snapshot
format 2, docs/sync.md "Snapshot pages").

Files are small (1-4 KiB of random bytes, 100 per model folder) and inserted
into the catalogue directly, not scanned: the cost of a sync is per file, not
per byte (bench/sync.py measures throughput and memory).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_quick, emit  # noqa: E402
from sync import PASSPHRASE, start_server  # noqa: E402


def make_library(base: Path, files: int, seed: int = 11) -> tuple[Any, list[Path]]:
    from printmanager_core import Library
    from printmanager_core.settings import now_iso

    rnd = random.Random(seed)
    root = base / "Prints"
    root.mkdir(parents=True)
    lib = Library(base / "library")
    now = now_iso()
    db = lib.store.db
    rid = db["roots"].insert({"path": str(root), "added_at": now}).last_pk
    paths: list[Path] = []
    models = []
    rows = []
    for m in range((files + 99) // 100):
        folder = root / f"model {m:04d}"
        folder.mkdir()
        models.append({"id": m + 1, "root_id": rid, "path": str(folder), "name": folder.name, "kind": "folder",
                       "created_at": now, "updated_at": now})  # fmt: skip
        for i in range(min(100, files - m * 100)):
            data = rnd.randbytes(rnd.randint(1024, 4096))
            path = folder / f"part {i:03d}.stl"
            path.write_bytes(data)
            st = path.stat()
            rows.append({"root_id": rid, "model_id": m + 1, "path": str(path), "name": path.name, "format": "stl",
                         "size_bytes": len(data), "mtime_ns": st.st_mtime_ns,
                         "hash": "sha256:" + hashlib.sha256(data).hexdigest(), "added_at": now, "scanned_at": now})  # fmt: skip
            paths.append(path)
    with db.conn:
        db["models"].insert_all(models, batch_size=2000)
        db["files"].insert_all(rows, batch_size=2000)
    return lib, paths


def listing(client: Any) -> dict[str, tuple[int, str | None]]:
    return {k: (size, etag) for k, size, etag in client.list_objects("")}


def uploaded(before: dict[str, tuple[int, str | None]], after: dict[str, tuple[int, str | None]]) -> int:
    """Bytes of objects that are new or rewritten (another ETag) in ``after``."""
    return sum(size for k, (size, etag) in after.items() if before.get(k, (None, None))[1] != etag)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_quick(ap)
    ap.add_argument("--files", type=int, help="library size (default 100,000; --quick 10,000)")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=5, help="no-change syncs (the median is the figure)")
    args = ap.parse_args()
    n = args.files or (10_000 if args.quick else 100_000)
    os.environ["PRINTMANAGER_LOAD_PLUGINS"] = "sync"
    os.environ["PRINTMANAGER_SYNC_PASSPHRASE"] = PASSPHRASE
    proc, endpoint, key_id, secret = start_server()
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = key_id, secret
    from printmanager_core.settings import now_iso
    from printmanager_sync import enable, sync_now
    from printmanager_sync.s3client import Credentials, S3Client

    base = Path(tempfile.mkdtemp(prefix="pm-bench-nochange-"))
    try:
        t0 = time.perf_counter()
        lib, paths = make_library(base, n)
        made = time.perf_counter() - t0
        client = S3Client(endpoint, "nochange", Credentials(key_id, secret))
        client.create_bucket()
        enable(lib, {"backend": "s3", "endpoint": endpoint, "bucket": "nochange"}, consent_given=True)
        empty = listing(client)
        first = sync_now(lib, workers=args.workers)
        after_first = listing(client)
        first_bytes = uploaded(empty, after_first)
        file_bytes = sum(p.stat().st_size for p in paths)
        runs = []
        for _ in range(args.repeat):
            before = listing(client)
            rep = sync_now(lib, workers=args.workers)
            runs.append((rep.seconds, rep.requests or 0, uploaded(before, listing(client))))
        runs.sort()
        secs, reqs, nbytes = runs[len(runs) // 2]
        worst_reqs = max(r for _, r, _ in runs)
        # one file changed, as a scan would record it
        target = paths[len(paths) // 2]
        data = os.urandom(2048)
        target.write_bytes(data)
        st = target.stat()
        with lib.store.db.conn:
            lib.store.db.execute("update files set size_bytes = ?, mtime_ns = ?, hash = ? where path = ?",
                                 [len(data), st.st_mtime_ns, "sha256:" + hashlib.sha256(data).hexdigest(), str(target)])  # fmt: skip
        before = listing(client)
        one = sync_now(lib, workers=args.workers)
        one_bytes = uploaded(before, listing(client))
        lib.close()
        client.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
        proc.terminate()
    meta_first = max(1, first_bytes - file_bytes)  # roughly: what is not the files' own ciphertext
    print(f"library: {n:,} files, {file_bytes / 1e6:.0f} MB (made in {made:.0f} s); first sync {first.seconds:.1f} s, "
          f"{first.requests} requests, {first_bytes / 1e6:.1f} MB stored; one-file change: {one.seconds:.2f} s, "
          f"{one.requests} requests, {one_bytes:,} bytes ({one.uploaded_metadata} pages and database chunks)")  # fmt: skip
    size = f"{n:,} files, median of {args.repeat} no-change syncs, moto S3 on 127.0.0.1"
    ok = secs < 2 and worst_reqs <= 3
    emit(f"No-change sync of a {n:,}-file library: seconds and requests", f"{secs:.2f} s, {reqs} requests",
         f"first sync {first.seconds:.1f} s, {first.requests} requests", f"{first.seconds / secs:.0f}x faster than the first",
         "< 2 s, <= 3 requests", ok, size=size, quick=args.quick,
         detail={"seconds": secs, "requests": reqs, "worst_requests": worst_reqs, "runs": runs,
                 "first_seconds": first.seconds, "first_requests": first.requests})  # fmt: skip
    emit(f"No-change sync of a {n:,}-file library: bytes uploaded", f"{nbytes:,} B no change; {one_bytes:,} B after 1 file",
         f"first sync {first_bytes:,} B ({meta_first:,} B beyond the files)",
         f"1-file change uploads {one_bytes / meta_first:.1%} of the first sync's metadata",
         "grows with the change, not the library", nbytes == 0 and one_bytes < meta_first / 10, size=size, quick=args.quick,
         detail={"no_change_bytes": nbytes, "one_file_bytes": one_bytes, "first_bytes": first_bytes,
                 "file_bytes": file_bytes, "one_file_seconds": one.seconds, "one_file_requests": one.requests,
                 "one_file_metadata_objects": one.uploaded_metadata})  # fmt: skip


if __name__ == "__main__":
    main()
