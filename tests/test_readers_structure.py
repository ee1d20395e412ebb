"""How the readers are built: no reader imports another, no reader file is long, and the
test-only references (trimesh, numpy-stl) are not runtime dependencies.

A *reader module* is a module under ``printmanager_core/readers/`` that
implements the ``register_readers`` hook. Everything else there is a shared
helper (the table, the slicer vocabulary, images, zip and XML access, mesh
measures, the 3MF package code, ...). A reader module may import helpers only,
directly or through other helpers: which reader reads a file is the reader
table's choice, never another reader's.
"""

from __future__ import annotations

import ast
import functools
import tomllib
from pathlib import Path

from printmanager_core.plugins import DEFAULT_PLUGINS

REPO = Path(__file__).resolve().parents[1]
READERS = REPO / "printmanager_core" / "readers"
PACKAGE = "printmanager_core.readers"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(READERS.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


@functools.cache
def _import_targets(name: str) -> tuple[str, ...]:
    """Every absolute name module ``name`` imports (``from a import b`` gives ``a`` and ``a.b``),
    at any level: function-level imports count."""
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    here = name if _is_package(name) else name.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets.append(base)
            targets.extend(f"{base}.{alias.name}" for alias in node.names)
    return tuple(targets)


@functools.cache
def _imports(name: str) -> frozenset[str]:
    """The modules under ``printmanager_core.readers`` that module ``name`` imports directly,
    with the packages that importing them runs."""
    found: set[str] = set()
    for target in _import_targets(name):
        if target in MODULES:
            parts = target.split(".")
            found.update(".".join(parts[:i]) for i in range(3, len(parts) + 1) if ".".join(parts[:i]) in MODULES)
    found.discard(name)
    return frozenset(found)


def _reader_modules() -> set[str]:
    out = set()
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.FunctionDef) and n.name == "register_readers" for n in tree.body):
            out.add(name)
    return out


def test_the_graph_sees_the_readers_and_their_helpers() -> None:
    readers = _reader_modules()
    assert readers >= {f"{PACKAGE}.{m}" for m in ("stl", "gcode", "bgcode", "gcode3mf", "threemf.reader", "gltf")}
    # the helpers the readers share are seen as imports (the graph is not empty by mistake)
    shared = {f"{PACKAGE}.slicer_vocab", f"{PACKAGE}.images", f"{PACKAGE}.gcode_scan"}
    assert shared <= _imports(f"{PACKAGE}.bgcode") | _imports(f"{PACKAGE}.gcode_scan")
    assert f"{PACKAGE}.threemf.package" in _imports(f"{PACKAGE}.gcode3mf")


def test_no_module_under_readers_imports_a_reader_module() -> None:
    readers = _reader_modules()
    offences = []
    for name in MODULES:
        seen: set[str] = set()
        todo = [name]
        while todo:  # everything importing ``name`` runs, helpers' imports included
            for target in _imports(todo.pop()):
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        bad = sorted((seen & readers) - {name})
        if bad:
            offences.append(f"{name} imports reader module(s) {', '.join(bad)}")
    assert offences == []


def test_every_reader_module_is_a_default_plugin() -> None:
    in_readers = {m for m in DEFAULT_PLUGINS if m.startswith(PACKAGE + ".")}
    assert in_readers == _reader_modules()


def test_no_file_under_readers_is_longer_than_the_limit() -> None:
    long = {}
    for path in READERS.rglob("*.py"):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            long[str(path.relative_to(REPO))] = lines
    assert long == {}


def test_trimesh_and_numpy_stl_are_test_references_only() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = [d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in project["dependencies"]]
    assert "trimesh" not in core and "numpy-stl" not in core
    assert any(d.startswith("trimesh") for d in project["optional-dependencies"]["test"])
    importers = []
    for top in ("printmanager_core", "plugins"):
        for path in (REPO / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
                if any(n.split(".")[0] in ("trimesh", "stl") for n in names):
                    importers.append(str(path.relative_to(REPO)))
    assert importers == []


def test_only_the_registered_module_asks_the_plugin_manager() -> None:
    """The table and the readers are plain code: the plugin manager is asked in one place."""
    askers = {name for name in MODULES
              if {"printmanager_core.registry", "printmanager_core.plugins"} & set(_import_targets(name))}
    assert askers == {f"{PACKAGE}.registered"}
