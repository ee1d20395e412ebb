"""What tests/test_architecture.py reads the source with: module-level imports and SQL strings.

Both are read with ``ast`` from the files, never by importing them.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
#: where the project's packages live → the folder each top-level package is in
SOURCE_ROOTS = (REPO, REPO / "plugins")
PACKAGES = ("printmanager_core", "printmanager_sync", "printmanager_thumbnails", "printmanager_vault", "printmanager_web", "printmanager_account", "printmanager_share_notify", "printmanager_share")


@functools.lru_cache(maxsize=None)
def project_modules() -> dict[str, Path]:
    """Every module of the project's packages: dotted name → file."""
    out: dict[str, Path] = {}
    for base in SOURCE_ROOTS:
        for pkg in PACKAGES:
            top = base / pkg
            if not (top / "__init__.py").exists():
                continue
            for path in sorted(top.rglob("*.py")):
                parts = list(path.relative_to(base).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(body: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: the body, and inside module-level
    ``if``/``try``/``with`` blocks, but not under ``if TYPE_CHECKING:`` nor inside functions."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _module_level_imports(node.body)
            yield from _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                yield from _module_level_imports(block)
        elif isinstance(node, ast.With):
            yield from _module_level_imports(node.body)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


@functools.lru_cache(maxsize=None)
def import_graph() -> dict[str, set[str]]:
    """Module → the project modules it imports at module level.

    ``from a import b`` counts ``a``, and ``a.b`` too when that is a module.
    Importing ``a.b.c`` also runs the ``__init__`` of ``a.b`` (and ``a``), so an
    edge goes to each such package too, unless the importer lies inside it: its
    own packages are already being imported when it runs (``from . import x``
    imports only ``x``).
    """
    modules = project_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _module_level_imports(tree.body):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            else:
                base = _resolve(name, is_package, node)
                found = [base] + [f"{base}.{a.name}" for a in node.names]
            for target in found:
                if target not in modules:
                    continue
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    module = ".".join(parts[:i])
                    if module in modules and not name.startswith(module + "."):
                        targets.add(module)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def a_cycle(graph: dict[str, set[str]], members: list[str]) -> list[str]:
    """One import circle through the first of ``members`` (for the failure message)."""
    start = members[0]
    inside = set(members)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & inside):
            if w == start:
                return [*paths[v], start]
            if w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return members


# -- SQL ---------------------------------------------------------------------------------

#: SQL in a string: a statement's first words, or its telling middle
SQL_PATTERNS = (
    re.compile(r"^\s*(pragma\s+\w+|alter\s+table\s|drop\s+(table|index|view|trigger)\s|with\s+\w+\s+as\s)", re.I),
    re.compile(r"\bselect\s.+?\sfrom\s", re.I | re.S),
    re.compile(r"\b(insert|replace)\s+(or\s+\w+\s+)?into\s", re.I),
    re.compile(r"\bupdate\s+\S+\s+set\s", re.I),
    re.compile(r"\bdelete\s+from\s", re.I),
    re.compile(r"\bcreate\s+(virtual\s+|unique\s+)?(table|index|view|trigger)\s", re.I),
)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _string_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string: its literal parts, with {} for the rest
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


@functools.lru_cache(maxsize=None)
def sql_strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string in a file that reads as SQL (docstrings aside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docs = _docstrings(tree)
    inside_fstring = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    found = []
    for node in ast.walk(tree):
        if id(node) in docs or id(node) in inside_fstring:
            continue
        text = _string_text(node)
        if text and any(p.search(text) for p in SQL_PATTERNS):
            found.append((getattr(node, "lineno", 0), text))
    return sorted(found)
