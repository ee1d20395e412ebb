"""The recipient page's vendored JavaScript: as recorded, complete, and reachable only through the import map.

No CDN: every module the page imports, and every module those import, is a file
shipped under ``plugins/printmanager_share/static/``. The browser test
(``tests/test_share_browser.py``) runs it in Chromium.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "plugins" / "printmanager_share" / "static"
IMPORT = re.compile(r"""(?:^|[;\s}])(?:import|export)\s*(?:[\w*{}\s,$]*?\s*from\s*)?["']([^"']+)["']""", re.M)


def _import_map() -> dict[str, str]:
    html = (STATIC / "share.html").read_text(encoding="utf-8")
    [block] = re.findall(r'<script type="importmap">(.*?)</script>', html, re.S)
    imports = json.loads(block)["imports"]
    assert isinstance(imports, dict)
    return imports


def _resolve(spec: str, importer: str, imports: dict[str, str]) -> str:
    """The static/-relative path a module specifier of ``importer`` loads, as the browser resolves it."""
    if spec.startswith("."):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
    if spec in imports:
        return posixpath.normpath(imports[spec].removeprefix("./static/"))
    prefixes = [p for p in imports if p.endswith("/") and spec.startswith(p)]
    assert prefixes, f"{importer}: {spec!r} is not in the import map"
    prefix = max(prefixes, key=len)
    return posixpath.normpath(imports[prefix].removeprefix("./static/") + spec[len(prefix):])


def _imports_of(path: str) -> list[str]:
    text = (STATIC / path).read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"^\s*//.*$", "", text, flags=re.M)
    return IMPORT.findall(text)


def test_vendored_files_match_vendored_md() -> None:
    listed = re.findall(r"^    ([0-9a-f]{64})  (vendor/\S+)$", (STATIC / "VENDORED.md").read_text(), re.M)
    assert len(listed) > 20
    shipped = sorted(str(p.relative_to(STATIC)) for p in (STATIC / "vendor").rglob("*") if p.is_file())
    assert sorted(name for _, name in listed) == shipped
    for digest, name in listed:
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
    for package in ("age-encryption", "noble-ciphers", "noble-curves", "noble-hashes", "noble-post-quantum",
                    "scure-base"):
        assert (STATIC / "vendor" / package / "LICENSE").is_file(), package
    assert "| age-encryption | 0.3.1 | BSD-3-Clause |" in (STATIC / "VENDORED.md").read_text()


def test_every_import_resolves_to_a_shipped_file() -> None:
    imports = _import_map()
    for target in imports.values():
        assert target.startswith("./static/vendor/"), target
        assert (STATIC / target.removeprefix("./static/")).exists(), target
    seen: set[str] = set()
    todo = ["share.js"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for spec in _imports_of(path):
            assert not re.match(r"^[a-z]+:", spec), f"{path} imports {spec} from the network"
            resolved = _resolve(spec, path, imports)
            assert (STATIC / resolved).is_file(), f"{path}: {spec} → {resolved} is not shipped"
            todo.append(resolved)
    assert "vendor/age-encryption/dist/index.js" in seen and "vendor/noble-curves/ed25519.js" in seen
    shipped = {str(p.relative_to(STATIC)) for p in (STATIC / "vendor").rglob("*.js")}
    assert shipped <= seen, f"vendored but never loaded: {sorted(shipped - seen)}"


def test_the_page_loads_nothing_from_elsewhere() -> None:
    html = (STATIC / "share.html").read_text(encoding="utf-8")
    for attr in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert attr.startswith("static/"), attr
    script = (STATIC / "share.js").read_text(encoding="utf-8")
    assert "http://" not in script and "https://" not in script
    assert '<meta name="referrer" content="no-referrer">' in html
