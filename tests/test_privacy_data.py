"""PROMISES 6 and 7: export everything, delete everything (never the user's files), retention, shares."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from cli_support import run

from printmanager_core import Library, hookimpl
from printmanager_core.errors import NotFound, PrintManagerError, UsageError
from printmanager_core.plugins import register_plugin, unregister_plugin
from printmanager_core.privacy import retention
from printmanager_core.privacy.analytics import Analytics
from printmanager_core.privacy.crash import CrashReports
from printmanager_core.privacy.delete import delete_library
from printmanager_core.privacy.export import export_library
from printmanager_core.privacy.sharing import Shares
from printmanager_core.settings import now_iso




def snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under ``folder``: content hash, size, modification time."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def prints(tmp_path: Path, corpus: Path) -> Path:
    root = tmp_path / "Prints"
    (root / "Benchy").mkdir(parents=True)
    for name in ("Wheel.stl", "Cargo box.stl", "Window.stl"):
        shutil.copyfile(corpus / "Benchy multi-part" / name, root / "Benchy" / name)
    shutil.copyfile(corpus / "sliced" / "mini_cube_a.gcode", root / "mini_cube_a.gcode")
    shutil.copyfile(corpus / "broken" / "empty.stl", root / "empty.stl")
    return root


def fill(lib: Library, prints: Path) -> None:
    """A library with something of every kind the core keeps about the user."""
    lib.scan([prints], workers=1)
    wheel = lib.file(str(prints / "Benchy" / "Wheel.stl"))
    lib.tag(wheel.id, "boat", "red")
    lib.set_file_notes(wheel.id, "print at 0.1 mm")
    lib.tag_model(wheel.model_id, "benchy")
    lib.update_model(wheel.model_id, creator="CreativeTools", licence="CC0")
    lib.add_to_collection("favourites", wheel.model_id)
    lib.create_collection("empty one", "nothing yet")
    (prints / "Benchy" / "Window.stl").unlink()
    lib.scan([prints], workers=1)  # one missing file: exported too
    lib.settings.set("privacy.crash_reports", True, source="test")
    lib.settings.set("retention.crash_report_days", 10)
    Analytics.for_library(lib).record("library.search", 3)
    try:
        raise RuntimeError(f"cannot open {prints / 'Benchy' / 'Wheel.stl'}")
    except RuntimeError as exc:
        CrashReports.for_library(lib).capture(exc)
    shares = Shares.for_library(lib)
    shares.create_list("club", ["ana@example.org", "ben@example.org"])
    link = shares.share("model", wheel.model_id, recipient="cat@example.org", expires_in_days=7)
    shares.share("collection", 1, distribution_list="club")
    shares.log_access(link.token, "download", client="203.0.113.5")


class FakeCloud:
    """A sync-like plugin: a user prefix in a container folder, exported and deleted through the hooks."""

    def __init__(self, container: Path, fail: bool = False) -> None:
        self.prefix = container / "user-1234"
        self.fail = fail

    @hookimpl
    def export_user_data(self, library: Any, export: Any) -> None:
        if export.include_cloud:
            for p in sorted(self.prefix.rglob("*")):
                if p.is_file():
                    export.add_file(f"cloud/{p.relative_to(self.prefix).as_posix()}", p, "a file from the cloud")
        export.add_bytes("cloud/README.txt", b"objects under the user's prefix")

    @hookimpl(tryfirst=True)
    def delete_user_data(self, library: Any, report: Any) -> None:
        if self.fail:
            raise ConnectionError("container unreachable")
        if not library.settings.get("privacy.sync"):
            return
        objects = [p for p in self.prefix.rglob("*") if p.is_file()]
        shutil.rmtree(self.prefix)
        report.removed("remote objects", len(objects), "user-1234/")


@pytest.fixture
def cloud(tmp_path: Path, prints: Path) -> Iterator[FakeCloud]:
    plugin = FakeCloud(tmp_path / "container")
    for p in sorted(prints.rglob("*.stl")):
        dest = plugin.prefix / "objects" / hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    register_plugin(plugin, name="fake-cloud")
    try:
        yield plugin
    finally:
        unregister_plugin("fake-cloud")


# -- export ------------------------------------------------------------------


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def test_export_user_data_round_trips(library: Library, prints: Path, tmp_path: Path, cloud: FakeCloud) -> None:
    fill(library, prints)
    library.settings.set("privacy.sync", True, detail={"backend": "fake"}, source="sync")
    result = export_library(library, tmp_path / "out" / ".." / "export.zip", include_cloud=True)
    assert result.path == (tmp_path / "export.zip").resolve()
    assert oct(result.path.stat().st_mode & 0o777) == "0o600"

    with zipfile.ZipFile(result.path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        listed = {f["name"]: f for f in manifest["files"]}
        assert set(zf.namelist()) == set(listed) | {"manifest.json"}
        for name, entry in listed.items():
            data = zf.read(name)
            assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest(), name
            if name.endswith(".json"):
                assert entry["description"] and entry["schema_version"] == 1, name
        read = {n: json.loads(zf.read(n)) for n in listed if n.endswith(".json")}
        cloud_files = {n: zf.read(n) for n in listed if n.startswith("cloud/objects/")}

    assert manifest["format"] == "printmanager-export" and manifest["include_cloud"] is True
    assert listed["settings.json"]["plugin"] == "printmanager_core.privacy.plugin"
    assert listed["cloud/README.txt"]["plugin"] == "fake-cloud"
    # every JSON file, read back, is what the library holds
    assert read["settings.json"]["values"] == library.settings.all()
    assert read["settings.json"]["values"]["retention.crash_report_days"] == 10
    assert read["consent_ledger.json"] == _normal(library.settings.consent_ledger())
    assert [e["switch"] for e in read["consent_ledger.json"]] == ["privacy.crash_reports", "privacy.sync"]
    assert read["catalogue/roots.json"] == [
        {"id": 1, "path": str(prints.resolve()), "added_at": read["catalogue/roots.json"][0]["added_at"]}
    ]
    files = sorted(read["catalogue/files.json"], key=lambda f: f["path"])
    assert files == _normal([f.as_json() for f in library.files(include_missing=True)])
    assert any(f["missing"] for f in files) and any(f["error"] for f in files)
    wheel = next(f for f in files if f["name"] == "Wheel.stl")
    assert wheel["tags"] == ["boat", "red"] and wheel["notes"] == "print at 0.1 mm"
    assert read["catalogue/models.json"] == _normal([m.as_json() for m in library.models(include_missing=True)])
    benchy = next(m for m in read["catalogue/models.json"] if m["id"] == wheel["model_id"])
    assert benchy["creator"] == "CreativeTools" and benchy["collections"] == ["favourites"]
    assert {t["name"]: len(t["files"]) + len(t["models"]) for t in read["catalogue/tags.json"]} == library.tags()
    assert read["catalogue/collections.json"] == library.collections()
    analytics = Analytics.for_library(library)
    assert read["analytics.json"] == {"enabled": True, "aggregates": [a.as_json() for a in analytics.aggregates()]}
    assert {"feature": "library.search", "count": 3} .items() <= read["analytics.json"]["aggregates"][-1].items()
    assert read["crash_reports.json"] == [r.as_json() for r in CrashReports.for_library(library).list()]
    assert read["shares.json"] == _normal(Shares.for_library(library).as_json())
    assert len(read["shares.json"]["access_log"]) == 1 and len(read["shares.json"]["recipients"]) == 3
    assert "vault.json" in read  # the vault plugin adds the names of its secrets (none here)
    # the cloud files, byte for byte
    assert sorted(cloud_files.values()) == sorted(p.read_bytes() for p in cloud.prefix.rglob("*") if p.is_file())
    assert len(cloud_files) == 4


def test_export_cli_writes_zip_and_checks_its_input(
    tmp_path: Path, prints: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = tmp_path / "lib"
    assert run(capsys, lib, "scan", str(prints), "--workers", "1", "--no-thumbnails")[0] == 0
    code, out, _ = run(capsys, lib, "privacy", "export", "-o", str(tmp_path / "me.zip"), "--json")
    assert code == 0
    names = [f["name"] for f in json.loads(out)["files"]]
    assert {"settings.json", "consent_ledger.json", "catalogue/files.json", "catalogue/models.json",
            "catalogue/tags.json", "catalogue/collections.json", "analytics.json", "crash_reports.json",
            "shares.json"} <= set(names)
    with zipfile.ZipFile(tmp_path / "me.zip") as zf, Library(lib) as library:
        exported = json.loads(zf.read("catalogue/files.json"))
        assert [f["path"] for f in exported] == [f.path for f in library.files()] and len(exported) == 5
    for args, fragment in (
        (["-o", str(lib / "inside.zip")], "outside the library"),
        (["-o", str(tmp_path / "me.tar")], ".zip"),
        (["-o", str(tmp_path / "no" / "such" / "x.zip")], "no such folder"),
        (["-o", str(tmp_path / "c.zip"), "--include-cloud"], "cloud sync"),
    ):
        code, out, err = run(capsys, lib, "privacy", "export", *args)
        assert code != 0 and fragment in err and len(err.strip().splitlines()) == 1, (args, err)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".zip", ".part", ".tar")) == ["me.zip"]


def test_export_object_refuses_bad_names(library: Library, tmp_path: Path) -> None:
    class Bad:
        @hookimpl
        def export_user_data(self, library: Any, export: Any) -> None:
            export.add_json("../escape.json", {}, "x")

    register_plugin(Bad(), name="bad-export")
    try:
        with pytest.raises(PrintManagerError, match="bad-export.*not a relative name"):
            export_library(library, tmp_path / "x.zip")
    finally:
        unregister_plugin("bad-export")
    assert list(tmp_path.glob("*.zip*")) == [] and list(tmp_path.glob(".export-*")) == []


# -- delete ------------------------------------------------------------------


def test_delete_user_data_leaves_no_trace_and_never_touches_model_files(
    tmp_path: Path, prints: Path, cloud: FakeCloud, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from printmanager_vault.vault import Vault

    lib_dir = tmp_path / "lib"
    with Library(lib_dir) as lib:
        fill(lib, prints)
        lib.settings.set("privacy.sync", True, detail={"backend": "fake"}, source="sync")
        monkeypatch.setenv("PRINTMANAGER_VAULT_PASSPHRASE", "correct horse battery staple")
        vault = Vault(lib.directory, backend="passphrase", prompt=None)
        vault.set("sync.token", "s3cr3t")
        vault.set("s3.key", "AKIA-example")
        assert lib.file(str(prints / "Benchy" / "Wheel.stl")).thumbnail  # the scan made thumbnails
        files = len(lib.files(include_missing=True))
    assert (lib_dir / "thumbnails").is_dir() and (lib_dir / "vault.bin").is_file()
    before = snapshot(prints)
    assert len(before) == 4 and files == 5

    code, out, err = run(capsys, lib_dir, "privacy", "delete", "--yes", "--json")
    assert code == 0, err
    report = json.loads(out)
    removed = {(r["what"], r["plugin"]): r["count"] for r in report["removed"]}
    assert removed[("remote objects", "fake-cloud")] == 4
    assert removed[("vault entries", "vault")] == 2
    assert removed[("thumbnails", "printmanager")] >= 3
    assert removed[("index database", "printmanager")] == 1
    core = "printmanager_core.privacy.plugin"
    assert removed[("crash reports", core)] == 1 and removed[("share records", core)] >= 7
    assert removed[("analytics aggregates", core)] >= 1 and removed[("file records", core)] == files
    assert [r["what"] for r in report["removed"]].index("remote objects") == 0  # while the vault was still there
    assert report["left"] == []

    assert [str(p) for p in lib_dir.rglob("*")] == []  # nothing under the library folder
    assert not cloud.prefix.exists() and list((tmp_path / "container").rglob("*")) == []
    assert snapshot(prints) == before  # the user's files: byte-identical, untouched


def test_delete_user_data_with_the_sync_plugin_empties_the_container(
    tmp_path: Path, prints: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real sync plugin over its folder backend: export pulls the files back, delete empties it."""
    from printmanager_sync import crypto, enable, sync_now

    monkeypatch.setattr(crypto, "SCRYPT_N", 2**14)  # a cheaper key file; the cost is the sync tests' business
    monkeypatch.setenv("PRINTMANAGER_SYNC_PASSPHRASE", "correct horse battery staple")
    monkeypatch.setenv("PRINTMANAGER_VAULT_PASSPHRASE", "correct horse battery staple")
    container = tmp_path / "container"
    lib_dir = tmp_path / "lib"
    with Library(lib_dir) as lib:
        lib.scan([prints], workers=1)
        enable(lib, {"backend": "folder", "path": str(container)}, consent_given=True)
        sync_now(lib)
        assert lib.settings.get("privacy.sync") is True
    objects = [p for p in container.rglob("*") if p.is_file()]
    assert len(objects) > 4
    before = snapshot(prints)

    code, out, err = run(capsys, lib_dir, "privacy", "export", "-o", str(tmp_path / "all.zip"), "--include-cloud")
    assert code == 0, err
    with zipfile.ZipFile(tmp_path / "all.zip") as zf:
        cloud = [zf.read(n) for n in zf.namelist() if n.startswith("cloud/")]
        assert json.loads(zf.read("sync.json"))["enabled"] is True
    assert sorted(cloud) == sorted(p.read_bytes() for p in prints.rglob("*") if p.is_file())

    code, out, err = run(capsys, lib_dir, "privacy", "delete", "--yes", "--json")
    assert code == 0, err
    removed = {(r["plugin"], r["what"]): r["count"] for r in json.loads(out)["removed"]}
    assert removed[("sync", "remote objects")] >= len(objects) - 2  # the container's own lock/marker files aside
    assert [p for p in container.rglob("*") if p.is_file()] == []
    assert [str(p) for p in lib_dir.rglob("*")] == []
    assert snapshot(prints) == before


def test_delete_stops_when_a_plugin_fails_and_keeps_the_index(
    tmp_path: Path, prints: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib_dir = tmp_path / "lib"
    assert run(capsys, lib_dir, "scan", str(prints), "--workers", "1", "--no-thumbnails")[0] == 0
    code, _, err = run(capsys, lib_dir, "privacy", "delete")
    assert code == 2 and "--yes" in err
    broken = FakeCloud(tmp_path / "container", fail=True)
    register_plugin(broken, name="broken-cloud")
    try:
        code, out, err = run(capsys, lib_dir, "privacy", "delete", "--yes")
    finally:
        unregister_plugin("broken-cloud")
    assert code == 1 and "broken-cloud" in err and "container unreachable" in err
    assert len(err.strip().splitlines()) == 1
    with Library(lib_dir) as lib:
        assert len(lib.files()) == 5


def test_delete_leaves_user_files_inside_the_library_folder(tmp_path: Path, corpus: Path) -> None:
    lib_dir = tmp_path / "lib"
    inside = lib_dir / "my models"
    inside.mkdir(parents=True)
    shutil.copyfile(corpus / "Benchy multi-part" / "Wheel.stl", inside / "Wheel.stl")
    before = snapshot(inside)
    lib = Library(lib_dir)
    lib.scan([inside], workers=1)
    report = delete_library(lib)
    assert report.left == ["my models"]
    assert snapshot(inside) == before
    assert sorted(p.name for p in lib_dir.iterdir()) == ["my models"]


# -- retention -----------------------------------------------------------------

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)


def days_ago(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


def iso(n: float) -> str:
    return days_ago(n).isoformat(timespec="microseconds")


def make_records(lib: Library) -> dict[str, Any]:
    """Records on both sides of every default cutoff (90/30/30/90/365 days)."""
    db = lib.store.db
    shares = Shares(db)
    shares.create_list("family", ["dave@example.org"])
    shares.create_list("club", ["erin@example.org"])
    shares.add_recipient("carol@example.org")
    links = {
        "active": shares.share("model", 1, recipient="alice@example.org", at=days_ago(100)),
        "revoked_31": shares.share("model", 2, recipient="bob@example.org", at=days_ago(400)),
        "revoked_29": shares.share("model", 3, at=days_ago(50)),
        "expired_40": shares.share("file", 4, at=days_ago(60), expires_at=days_ago(40)),
        "expires_soon": shares.share("collection", 5, distribution_list="club", at=days_ago(1),
                                     expires_in_days=6),
    }
    shares.revoke(links["revoked_31"].id, at=days_ago(31))
    shares.revoke(links["revoked_29"].id, at=days_ago(29))
    log = {
        "old_91": shares.log_access(links["active"].token, at=days_ago(91)),
        "recent_89": shares.log_access(links["active"].token, "download", at=days_ago(89)),
        "on_revoked_31": shares.log_access(links["revoked_31"].token, at=days_ago(35)),
        "on_revoked_29": shares.log_access(links["revoked_29"].token, at=days_ago(28)),
    }
    with db.conn:
        db.execute("update share_recipients set created_at = ?", [iso(500)])
        db.execute("update share_recipients set created_at = ? where address = 'carol@example.org'", [iso(10)])
        db.execute("update share_lists set created_at = ?, last_used_at = ? where name = 'family'",
                   [iso(500), iso(366)])
        db.execute("update share_recipients set last_used_at = ? where address = 'bob@example.org'", [iso(400)])
    crash = CrashReports(db)
    ids = {}
    for label, age in (("crash_31", 31), ("crash_29", 29)):
        try:
            raise ValueError(label)
        except ValueError as exc:
            ids[label] = crash.capture(exc).id
        db.execute("update crash_reports set created_at = ? where id = ?", [iso(age), ids[label]])
    analytics = Analytics(db)
    for age in (91, 90, 0):
        analytics.record("library.scan", day=days_ago(age).date())
    return {"links": links, "log": log, "crash": ids}


def test_retention_removes_exactly_the_expired_records(library: Library) -> None:
    rec = make_records(library)
    db = library.store.db
    assert retention.due(db, now=NOW)
    report = retention.apply(db, now=NOW)
    assert report.removed == {
        "share_access_log": 2,  # older than 90 days, and the one of the link revoked 31 days ago
        "share_links": 2,  # revoked 31 days ago, expired 40 days ago
        "crash_reports": 1,
        "analytics_aggregates": 1,  # the day 91 days ago
        "share_list_members": 1,  # family, unused for 366 days
        "share_lists": 1,
        "share_recipients": 2,  # bob (his only link is gone) and dave (his only list is gone)
        "prints": 0,  # the print log is kept 36500 days by default
    }
    links = {link.id for link in Shares(db).links()}
    assert links == {rec["links"][k].id for k in ("active", "revoked_29", "expires_soon")}
    assert {e.id for e in Shares(db).access_log()} == {rec["log"]["recent_89"].id, rec["log"]["on_revoked_29"].id}
    assert [r.id for r in CrashReports(db).list()] == [rec["crash"]["crash_29"]]
    assert [a.day for a in Analytics(db).aggregates()] == [days_ago(90).date().isoformat(), NOW.date().isoformat()]
    assert [r.address for r in Shares(db).recipients()] == ["alice@example.org", "carol@example.org",
                                                            "erin@example.org"]
    assert [dl.name for dl in Shares(db).lists()] == ["club"]
    assert not retention.due(db, now=NOW)
    assert retention.apply(db, now=NOW).total == 0


def test_retention_is_configurable_and_runs_from_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib_dir = tmp_path / "lib"
    with Library(lib_dir) as lib:
        lib.settings.set("retention.auto", False)  # here `retention apply` applies the rules, not every command
        shares = Shares.for_library(lib)
        link = shares.share("model", 1)
        for age in (0.5, 2, 40):
            shares.log_access(link.token, at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=age))
    code, out, _ = run(capsys, lib_dir, "privacy", "retention", "apply", "--json")
    assert code == 0 and json.loads(out)["removed"]["share_access_log"] == 0
    assert run(capsys, lib_dir, "settings", "set", "retention.access_log_days", "1")[0] == 0
    code, out, _ = run(capsys, lib_dir, "privacy", "retention")
    assert "retention.access_log_days = 1:" in out
    code, out, _ = run(capsys, lib_dir, "privacy", "retention", "apply")
    assert code == 0 and out.strip() == "retention applied: 2 share_access_log"
    with Library(lib_dir) as lib:
        assert len(Shares.for_library(lib).access_log()) == 1


def test_retention_runs_on_schedule_not_when_a_library_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib_dir = tmp_path / "lib"
    with Library(lib_dir) as lib:
        link = Shares.for_library(lib).share("model", 1)
        Shares.for_library(lib).log_access(link.token, at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=91))
        Shares.for_library(lib).log_access(link.token)
        assert retention.due(lib.store.db)
    with Library(lib_dir) as lib:
        assert len(Shares.for_library(lib).access_log()) == 2, "opening a library only migrates it"
        assert lib.apply_retention().removed["share_access_log"] == 1
        assert len(Shares.for_library(lib).access_log()) == 1
        Shares.for_library(lib).log_access(link.token, at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=91))
    assert run(capsys, lib_dir, "ls")[0] == 0  # the CLI applies the rules after a command
    with Library(lib_dir) as lib:
        assert len(Shares.for_library(lib).access_log()) == 1, (
            "the CLI must apply due retention rules after each command (privacy.clihooks.after_command)"
        )
        lib.settings.set("retention.auto", False)
        Shares.for_library(lib).log_access(link.token, at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=91))
    assert run(capsys, lib_dir, "ls")[0] == 0
    with Library(lib_dir) as lib:
        assert len(Shares.for_library(lib).access_log()) == 2


def test_retention_that_cannot_run_after_a_command_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure of the scheduled retention is one warning line, not silence and not the command's failure."""
    lib_dir = tmp_path / "lib"
    with Library(lib_dir) as lib:
        link = Shares.for_library(lib).share("model", 1)
        Shares.for_library(lib).log_access(link.token, at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=91))
    holder = sqlite3.connect(lib_dir / "printmanager.db", isolation_level=None)
    try:
        holder.execute("begin immediate")  # another writer holds SQLite's write lock
        monkeypatch.setenv("PRINTMANAGER_BUSY_TIMEOUT", "0.2")
        code, out, err = run(capsys, lib_dir, "ls")
    finally:
        holder.execute("rollback")
        holder.close()
    assert code == 0
    lines = [line for line in err.splitlines() if "retention" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: retention rules not applied (")
    assert "printmanager privacy retention apply" in lines[0]
    with Library(lib_dir) as lib:
        assert len(Shares.for_library(lib).access_log()) == 1  # nothing was deleted half-way


def test_share_tokens_are_stored_only_hashed(library: Library) -> None:
    shares = Shares.for_library(library)
    link = shares.share("model", 1, recipient="ana@example.org")
    assert link.token and shares.link(link.token).id == link.id  # found by its token
    assert shares.link(link.id).token is None and all(entry.token is None for entry in shares.links())
    library.store.db.conn.execute("pragma wal_checkpoint(truncate)")
    for suffix in ("", "-wal"):
        path = library.directory / f"printmanager.db{suffix}"
        if path.exists():
            assert link.token.encode() not in path.read_bytes(), f"plaintext token in {path.name}"


def test_deleted_records_leave_no_bytes_behind(library: Library) -> None:
    """Retention and clearing overwrite what they delete (secure_delete), in the file and the log."""
    shares = Shares.for_library(library)
    marker = "gone-forever-recipient@example.org"
    link = shares.share("model", 1, recipient=marker)
    shares.log_access(link.token, client="marker-client-203.0.113.77",
                      at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400))
    try:
        raise ValueError("marker-crash-message-1234")
    except ValueError as exc:
        CrashReports(library.store.db).capture(exc)
    library.store.db.conn.execute("pragma secure_delete = off")  # the deletes must turn it on themselves
    assert library.apply_retention().removed["share_access_log"] == 1
    CrashReports(library.store.db).clear()
    shares.clear()
    data = b"".join(p.read_bytes() for p in library.directory.glob("printmanager.db*") if p.is_file())
    for text in (marker, "marker-client-203.0.113.77", "marker-crash-message-1234"):
        assert text.encode() not in data, f"{text} left in the database files"


def test_old_plaintext_share_tokens_are_hashed_by_the_upgrade(tmp_path: Path) -> None:
    """A library made before m015 keeps its links working; their tokens are no longer on disk."""
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

    from printmanager_core.store import migrations as m

    old_release = Migrations("printmanager")
    for step in (m.m001_catalogue, m.m002_settings, m.m004_privacy):
        old_release()(step)
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    old = Database(str(lib_dir / "printmanager.db"))
    old_release.apply(old)
    token = "old-plaintext-token-made-before-m015"
    old["share_links"].insert({"token": token, "target_kind": "model", "target_id": 3, "created_at": iso(1)})
    old["settings"].insert({"key": "retention.on_open", "value": "false", "updated_at": iso(1)})
    old.close()
    with Library(lib_dir) as lib:
        shares = Shares.for_library(lib)
        assert shares.log_access(token).allowed is True and shares.link(token).target_id == 3
        assert lib.settings.get("retention.auto") is False  # the old switch carried over (m016)
        with pytest.raises(UsageError, match="retention.auto"):
            lib.settings.set("retention.on_open", True)
        lib.store.db.conn.execute("pragma wal_checkpoint(truncate)")
    data = b"".join(p.read_bytes() for p in lib_dir.glob("printmanager.db*") if p.is_file())
    assert token.encode() not in data


# -- shares ------------------------------------------------------------------


def test_shares_record_recipients_lists_links_and_access(
    library: Library, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shares = Shares.for_library(library)
    club = shares.create_list("club", ["ana@example.org", " ben@example.org "])
    assert club.members == ("ana@example.org", "ben@example.org")
    assert shares.create_list("club", ["cy@example.org"]).members == ("ana@example.org", "ben@example.org",
                                                                      "cy@example.org")
    link = shares.share("collection", 7, distribution_list="club", expires_in_days=2)
    assert link.distribution_list == "club" and link.active() and len(link.token) >= 24
    assert shares.log_access(link.token, "download", client="phone").allowed is True
    past = shares.share("file", 3, recipient="dan@example.org",
                        at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3), expires_in_days=1)
    assert shares.log_access(past.token).allowed is False  # expired
    shares.revoke(link.id)
    assert shares.log_access(link.token).allowed is False  # revoked
    assert shares.recipient("dan@example.org").last_used_at == past.created_at
    assert [e.allowed for e in shares.access_log()] == [True, False, False]
    for bad in (
        lambda: shares.share("folder", 1),
        lambda: shares.share("model", "1"),  # type: ignore[arg-type]
        lambda: shares.share("model", 1, expires_in_days=0),
        lambda: shares.add_recipient("  "),
        lambda: shares.log_access(link.token, "delete"),
        lambda: shares.create_list(" "),
    ):
        with pytest.raises(UsageError):
            bad()
    with pytest.raises(NotFound):
        shares.log_access("no-such-token")
    with pytest.raises(NotFound):
        shares.share("model", 1, distribution_list="nobody")
    assert shares.count() == 4 + 1 + 3 + 2 + 3  # recipients, lists, members, links, log entries
    library.close()

    code, out, _ = run(capsys, library.directory, "privacy", "shares", "--json")
    assert code == 0 and json.loads(out)["links"][0]["distribution_list"] == "club"
    code, out, _ = run(capsys, library.directory, "privacy", "shares")
    assert "4 recipients, 1 distribution lists" in out and "revoked" in out
    assert os.path.isdir(library.directory)
    assert now_iso() > link.created_at


def test_privacy_doc_maps_every_promise_to_real_tests() -> None:
    """docs/privacy.md names, for each of the 8 promises, tests that exist."""
    import re

    repo = Path(__file__).resolve().parents[1]
    doc = (repo / "docs" / "privacy.md").read_text()
    promises = re.findall(r"^### (\d)\. ", doc, re.M)
    assert promises == [str(n) for n in range(1, 9)]
    named: list[tuple[str, str]] = []
    current = ""
    for m in re.finditer(r"`(tests/[\w/]+\.py)?::(test_\w+)`", doc):
        current = m.group(1) or current
        named.append((current, m.group(2)))
    assert len(named) >= 40
    missing = [
        f"{path}::{name}" for path, name in named
        if not re.search(rf"^def {name}\(", (repo / path).read_text(), re.M)
    ]
    assert not missing, f"docs/privacy.md names tests that do not exist: {missing}"
    for section in re.split(r"^### \d\. ", doc, flags=re.M)[1:9]:
        assert "- Tests:" in section and "::test_" in section


def test_secure_delete_never_waits_for_another_reader(library: Library) -> None:
    """Truncating the log after a delete tries once: a reader holding a snapshot does not stall it."""
    import time

    from printmanager_core.store.erase import truncate_log

    Shares.for_library(library).add_recipient("someone@example.org")
    reader = sqlite3.connect(library.db_path, isolation_level=None)
    try:
        reader.execute("begin")
        reader.execute("select count(*) from share_recipients").fetchone()  # holds its snapshot
        Shares.for_library(library).add_recipient("other@example.org")
        start = time.monotonic()
        assert Shares.for_library(library).clear() == 2
        assert truncate_log(library.store.db) is False  # the reader still needs the log
        assert time.monotonic() - start < 1.0
    finally:
        reader.execute("rollback")
        reader.close()
    assert truncate_log(library.store.db) is True
    assert int(library.store.db.conn.execute("pragma busy_timeout").fetchone()[0]) == int(library.store.db.busy_timeout * 1000)
