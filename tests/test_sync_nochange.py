"""The no-change sync's survey (issue 11, "No-change sync of a 100,000-file library"): its fast
paths give what the general forms give, and a change after a no-change sync is still pushed."""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

from sync_support import make_prints, scanned_library

from printmanager_core.store.catalogue_copy import CatalogueCopy
from printmanager_sync import enable, sync_now
from printmanager_sync import catalogue as sync_catalogue
from printmanager_sync.catalogue import relative


def _relative_general(path: str, root: str) -> str | None:
    """``relative`` as it was written before its fast path: every path split on both separators."""
    member = ""
    if "!/" in path:
        path, member = path.split("!/", 1)
    root = root.rstrip("/\\")
    if path == root:
        rel = "."
    elif path.startswith(root) and path[len(root)] in "/\\":
        rel = "/".join(p for p in re.split(r"[\\/]", path[len(root) + 1 :]) if p)
    else:
        return None
    return rel + ("!/" + member if member else "")


def test_relative_fast_path_gives_what_the_general_form_gives() -> None:
    rnd = random.Random(44)
    parts = ["a", "model 01", "b\\c", "", "part.stl", "x!/y.stl", "é", "..", "."]
    roots = ["/prints", "/prints/", "C:\\prints", "/pr"]
    for _ in range(5000):
        root = rnd.choice(roots)
        sep = rnd.choice(["/", "\\", "//"])
        path = root.rstrip("/\\") + sep + rnd.choice(["/", "\\"]).join(rnd.choice(parts) for _ in range(rnd.randint(0, 4)))
        if rnd.random() < 0.2:
            path += rnd.choice(["/", "\\"])
        assert relative(path, root) == _relative_general(path, root), (path, root)
    assert relative("/prints/model 01/part.stl", "/prints") == "model 01/part.stl"
    assert relative("/printsx/part.stl", "/prints") is None


def test_the_fingerprint_encoder_writes_what_json_dumps_writes(tmp_path: Path, corpus: Path) -> None:
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "lib", [prints])
    rows = list(CatalogueCopy(lib.store.db).file_facts()) + list(CatalogueCopy(lib.store.db).model_facts())
    assert len(rows) > 5
    for row in rows:
        value = ["r1/some key", row]
        assert sync_catalogue._FACTS_ENCODER.encode(value) == json.dumps(value, sort_keys=True, default=str)
    lib.close()


def test_a_change_after_a_no_change_sync_is_pushed(tmp_path: Path, corpus: Path, passphrase_env: str) -> None:
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "lib", [prints])
    enable(lib, {"backend": "folder", "path": str(tmp_path / "container")}, consent_given=True)
    first = sync_now(lib)
    assert first.pushed
    assert not sync_now(lib).pushed  # nothing changed
    stl = prints / "Spider" / "Spider_ascii.stl"
    lib.tag(str(stl), "spiders")  # an edit
    assert sync_now(lib).pushed
    assert not sync_now(lib).pushed
    shutil.copyfile(stl, prints / "Spider" / "copy.stl")  # an added file
    lib.scan([prints], workers=1, thumbnails=False)
    added = sync_now(lib)
    assert added.pushed and added.files == first.files + 1
    (prints / "Spider" / "copy.stl").rename(prints / "Spider" / "renamed.stl")  # a rename
    lib.scan([prints], workers=1, thumbnails=False)
    assert sync_now(lib).pushed
    (prints / "Spider" / "renamed.stl").unlink()  # a deletion
    lib.scan([prints], workers=1, thumbnails=False)
    deleted = sync_now(lib)
    assert deleted.pushed and deleted.files == first.files
    assert not sync_now(lib).pushed
    stl.write_bytes(stl.read_bytes() + b"\n")  # changed on disk, not scanned again
    assert sync_now(lib).pushed
    assert not sync_now(lib).pushed
    lib.close()
