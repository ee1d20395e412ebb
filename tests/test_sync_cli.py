"""``printmanager sync ...``: the CLI contract of docs/cli.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sync_support import (
    PASSPHRASE,
    MotoS3,
    make_prints,
    scanned_library,
    tree,
)

from printmanager_core.cli import load_commands
from printmanager_sync.errors import SyncDisabled


def run(library: Path, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(load_commands(), ["--library", str(library), "sync", *args], input=input)


@pytest.fixture
def scanned(tmp_path: Path, corpus: Path) -> tuple[Path, Path]:
    prints = make_prints(tmp_path / "Prints", corpus)
    scanned_library(tmp_path / "library", [prints]).close()
    return tmp_path / "library", prints


def test_enable_needs_consent(scanned: tuple[Path, Path], tmp_path: Path, passphrase_env: str) -> None:
    library, _ = scanned
    container = tmp_path / "container"
    refused = run(library, "enable", "--backend", "folder", "--path", str(container))
    assert refused.exit_code != 0 and "consent" in refused.output
    said_no = run(library, "enable", "--backend", "folder", "--path", str(container), input="n\n")
    assert said_no.exit_code != 0 and "Enable cloud sync?" in said_no.output
    assert not container.exists()
    off = run(library, "status", "--json")
    assert json.loads(off.output)["enabled"] is False and json.loads(off.output)["consent"] is None
    said_yes = run(library, "enable", "--backend", "folder", "--path", str(container), input="y\n")
    assert said_yes.exit_code == 0, said_yes.output
    status = json.loads(run(library, "status", "--json").output)
    assert status["enabled"] and status["consent"]["detail"]["backend"] == "folder"
    # a bad backend or missing option is a usage error, not a traceback
    bad = run(library, "enable", "--backend", "ftp", "--path", str(container), "--i-consent")
    assert bad.exit_code == 2 and "unknown backend" in bad.output
    missing = run(library, "enable", "--backend", "s3", "--i-consent")
    assert missing.exit_code == 2 and "--endpoint" in missing.output


def test_cli_contract_folder(scanned: tuple[Path, Path], tmp_path: Path, passphrase_env: str) -> None:
    library, prints = scanned
    container = tmp_path / "container"
    enabled = run(library, "enable", "--backend", "folder", "--path", str(container), "--i-consent", "--json")
    assert enabled.exit_code == 0, enabled.output
    assert json.loads(enabled.output)["backend"]["path"] == str(container)

    now = run(library, "now", "--json")
    assert now.exit_code == 0, now.output
    report = json.loads(now.output)
    assert report["pushed"] and report["files"] >= 12 and report["uploaded_blobs"] >= 13
    again = json.loads(run(library, "now", "--json").output)
    assert not again["pushed"] and again["uploaded_blobs"] == 0
    assert "up to date" in run(library, "now").output

    status = run(library, "status")
    assert status.exit_code == 0 and "sync: on" in status.output and "consent: given" in status.output
    checked = run(library, "check", "--all")
    assert checked.exit_code == 0 and "downloaded and verified" in checked.output

    target = tmp_path / "target"
    restored = CliRunner().invoke(
        load_commands(),
        ["--library", str(target), "sync", "restore", "--backend", "folder", "--path", str(container),
         "--to", str(tmp_path / "restored"), "--json"],
    )  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.output)["files"] == report["files"]
    assert tree(tmp_path / "restored" / "Prints") == tree(prints)

    disabled = run(library, "disable")
    assert disabled.exit_code == 0 and "--delete-remote" in disabled.output
    after = run(library, "now")
    assert after.exit_code != 0 and isinstance(after.exception, SyncDisabled)
    assert tree(prints)  # local files untouched
    deleted = json.loads(run(library, "disable", "--delete-remote", "--json").output)
    assert deleted["remote_objects_deleted"] > 10
    assert not [p for p in container.rglob("*") if p.is_file()]


def test_cli_contract_s3(scanned: tuple[Path, Path], tmp_path: Path, s3_env: MotoS3, passphrase_env: str) -> None:
    library, prints = scanned
    bucket = s3_env.new_bucket()
    enabled = run(library, "enable", "--backend", "s3", "--endpoint", s3_env.endpoint, "--bucket", bucket,
                  "--region", "us-east-1", "--i-consent")  # fmt: skip
    assert enabled.exit_code == 0, enabled.output
    assert f"bucket {bucket}" in enabled.output
    now = json.loads(run(library, "now", "--json").output)
    assert now["pushed"] and now["requests"] >= now["uploaded_blobs"]
    assert run(library, "check").exit_code == 0
    restored = CliRunner().invoke(
        load_commands(),
        ["--library", str(tmp_path / "target"), "sync", "restore", "--backend", "s3", "--endpoint", s3_env.endpoint,
         "--bucket", bucket, "--to", str(tmp_path / "restored")],
    )  # fmt: skip
    assert restored.exit_code == 0, restored.output
    assert tree(tmp_path / "restored" / "Prints") == tree(prints)
    wrong = CliRunner().invoke(
        load_commands(),
        ["--library", str(tmp_path / "t2"), "sync", "restore", "--backend", "s3", "--endpoint", "http://example.com",
         "--bucket", bucket, "--to", str(tmp_path / "r2")],
    )  # fmt: skip
    assert wrong.exit_code != 0 and "https" in str(wrong.exception)


def test_refusals_are_one_line_errors_in_a_real_process(tmp_path: Path) -> None:
    """As a user runs it: the real scrypt cost, a real process, no traceback."""
    env = {**os.environ, "PRINTMANAGER_SYNC_PASSPHRASE": PASSPHRASE}
    library = tmp_path / "library"

    def pm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "printmanager_core", "--library", str(library), "sync", *args],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    never = pm("now")
    assert never.returncode != 0 and "Traceback" not in never.stderr
    assert never.stderr.strip().count("\n") == 0 and "opt in" in never.stderr
    enabled = pm("enable", "--backend", "folder", "--path", str(tmp_path / "c"), "--i-consent")
    assert enabled.returncode == 0, enabled.stderr
    key = next((tmp_path / "c").rglob("keys/*"))
    assert json.loads(key.read_text())["scrypt"]["n"] == 2**17  # the real cost outside tests
    assert pm("now").returncode == 0
    assert pm("disable").returncode == 0
    after = pm("now")
    assert after.returncode != 0 and "Traceback" not in after.stderr and "opt in" in after.stderr
    bad_pass = subprocess.run(
        [sys.executable, "-m", "printmanager_core", "--library", str(tmp_path / "other"), "sync", "restore",
         "--backend", "folder", "--path", str(tmp_path / "c"), "--to", str(tmp_path / "r")],
        capture_output=True, text=True, env={**env, "PRINTMANAGER_SYNC_PASSPHRASE": "wrong"}, timeout=120,
    )  # fmt: skip
    assert bad_pass.returncode != 0 and "wrong passphrase" in bad_pass.stderr and "Traceback" not in bad_pass.stderr


def test_without_a_terminal_a_passphrase_prompt_is_one_line_naming_the_variable(
    scanned: tuple[Path, Path], tmp_path: Path, passphrase_env: str
) -> None:
    """Cron, a service, a pipe: no terminal to ask on. One line naming PRINTMANAGER_SYNC_PASSPHRASE,
    exit 1, never getpass's warning; a wrong passphrase prints nothing on stdout before its error."""
    from printmanager_sync import enable

    from printmanager_core import Library

    library, _prints = scanned
    container = tmp_path / "container"
    with Library(library) as lib:
        enable(lib, {"backend": "folder", "path": str(container)}, consent_given=True)
    env = {k: v for k, v in os.environ.items() if k != "PRINTMANAGER_SYNC_PASSPHRASE"}

    def pm(*args: str, lib: Path = library, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "printmanager_core", "--library", str(lib), "sync", *args],
            capture_output=True, text=True, env={**env, **extra}, timeout=120,
            stdin=subprocess.DEVNULL, start_new_session=True,  # no controlling terminal, as under cron
        )  # fmt: skip

    fresh = tmp_path / "fresh"
    for done in (
        pm("now"),
        pm("check"),
        pm("restore", "--backend", "folder", "--path", str(container), "--to", str(tmp_path / "r"), lib=fresh),
        pm("enable", "--backend", "folder", "--path", str(tmp_path / "new"), "--i-consent", lib=fresh),
    ):
        assert done.returncode == 1, done.args
        assert done.stdout == ""
        assert "PRINTMANAGER_SYNC_PASSPHRASE" in done.stderr and "no terminal" in done.stderr
        assert done.stderr.strip().count("\n") == 0, done.stderr
        assert "Warning" not in done.stderr and "Traceback" not in done.stderr
    wrong = pm("check", PRINTMANAGER_SYNC_PASSPHRASE="not the passphrase")
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert "wrong passphrase" in wrong.stderr and wrong.stderr.strip().count("\n") == 0
    right = pm("check", PRINTMANAGER_SYNC_PASSPHRASE=passphrase_env)
    assert right.returncode == 0 and "snapshots" in right.stdout


def test_errors_name_the_container_in_words_not_a_python_dict(scanned: tuple[Path, Path], tmp_path: Path,
                                                              passphrase_env: str) -> None:  # fmt: skip
    library, _prints = scanned
    container = tmp_path / "container"
    assert run(library, "enable", "--backend", "folder", "--path", str(container), "--i-consent").exit_code == 0
    for p in sorted(container.rglob("*"), reverse=True):  # the container is emptied by hand
        p.unlink() if p.is_file() else p.rmdir()
    for args in (["check"], ["now"]):
        result = run(library, *args)
        text = str(result.exception) if result.exception and not isinstance(result.exception, SystemExit) else result.output
        assert result.exit_code != 0
        assert f"the folder {container}" in text and "{" not in text and "'backend'" not in text
    restored = CliRunner().invoke(load_commands(), ["--library", str(tmp_path / "t"), "sync", "restore", "--backend",
                                                    "folder", "--path", str(container), "--to", str(tmp_path / "r")])  # fmt: skip
    assert restored.exit_code != 0 and f"the folder {container}" in str(restored.exception)
    assert "{" not in str(restored.exception)
