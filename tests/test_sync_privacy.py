"""The sync plugin's part of PROMISE 6: export everything, delete everything."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sync_support import (
    MotoS3,
    make_prints,
    scanned_library,
    tree,
)

import printmanager_sync
from printmanager_sync import disable, enable, sync_now
from printmanager_sync.state import SyncState


class ExportDouble:
    """Just what an export hook may call."""

    def __init__(self, include_cloud: bool):
        self.include_cloud = include_cloud
        self.json: dict[str, Any] = {}
        self.files: dict[str, bytes] = {}

    def add_json(self, name: str, data: Any, description: str) -> None:
        assert description
        self.json[name] = json.loads(json.dumps(data))

    def add_bytes(self, arcname: str, data: bytes, description: str = "") -> None:
        self.files[arcname] = data

    def add_file(self, arcname: str, path: str, description: str = "") -> None:
        self.files[arcname] = Path(path).read_bytes()


class ReportDouble:
    def __init__(self) -> None:
        self.items: list[tuple[str, int, str]] = []

    def removed(self, what: str, count: int = 1, detail: str = "") -> None:
        self.items.append((what, count, detail))


@pytest.fixture
def synced_s3(s3_env: MotoS3, passphrase_env: str, tmp_path: Path, corpus: Path) -> Any:
    bucket = s3_env.new_bucket()
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "library", [prints])
    enable(lib, {"backend": "s3", "endpoint": s3_env.endpoint, "bucket": bucket}, consent_given=True)
    sync_now(lib)
    yield lib, prints, bucket
    lib.close()


def test_export_user_data_without_cloud(synced_s3: Any, s3_env: MotoS3) -> None:
    lib, _prints, bucket = synced_s3
    export = ExportDouble(include_cloud=False)
    printmanager_sync.export_user_data(lib, export)
    info = export.json["sync.json"]
    assert info["configured"] and info["enabled"]
    assert info["config"] == {"backend": "s3", "endpoint": s3_env.endpoint, "bucket": bucket,
                              "user": SyncState(lib).config["user"]}  # fmt: skip
    assert info["consent"][0]["value"] is True and info["last_sync"]["files"] >= 12
    assert export.files == {}
    text = json.dumps(info)
    assert s3_env.secret_access_key not in text and "passphrase" not in text.lower()


def test_export_user_data_with_cloud_files(synced_s3: Any) -> None:
    lib, prints, _bucket = synced_s3
    export = ExportDouble(include_cloud=True)
    printmanager_sync.export_user_data(lib, export)
    assert export.json["sync.json"]["cloud_files"]["exported"] == len(tree(prints))
    assert {k.removeprefix("cloud/Prints/"): v for k, v in export.files.items()} == tree(prints)
    assert not list((lib.directory / "sync" / "tmp").iterdir())  # temporary files are gone
    # with consent withdrawn, nothing is downloaded
    disable(lib)
    export = ExportDouble(include_cloud=True)
    printmanager_sync.export_user_data(lib, export)
    assert export.files == {} and export.json["sync.json"]["cloud_files"]["exported"] == 0


def test_delete_user_data_removes_remote_objects_then_local_state(synced_s3: Any, s3_env: MotoS3) -> None:
    lib, prints, bucket = synced_s3
    before = tree(prints)
    assert len(s3_env.raw_objects(bucket)) > 10
    disable(lib)  # consent withdrawn, container still configured: deletion still reaches it
    report = ReportDouble()
    printmanager_sync.delete_user_data(lib, report)
    removed = {what: count for what, count, _ in report.items}
    assert removed["remote objects"] >= 15 and removed["local sync state"] >= 1
    assert s3_env.raw_objects(bucket) == {}
    assert SyncState(lib).config is None and SyncState(lib).cached_ids() == {}
    assert tree(prints) == before  # never the user's files
    again = ReportDouble()
    printmanager_sync.delete_user_data(lib, again)  # nothing left to delete
    assert again.items == []


def test_core_privacy_export_and_delete_include_sync(synced_s3: Any, s3_env: MotoS3, tmp_path: Path) -> None:
    """Through the core's own privacy calls, as `printmanager privacy export/delete` run them."""
    from printmanager_core.privacy.delete import delete_library
    from printmanager_core.privacy.export import export_library

    lib, prints, bucket = synced_s3
    result = export_library(lib, tmp_path / "export.zip", include_cloud=True)
    with zipfile.ZipFile(result.path) as zf:
        names = set(zf.namelist())
        assert "sync.json" in names
        assert {n for n in names if n.startswith("cloud/")} == {f"cloud/Prints/{k}" for k in tree(prints)}
        manifest = json.loads(zf.read("manifest.json"))
        assert any(f["name"] == "sync.json" for f in manifest["files"])
    report = delete_library(lib)
    assert any(i.what == "remote objects" and i.plugin == "sync" for i in report.items)
    assert s3_env.raw_objects(bucket) == {}
    assert tree(prints)


_WATCH = r"""
import json, socket, sys
record = []
real_init, real_bind = socket.socket.__init__, socket.socket.bind
def init(self, *args, **kwargs):
    record.append(["socket", [str(a) for a in args]])
    real_init(self, *args, **kwargs)
def bind(self, address):
    record.append(["bind", str(address)])
    return real_bind(self, address)
socket.socket.__init__, socket.socket.bind = init, bind
from printmanager_core.cli import main
out, argv = sys.argv[1], sys.argv[2:]
try:
    main(argv)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(out, "w") as f:
    json.dump({"code": code, "sockets": record,
               "modules": sorted(m for m in ("httpx", "botocore", "urllib3") if m in sys.modules)}, f)
"""


def test_privacy_export_and_delete_never_touch_the_network_without_sync(tmp_path: Path, corpus: Path) -> None:
    """Sync never enabled: `privacy export` and `privacy delete --yes` (real processes) create no
    socket at all and never import the S3 stack."""
    import subprocess
    import sys

    prints = make_prints(tmp_path / "Prints", corpus)
    scanned_library(tmp_path / "library", [prints]).close()
    for args in (["privacy", "export", "-o", str(tmp_path / "export.zip")], ["privacy", "delete", "--yes"]):
        out = tmp_path / "watch.json"
        done = subprocess.run(
            [sys.executable, "-c", _WATCH, str(out), "--library", str(tmp_path / "library"), *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        result = json.loads(out.read_text())
        assert result["code"] == 0, done.stderr
        assert result["sockets"] == [], (args, result["sockets"])
        assert result["modules"] == [], (args, result["modules"])
    assert zipfile.ZipFile(tmp_path / "export.zip").namelist()
    assert tree(prints)  # the user's files stay
