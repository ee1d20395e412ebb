"""A real OctoPrint on 127.0.0.1 for the printer tests, with its bundled virtual printer.

OctoPrint is installed with pip into its own venv (it pins its own versions of
Flask, Tornado and friends), cached at ``~/.cache/printmanager-test/octoprint-venv``
(``PRINTMANAGER_TEST_CACHE`` moves it) so a rerun starts in seconds; the first
run (and CI on a fresh machine) creates it, about two minutes. Its base folder
is written fresh for each test session: a ``config.yaml`` that turns on the
virtual printer and turns off everything that would reach past this machine
(online check, plugin blacklist, announcements, software update, usage
tracking, error tracking, plugin repository, network discovery), and a
``users.yaml`` with an admin whose API key the tests use.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import attrs
import pytest

OCTOPRINT_VERSION = "octoprint>=1.10,<2"


def cache_dir() -> Path:
    """Where the test venvs are kept between runs."""
    return Path(os.environ.get("PRINTMANAGER_TEST_CACHE", Path.home() / ".cache" / "printmanager-test"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_venv(name: str, requirement: str, command: str) -> Path:
    """The venv ``name`` under :func:`cache_dir` with ``requirement`` installed; its ``command``."""
    venv = cache_dir() / name
    binary = venv / "bin" / command
    if binary.exists():
        return binary
    venv.parent.mkdir(parents=True, exist_ok=True)
    # `make test` runs test files in two processes: one makes the venv while the other waits
    with open(venv.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        python = getattr(sys, "_base_executable", None) or sys.executable
        subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", requirement],
                              capture_output=True, text=True, timeout=1500)
        if done.returncode != 0 or not binary.exists():
            pytest.fail(f"pip could not install {requirement} into {venv}: {done.stderr.strip()[-2000:]}")
        return binary


CONFIG = """\
server:
  firstRun: false
  onlineCheck:
    enabled: false
  pluginBlacklist:
    enabled: false
  allowFraming: false
accessControl:
  salt: {salt}
serial:
  port: VIRTUAL
  baudrate: 0
  autoconnect: true
  additionalPorts: []
  # the virtual printer sometimes drops a line's checksum and then stays silent; OctoPrint
  # asks again after this long without an answer (default 30 s, a stall of half the print)
  timeout:
    communication: 3.0
plugins:
  _disabled:
  - announcements
  - softwareupdate
  - tracking
  - errortracking
  - pluginmanager
  - discovery
  - backup
  - achievements
  virtual_printer:
    enabled: true
    # seconds between the virtual printer's answers (default 0.01): the corpus G-code has
    # 26k lines, so the default makes a 4-minute print; this one still takes seconds
    throttle: 0.001
    sendWait: false
    waitInterval: 0.1
    # the simulated heaters warm 10 degrees a second from this; from room temperature the
    # corpus G-code's M109/M190 heat-ups alone take ~30 s
    ambientTemperature: 160.0
  corewizard:
    _dummy: true
"""

USERS = """\
admin:
  active: true
  apikey: {key}
  password: "not-used"
  groups:
  - admins
  - users
  permissions: []
  roles:
  - user
  - admin
  settings: {{}}
"""


@attrs.frozen
class OctoPrint:
    """A running OctoPrint: its URL, an admin's API key, its base folder and process."""

    url: str
    api_key: str
    basedir: Path
    process: "subprocess.Popen[bytes]"


def start_octoprint(basedir: Path) -> Iterator[OctoPrint]:
    """Start OctoPrint serving on 127.0.0.1 from a fresh ``basedir``; stopped when the generator closes."""
    import httpx

    binary = ensure_venv("octoprint-venv", OCTOPRINT_VERSION, "octoprint")
    key = secrets.token_hex(16).upper()
    basedir.mkdir(parents=True, exist_ok=True)
    (basedir / "config.yaml").write_text(CONFIG.format(salt=secrets.token_hex(16)))
    (basedir / "users.yaml").write_text(USERS.format(key=key))
    # The virtual printer sleeps a tenth of each move's real duration; OctoPrint sends this script
    # before every job, so the moves run 40x faster
    (basedir / "scripts" / "gcode").mkdir(parents=True, exist_ok=True)
    (basedir / "scripts" / "gcode" / "beforePrintStarted").write_text("M220 S4000\n")
    port = free_port()
    log = open(basedir / "serve.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PRINTMANAGER_", "PYTHON"))}
    process = subprocess.Popen(
        [str(binary), "serve", "--iknowwhatimdoing", "--basedir", str(basedir), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"OctoPrint exited ({process.returncode}): {(basedir / 'serve.log').read_text()[-3000:]}")
            try:
                r = httpx.get(f"{url}/api/version", headers={"X-Api-Key": key}, timeout=2)
                if r.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"OctoPrint did not answer in 180 s: {(basedir / 'serve.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield OctoPrint(url, key, basedir, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def octoprint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OctoPrint]:
    """A real OctoPrint with its virtual printer, for the whole session."""
    yield from start_octoprint(tmp_path_factory.mktemp("octoprint"))
