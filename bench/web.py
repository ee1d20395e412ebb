"""The web app on a 100,000-file catalogue: page and search latency, thumbnails per second.

Figures:
- p50/p95 milliseconds of server time (the app's ``Server-Timing`` header: from
  the request reaching the app to its response starting) and of the client's round
  trip, per request of the gallery page (``/``, first page and a
  deep page, default sort and by size), a search (the gallery with a query, and
  ``/api/search``), and a model page (``/models/ID``), measured by a client on
  127.0.0.1 against a real ``printmanager serve`` process (keep-alive; the figure
  is the server's time plus one loopback round trip);
- thumbnails served per second (``/api/files/ID/thumbnail``, real PNGs, 4 client
  threads), beside Python's own static file server (``python -m http.server``)
  serving the same PNG files in the same run.

Target: p95 < 50 ms for the pages and the search.

The catalogue is inserted directly (bench/search.py's generator: realistic names,
paths, tags, formats, 10 files per model), not scanned.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, percentile, row  # noqa: E402
from search import generate  # noqa: E402

from printmanager_core import Library  # noqa: E402
from printmanager_core.readers.base import Source  # noqa: E402

TARGET_MS = 50.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            httpx.get(url, timeout=2, trust_env=False)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def make_pngs(folder: Path, count: int) -> list[Path]:
    """``count`` real 256 px thumbnails (renders of corpus meshes, copied under distinct names)."""
    from printmanager_core.readers import reader_for
    from printmanager_thumbnails import render_triangles

    folder.mkdir(parents=True)
    meshes = sorted((CORPUS / "Benchy multi-part").glob("*.stl"))[:8]
    originals = []
    for i, mesh in enumerate(meshes):
        tris = reader_for(mesh.name).triangles(Source.from_path(mesh))
        path = folder / f"render{i}.png"
        render_triangles(tris, 256).save(path, "PNG")
        originals.append(path)
    out = []
    for n in range(count):
        dest = folder / f"{n:05d}.png"
        shutil.copyfile(originals[n % len(originals)], dest)
        out.append(dest)
    return out


def latencies(client: httpx.Client, path: str, rounds: int) -> tuple[list[float], list[float]]:
    """Milliseconds per request: the server's own (its ``Server-Timing``) and the client's round trip."""
    client.get(path).raise_for_status()
    server, trip = [], []
    for _ in range(rounds):
        t0 = time.perf_counter()
        r = client.get(path)
        trip.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        server.append(float(r.headers["server-timing"].split("dur=")[1]))
    return server, trip


def throughput(base: str, paths: list[str], seconds: float, threads: int = 4) -> float:
    """Requests per second over ``seconds`` with ``threads`` keep-alive clients."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def work(k: int) -> None:
        with httpx.Client(base_url=base, timeout=30, trust_env=False) as c:
            i = k
            while time.monotonic() < stop:
                r = c.get(paths[i % len(paths)])
                assert r.status_code == 200 and r.content[:4] == b"\x89PNG", r.status_code
                done[k] += 1
                i += threads

    start = time.monotonic()
    workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.monotonic() - start)


def summary(values: list[float]) -> str:
    return f"{percentile(values, 50):6.2f} {percentile(values, 95):7.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--thumbnails", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=5.0, help="per throughput run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        libdir = Path(tmp) / "lib"
        lib = Library(libdir)
        t0 = time.perf_counter()
        generate(lib, args.files)
        pngs = make_pngs(libdir / "bench-thumbnails", args.thumbnails)
        ids = [f.id for f in lib.files_page("", limit=args.thumbnails)]
        with lib.store.db.conn:  # point the first files at real PNGs (the generator's paths do not exist)
            lib.store.db.conn.executemany("update files set thumbnail_path = ? where id = ?",
                               [(str(p), i) for p, i in zip(pngs, ids)])
        model_id = lib.files_page("format:stl", limit=1)[0].model_id
        deep = min(499, max(1, args.files // 60 - 1))  # page 500 on 100,000 files
        deep_after = lib.files_page("", sort="name", offset=(deep - 1) * 60, limit=60)[-1].id  # the pager's cursor
        lib.close()
        print(f"web: {args.files} generated files (built in {time.perf_counter() - t0:.1f}s), "
              f"{args.rounds} requests per figure")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "printmanager_core", "--library", str(libdir), "serve",
                                   "--read-only", "--port", str(port)], stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        static_port = free_port()
        static = subprocess.Popen([sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d",
                                   str(libdir / "bench-thumbnails"), str(static_port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_up(base + "/api/csrf", server)
            wait_up(f"http://127.0.0.1:{static_port}/", static)
            figures: dict[str, list[float]] = {}
            trips: dict[str, list[float]] = {}
            with httpx.Client(base_url=base, timeout=60, trust_env=False) as c:
                for label, path in [
                    ("gallery page 1 (sort by name)", "/"),
                    (f"gallery page {deep + 1} by name, pager link (keyset)", f"/?page={deep + 1}&after={deep_after}"),
                    (f"gallery page {deep + 1} by name, typed URL (OFFSET)", f"/?page={deep + 1}"),
                    ("gallery page 1, sort by size desc", "/?sort=size&desc=1"),
                    ("search in the gallery: benchy format:stl", "/?q=benchy+format%3Astl"),
                    ("search in the gallery: tag:gift OR tag:favourite", "/?q=tag%3Agift+OR+tag%3Afavourite"),
                    ("gallery filter: has:error, sort by time", "/?errors=1&sort=time"),
                    ("/api/search?q=printer:MK4 time<2h&limit=50", "/api/search?q=printer%3AMK4+time%3C2h&limit=50"),
                    ("model page", f"/models/{model_id}"),
                ]:
                    figures[label], trips[label] = latencies(c, path, args.rounds)
            thumb_paths = [f"/api/files/{i}/thumbnail" for i in ids]
            ours = throughput(base, thumb_paths, args.seconds)
            theirs = throughput(f"http://127.0.0.1:{static_port}", [f"/{p.name}" for p in pngs], args.seconds)
        finally:
            for proc in (server, static):
                proc.terminate()
                proc.wait(10)
    load = os.getloadavg()[0]
    print(f"{'figure (ms per request; load average ' + f'{load:.1f})':<52} {'server p50':>10} {'p95':>7}"
          f"   {'round trip p50':>14} {'p95':>7}")
    for label, values in figures.items():
        print(f"{label:<52} {summary(values):>18}   {summary(trips[label]):>22}")
    pages = [v for label, values in figures.items() if "OFFSET" not in label for v in values]
    worst = max(percentile(values, 95) for label, values in figures.items() if "OFFSET" not in label)
    row("web server p95, pages and searches (ms)", f"{percentile(pages, 95):.2f}", f"target < {TARGET_MS:.0f} ms",
        f"worst figure p95 {worst:.2f} ms; {'meets' if worst < TARGET_MS else 'misses'} target")
    row("thumbnails served per second", f"{ours:.0f}", f"python -m http.server: {theirs:.0f}/s",
        f"{ours / theirs:.2f}x the static file server")


if __name__ == "__main__":
    main()
