"""Cloud sync against a local S3 server: first sync, no-change sync, memory for a huge file.

Figures, each beside its baseline measured in the same run:

1. First sync of a generated 10,000-file library (MB/s), beside a plain,
   unencrypted PUT of the same bytes with the same HTTP client, signing,
   Content-MD5 and concurrency. Target: at least 50% of the plain PUT.
2. A no-change sync: seconds and requests. Target: under 2 s, at most 3 requests (issue 11).
3. Memory while syncing (multipart upload) and restoring one 500 MB file: peak
   traced Python allocations (tracemalloc) and growth of the resident set
   (sampled), beside the same for a 1 MB file in the same process (the resident
   set includes scrypt's 128 MiB for unwrapping the key, whatever the file).
   Target: flat — the 500 MB figures within tens of MB of the 1 MB ones.

The server is moto's ThreadedMotoServer with signature checking on, in its own
process (its own GIL) on 127.0.0.1. The library is inserted directly (10,000
files of random, incompressible content in 100 model folders, log-normal sizes
around 32 kB), not scanned: the scan is measured by bench/scan_cold.py.

    .venv/bin/python bench/sync.py [--files 10000] [--huge-mb 500] [--workers 8]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import multiprocessing as mp
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import row  # noqa: E402

PASSPHRASE = "bench passphrase, not a secret"
MiB = 1024 * 1024


# -- the server, in its own process ------------------------------------------------------


def _serve(queue: Any) -> None:
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    import logging
    import socket

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user("us-east-1", "bench")
    iam.put_user_policy("bench", "all", '{"Version": "2012-10-17", "Statement": '
                        '[{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}')  # fmt: skip
    key = iam.create_access_key("bench")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    queue.put((port, key.access_key_id, key.secret_access_key))
    while True:
        time.sleep(3600)


def start_server() -> tuple[Any, str, str, str]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(queue,), daemon=True)
    proc.start()
    port, key_id, secret = queue.get(timeout=120)
    return proc, f"http://127.0.0.1:{port}", key_id, secret


# -- a generated library ---------------------------------------------------------------


def make_library(base: Path, files: int, seed: int = 7) -> tuple[Any, Path, list[Path], int]:
    from printmanager_core import Library
    from printmanager_core.settings import now_iso

    rnd = random.Random(seed)
    root = base / "Prints"
    lib = Library(base / "library")
    now = now_iso()
    root.mkdir(parents=True)
    rid = lib.store.db["roots"].insert({"path": str(root), "added_at": now}).last_pk
    paths: list[Path] = []
    rows = []
    total = 0
    per_model = 100
    for m in range((files + per_model - 1) // per_model):
        folder = root / f"model {m:03d}"
        folder.mkdir()
        mid = lib.store.db["models"].insert({"root_id": rid, "path": str(folder), "name": folder.name, "kind": "folder",
                                       "created_at": now, "updated_at": now}).last_pk  # fmt: skip
        for i in range(min(per_model, files - m * per_model)):
            size = int(min(4 * MiB, max(1024, rnd.lognormvariate(10.4, 1.0))))
            path = folder / f"part {i:03d}.stl"
            data = rnd.randbytes(size)
            path.write_bytes(data)
            st = path.stat()
            rows.append({"root_id": rid, "model_id": mid, "path": str(path), "name": path.name, "format": "stl",
                         "size_bytes": size, "mtime_ns": st.st_mtime_ns, "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
                         "added_at": now, "scanned_at": now})  # fmt: skip
            paths.append(path)
            total += size
    with lib.store.db.conn:
        lib.store.db["files"].insert_all(rows, batch_size=1000)
    return lib, root, paths, total


def plain_put(endpoint: str, creds: Any, bucket: str, paths: list[Path], workers: int) -> float:
    from printmanager_sync.s3client import S3Client

    client = S3Client(endpoint, bucket, creds, max_connections=workers)
    client.create_bucket()

    def put(i: int) -> None:
        client.put_object(f"plain/{i:05d}", paths[i].read_bytes())

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, range(len(paths))))
    seconds = time.perf_counter() - t0
    client.close()
    return seconds


# -- memory for one huge file, in a fresh process ------------------------------------------------


class RssSampler:
    """Peak resident set size above the starting one, sampled every 5 ms (Linux /proc)."""

    def __init__(self) -> None:
        import threading

        self.start_kb = self.now_kb()
        self.peak_kb = self.start_kb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now_kb() -> int:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, self.now_kb())
            self._stop.wait(0.005)

    def stop(self) -> int:
        """Growth of the resident set, in kB."""
        self._stop.set()
        self._thread.join()
        return self.peak_kb - self.start_kb


def _measure(base: Path, name: str, size_mb: int, endpoint: str, key_id: str, secret: str) -> dict[str, Any]:
    """Sync one file of ``size_mb`` MiB to its own bucket and restore it, measuring memory."""
    from printmanager_core import Library
    from printmanager_core.settings import now_iso
    from printmanager_sync import enable, restore, sync_now
    from printmanager_sync.s3client import Credentials, S3Client

    root = base / name / "Prints"
    root.mkdir(parents=True)
    path = root / "huge print.gcode"
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        block = os.urandom(MiB)
        for i in range(size_mb):
            chunk = block[i % 1024 :] + block[: i % 1024]
            digest.update(chunk)
            f.write(chunk)
    lib = Library(base / name / "library")
    rid = lib.store.db["roots"].insert({"path": str(root), "added_at": now_iso()}).last_pk
    st = path.stat()
    lib.store.db["files"].insert({"root_id": rid, "path": str(path), "name": path.name, "format": "gcode",
                            "size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "added_at": now_iso()})  # fmt: skip
    S3Client(endpoint, name, Credentials(key_id, secret)).create_bucket()
    config = {"backend": "s3", "endpoint": endpoint, "bucket": name}
    enable(lib, config, consent_given=True)
    rss = RssSampler()
    tracemalloc.start()
    t0 = time.perf_counter()
    report = sync_now(lib)
    up_s = time.perf_counter() - t0
    up_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_up = rss.stop()
    assert report.pushed
    target = Library(base / name / "target")
    rss = RssSampler()
    tracemalloc.start()
    t0 = time.perf_counter()
    restore(target, config, base / name / "restored")
    down_s = time.perf_counter() - t0
    down_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss_down = rss.stop()
    check = hashlib.sha256()
    with open(base / name / "restored" / "Prints" / path.name, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            check.update(chunk)
    assert check.digest() == digest.digest(), "restored file differs"
    lib.close()
    target.close()
    shutil.rmtree(base / name, ignore_errors=True)
    return {"up_s": up_s, "down_s": down_s, "up_peak": up_peak, "down_peak": down_peak,
            "rss_up_kb": rss_up, "rss_down_kb": rss_down, "requests": report.requests}  # fmt: skip


def _huge(endpoint: str, key_id: str, secret: str, size_mb: int, queue: Any) -> None:
    """In a fresh process: a 1 MB file (the baseline: the same path, scrypt included), then the huge one."""
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = key_id, secret
    os.environ["PRINTMANAGER_SYNC_PASSPHRASE"] = PASSPHRASE
    os.environ["PRINTMANAGER_LOAD_PLUGINS"] = "sync"
    base = Path(tempfile.mkdtemp(prefix="pm-bench-huge-"))
    try:
        small = _measure(base, "small", 1, endpoint, key_id, secret)
        huge = _measure(base, "huge", size_mb, endpoint, key_id, secret)
        queue.put({"small": small, "huge": huge})
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--huge-mb", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()

    os.environ["PRINTMANAGER_LOAD_PLUGINS"] = "sync"
    os.environ["PRINTMANAGER_SYNC_PASSPHRASE"] = PASSPHRASE
    proc, endpoint, key_id, secret = start_server()
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = key_id, secret
    from printmanager_sync import enable, sync_now
    from printmanager_sync.s3client import Credentials, S3Client

    creds = Credentials(key_id, secret)
    base = Path(tempfile.mkdtemp(prefix="pm-bench-sync-"))
    try:
        t0 = time.perf_counter()
        lib, root, paths, total = make_library(base, args.files)
        print(f"generated {len(paths)} files, {total / MiB:.0f} MiB in {time.perf_counter() - t0:.1f}s; "
              f"server {endpoint} (moto, signatures checked); {os.cpu_count()} CPUs, {args.workers} workers")  # fmt: skip
        print()

        plain_s = plain_put(endpoint, creds, "plain", paths, args.workers)
        plain_mbs = total / MiB / plain_s

        S3Client(endpoint, "sync", creds).create_bucket()
        enable(lib, {"backend": "s3", "endpoint": endpoint, "bucket": "sync"}, consent_given=True)
        first = sync_now(lib, workers=args.workers)
        sync_mbs = total / MiB / first.seconds
        ratio = sync_mbs / plain_mbs

        again = sync_now(lib, workers=args.workers)
        lib.close()

        row("figure", "value", "baseline (same run)", "verdict")
        row(f"first sync, {len(paths)} files", f"{sync_mbs:.1f} MB/s",
            f"plain PUT {plain_mbs:.1f} MB/s ({ratio:.0%})", "OK" if ratio >= 0.5 else "BELOW TARGET (50%)")  # fmt: skip
        row("  time / requests", f"{first.seconds:.1f} s", f"plain PUT {plain_s:.1f} s / {len(paths)} requests",
            f"{first.requests} requests")  # fmt: skip
        row("no-change sync", f"{again.seconds * 1000:.0f} ms", "target < 2000 ms, <= 3 requests",
            f"{again.requests} requests " + ("OK" if again.seconds < 2 and (again.requests or 0) <= 3 else "MISSED"))  # fmt: skip
    finally:
        shutil.rmtree(base, ignore_errors=True)

    if args.huge_mb:
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=_huge, args=(endpoint, key_id, secret, args.huge_mb, queue))
        child.start()
        got = queue.get(timeout=3600)
        child.join()
        small, huge = got["small"], got["huge"]
        size = args.huge_mb * MiB
        for what, key, rss_key, secs in (("sync", "up_peak", "rss_up_kb", "up_s"), ("restore", "down_peak", "rss_down_kb", "down_s")):
            grew = (huge[rss_key] - small[rss_key]) * 1024
            flat = huge[key] < 64 * MiB and grew < 64 * MiB
            row(f"{what} {args.huge_mb} MB file: traced peak", f"{huge[key] / MiB:.1f} MiB",
                f"1 MB file: {small[key] / MiB:.1f} MiB", "flat" if flat else "NOT FLAT")  # fmt: skip
            row("  resident set growth", f"{huge[rss_key] / 1024:.1f} MiB",
                f"1 MB file: {small[rss_key] / 1024:.1f} MiB (scrypt: 128 MiB)",
                f"{size / MiB / huge[secs]:.0f} MB/s" + (f", {huge['requests']} requests" if what == "sync" else ""))  # fmt: skip
    proc.terminate()


if __name__ == "__main__":
    main()
