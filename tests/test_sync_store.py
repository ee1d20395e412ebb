"""Sync reaches the catalogue through the store (issue 10): no SQL in the plugin but its own
tables' in ``sync_store.py``, and the store gateway ``catalogue_copy`` keeps paths exact."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from architecture_support import sql_strings

from printmanager_core import Library
from printmanager_core.store.catalogue_copy import CatalogueCopy, Relocation

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "printmanager_sync"
GATEWAY = Path(__file__).resolve().parents[1] / "printmanager_core" / "store" / "catalogue_copy.py"


def test_no_sql_in_the_sync_plugin_and_its_own_tables_only_in_sync_store() -> None:
    """The core tables through the store's gateway, the plugin's own through sqlite-utils'
    table API in ``sync_store.py``: not one SQL string in the plugin."""
    found = {str(p.relative_to(PLUGIN)): sql_strings(p) for p in sorted(PLUGIN.rglob("*.py"))}
    assert {k: v for k, v in found.items() if v} == {}
    assert len(sql_strings(GATEWAY)) >= 10  # the detector sees SQL where there is some
    names = {str(p.relative_to(PLUGIN)) for p in PLUGIN.rglob("*.py")
             if re.search(r"""db\[["']""", p.read_text(encoding="utf-8"))}  # fmt: skip
    assert names == {"sync_store.py"}  # only sync_store opens tables
    tables = set(re.findall(r"""db\[["'](\w+)["']\]""", (PLUGIN / "sync_store.py").read_text(encoding="utf-8")))
    assert tables and all(t.startswith("sync_") for t in tables), tables


def test_catalogue_copy_moves_rows_with_their_exact_bytes(tmp_path: Path, corpus: Path) -> None:
    """Rows of a backup whose names are not UTF-8 land under the new root with the same bytes."""
    prints = tmp_path / "A" / "Prints"
    prints.mkdir(parents=True)
    name = os.path.join(os.fsencode(prints), b"caf\xe9-latin1.stl")
    shutil.copyfile(corpus / "prusaslicer-shapes" / "M3_hex_nut.stl", name)
    with Library(tmp_path / "A" / "library") as lib:
        lib.scan([prints], workers=1, thumbnails=False)
        source = CatalogueCopy(lib.store.db)
        (place,) = source.file_places()
        assert os.fsencode(place.path) == name and place.disk_path == place.path
        assert source.roots() == {place.root_id: str(prints)}
        source.backup(tmp_path / "backup.sqlite")
    new_root = tmp_path / "B" / "Prints"

    def move(path: str, src_root: str, dest_root: str) -> str:
        return dest_root + path[len(src_root):]

    with Library(tmp_path / "B" / "library") as lib_b:
        copy = CatalogueCopy(lib_b.store.db)
        relocation = Relocation(roots={str(prints): str(new_root)}, move=move)
        added = copy.copy_from(tmp_path / "backup.sqlite", relocation)
        assert added.as_dict() == {"roots": 1, "models": 1, "files": 1, "collections": 0}
        assert [os.fsencode(f.path) for f in lib_b.files()] == [os.path.join(os.fsencode(new_root), b"caf\xe9-latin1.stl")]
        assert lib_b.files()[0].name == "caf\udce9-latin1.stl"  # exact, as the scanner gives it
        # copying again adds nothing: rows are matched by their exact path
        assert copy.copy_from(tmp_path / "backup.sqlite", relocation).as_dict() == {
            "roots": 0, "models": 0, "files": 0, "collections": 0}  # fmt: skip
        exact = lib_b.files()[0].path
        assert copy.mark_missing([exact]) == 1 and lib_b.files() == []
