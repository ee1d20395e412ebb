"""Sync reaches the catalogue through the store (issue 10): no SQL in the plugin but its own
tables' in ``sync_store.py``, and the store gateway ``catalogue_copy`` keeps paths exact."""

from __future__ import annotations

import ast
import os
import re
import shutil
from pathlib import Path

from printmanager_core import Library
from printmanager_core.store.catalogue_copy import CatalogueCopy, Relocation

PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "printmanager_sync"
SQL = re.compile(
    r"\b(select\b.*\bfrom\b|insert\s+(or\s+\w+\s+)?into\b|update\s+\w+\s+set\b|delete\s+from\b|pragma\s+\w+"
    r"|create\s+(table|index)\b|drop\s+(table|index)\b)",
    re.IGNORECASE | re.DOTALL,
)


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant of a module except docstrings (f-strings' literal parts included)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]  # fmt: skip


def test_no_sql_in_the_sync_plugin_outside_its_own_tables_module() -> None:
    found = []
    for path in sorted(PLUGIN.rglob("*.py")):
        if path.name == "sync_store.py":
            continue
        for line, text in _strings(ast.parse(path.read_text(encoding="utf-8"))):
            if SQL.search(text):
                found.append(f"{path.relative_to(PLUGIN)}:{line}: {text[:60]!r}")
    assert found == []
    # the detector itself finds what it should
    own = _strings(ast.parse((PLUGIN / "sync_store.py").read_text(encoding="utf-8")))
    assert sum(1 for _line, text in own if SQL.search(text)) >= 10
    # and sync_store touches only the plugin's own tables
    for _line, text in own:
        for table in re.findall(r"\b(?:from|into|update)\s+(?!set\b)(\w+)", text, re.IGNORECASE):
            assert table.startswith("sync_"), text


def test_catalogue_copy_moves_rows_with_their_exact_bytes(tmp_path: Path, corpus: Path) -> None:
    """Rows of a backup whose names are not UTF-8 land under the new root with the same bytes."""
    prints = tmp_path / "A" / "Prints"
    prints.mkdir(parents=True)
    name = os.path.join(os.fsencode(prints), b"caf\xe9-latin1.stl")
    shutil.copyfile(corpus / "prusaslicer-shapes" / "M3_hex_nut.stl", name)
    with Library(tmp_path / "A" / "library") as lib:
        lib.scan([prints], workers=1, thumbnails=False)
        source = CatalogueCopy(lib.db)
        (place,) = source.file_places()
        assert os.fsencode(place.path) == name and place.disk_path == place.path
        assert source.roots() == {place.root_id: str(prints)}
        source.backup(tmp_path / "backup.sqlite")
    new_root = tmp_path / "B" / "Prints"

    def move(path: str, src_root: str, dest_root: str) -> str:
        return dest_root + path[len(src_root):]

    with Library(tmp_path / "B" / "library") as lib_b:
        copy = CatalogueCopy(lib_b.db)
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
