"""Fuzzing as a figure: mutate every corpus file and read each mutant as a scan does.

Every file of ../shared/corpus that a reader reads is mutated --n times (default: enough
for --inputs in total) by a mix of bit flips, truncation, splices from other corpus
files, huge numbers written into text, huge 32-bit counts written into binary headers,
duplicated and zeroed spans; the XML inside 3MF packages and zipped AMF is mutated and
packaged again. Each mutant is read through the scan's own per-file path
(``scan._read_source``: the reader under the per-file budget) and, for one in four, drawn
(the thumbnails plugin's ``load_triangles``).

Figure: inputs tried, crashes (any exception that is not a per-file error: a reader's
catch-all "reader failed: TypeError ..." error, a RecursionError or MemoryError, or
anything escaping), peak RSS of the worker processes, worst time for one input, inputs/s.
Target (issue 9): 100,000 inputs, 0 crashes. Crashing inputs are written to --save.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import resource
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, row  # noqa: E402

#: small limits so that a mutated count is refused rather than honoured slowly
LIMITS_KW = dict(max_triangles=2_000_000, max_read_bytes=64 * 1024**2, max_member_bytes=64 * 1024**2,
                 max_seconds_per_file=20.0, max_memory_bytes=2 * 1024**3)


def corpus_files() -> list[Path]:
    from printmanager_core.readers import reader_for

    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and reader_for(p.name) is not None)


def mutate(data: bytes, rng: random.Random, donors: list[bytes]) -> bytes:
    """One mutant of ``data``: 1 to 4 random edits."""
    out = bytearray(data or b"\0")
    for _ in range(rng.randint(1, 4)):
        if not out:
            out = bytearray(b"\0")
        kind = rng.randrange(8)
        at = rng.randrange(len(out))
        if kind == 0:  # bit flips
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(out))
                out[i] ^= 1 << rng.randrange(8)
        elif kind == 1:  # truncation
            del out[at:]
        elif kind == 2:  # splice from another corpus file
            donor = rng.choice(donors)
            if donor:
                s = rng.randrange(len(donor))
                out[at:at] = donor[s : s + rng.randint(1, 4096)]
        elif kind == 3:  # a huge number in text
            out[at:at] = rng.choice([b"99999999999999999999", b"4294967295", b"-1", b"1e308", b"nan", b"-0",
                                     b"18446744073709551616", b"2147483648"])
        elif kind == 4:  # a huge 32-bit count in a binary header
            pos = min(at, max(0, len(out) - 4)) & ~3
            out[pos : pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80"])
        elif kind == 5:  # duplicate a span
            span = bytes(out[at : at + rng.randint(1, 2048)])
            out[at:at] = span * rng.randint(1, 8)
        elif kind == 6:  # zero a span
            n = rng.randint(1, 256)
            out[at : at + n] = b"\0" * len(out[at : at + n])
        else:  # overwrite a byte with XML / syntax characters
            out[at] = rng.choice(b"<>\"'&/=;#(){}[],.-+\n\0 ")
    return bytes(out)


def mutate_package(data: bytes, rng: random.Random, donors: list[bytes]) -> bytes:
    """A zip package (3MF, zipped AMF) with one member's content mutated and packaged again."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = [(i.filename, zf.read(i)) for i in zf.infolist() if i.file_size < 64 * 1024**2]
    except Exception:  # noqa: BLE001 - not a readable zip: mutate the bytes instead
        return mutate(data, rng, donors)
    if not parts:
        return mutate(data, rng, donors)
    xml = [k for k, (name, _) in enumerate(parts) if name.lower().endswith((".model", ".rels", ".amf", ".config"))]
    k = rng.choice(xml) if xml and rng.random() < 0.8 else rng.randrange(len(parts))
    name, content = parts[k]
    parts[k] = (name, mutate(content, rng, donors))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, c in parts:
            zf.writestr(n, c)
    return buf.getvalue()


def _crash_kind(cols: dict[str, Any], reader_name: str) -> str | None:
    error = cols.get("error") or ""
    if error.startswith(f"{reader_name} reader failed:"):
        return error
    if error in ("file is nested too deeply to read", "file too large to read in memory"):
        return error
    return None


def work(job: tuple[str, int, int, str | None]) -> dict[str, Any]:
    """Worker: ``n`` mutants of one corpus file."""
    path_text, n, seed, save = job
    from printmanager_core.readers import reader_for
    from printmanager_core.readers.base import Limits, Source
    from printmanager_core.scan import _read_source
    from printmanager_thumbnails.geometry import load_triangles
    from printmanager_thumbnails.picture import ThumbnailError

    from printmanager_core import budget

    limits = Limits(**LIMITS_KW)  # type: ignore[arg-type]
    path = Path(path_text)
    data = path.read_bytes()
    donors = [p.read_bytes()[:65536] for p in corpus_files()[:40]]
    reader = reader_for(path.name)
    assert reader is not None
    rng = random.Random(seed)
    packaged = data.startswith(b"PK\x03\x04")
    crashes: list[str] = []
    worst = (0.0, "")
    for i in range(n):
        mutant = mutate_package(data, rng, donors) if packaged and rng.random() < 0.6 else mutate(data, rng, donors)
        source = Source.from_bytes(path.name, mutant, limits=limits)
        start = time.perf_counter()
        problem = None
        try:
            cols = _read_source(source, path.name)
            problem = _crash_kind(cols, reader.name)
            if problem is None and i % 4 == 0:
                try:
                    with budget.limit(limits.max_seconds_per_file):
                        load_triangles(Source.from_bytes(path.name, mutant, limits=limits))
                except ThumbnailError:
                    pass
                except budget.OverBudget:
                    pass
        except BaseException as exc:  # noqa: BLE001 - anything escaping is a crash
            problem = f"escaped: {type(exc).__name__}: {exc}"
        took = time.perf_counter() - start
        if took > worst[0]:
            worst = (took, f"{path.relative_to(CORPUS)} #{i}")
        if problem is not None:
            crashes.append(f"{path.relative_to(CORPUS)} #{i}: {problem[:300]}")
            if save:
                out = Path(save) / f"{path.stem}-{seed}-{i}{''.join(path.suffixes)}"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(mutant)
    return {"inputs": n, "crashes": crashes, "worst": worst,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=100_000, help="total mutants (default 100,000)")
    parser.add_argument("--n", type=int, default=None, help="mutants per corpus file (default: inputs / files)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--save", default=None, help="folder for crashing inputs")
    args = parser.parse_args()
    files = corpus_files()
    per_file = args.n or -(-args.inputs // len(files))
    # big files in smaller jobs, so the workers stay busy evenly
    jobs = []
    for k, path in enumerate(files):
        step = 50 if path.stat().st_size > 256 * 1024 else 500
        for start in range(0, per_file, step):
            jobs.append((str(path), min(step, per_file - start), args.seed * 1_000_003 + k * 10_007 + start, args.save))
    t0 = time.perf_counter()
    inputs = 0
    crashes: list[str] = []
    worst = (0.0, "")
    rss = 0
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    with ctx.Pool(args.workers, maxtasksperchild=20) as pool:
        for result in pool.imap_unordered(work, jobs):
            inputs += result["inputs"]
            crashes.extend(result["crashes"])
            worst = max(worst, result["worst"])
            rss = max(rss, result["rss"])
            print(f"\r{inputs:,} inputs, {len(crashes)} crashes", end="", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    rss = max(rss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
    print(file=sys.stderr)
    print(f"corpus files mutated: {len(files)}, {per_file} mutants each, seed {args.seed}, {args.workers} workers")
    row("inputs tried", f"{inputs:,}", f"target {args.inputs:,}", "ok" if inputs >= args.inputs else "SHORT")
    row("crashes", f"{len(crashes)}", "target 0", "ok" if not crashes else "CRASHES")
    row("peak RSS (one worker)", f"{rss / 1024**2:,.0f} MiB", "memory bound 2 GiB per file", "")
    row("worst time for one input", f"{worst[0]:.2f} s", worst[1], "")
    row("throughput", f"{inputs / seconds:,.0f} inputs/s", f"{seconds:,.0f} s in all", "")
    for line in crashes[:50]:
        print("  crash:", line)
    if crashes:
        sys.exit(1)


if __name__ == "__main__":
    main()
