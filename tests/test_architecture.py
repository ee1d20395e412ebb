"""The shape of the code: SQL only in the store, no import circles, one way to add a field.

docs/architecture.md says what goes where; these tests keep it so.
"""

from __future__ import annotations

import json
import re
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from architecture_support import (
    REPO,
    a_cycle,
    cycles,
    import_graph,
    project_modules,
    sql_strings,
)

#: where SQL may be written: the store (its gateways and migrations)
STORE = "printmanager_core.store"

# Modules that still hold SQL of their own while other engineers move it into
# store gateways (issue 10). The integrator empties this list as those branches
# land; test_pending_sql_list_is_current fails for an entry whose SQL is gone,
# so the list only ever shrinks.
PENDING_SQL: set[str] = set()

#: a plugin's own tables (its migration set) are its own: their SQL lives in one storage
#: module of the plugin, which names no table outside the plugin's prefix
PLUGIN_STORES: dict[str, str] = {"printmanager_share.store": "share_bundle"}  # sync_store: sqlite-utils API, no SQL

# Import circles among module-level imports that remain. None do: keep it so.
KNOWN_CYCLES: list[list[str]] = []

#: what the store may import from the rest of printmanager: records, paths, errors,
#: locking, clock (now_iso), readers.base (the reader's result types)
STORE_MAY_IMPORT = {
    "printmanager_core.errors",
    "printmanager_core.paths",
    "printmanager_core.locking",
    "printmanager_core.records",
    "printmanager_core.clock",
    "printmanager_core.readers.base",
    "printmanager_core.lazy_exports",  # a leaf: stdlib only
    "printmanager_core.entry_points",  # a leaf: stdlib only (sqlite-utils' plugins, store/sqlite_utils_import.py)
}


def _in_store(module: str) -> bool:
    return module == STORE or module.startswith(STORE + ".")


def _modules_with_sql() -> dict[str, list[tuple[int, str]]]:
    found = {}
    for module, path in project_modules().items():
        if _in_store(module):
            continue
        strings = sql_strings(path)
        if strings:
            found[module] = strings
    return found


def test_sql_is_written_only_in_the_store() -> None:
    outside = {m: s for m, s in _modules_with_sql().items() if m not in PENDING_SQL and m not in PLUGIN_STORES}
    detail = "; ".join(f"{m} line {s[0][0]}: {s[0][1][:60]!r}" for m, s in sorted(outside.items()))
    assert not outside, f"SQL outside printmanager_core/store/ (move it into a gateway): {detail}"


def test_plugin_stores_touch_only_their_plugins_tables() -> None:
    modules = project_modules()
    for module, prefix in PLUGIN_STORES.items():
        strings = sql_strings(modules[module])
        assert strings, f"{module} holds no SQL: take it off PLUGIN_STORES"
        for line, sql in strings:
            # "{}" is a table name filled in from the module's own tuple of tables
            upsert_free = re.sub(r"\bdo update set\b", "", sql, flags=re.I)
            names = re.findall(r"\b(?:from|into|update|join|table)\s+([\w{}]+)", upsert_free, flags=re.I)
            foreign = [n for n in names if not (n.startswith(prefix) or n == "{}")]
            assert not foreign, f"{module} line {line} names tables outside {prefix}*: {foreign}"


def test_pending_sql_list_is_current() -> None:
    with_sql = _modules_with_sql()
    modules = project_modules()
    stale = sorted(m for m in PENDING_SQL if m not in with_sql)
    unknown = sorted(m for m in PENDING_SQL if m not in modules)
    assert not stale, f"no SQL left in {stale}: take them off PENDING_SQL"
    assert not unknown, f"PENDING_SQL names modules that do not exist: {unknown}"


def test_the_sql_detector_sees_sql() -> None:
    """The grep is not vacuous: the store's own modules are full of SQL it finds."""
    modules = project_modules()
    for gateway in ("files", "models", "roots", "tags", "collections", "query_sql"):
        assert sql_strings(modules[f"{STORE}.{gateway}"]), gateway


def test_sql_detector_on_samples(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""Select the files from a folder (a docstring, not SQL)."""\n'
        'A = "select id from files where x = ?"\n'
        'B = f"update {T} set a = ?"\n'
        'C = "INSERT OR IGNORE INTO tags (name) values (?)"\n'
        'D = ("delete from collection_models "\n     "where collection_id = ?")\n'
        'E = "pragma integrity_check"\n'
        'F = "update the thumbnails"\n'
        'G = "please select a file"\n',
        encoding="utf-8",
    )
    assert [line for line, _ in sql_strings(sample)] == [2, 3, 4, 5, 7]


def test_no_import_cycle_among_project_modules() -> None:
    graph = import_graph()
    assert len(graph) > 50 and any(graph.values())  # the graph was really read
    found = [c for c in cycles(graph) if c not in KNOWN_CYCLES]
    detail = "; ".join(" → ".join(a_cycle(graph, c)) for c in found)
    assert not found, f"import circle among module-level imports: {detail}"


def test_the_import_graph_sees_circles() -> None:
    """The cycle check is not vacuous: two modules importing each other are found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert a_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    real = import_graph()
    assert "printmanager_core.store" in real["printmanager_core.library"]
    assert "printmanager_core.records" in real["printmanager_core.store.files"]


def test_the_store_imports_no_layer_above_it() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if not _in_store(module):
            continue
        above = {t for t in targets if not _in_store(t) and t not in STORE_MAY_IMPORT}
        assert not above, f"{module} imports {sorted(above)}: the store sits below the domain"


# -- adding a catalogue field, the documented way (docs/contributing.md) ------------------------

FIELD_DECLARATION = (
    '    scanned_at: str | None = stored("scanned_at")\n',
    '    #: the nozzle the file was sliced for (mm)\n'
    '    nozzle_mm: float | None = stored("nozzle_mm", read=True)\n',
)
MIGRATION = '''

@migrations()
def m099_nozzle(db: Database) -> None:
    """The nozzle a sliced file was made for."""
    db.table("files").add_column("nozzle_mm", float)
'''
READ_RESULT_FIELD = (
    "    meta: dict[str, Any] = attrs.field(factory=dict)\n",
    "    nozzle_mm: float | None = None\n",
)
READER_CHANGE = (
    "problems=list(scan.problems), meta=meta)",
    'problems=list(scan.problems), meta=meta,\n'
    '                      nozzle_mm=parse_number(first(scan.kv, "nozzle_diameter")))',
    "from .slicer_vocab import slicer_facts",
    "from .slicer_vocab import first, parse_number, slicer_facts",
)


def _insert_after(path: Path, anchor: str, text: str) -> None:
    source = path.read_text(encoding="utf-8")
    assert source.count(anchor) == 1, f"{path.name}: the documented anchor {anchor.strip()!r} moved"
    path.write_text(source.replace(anchor, anchor + text), encoding="utf-8")


def _replace(path: Path, old: str, new: str) -> None:
    source = path.read_text(encoding="utf-8")
    assert source.count(old) == 1, f"{path.name}: {old!r} moved"
    path.write_text(source.replace(old, new), encoding="utf-8")


def test_adding_a_catalogue_field_takes_one_declaration_one_migration_one_reader_change(
    tmp_path: Path, corpus: Path
) -> None:
    """A copy of printmanager_core gains ``nozzle_mm`` exactly as docs/contributing.md says;
    a scan of the corpus's sliced G-code then has it in the catalogue and in ``ls --json``."""
    tree = tmp_path / "src"
    package = tree / "printmanager_core"
    shutil.copytree(REPO / "printmanager_core", package, ignore=shutil.ignore_patterns("__pycache__"))
    # 1. one field declaration
    _insert_after(package / "records.py", *FIELD_DECLARATION)
    # 2. one migration
    with open(package / "store" / "migrations.py", "a", encoding="utf-8") as fh:
        fh.write(MIGRATION)
    # 3. one reader change: the reader reports the value on its ReadResult
    _insert_after(package / "readers" / "base.py", *READ_RESULT_FIELD)
    _replace(package / "readers" / "gcode.py", READER_CHANGE[0], READER_CHANGE[1])
    _replace(package / "readers" / "gcode.py", READER_CHANGE[2], READER_CHANGE[3])

    prints = tmp_path / "prints"
    shutil.copytree(corpus / "sliced", prints)
    library = tmp_path / "library"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), env_path()]), "PRINTMANAGER_LIBRARY": str(library)}
    run = [sys.executable, "-c", "from printmanager_core.cli import main; main()"]

    def cli(*args: str) -> str:
        done = subprocess.run([*run, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    where = subprocess.run([sys.executable, "-c", "import printmanager_core; print(printmanager_core.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(tree)  # the changed copy is what runs
    cli("scan", str(prints), "--workers", "1", "--no-thumbnails")
    files = {Path(f["path"]).name: f for f in json.loads(cli("ls", "--json"))}
    assert files["mini_cube_a.gcode"]["nozzle_mm"] == 0.4  # "; nozzle_diameter = 0.4"
    assert files["cura_torus.gcode"]["nozzle_mm"] is None  # Cura's header does not say
    # in the catalogue itself, in the new column
    with sqlite3.connect(library / "printmanager.db") as db:
        stored_values = dict(db.execute("select name, nozzle_mm from files"))
    assert stored_values["mini_cube_a.gcode"] == 0.4


def env_path() -> str:
    return os.environ.get("PYTHONPATH", "")
