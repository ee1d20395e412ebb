"""What a scan leaves after every commit: the full-text index agrees with the rows, and the
problems refresh a scan skips (nothing changed) is skipped only when nothing changed."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from printmanager_core import Library


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def _check_fts(db: Path) -> None:
    """FTS5's own check of an external-content index against its table, plus a word lookup
    per row: every row's name is found by its first word, and no deleted row is."""
    con = sqlite3.connect(db)
    try:
        for table in ("files", "models"):
            con.execute(f"insert into {table}_fts ({table}_fts, rank) values ('integrity-check', 1)")
            rows = con.execute(f"select id, name from {table}").fetchall()
            indexed = {r[0] for r in con.execute(f"select rowid from {table}_fts")}
            assert indexed == {r[0] for r in rows}
            for row_id, name in rows:
                word = "".join(ch if ch.isalnum() else " " for ch in name).split()[0]
                hits = {r[0] for r in con.execute(f"select rowid from {table}_fts where {table}_fts match ?",
                                                  [f'name:"{word}"'])}
                assert row_id in hits, (table, name)
    finally:
        con.close()


def _problems(library: Library) -> set[tuple[str, str]]:
    return {(p.kind, Path(p.path).name) for p in library.problems()}


def test_fts_agrees_with_rows_after_every_scan_and_edit(library: Library, tmp_path: Path, corpus: Path) -> None:
    root = tmp_path / "Prints"
    benchy = corpus / "Benchy multi-part"
    for name in ("Wheel.stl", "Window.stl", "Cargo box.stl"):
        _copy(benchy / name, root / "Benchy" / name)
    _copy(corpus / "assimp" / "cube.ply", root / "cubes" / "parts" / "cube.ply")
    db = library.db_path
    library.scan([root], thumbnails=False)
    _check_fts(db)
    wheel = library.file(str(root / "Benchy" / "Wheel.stl"))
    library.tag(wheel.id, "spare")
    library.set_file_notes(wheel.id, "print two")
    _check_fts(db)
    # moved (same content, new name), gone missing, changed in place, added
    (root / "Benchy" / "Wheel.stl").rename(root / "Benchy" / "Rim.stl")
    (root / "Benchy" / "Window.stl").unlink()
    _copy(benchy / "Window.stl", root / "Benchy" / "Cargo box.stl")
    _copy(corpus / "assimp" / "cube.ply", root / "Blocks" / "Brick.ply")
    report = library.scan(thumbnails=False)
    assert (report.moved, report.missing, report.updated, report.added) == (1, 1, 1, 1), report
    _check_fts(db)
    con = sqlite3.connect(db)
    rim = con.execute("select rowid from files_fts where files_fts match 'name:Rim'").fetchall()
    assert rim == [(wheel.id,)]  # the moved row kept its id, its words follow its new name
    assert con.execute("select count(*) from files_fts where files_fts match 'tags:spare'").fetchone()[0] == 1
    con.close()
    library.remove_root(str(root))
    _check_fts(db)


def test_a_scan_skips_the_problems_refresh_only_when_nothing_changed(
    library: Library, tmp_path: Path, corpus: Path
) -> None:
    root = tmp_path / "Prints"
    _copy(corpus / "Benchy multi-part" / "Wheel.stl", root / "Wheel" / "Wheel.stl")
    _copy(corpus / "Benchy multi-part" / "Wheel.stl", root / "Copy" / "Wheel.stl")
    library.scan([root], thumbnails=False)
    first = _problems(library)
    assert ("duplicate", "Wheel.stl") in first
    assert library.store.problems.current()
    library.scan(thumbnails=False)
    assert library.store.problems.current() and _problems(library) == first
    # an empty folder is found by the walk, with nothing in the catalogue changed
    (root / "Empty").mkdir()
    library.scan(thumbnails=False)
    assert ("empty-folder", "Empty") in _problems(library)
    assert library.store.problems.current()
    # another program changes a row: the next scan works the problems out again
    con = sqlite3.connect(library.db_path)
    with con:
        con.execute("update files set hash = 'sha256:other', geometry_hash = 'other' where path like ?", ["%Copy%"])
    con.close()
    assert not library.store.problems.current()
    library.scan(thumbnails=False)
    assert ("duplicate", "Wheel.stl") not in _problems(library)
    # a tag is not something problems are worked out from
    library.tag(library.files()[0].id, "x")
    assert library.store.problems.current()
    # a licence set on a model is
    model = library.models()[0]
    library.update_model(model.id, licence="CC-BY-4.0")
    library.scan(thumbnails=False)
    assert library.store.problems.current()
    assert ("missing-licence", Path(model.path).name) not in _problems(library)
