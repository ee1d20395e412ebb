"""Printers: the register_printer_connections hook, consent, the vault, a real OctoPrint on 127.0.0.1,
a real Moonraker (without Klipper), and no printer traffic at all without a printer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from octoprint_support import OctoPrint, cache_dir, ensure_venv, free_port, octoprint  # noqa: F401
from printmanager_core import Library
from printmanager_core.errors import NotFound, UsageError
from printmanager_core.plugins import register_plugin, unregister_plugin
from printmanager_core.privacy.delete import delete_library
from printmanager_core.privacy.export import export_library
from printmanager_printers import service
from printmanager_printers.connection import Job, JobStatus, PrinterError

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _vault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRINTMANAGER_VAULT_BACKEND", "passphrase")
    monkeypatch.setenv("PRINTMANAGER_VAULT_PASSPHRASE", PASSPHRASE)


def _first_layers(src: Path, dest: Path, layers: int = 4) -> None:
    """The corpus G-code with only its first ``layers`` layers: its header, start G-code
    and heat-up, those layers, then its own end G-code and settings block (a real
    slicer's file, printed by the virtual printer in seconds instead of a minute)."""
    lines = src.read_bytes().splitlines(keepends=True)
    changes = [i for i, line in enumerate(lines) if line.startswith(b";LAYER_CHANGE")]
    stops = [i for i, line in enumerate(lines) if line.startswith(b"; stop printing object")]
    dest.write_bytes(b"".join(lines[: changes[layers]] + lines[stops[-1] + 1 :]))


@pytest.fixture
def gcode_lib(library: Library, tmp_path: Path, corpus: Path) -> Library:
    root = tmp_path / "Prints" / "Cube"
    root.mkdir(parents=True)
    shutil.copy(corpus / "prusaslicer-shapes" / "box.stl", root / "box.stl")
    _first_layers(corpus / "sliced" / "mini_cube_a.gcode", root / "mini_cube_a.gcode")
    library.scan([tmp_path / "Prints"], workers=1)
    return library


def _cli(library_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "printmanager_core", "--library", str(library_dir), *args],
                          input=stdin, capture_output=True, text=True, timeout=300, env=dict(os.environ))


# -- the hook, with a third-party kind -------------------------------------------------


class FolderPrinter:
    """A printer kind a third party might add: a "printer" that is a folder (a mounted SD card)."""

    def __init__(self, url: str, api_key: str | None):
        self.folder = Path(url.removeprefix("http://folder"))
        self.api_key = api_key

    def upload(self, path: Path, name: str) -> str:
        shutil.copy(path, self.folder / name)
        return name

    def start(self, name: str) -> None:
        (self.folder / "history.json").write_text(json.dumps([
            {"id": "1", "file": name, "ended_at": "2026-03-01T10:00:00+00:00", "result": "ok", "duration_s": 60}]))

    def status(self) -> JobStatus:
        return JobStatus(state="operational")

    def history(self) -> list[Job]:
        path = self.folder / "history.json"
        return [Job(**j) for j in json.loads(path.read_text())] if path.exists() else []


class FolderPlugin:
    from printmanager_core import hookimpl

    @hookimpl
    def register_printer_connections(self, register: Any) -> None:
        register("folder", FolderPrinter)


def test_register_printer_connections_builtin_and_third_party(gcode_lib: Library, tmp_path: Path) -> None:
    kinds = service.connection_kinds()
    assert {"octoprint", "moonraker"} <= set(kinds.names())
    assert {e.name: e.plugin for e in kinds}["octoprint"] == "printers"
    register_plugin(FolderPlugin(), name="folder-printer")
    try:
        assert "folder" in service.connection_kinds()
        card = tmp_path / "sdcard"
        card.mkdir()
        service.add_printer(gcode_lib, "sd", "folder", f"http://folder{card}", "k3y")
        gcode = gcode_lib.files("format:gcode")[0]
        done = service.upload(gcode_lib, "sd", gcode.id, start=True)
        assert done["remote"] == gcode.name and (card / gcode.name).read_bytes() == Path(gcode.path).read_bytes()
        synced = service.sync_history(gcode_lib, "sd")
        assert [p["external_id"] for p in synced["logged"]] == ["1"]
        assert service.sync_history(gcode_lib, "sd")["logged"] == []  # each job once
        [entry] = gcode_lib.print_history(gcode.id)[1]
        assert entry.source == "folder:sd" and entry.file_id == gcode.id and entry.printer == "sd"
    finally:
        unregister_plugin("folder-printer")
    assert "folder" not in service.connection_kinds()


def test_add_records_consent_and_keeps_the_key_in_the_vault(gcode_lib: Library) -> None:
    printer = service.add_printer(gcode_lib, "mk3", "octoprint", "http://127.0.0.1:9", "SECRETKEY123")
    assert "127.0.0.1:9" in printer.consent_text
    ledger = [e for e in gcode_lib.settings.consent_ledger() if e["switch"] == "printer:mk3"]
    assert [e["value"] for e in ledger] == [True] and ledger[0]["detail"]["url"] == "http://127.0.0.1:9"
    from printmanager_vault import get_secret

    assert get_secret(gcode_lib, "printers.mk3.api_key") == "SECRETKEY123"
    raw = b"".join(p.read_bytes() for p in gcode_lib.directory.iterdir() if p.is_file())
    assert b"SECRETKEY123" not in raw  # not in the database, its log or the vault file in plaintext
    with pytest.raises(UsageError, match="unknown printer kind"):
        service.add_printer(gcode_lib, "x", "bogus", "http://127.0.0.1:9", None)
    with pytest.raises(UsageError, match="http://"):
        service.add_printer(gcode_lib, "x", "octoprint", "127.0.0.1:9", None)
    service.remove_printer(gcode_lib, "mk3")
    assert get_secret(gcode_lib, "printers.mk3.api_key") is None
    assert [e["value"] for e in gcode_lib.settings.consent_ledger() if e["switch"] == "printer:mk3"] == [True, False]
    with pytest.raises(NotFound, match="add it first"):
        service.status(gcode_lib, "mk3")


def test_unreachable_printer_is_one_line(gcode_lib: Library) -> None:
    service.add_printer(gcode_lib, "gone", "octoprint", f"http://127.0.0.1:{free_port()}", None)
    with pytest.raises(PrinterError, match="cannot be reached") as info:
        service.status(gcode_lib, "gone")
    assert "\n" not in str(info.value)


def test_cli_add_needs_consent_without_a_terminal(gcode_lib: Library) -> None:
    directory = gcode_lib.directory
    gcode_lib.close()
    done = _cli(directory, "printer", "add", "mk3", "--kind", "octoprint", "--url", "http://127.0.0.1:9",
                "--no-api-key")
    assert done.returncode != 0 and "needs your consent" in done.stderr and done.stderr.count("\n") == 1
    done = _cli(directory, "printer", "ls", "--json")
    assert json.loads(done.stdout) == []


# -- a real OctoPrint with its virtual printer ------------------------------------------


@pytest.mark.timeout(1200)  # a fresh machine pip-installs OctoPrint first (about two minutes)
@pytest.mark.slow
def test_octoprint_upload_start_watch_and_history(gcode_lib: Library, octoprint: OctoPrint) -> None:  # noqa: F811
    directory = gcode_lib.directory
    gcode = gcode_lib.files("format:gcode")[0]
    gcode_lib.close()
    done = _cli(directory, "printer", "add", "op", "--kind", "octoprint", "--url", octoprint.url, "--api-key-stdin",
                "--yes", "--json", stdin=octoprint.api_key + "\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["url"] == octoprint.url
    done = _cli(directory, "printer", "ls", "--json")
    assert [p["name"] for p in json.loads(done.stdout)] == ["op"]
    assert octoprint.api_key not in done.stdout
    # a wrong key is refused by OctoPrint itself
    done = _cli(directory, "printer", "add", "bad", "--kind", "octoprint", "--url", octoprint.url,
                "--api-key-stdin", "--yes", stdin="0000\n")
    done = _cli(directory, "printer", "status", "bad")
    assert done.returncode != 0 and "refused the API key" in done.stderr
    # upload the corpus G-code (its first layers), start it
    done = _cli(directory, "printer", "upload", "op", str(gcode.id), "--start", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"printer": "op", "file_id": gcode.id, "remote": "mini_cube_a.gcode",
                                       "started": True}
    files = (octoprint.basedir / "uploads" / "mini_cube_a.gcode").read_bytes()
    assert files == Path(gcode.path).read_bytes()
    # watch the job progress until it is done
    lib = Library(directory)
    seen: list[JobStatus] = []
    deadline = time.monotonic() + 480
    while time.monotonic() < deadline:
        now = service.status(lib, "op")
        seen.append(now)
        if seen and not now.printing and any(s.printing for s in seen):
            break
        time.sleep(1)
    printing = [s for s in seen if s.printing]
    assert printing and all(s.file == "mini_cube_a.gcode" for s in printing)
    progress = [s.progress for s in printing if s.progress is not None]
    assert progress == sorted(progress) and progress[-1] > progress[0]
    assert not seen[-1].printing, "the virtual printer did not finish in 8 minutes"
    done = _cli(directory, "printer", "status", "op", "--json")
    assert json.loads(done.stdout)["printing"] is False
    # the finished job goes into the print log, once
    done = _cli(directory, "printer", "sync-history", "op", "--json")
    assert done.returncode == 0, done.stderr
    synced = json.loads(done.stdout)
    [entry] = synced["logged"]
    assert entry["file_id"] == gcode.id and entry["result"] == "ok" and entry["source"] == "octoprint:op"
    assert entry["duration_s"] and entry["duration_s"] > 0
    assert json.loads(_cli(directory, "printer", "sync-history", "op", "--json").stdout)["logged"] == []
    assert {f.name for f in lib.files("is:printed")} == {"mini_cube_a.gcode", "box.stl"}
    # export lists the printer, never the key; delete forgets it and its key without contacting it
    result = export_library(lib, directory.parent / "export.zip")
    with zipfile.ZipFile(result.path) as zf:
        exported = zf.read("printers.json").decode()
        assert "op" in exported and octoprint.api_key not in exported
        assert any(p["source"] == "octoprint:op" for p in json.loads(zf.read("print_log.json")))
    report = delete_library(lib)
    assert report.total("printers") == 2


# -- a real Moonraker, without Klipper ---------------------------------------------------

MOONRAKER_CONF = """\
[server]
host: 127.0.0.1
port: {port}
klippy_uds_address: {socket}

[authorization]
trusted_clients:
    127.0.0.0/8

[history]

[file_manager]

[announcements]
# read announcements from a local folder: Moonraker's default fetches RSS feeds from the internet
dev_mode: True
"""


@pytest.fixture
def moonraker(tmp_path: Path) -> Any:
    binary = ensure_venv("moonraker-venv", "moonraker", "moonraker")
    data = tmp_path / "moonraker"
    (data / "config").mkdir(parents=True)
    port = free_port()
    (data / "config" / "moonraker.conf").write_text(MOONRAKER_CONF.format(port=port, socket=tmp_path / "klippy.sock"))
    log = open(tmp_path / "moonraker.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRINTMANAGER_", "PYTHON"))}
    proc = subprocess.Popen([str(binary), "-d", str(data), "-n"], stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, (tmp_path / "moonraker.log").read_text()[-2000:]
            try:
                if httpx.get(f"{url}/server/info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "Moonraker did not answer in 60 s"
            time.sleep(0.3)
        yield {"url": url, "gcodes": data / "gcodes"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.timeout(900)  # a fresh machine pip-installs Moonraker first
def test_moonraker_upload_status_history_without_klipper(gcode_lib: Library, moonraker: Any) -> None:
    service.add_printer(gcode_lib, "voron", "moonraker", moonraker["url"], None)
    gcode = gcode_lib.files("format:gcode")[0]
    done = service.upload(gcode_lib, "voron", gcode.id)
    assert done["remote"] == "mini_cube_a.gcode"
    assert (moonraker["gcodes"] / "mini_cube_a.gcode").read_bytes() == Path(gcode.path).read_bytes()
    # the history endpoint answers (no job has run: there is no Klipper to run one)
    assert service.sync_history(gcode_lib, "voron") == {"printer": "voron", "jobs": 0, "logged": [],
                                                        "not_catalogued": []}
    # starting and the printer's status need Klipper: Moonraker says so, in one line
    with pytest.raises(PrinterError, match="Klippy Host not connected") as info:
        service.start(gcode_lib, "voron", "mini_cube_a.gcode")
    assert "\n" not in str(info.value)


# -- no printer: no printer traffic at all ----------------------------------------------

_WATCH = r"""
import json, socket, sys
record = []
real_init = socket.socket.__init__
def init(self, *args, **kwargs):
    record.append([str(a) for a in args])
    real_init(self, *args, **kwargs)
socket.socket.__init__ = init
from printmanager_core.cli import main
out, argv = sys.argv[1], sys.argv[2:]
try:
    main(argv)
except SystemExit as exc:
    code = exc.code
else:
    code = 0
with open(out, "w") as f:
    json.dump({"code": code, "sockets": record, "modules": sorted(m for m in ("httpx", "httpcore") if m in sys.modules)}, f)
"""


def test_no_printer_means_no_printer_traffic(gcode_lib: Library, tmp_path: Path) -> None:
    """With no printer added, every printing command (real subprocesses) creates no socket and loads no HTTP library."""
    directory = gcode_lib.directory
    gcode = gcode_lib.files("format:gcode")[0]
    gcode_lib.close()
    commands = [
        ["printer", "ls", "--json"], ["print", "log", str(gcode.id)], ["print", "history", str(gcode.id)],
        ["show", str(gcode.id)], ["ls", "is:printed has:gcode"], ["printer", "status", "op"],
        ["printer", "sync-history", "op"], ["printer", "upload", "op", str(gcode.id)],
        ["privacy", "export", "-o", str(tmp_path / "export.zip")], ["privacy", "delete", "--yes"],
    ]
    for args in commands:
        out = tmp_path / "watch.json"
        done = subprocess.run([sys.executable, "-c", _WATCH, str(out), "--library", str(directory), *args],
                              capture_output=True, text=True, timeout=120)
        result = json.loads(out.read_text())
        if args[:1] == ["printer"] and args[1] != "ls":
            assert result["code"] != 0 and "add it first" in done.stderr, done.stderr  # nothing to contact
        else:
            assert result["code"] == 0, (args, done.stderr)
        assert result["sockets"] == [], (args, result["sockets"])
        assert result["modules"] == [], (args, result["modules"])
