"""PROMISES 1 and 5: nothing leaves the machine; analytics are anonymous, aggregate, switchable.

Also crash reports: scrubbed, kept locally, sent only with consent.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import sqlite3
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from cli_support import run

from printmanager_core import Library, hookimpl
from printmanager_core.errors import UsageError
from printmanager_core.plugins import register_plugin, unregister_plugin
from printmanager_core.privacy.analytics import Aggregate, Analytics, Event, register_feature, registered_features
from printmanager_core.privacy.crash import CrashReports, Scrubber, build_report

# -- helpers -----------------------------------------------------------------




@pytest.fixture
def network_guard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Refuse and record every connection, DNS lookup or datagram, in this process and forked children."""
    log = tmp_path / "network-attempts.log"
    log.touch()

    def refuse(what: str, detail: Any) -> None:
        with open(log, "a") as fh:
            fh.write(f"{os.getpid()} {what} {detail!r}\n")
        raise OSError(f"network guard: {what} refused")

    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: refuse("connect", addr))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, addr: refuse("connect_ex", addr))
    monkeypatch.setattr(socket.socket, "sendto", lambda self, *a: refuse("sendto", a[-1]))
    monkeypatch.setattr(socket, "create_connection", lambda addr, *a, **k: refuse("create_connection", addr))
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: refuse("getaddrinfo", host))
    yield log


def test_network_guard_catches_a_connection(network_guard: Path) -> None:
    """The guard itself works (so its silence below means something)."""
    with pytest.raises(OSError, match="network guard"):
        socket.create_connection(("127.0.0.1", 9))
    with pytest.raises(OSError, match="network guard"):
        socket.socket().connect(("127.0.0.1", 9))
    assert network_guard.read_text().count("\n") == 2


def table_bytes(db_path: Path, table: str) -> bytes:
    """Every stored page of ``table`` and its indexes: in the database file and every WAL frame."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        names = [table] + [r[0] for r in con.execute(
            "select name from sqlite_master where type = 'index' and tbl_name = ?", [table])]
        marks = ",".join("?" * len(names))
        pages = {r[0] for r in con.execute(f"select pageno from dbstat where name in ({marks})", names)}
        page_size = con.execute("pragma page_size").fetchone()[0]
    finally:
        con.close()
    data = db_path.read_bytes()
    chunks = [data[(p - 1) * page_size : p * page_size] for p in sorted(pages)]
    wal = db_path.with_name(db_path.name + "-wal")
    if wal.exists():
        w = wal.read_bytes()
        frame = 24 + page_size
        for off in range(32, len(w) - frame + 1, frame):
            if int.from_bytes(w[off : off + 4], "big") in pages:
                chunks.append(w[off + 24 : off + frame])
    return b"".join(chunks)


class Sink:
    """An analytics and crash-report sink plugin that keeps what it is given, as bytes."""

    name = "test-sink"

    def __init__(self, fail: bool = False) -> None:
        self.payloads: list[bytes] = []
        self.fail = fail

    def send(self, payload: Any) -> None:
        if self.fail:
            raise ConnectionError("sink is down")
        if isinstance(payload, dict):
            self.payloads.append(json.dumps(payload).encode())
        else:
            self.payloads.append(json.dumps([a.as_json() for a in payload]).encode())

    @hookimpl
    def register_analytics_sinks(self, register: Any) -> None:
        register(self)

    @hookimpl
    def register_crash_report_sinks(self, register: Any) -> None:
        register(self)


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    register_plugin(s, name="test-sink")
    try:
        yield s
    finally:
        unregister_plugin("test-sink")


@pytest.fixture
def prints(tmp_path: Path, corpus: Path) -> Path:
    """A small user folder of real files, with spaces in names, an archive and a sliced file."""
    root = tmp_path / "My Prints"
    (root / "Benchy").mkdir(parents=True)
    for name in ("Wheel.stl", "Cargo box.stl", "Window.stl"):
        shutil.copyfile(corpus / "Benchy multi-part" / name, root / "Benchy" / name)
    (root / "cubes").mkdir()
    shutil.copyfile(corpus / "sliced" / "mini_cube_a.gcode", root / "cubes" / "mini_cube_a.gcode")
    shutil.copyfile(corpus / "assimp" / "cube.ply", root / "cubes" / "cube.ply")
    with zipfile.ZipFile(root / "screws.zip", "w") as zf:
        zf.write(corpus / "prusaslicer-shapes" / "M3x10_screw.stl", "screws/M3x10_screw.stl")
    return root


TAG = "grandmas_gift"
NOTE = "printed for the kitchen window"
COLLECTION = "Christmas presents"


def cli_session(capsys: pytest.CaptureFixture[str], lib: Path, prints: Path) -> dict[str, int]:
    """Scan, search, show, tag, note, thumbnail — as a user would. Returns how often each ran."""
    runs: dict[str, int] = {}

    def do(*args: str) -> str:
        code, out, err = run(capsys, lib, *args)
        assert code == 0, (args, err)
        runs[args[0]] = runs.get(args[0], 0) + 1
        return out

    do("scan", str(prints), "--workers", "1")
    files = json.loads(do("ls", "--json"))
    assert len(files) >= 5
    wheel = next(f for f in files if f["path"].endswith("Wheel.stl"))
    do("ls", "Wheel")
    do("ls", "format:stl")
    do("models")
    do("show", str(wheel["id"]))
    do("tag", str(wheel["id"]), TAG)
    assert [f["id"] for f in json.loads(do("ls", f"tag:{TAG}", "--json"))] == [wheel["id"]]
    do("note", str(wheel["id"]), NOTE)
    do("collection", "add", COLLECTION, str(wheel["model_id"]))
    do("thumbnail", str(wheel["id"]))
    do("scan", "--workers", "1")
    return runs


def corpus_strings(lib_dir: Path, prints: Path) -> set[str]:
    """Everything of the user's that must never appear in analytics: paths, names, hashes, tags, notes."""
    with Library(lib_dir) as lib:
        files = lib.files(include_missing=True)
        models = lib.models(include_missing=True)
        strings = {str(prints), str(lib_dir), prints.name, TAG, NOTE, COLLECTION, *lib.roots()}
        for f in files:
            strings |= {f.path, f.name, Path(f.name).stem, *Path(f.path).parts[1:]}
            if f.hash:
                strings |= {f.hash, f.hash.split(":")[-1], f.hash.split(":")[-1][:12]}
            if f.thumbnail:
                strings |= {f.thumbnail, Path(f.thumbnail).name}
        for m in models:
            strings |= {m.name, m.path}
    assert len(files) >= 5 and TAG in {t for f in files for t in f.tags}
    return {s for s in strings if len(s) >= 3}


# -- analytics ---------------------------------------------------------------


def test_analytics_session_stores_no_path_name_tag_or_hash(
    tmp_path: Path, prints: Path, capsys: pytest.CaptureFixture[str], network_guard: Path, sink: Sink
) -> None:
    lib_dir = tmp_path / "lib"
    runs = cli_session(capsys, lib_dir, prints)

    with Library(lib_dir) as lib:
        analytics = Analytics.for_library(lib)
        aggs = analytics.aggregates()
        counts = {a.feature: a.count for a in aggs}
        # counted per feature per day, and nothing else
        assert counts["cli.scan"] == runs["scan"] == 2
        assert counts["library.scan"] == 2
        assert counts["cli.ls"] == runs["ls"]
        for feature in ("cli.models", "cli.show", "cli.tag", "cli.note", "cli.collection.add", "cli.thumbnail"):
            assert counts[feature] == 1, feature
        assert {a.day for a in aggs} == {dt.datetime.now(dt.timezone.utc).date().isoformat()}
        assert set(counts) <= registered_features()
        # ship them: a sink gets exactly the aggregates
        assert analytics.send().sent == 0  # today is not finished yet
        result = analytics.send(include_today=True)
        assert result.sent == len(aggs) and result.sinks == ["test-sink"]
        shipped = json.loads(sink.payloads[-1])
        assert {(a["feature"], a["count"]) for a in shipped} == set(counts.items())
        assert all(set(a) == {"feature", "day", "count", "sent"} for a in shipped)
        rows = json.dumps([a.as_json() for a in analytics.aggregates()]).encode()
        lib.store.db.execute("pragma wal_checkpoint(passive)")

    stored = table_bytes(lib_dir / "printmanager.db", "analytics_aggregates")
    assert b"cli.thumbnail" in stored and b"library.scan" in stored  # the bytes checked are the right ones
    forbidden = corpus_strings(lib_dir, prints)
    for blob, where in ((stored, "stored pages"), (rows, "rows"), (b"".join(sink.payloads), "sink payload")):
        leaks = sorted(s for s in forbidden if s.encode() in blob)
        assert not leaks, f"{where} contain {leaks}"
    assert network_guard.read_text() == "", "a connection was attempted"


def test_analytics_off_collects_nothing(
    tmp_path: Path, prints: Path, capsys: pytest.CaptureFixture[str], network_guard: Path, sink: Sink
) -> None:
    lib_dir = tmp_path / "lib"
    code, out, _ = run(capsys, lib_dir, "analytics", "off")
    assert code == 0 and "off" in out
    cli_session(capsys, lib_dir, prints)
    code, out, _ = run(capsys, lib_dir, "analytics", "show", "--json")
    assert json.loads(out) == {"enabled": False, "sinks": ["test-sink"], "aggregates": []}

    with Library(lib_dir) as lib:
        analytics = Analytics.for_library(lib)
        assert analytics.record("library.search") is False
        # even a direct insert is ignored by the database while the switch is off
        lib.store.db.execute("insert into analytics_aggregates (feature, day, count) values ('cli.ls', '2026-01-01', 5)")
        assert lib.store.db.execute("select count(*) from analytics_aggregates").fetchone()[0] == 0
        assert analytics.send(include_today=True).sent == 0
    assert sink.payloads == []
    assert b"cli.scan" not in table_bytes(lib_dir / "printmanager.db", "analytics_aggregates")
    assert network_guard.read_text() == ""


def test_switching_analytics_off_deletes_what_was_not_sent(library: Library, sink: Sink) -> None:
    analytics = Analytics.for_library(library)
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    analytics.record("library.scan", 3, day=yesterday)
    assert analytics.send().sent == 1  # yesterday's count is shipped
    analytics.record("library.scan", 2, day=yesterday)
    analytics.record("library.search")
    assert [(a.feature, a.count, a.sent) for a in analytics.aggregates()] == [
        ("library.scan", 5, 3),
        ("library.search", 1, 0),
    ]
    # flipping the switch through plain settings is enough: the store deletes the unsent part
    library.settings.set("privacy.analytics", False)
    assert [(a.feature, a.count, a.sent) for a in analytics.aggregates()] == [("library.scan", 3, 3)]
    assert analytics.record("library.search") is False
    analytics.enable()
    assert analytics.record("library.search") is True
    assert analytics.disable() == 1
    assert [json.loads(p) for p in sink.payloads] == [
        [{"feature": "library.scan", "day": yesterday.isoformat(), "count": 3, "sent": 0}]
    ]


def test_register_analytics_sinks_gets_aggregates_only_when_on(library: Library) -> None:
    down = Sink(fail=True)
    register_plugin(down, name="down-sink")
    try:
        analytics = Analytics.for_library(library)
        analytics.record("library.scan")
        result = analytics.send(include_today=True)
        assert result.sent == 0 and "test-sink" in result.errors  # kept for the next try
        assert analytics.pending(include_today=True) == [Aggregate("library.scan", analytics.aggregates()[0].day, 1)]
    finally:
        unregister_plugin("down-sink")
    up = Sink()
    register_plugin(up, name="up-sink")
    try:
        analytics.settings.set("privacy.analytics", False)
        analytics.settings.set("privacy.analytics", True)
        analytics.record("library.search")
        analytics.settings.set("privacy.crash_reports", True)  # another switch: not analytics consent
        library.settings.set("privacy.analytics", False)
        assert analytics.send(include_today=True).sent == 0 and up.payloads == []
        library.settings.set("privacy.analytics", True)
        analytics.record("library.search")
        assert analytics.send(include_today=True).sent == 1
        assert [a["feature"] for a in json.loads(up.payloads[0])] == ["library.search"]
        assert analytics.send(include_today=True).sent == 0  # nothing twice
    finally:
        unregister_plugin("up-sink")


@pytest.mark.parametrize(
    "feature",
    ["/home/me/Prints/Wheel.stl", "Wheel.stl", "cli.ls benchy", "tag:gift", "sha256:9f86d081884c7d65",
     "CLI.LS", "", "x" * 60, "cli.ls\n", "cli.ls-Benchy"],
)
def test_analytics_schema_refuses_free_text(library: Library, feature: str) -> None:
    """Paths, names, tags, hashes, queries: refused by the Python schema and again by SQLite."""
    analytics = Analytics.for_library(library)
    with pytest.raises(UsageError):
        analytics.record(feature)
    with pytest.raises(sqlite3.IntegrityError):
        library.store.db.execute(
            "insert into analytics_aggregates (feature, day, count) values (?, '2026-01-01', 1)", [feature]
        )
    assert analytics.aggregates() == []


def test_analytics_events_carry_only_a_count(library: Library) -> None:
    for bad in (0, -1, 10**9, True, 1.5, "3"):
        with pytest.raises((UsageError, TypeError, ValueError)):
            Event("library.scan", count=bad)  # type: ignore[arg-type]
    with pytest.raises((UsageError, TypeError)):
        Event("library.scan", day="2026-01-01")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="not a registered"):
        Analytics.for_library(library).record("cli.unregistered_thing")
    with pytest.raises(UsageError):
        register_feature("thumbnails/Wheel.stl")
    register_feature("example.widget_opened")
    assert Analytics.for_library(library).record("example.widget_opened") is True
    with pytest.raises(sqlite3.IntegrityError):
        library.store.db.execute("insert into analytics_aggregates (feature, day, count) values ('cli.ls', 'today', 1)")


def test_analytics_cli_on_off_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "lib"
    assert run(capsys, lib, "settings")[0] == 0
    code, out, _ = run(capsys, lib, "analytics", "show", "--json")
    shown = json.loads(out)
    assert shown["enabled"] is True and shown["sinks"] == []
    assert [a["feature"] for a in shown["aggregates"]] == ["cli.settings"]
    code, out, _ = run(capsys, lib, "analytics", "off", "--json")
    assert json.loads(out) == {"enabled": False, "deleted": 2}  # settings + analytics.show
    code, out, _ = run(capsys, lib, "analytics")
    assert out.startswith("analytics: off")
    code, out, _ = run(capsys, lib, "analytics", "on")
    assert code == 0 and out.startswith("analytics on")
    code, out, _ = run(capsys, lib, "analytics", "show", "--json")
    assert [a["feature"] for a in json.loads(out)["aggregates"]] == ["cli.analytics.on"]
    # --help runs nothing and counts nothing; a library that does not exist is not created
    assert run(capsys, tmp_path / "elsewhere", "settings", "--help")[0] == 0
    assert not (tmp_path / "elsewhere").exists()


# -- crash reports -------------------------------------------------------------


def _raise_with_paths(path: Path) -> None:
    try:
        open(path / "nothing here.stl", "rb")
    except FileNotFoundError as exc:
        raise RuntimeError(f"could not read {path / 'Benchy' / 'Cargo box.stl'} (Benchy/Wheel.stl)") from exc


def test_crash_report_scrubs_paths_and_file_names(library: Library, prints: Path) -> None:
    library.scan([prints], workers=1, thumbnails=False)
    home = os.path.expanduser("~")
    try:
        _raise_with_paths(prints)
    except RuntimeError as exc:
        report = CrashReports.for_library(library).capture(exc)
    data = report.report
    assert data["app_version"] and data["python_version"] and data["os"]
    assert data["exception"]["type"] == "RuntimeError"
    assert data["context"] == "api" and report.sent_at is None
    text = json.dumps(data)
    assert "FileNotFoundError" in text  # the chained cause is kept
    assert "_raise_with_paths" in text and "<code>/" in text  # code frames stay useful
    assert any(f["function"] == "_raise_with_paths" for f in data["frames"])
    leaks = [
        s for s in (str(prints), prints.name, "My Prints", "Cargo box", "Wheel", "nothing here", "Benchy",
                    str(library.directory), home)
        if s in text
    ]
    assert not leaks, leaks
    assert "<root>" in data["exception"]["message"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("open('/srv/nas/prints/Baby Yoda.stl')", "open('<path>')"),
        ('File "C:\\Users\\ana\\Prints\\x.3mf"', 'File "<path>"'),
        ("cannot read ~/Prints/boat.gcode now", "cannot read <home> now"),
        ("bad file Wheel.stl in folder", "bad file <file.stl> in folder"),
        ("see models/benchy/hull.obj", "see <path>"),
        ("KeyError: 42", "KeyError: 42"),
    ],
)
def test_scrubber_replaces_paths_and_file_names(text: str, expected: str) -> None:
    assert Scrubber(code_paths=[]).scrub(text) == expected


def test_cli_unhandled_error_saves_crash_report_and_prints_one_line(
    tmp_path: Path, prints: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    network_guard: Path,
) -> None:
    lib_dir = tmp_path / "lib"
    assert run(capsys, lib_dir, "scan", str(prints), "--workers", "1", "--no-thumbnails")[0] == 0
    secret = prints / "Benchy" / "Cargo box.stl"

    def broken(self: Library) -> dict[str, int]:
        raise KeyError(str(secret))

    monkeypatch.setattr(Library, "tags", broken)
    code, out, err = run(capsys, lib_dir, "tags")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "KeyError" in err and "crash report" in err and str(secret) not in err
    code, out, _ = run(capsys, lib_dir, "privacy", "crash-reports", "--json")
    reports = json.loads(out)
    assert len(reports) == 1 and reports[0]["sent_at"] is None
    assert reports[0]["report"]["context"] == "cli" and reports[0]["report"]["command"] == "tags"
    assert "Cargo box" not in out and str(prints) not in out and "<root>" in out
    assert network_guard.read_text() == ""

    # with no library there is nowhere to keep a report, and none is created
    monkeypatch.setattr("printmanager_core.plugins.list_plugins", lambda: 1 / 0)
    code, out, err = run(capsys, tmp_path / "none", "plugins")
    assert code == 1 and "ZeroDivisionError" in err and "no library" in err
    assert not (tmp_path / "none").exists()


def test_register_crash_report_sinks_sends_only_when_switch_on(library: Library, sink: Sink) -> None:
    reports = CrashReports.for_library(library)
    assert reports.enabled is False  # off by default
    try:
        raise ValueError("bad value in /tmp/secret/folder/model.3mf")
    except ValueError as exc:
        first = reports.capture(exc)
    assert first.sent_at is None and sink.payloads == [] and reports.send() == 0
    library.settings.set("privacy.crash_reports", True)
    assert reports.send() == 1
    assert reports.get(first.id).sent_at is not None
    assert json.loads(sink.payloads[0]) == first.report
    assert b"/tmp/secret" not in sink.payloads[0] and b"model.3mf" not in sink.payloads[0]
    try:
        raise OSError("disk gone")
    except OSError as exc:
        second = reports.capture(exc)  # with the switch on, sent as it is captured
    assert reports.get(second.id).sent_at is not None and len(sink.payloads) == 2
    assert reports.send() == 0


def test_build_report_without_a_library() -> None:
    try:
        {}["/home/someone/Prints/cat.stl"]
    except KeyError as exc:
        report = build_report(exc, Scrubber.for_database(None, None))
    assert report["exception"]["type"] == "KeyError"
    assert "cat.stl" not in json.dumps(report) and "someone" not in json.dumps(report)
