"""sqlite-utils imported without numpy: a warm rescan does not pay for numpy, and numpy's
types still map to column types once numpy is imported (store/sqlite_utils_import.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

#: run in a fresh interpreter: sqlite-utils first, then numpy, then a table from numpy values
_LATE_NUMPY = """
import json, sqlite3, sys
from printmanager_core.store.sqlite_utils_import import import_sqlite_utils
sqlite_utils = import_sqlite_utils()
before = "numpy" in sys.modules
import numpy as np
db = sqlite_utils.Database(sqlite3.connect(":memory:"))
db["t"].insert({"a": np.int32(3), "b": np.float64(0.5), "c": np.uint8(7)})
print(json.dumps([before, {c.name: c.type for c in db["t"].columns}, repr(list(db["t"].rows))]))
"""
#: the same with numpy imported first (sqlite-utils' own mapping): the reference
_EARLY_NUMPY = _LATE_NUMPY.replace("import json, sqlite3, sys", "import json, sqlite3, sys, numpy")


def test_numpy_types_map_to_columns_when_numpy_is_imported_after_sqlite_utils() -> None:
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
            for code in (_LATE_NUMPY, _EARLY_NUMPY)]
    assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    (before, columns, rows), (early, ref_columns, ref_rows) = (json.loads(r.stdout) for r in runs)
    assert before is False and early is True  # importing sqlite-utils did not import numpy
    assert columns == {"a": "INTEGER", "b": "REAL", "c": "INTEGER"}
    assert (columns, rows) == (ref_columns, ref_rows)  # as sqlite-utils does with numpy imported first


def test_a_warm_rescan_imports_no_numpy_and_a_changed_file_is_still_read(tmp_path: Path, corpus: Path) -> None:
    data = tmp_path / "data"
    # a model folder in the root: the walk asks no reader about a name (a file directly in a
    # root is looked up in the reader table, which imports the mesh readers and numpy)
    shutil.copytree(corpus / "uranium", data / "uranium")
    lib = tmp_path / "lib"
    code = ("import json, sys; from printmanager_core.cli import main\n"
            "try:\n    main(['--library', sys.argv[1], 'scan', '--json', '--no-thumbnails', *sys.argv[2:]])\n"
            "except SystemExit:\n    pass\n"
            "print(json.dumps('numpy' in sys.modules))")

    def scan(*args: str) -> tuple[dict, bool]:
        out = subprocess.run([sys.executable, "-c", code, str(lib), *args], capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr
        *report, numpy = out.stdout.strip().splitlines()
        return json.loads("\n".join(report)), json.loads(numpy)

    first, _ = scan(str(data))
    assert first["added"] > 0
    again, numpy = scan()
    assert again["unchanged"] == first["added"] and again["updated"] == 0
    assert numpy is False
    stl = next(data.rglob("*.stl"))
    stl.write_bytes(stl.read_bytes() + b"\0" * 4)  # a changed size: re-read
    touched, _ = scan()
    assert touched["updated"] == 1


#: a sqlite-utils plugin (the ``sqlite_utils`` entry point group) adding an SQL function
_PLUGIN = """
import sqlite_utils

@sqlite_utils.hookimpl
def prepare_connection(conn):
    conn.create_function("wren", 0, lambda: "wren says hi")
"""

_USE_PLUGIN = """
import json, sqlite3, sys
sys.path.insert(0, sys.argv[1])
from printmanager_core.store.sqlite_utils_import import import_sqlite_utils
sqlite_utils = import_sqlite_utils()
from sqlite_utils.plugins import get_plugins
db = sqlite_utils.Database(sqlite3.connect(":memory:"))
said, metadata_imported = db.execute("select wren()").fetchone()[0], "importlib.metadata" in sys.modules
print(json.dumps([said, get_plugins(), metadata_imported]))  # (get_plugins reads the project name from it)
"""


def test_sqlite_utils_plugins_are_loaded_as_sqlite_utils_loads_them(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "sqlite_utils_wren-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sqlite-utils-wren\nVersion: 1.0\n\nA plugin.\n")
    (info / "entry_points.txt").write_text("[sqlite_utils]\nwren = sqlite_utils_wren\n")
    (site / "sqlite_utils_wren.py").write_text(_PLUGIN)
    out = subprocess.run([sys.executable, "-c", _USE_PLUGIN, str(site)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    said, plugins, metadata_imported = json.loads(out.stdout)
    assert said == "wren says hi"  # the plugin prepared the connection
    assert plugins == [{"name": "sqlite-utils-wren", "hooks": ["prepare_connection"], "version": "1.0"}]
    assert metadata_imported is False
