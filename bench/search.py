"""Search latency on a generated 1,000,000-file catalogue (issue 11: first page and count-all p95).

Figure: p50/p95 milliseconds of `Library.files(query, limit=50)` (parse + SQL +
records, the first page a UI shows) and of counting every match of the same query
(the whole search, no records built), over representative queries: free words, a
phrase, tag:, format: with a comparison, negation, has:, OR.

The count is what ``Library.count_files`` does when it remembers no count (the first
count after a change, or of a new query): ``SearchGateway.count_now`` of the
query's ``plan_count`` (words off the full-text index, filters off the narrow
count indexes of m035, a negation as every file less the matches), its prefix
words asked whole where no longer word extends them (``query.whole_words``; which
words do is remembered per catalogue generation, as counts are).

Baselines measured in the same run:
- the plain count, every match's row read (``FilesGateway.count``, what the count
  was before the count plans), the same queries interleaved;
- the bare FTS5 MATCH for the same word alone (the floor for a free-word search);
- the naive scan peers use: `name LIKE '%word%' OR path LIKE '%word%'`.

Targets (issue 11, at 1,000,000 files): first page p95 < 10 ms; count-all p95
< 50 ms (the first page is the figure a user waits for; the count shows the
cost of touching every match of a broad query, nothing remembered; a third row
is ``Library.count_files`` asked again on an unchanged catalogue, which
remembers counts per catalogue generation). ``--quick``: 100,000 files.
``--cache DIR`` keeps the generated catalogue (1M files take minutes to make).

The catalogue is inserted directly with sqlite-utils (`insert_all`), not scanned:
realistic names, paths, tags, formats and geometry, 10 files per model.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_quick, emit, percentile  # noqa: E402

from printmanager_core import Library  # noqa: E402
from printmanager_core.query import parse_query, plan_count, whole_words  # noqa: E402

THINGS = [
    "benchy", "calibration cube", "gridfinity bin", "cable clip", "articulated dragon", "planter",
    "phone stand", "headphone hook", "spool holder", "filament guide", "voron stealthburner",
    "fan duct", "hotend mount", "desk organiser", "lithophane", "vase", "chess knight", "miniature orc",
    "terrain tile", "gear", "bearing", "hinge", "box lid", "drawer handle", "wall hook", "keychain",
    "raspberry pi case", "camera mount", "lamp shade", "bracket", "knob", "enclosure", "clamp",
    "toolholder", "bit organiser", "marble run", "fidget spinner", "skull", "bust", "whistle",
]  # fmt: skip
PARTS = ["body", "base", "lid", "top", "bottom", "left", "right", "arm", "leg", "head", "plate", "insert"]
CREATORS = ["CreativeTools", "Prusa", "Zack", "McMaster", "Kijai", "Voron Design", "Anon", "Tinkerer", "Makerbot"]
CATEGORIES = ["Calibration", "Household", "Printer Upgrades", "Toys", "Tabletop", "Workshop", "Art", "Tech"]
TAGS = [f"t{i:03d}" for i in range(180)] + [
    "printed", "draft", "calibration", "gift", "favourite", "supports", "multicolour", "resin", "petg",
    "pla", "tpu", "large", "remix", "todo", "failed", "kids", "functional", "decor", "upgrade", "spare",
]  # fmt: skip
FORMATS = ["stl"] * 50 + ["3mf"] * 15 + ["obj"] * 5 + ["ply"] * 2 + ["gcode"] * 15 + ["bgcode"] * 5 + ["gcode.3mf"] * 8
PRINTERS = ["Original Prusa MK4", "Original Prusa MK3S", "Original Prusa MINI", "Bambu Lab X1 Carbon",
            "Bambu Lab P1S", "Voron 2.4 350", "Creality Ender-3 V2", "Prusa XL"]  # fmt: skip
SLICERS = ["PrusaSlicer 2.7.1", "PrusaSlicer 2.8.0", "BambuStudio 01.09.00.70", "OrcaSlicer 2.1.1", "Cura 5.6.0"]
NOTES = ["printed fine at 0.2 mm", "needs supports under the chin", "scale to 105% for M3 inserts",
         "gift for Sam", "warped on the textured sheet", "use brim"]  # fmt: skip

QUERIES = [
    "benchy",
    "dragon articulated",
    '"cable clip"',
    "tag:calibration",
    "tag:t042",
    "format:stl triangles>100000",
    "format:3mf size<1MB",
    "gridfinity -tag:printed",
    "-format:gcode -format:bgcode -format:gcode.3mf",
    "printer:MK4 time<2h",
    "has:error",
    "tag:gift OR tag:favourite",
    "volume<5000 is:watertight",
    "model:voron format:stl",
]


def generate(lib: Library, n_files: int, seed: int = 1, analyze: bool = False) -> None:
    """Insert ``n_files`` files (10 per model) with tags straight into the library's tables."""
    rnd = random.Random(seed)
    db = lib.store.db
    now = "2025-01-01T00:00:00+00:00"
    tag_ids = {name: i + 1 for i, name in enumerate(TAGS)}
    models: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    file_tags: list[dict[str, int]] = []
    model_tags: list[dict[str, int]] = []
    n_models = max(1, n_files // 10)
    for m in range(1, n_models + 1):
        thing = rnd.choice(THINGS)
        creator = rnd.choice(CREATORS)
        name = f"{thing.title()} {rnd.choice(['v2', 'remix', 'mini', 'XL', ''])} {m}".replace("  ", " ")
        folder = f"/home/sam/Prints/{rnd.choice(CATEGORIES)}/{creator}/{name}"
        archive = rnd.random() < 0.2
        mpath = folder + ".zip" if archive else folder
        mtags = sorted(rnd.sample(TAGS, rnd.randint(1, 3))) if rnd.random() < 0.4 else []
        models.append({"id": m, "root_id": 1, "path": mpath, "name": name, "kind": "archive" if archive else "folder",
                       "creator": creator, "tags": " ".join(mtags), "notes": "", "missing": 0,
                       "created_at": now, "updated_at": now})  # fmt: skip
        model_tags += [{"model_id": m, "tag_id": tag_ids[t]} for t in mtags]
        for k in range(10):
            fid = len(files) + 1
            if fid > n_files:
                break
            fmt = rnd.choice(FORMATS)
            fname = f"{thing.replace(' ', '_')}_{rnd.choice(PARTS)}_{k}.{fmt}"
            path = f"{mpath}!/{fname}" if archive else f"{folder}/{fname}"
            sliced = fmt in ("gcode", "bgcode", "gcode.3mf")
            tris = None if sliced else int(10 ** rnd.uniform(1, 6.7))
            ftags = sorted(rnd.sample(TAGS, rnd.randint(1, 3))) if rnd.random() < 0.3 else []
            file_tags += [{"file_id": fid, "tag_id": tag_ids[t]} for t in ftags]
            size = int(tris * 50 + 84) if tris else int(10 ** rnd.uniform(5, 7.7))
            files.append({
                "id": fid, "root_id": 1, "model_id": m, "path": path, "name": fname, "format": fmt,
                "archive_path": mpath if archive else None, "size_bytes": size, "mtime_ns": 1_700_000_000_000_000_000 + fid,
                "hash": f"sha256:{rnd.getrandbits(256):064x}", "triangles": tris,
                "bbox_x": None if sliced else rnd.uniform(5, 250), "bbox_y": None if sliced else rnd.uniform(5, 250),
                "bbox_z": None if sliced else rnd.uniform(1, 300),
                "volume_mm3": None if sliced else 10 ** rnd.uniform(2, 6.5),
                "area_mm2": None if sliced else 10 ** rnd.uniform(2, 5.5),
                "watertight": None if sliced or rnd.random() < 0.05 else int(rnd.random() < 0.8),
                "thumbnails": rnd.randint(1, 4) if sliced or fmt == "3mf" else 0,
                "printer_model": rnd.choice(PRINTERS) if sliced else None,
                "layer_height_mm": rnd.choice([0.1, 0.15, 0.2, 0.28]) if sliced else None,
                "print_time_s": rnd.uniform(300, 48 * 3600) if sliced else None,
                "filament_g": rnd.uniform(1, 800) if sliced else None,
                "filament_mm": None, "slicer": rnd.choice(SLICERS) if sliced else None,
                "problems": '["not watertight"]' if rnd.random() < 0.03 else None,
                "meta": None, "error": "truncated file" if rnd.random() < 0.01 else None,
                "missing": int(rnd.random() < 0.01), "tags": " ".join(ftags),
                "notes": rnd.choice(NOTES) if rnd.random() < 0.05 else "",
                "thumbnail_path": f"/cache/{fid}.png" if rnd.random() < 0.5 else None,
                "added_at": now, "scanned_at": now,
            })  # fmt: skip
    with db.conn:
        db["roots"].insert({"id": 1, "path": "/home/sam/Prints", "added_at": now})
        db["tags"].insert_all([{"id": i, "name": t} for t, i in tag_ids.items()])
        db["models"].insert_all(models, batch_size=2000)
        db["files"].insert_all(files, batch_size=2000)
        db["file_tags"].insert_all(file_tags, batch_size=5000)
        db["model_tags"].insert_all(model_tags, batch_size=5000)
    if analyze:  # full planner statistics (a sampled ANALYZE, analysis_limit, misleads the planner here)
        db.analyze()


def latencies(fn: Callable[[], object], rounds: int) -> list[float]:
    """Milliseconds of each of ``rounds`` calls of ``fn`` (after one warm-up call)."""
    fn()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):6.2f}  p95 {percentile(values, 95):6.2f}"


def cached_catalogue(cache: Path, n_files: int, analyze: bool = False) -> Path:
    """A pristine generated library of ``n_files`` under ``cache`` (made once; later runs copy it)."""
    folder = cache / f"lib-{n_files}{'-analyzed' if analyze else ''}"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        lib = Library(folder)
        generate(lib, n_files, analyze=analyze)
        lib.close()
        (folder / "done").write_text("")
    return folder


def measure(n_files: int, rounds: int, *, analyze: bool = False, verbose: bool = False,
            cache: Path | None = None) -> dict[str, Any]:
    """Latencies (ms) of the queries on a generated ``n_files`` catalogue: page, count, fts and like lists.

    ``cache``: a folder keeping the generated catalogue between runs (each run works on a copy,
    which the library's migrations may upgrade).
    """
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if cache is not None:
            shutil.copytree(cached_catalogue(cache, n_files, analyze), Path(tmp) / "lib")
            lib = Library(Path(tmp) / "lib")
        else:
            lib = Library(Path(tmp) / "lib")
            generate(lib, n_files, analyze=analyze)
        built = time.perf_counter() - t0
        if verbose:
            print(f"search latency: {n_files} generated files, {len(QUERIES)} queries x {rounds} runs "
                  f"(catalogue built in {built:.1f}s, {'after ANALYZE' if analyze else 'no ANALYZE statistics'})")
        page: list[float] = []
        count: list[float] = []
        plain: list[float] = []
        remembered: list[float] = []
        for q in QUERIES:

            def count_all(q: str = q) -> int:  # what count_files does when no count is remembered
                search = lib.store.search
                return search.count_now(plan_count(whole_words(parse_query(q), search.extended)))

            def count_plain(q: str = q) -> int:  # the straightforward count: every match's row read
                return lib.store.files.count(parse_query(q))

            p = latencies(lambda q=q: lib.files(q, limit=50), rounds)
            c = latencies(count_all, rounds)
            b = latencies(count_plain, rounds)
            r = latencies(lambda q=q: lib.count_files(q), rounds)  # remembered until the catalogue changes
            page += p
            count += c
            plain += b
            remembered += r
            if verbose:
                plan = getattr(getattr(lib.store, "search", None), "last_plan", "")
                print(f"  {q:<48} matches {count_all():>7}  first page {summary(p)}  count {summary(c)}  "
                      f"plain count {summary(b)}  [{plan}]")
        words = ["benchy", "dragon", "gridfinity", "clip", "voron", "planter"]
        fts: list[float] = []
        like: list[float] = []
        for w in words:
            fts += latencies(lambda w=w: lib.store.db.execute(
                "select rowid from files_fts where files_fts match ?", [f'"{w}"*']).fetchall(), rounds)  # fmt: skip
            like += latencies(lambda w=w: lib.store.db.execute(
                "select id from files where name like ? or path like ?", [f"%{w}%"] * 2).fetchall(), rounds)  # fmt: skip
        lib.close()
    return {"page": page, "count": count, "plain": plain, "remembered": remembered, "fts": fts, "like": like,
            "built_s": built}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    add_quick(ap)
    ap.add_argument("--files", type=int, help="catalogue size (default 1,000,000; --quick 100,000)")
    ap.add_argument("--rounds", type=int, default=30, help="timed runs per query")
    ap.add_argument("--verbose", action="store_true", help="one line per query")
    ap.add_argument("--analyze", action="store_true", help="run ANALYZE first (the library does not, yet)")
    ap.add_argument("--cache", type=Path, help="keep the generated catalogue in this folder and reuse it")
    args = ap.parse_args()
    n = args.files or (100_000 if args.quick else 1_000_000)
    m = measure(n, args.rounds, analyze=args.analyze, verbose=True, cache=args.cache)
    print(f"{'figure (ms over all queries)':<44} {'p50':>6} {'p95':>7}")
    for label, key in [("files(query, limit=50): first page", "page"), ("count of every match (whole search)", "count"),
                       ("baseline: plain count (every match's row)", "plain"),
                       ("count_files(query), remembered", "remembered"),
                       ("baseline: bare FTS5 MATCH of one word", "fts"), ("baseline: naive LIKE '%word%' scan", "like")]:
        print(f"{label:<44} {percentile(m[key], 50):6.2f} {percentile(m[key], 95):7.2f}")
    like95 = percentile(m["like"], 95)
    size = f"{n:,} generated files, {len(QUERIES)} queries x {args.rounds} runs"
    for label, key, target in (("first page p95", "page", 10), ("count-all p95", "count", 50),
                               ("count-all p95, remembered (unchanged catalogue)", "remembered", 50)):
        p95 = percentile(m[key], 95)
        emit(f"Search, {n:,}-file catalogue: {label}", f"{p95:.1f} ms", f"naive LIKE scan p95 {like95:.1f} ms",
             f"{like95 / p95:.0f}x faster than LIKE", f"< {target} ms", p95 < target, size=size, quick=args.quick,
             detail={"p50_ms": percentile(m[key], 50), "p95_ms": p95, "like_p95_ms": like95,
                     "fts_p95_ms": percentile(m["fts"], 95), "built_s": m["built_s"]})  # fmt: skip


if __name__ == "__main__":
    main()
