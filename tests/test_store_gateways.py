"""The store's gateways used directly, as plugins use them (``library.store``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from printmanager_core import Library
from printmanager_thumbnails import schema as thumbnail_schema


def test_thumbnail_bookkeeping_goes_through_the_store(library: Library, tmp_path: Path, corpus: Path) -> None:
    prints = tmp_path / "prints"
    shutil.copytree(corpus / "prusaslicer-shapes", prints)
    (prints / "broken.stl").write_bytes(b"solid x\nfacet normal 0 0")  # recorded with an error
    library.scan([prints], workers=1, thumbnails=False)
    files = {Path(f.path).name: f for f in library.files()}
    readable = {f.id for f in files.values() if not f.error}
    assert files["broken.stl"].error and len(readable) == 5
    gateway = library.store.files
    slot = thumbnail_schema.slot(library.store.db)  # the thumbnails plugin's slot of files

    assert set(slot.empty_ids()) == readable
    box, nut = files["box.stl"].id, files["M3_hex_nut.stl"].id
    slot.set({box: "thumbs/box.png", nut: "thumbs/nut.png"})
    assert library.file(box).thumbnail == "thumbs/box.png"
    assert set(slot.empty_ids()) == readable - {box, nut}
    # the stale-thumbnail check after a scan: only the asked-for files that have a thumbnail come back
    assert {r.id for r in gateway.with_thumbnail([box, nut, files["broken.stl"].id, 10**9])} == {box, nut}
    assert {r.id for r in gateway.with_thumbnail(sorted(readable))} == {box, nut}
    slot.set({nut: None})
    assert library.file(nut).thumbnail is None and nut in slot.empty_ids()
    assert [r.id for r in gateway.with_thumbnail(sorted(readable))] == [box]
    assert gateway.with_thumbnail([]) == []

    assert gateway.hashes_in_use() == {f.hash for f in files.values()}
