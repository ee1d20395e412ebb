"""The problems a rescan works out from the changes alone (problem_log, m038) are the
problems working out everything gives (issue 11, "rescan after touching 1%").

Real corpus files in a real library are changed at random — copied, re-headed,
replaced by another file, moved, deleted, made into near-copies, given a licence or
none — and rescanned; after every scan the stored problems and each file's
``problem_kinds`` are compared with a complete refresh of a copy of the same database.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest

from printmanager_core import Library, problems, problems_refresh
from printmanager_core.store import DB_NAME

#: small real files of every kind the problems between files look at
SOURCES = (
    "uranium/simpleTestCubeBinary.stl", "uranium/simpleTestCubeASCII.stl", "prusaslicer-shapes/box.stl",
    "prusaslicer-shapes/M3_hex_nut.stl", "3mf-samples/box.3mf", "3mf-samples/cylinder.3mf",
    "sliced/mini_cube_b.bgcode", "broken/unparseable.stl", "broken/empty.stl", "assimp/box.obj",
)


def _scaled_cube(corpus: Path, out: Path, factor: float) -> None:
    """The corpus' binary cube with every vertex scaled by ``factor`` (a near-copy when close to 1)."""
    data = (corpus / "uranium" / "simpleTestCubeBinary.stl").read_bytes()
    count = struct.unpack_from("<I", data, 80)[0]
    body = bytearray(data[:84])
    for i in range(count):
        values = struct.unpack_from("<12fH", data, 84 + 50 * i)
        body += struct.pack("<12fH", *values[:3], *(v * factor for v in values[3:12]), values[12])
    out.write_bytes(bytes(body))


def _stored(db: Path) -> tuple[list[tuple[Any, ...]], dict[int, str | None]]:
    """Every stored problem (without its id and time) and every file's ``problem_kinds``."""
    with sqlite3.connect(db) as conn:
        rows = sorted(conn.execute("select kind, path, file_id, model_id, root_id, other_id, detail from problems"),
                      key=repr)
        kinds = dict(conn.execute("select id, problem_kinds from files"))
    conn.close()
    return rows, kinds


def _worked_out_in_full(lib: Library, scratch: Path) -> tuple[list[tuple[Any, ...]], dict[int, str | None]]:
    """The problems of a copy of ``lib``'s database after a complete refresh."""
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir()
    with sqlite3.connect(lib.directory / DB_NAME) as src, sqlite3.connect(scratch / DB_NAME) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    with Library(scratch) as full:
        with full.store.transaction():
            full.store.db.execute("update catalogue_changes set log_trusted = 0, refreshed_catalogue = -1")
        problems_refresh.refresh(full.store, changed_ids=None, silence=problems.silenced(full.settings.all()))
    return _stored(scratch / DB_NAME)


class _Counter:
    """Counts the calls of a refresh step for one library's store (not for the copies)."""

    def __init__(self, fn: Any) -> None:
        self.fn, self.stores = fn, []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.stores.append(args[0])
        return self.fn(*args, **kwargs)

    def calls_for(self, lib: Library) -> int:
        return sum(store is lib.store for store in self.stores)


def _change(rng: random.Random, root: Path, corpus: Path, lib: Library) -> str:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    folders = [root / f"model{i}" for i in range(5)]
    what = rng.choice(["copy", "copy", "header", "replace", "move", "delete", "near", "licence", "new"])
    if what in ("header", "replace", "move", "delete") and not files:
        what = "new"
    if what == "new":
        src = corpus / rng.choice(SOURCES)
        dest = rng.choice(folders) / f"n{rng.randrange(10**6)}_{src.name}"
        dest.parent.mkdir(exist_ok=True)
        shutil.copy(src, dest)
    elif what == "copy" and files:
        src = rng.choice(files)
        dest = rng.choice(folders) / f"c{rng.randrange(10**6)}_{src.name}"
        dest.parent.mkdir(exist_ok=True)
        shutil.copy(src, dest)
    elif what == "header":
        stls = [p for p in files if p.suffix == ".stl" and p.stat().st_size > 84] or files
        p = rng.choice(stls)
        data = p.read_bytes()
        p.write_bytes(f"head {rng.randrange(10**6)}".encode().ljust(80) + data[80:] if p.suffix == ".stl"
                      else data + b"\n")
    elif what == "replace":
        p = rng.choice(files)
        shutil.copy(corpus / rng.choice([s for s in SOURCES if s.endswith(p.suffix)] or SOURCES), p)
    elif what == "move":
        p = rng.choice(files)
        dest = rng.choice(folders) / f"m{rng.randrange(10**6)}_{p.name}"
        dest.parent.mkdir(exist_ok=True)
        p.rename(dest)
    elif what == "delete":
        rng.choice(files).unlink()
    elif what == "near":
        folder = rng.choice(folders)
        folder.mkdir(exist_ok=True)
        _scaled_cube(corpus, folder / f"near{rng.randrange(10**6)}.stl", rng.choice([1.0004, 1.0, 1.5]))
    elif what == "licence":
        models = [m for m in lib.models() if not m.missing] if hasattr(lib, "models") else []
        if models:
            lib.update_model(rng.choice(models).id, licence=rng.choice(["CC-BY-4.0", ""]))
    return what


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rescans_work_out_the_same_problems_as_a_complete_refresh(
        seed: int, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    root = tmp_path / "prints"
    for i in range(3):
        (root / f"model{i}").mkdir(parents=True)
        for _ in range(3):
            src = corpus / rng.choice(SOURCES)
            shutil.copy(src, root / f"model{i}" / f"{rng.randrange(10**6)}_{src.name}")
    _scaled_cube(corpus, root / "model0" / "near.stl", 1.0004)
    incremental = _Counter(problems_refresh._refresh_changes)
    complete = _Counter(problems_refresh._refresh_from_catalogue)
    monkeypatch.setattr(problems_refresh, "_refresh_changes", incremental)
    monkeypatch.setattr(problems_refresh, "_refresh_from_catalogue", complete)
    done: list[str] = []
    with Library(tmp_path / "lib") as lib:
        lib.scan([root], thumbnails=False)
        assert complete.calls_for(lib) == 1  # a first scan works out everything
        for step in range(14):
            done += [_change(rng, root, corpus, lib) for _ in range(rng.randint(1, 3))]
            lib.scan(thumbnails=False)
            got = _stored(lib.directory / DB_NAME)
            assert got == _worked_out_in_full(lib, tmp_path / "full"), (step, done)
        assert incremental.calls_for(lib) >= 8, (incremental.calls_for(lib), complete.calls_for(lib), done)
    assert any(kind == "duplicate" for kind, *_ in got[0])


def test_problems_written_by_others_make_the_next_refresh_work_out_everything(
        tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "prints" / "m"
    root.mkdir(parents=True)
    for name in "ab":
        shutil.copy(corpus / "uranium" / "simpleTestCubeBinary.stl", root / f"{name}.stl")
    complete = _Counter(problems_refresh._refresh_from_catalogue)
    monkeypatch.setattr(problems_refresh, "_refresh_from_catalogue", complete)

    def add_and_rescan(name: str) -> None:
        shutil.copy(corpus / "uranium" / "simpleTestCubeBinary.stl", root / name)
        lib.scan(thumbnails=False)
        assert _stored(lib.directory / DB_NAME) == _worked_out_in_full(lib, tmp_path / "full")

    with Library(tmp_path / "lib") as lib:
        lib.scan([root.parent], thumbnails=False)
        model = next(m for m in lib.models())
        lib.update_model(model.id, licence="CC0-1.0")  # the model problems, worked out as the catalogue is
        add_and_rescan("c.stl")
        assert complete.calls_for(lib) == 1
        (root / "datapackage.json").write_text("{ not json")  # the sidecar step records a problem
        add_and_rescan("d.stl")
        assert complete.calls_for(lib) == 2
        assert "sidecar-unreadable" in {kind for kind, *_ in _stored(lib.directory / DB_NAME)[0]}
        add_and_rescan("e.stl")  # the same sidecar problem: nothing written by others since
        assert complete.calls_for(lib) == 2
