"""Settings: per library, from Python and the CLI; privacy switches go into an append-only ledger."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from cli_support import run

from printmanager_core import Library
from printmanager_core.errors import NotFound, UsageError
from printmanager_core.settings import POLICY_VERSION, defaults




def test_settings_cli_lists_gets_and_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lib = tmp_path / "lib"
    code, out, _ = run(capsys, lib, "settings", "--json")
    assert code == 0
    assert json.loads(out) == defaults()  # the core's and the plugins' (register_settings)

    code, out, _ = run(capsys, lib, "settings", "set", "retention.access_log_days", "14", "--json")
    assert code == 0 and json.loads(out) == {"retention.access_log_days": 14}
    code, out, _ = run(capsys, lib, "settings", "get", "retention.access_log_days")
    assert code == 0 and out.strip() == "14"
    code, out, _ = run(capsys, lib, "settings", "set", "privacy.crash_reports", "on")
    assert code == 0 and out.strip() == "privacy.crash_reports = true"
    code, out, _ = run(capsys, lib, "settings")
    assert "retention.access_log_days = 14" in out.splitlines()
    assert "privacy.crash_reports = true" in out.splitlines()

    with Library(lib) as library:  # the same values from Python
        assert library.settings.get("retention.access_log_days") == 14
        assert library.settings.get("privacy.crash_reports") is True
        assert library.settings.all()["privacy.analytics"] is True


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["settings", "get", "nosuchkey"], "unknown setting 'nosuchkey'"),
        (["settings", "set", "retention.crash_report_days", "0"], "at least 1"),
        (["settings", "set", "retention.crash_report_days", "soon"], "whole number"),
        (["settings", "set", "privacy.analytics", "maybe"], "true or false"),
        (["settings", "set", "privacy.sync", "on"], "sync enable"),
    ],
)
def test_settings_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    code, out, err = run(capsys, tmp_path / "lib", *args)
    assert code != 0 and out == ""
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_privacy_switch_changes_are_in_an_append_only_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = tmp_path / "lib"
    assert run(capsys, lib, "analytics", "off")[0] == 0
    assert run(capsys, lib, "settings", "set", "privacy.crash_reports", "true")[0] == 0
    assert run(capsys, lib, "settings", "set", "thumbnails.size", "128")[0] == 0  # not a privacy switch
    with Library(lib) as library:
        library.settings.set("privacy.sync", True, detail={"backend": "folder"}, source="sync")
        ledger = library.settings.consent_ledger()
        assert [(e["switch"], e["value"], e["source"]) for e in ledger] == [
            ("privacy.analytics", False, "cli"),
            ("privacy.crash_reports", True, "cli"),
            ("privacy.sync", True, "sync"),
        ]
        assert all(e["policy_version"] == POLICY_VERSION for e in ledger)
        assert ledger[2]["detail"] == {"backend": "folder"}
        assert [e["at"] for e in ledger] == sorted(e["at"] for e in ledger)
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            library.store.db.execute("update consent_ledger set value = 'true'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            library.store.db.execute("delete from consent_ledger")
        assert len(library.settings.consent_ledger()) == 3


def test_settings_api_checks_values(library: Library) -> None:
    with pytest.raises(UsageError):
        library.settings.set("privacy.analytics", "yes please")
    with pytest.raises(UsageError):
        library.settings.set("retention.analytics_days", -3)
    with pytest.raises(UsageError):
        library.settings.set("nodot", 1)
    with pytest.raises(NotFound):
        library.settings.get("plugin.never_set")
    # a key no plugin registered is a typo: refused, in one line, with the nearest known key
    with pytest.raises(UsageError, match=r"unknown setting 'plugin.colour' \(`printmanager settings` lists them\)"):
        library.settings.set("plugin.colour", "red")
    with pytest.raises(UsageError, match="did you mean 'retention.analytics_days'"):
        library.settings.set("retention.analytic_days", 3)
    with pytest.raises(UsageError, match="thumbnails.size takes a number 16..2048, not 9000"):
        library.settings.set("thumbnails.size", 9000)  # a plugin's setting, out of its range
    with pytest.raises(UsageError, match="takes one of error, warning, info, off, not 'loud'"):
        library.settings.set("problems.severity.open-mesh", "loud")
    library.settings.set("problems.severity.open-mesh", "off")
    assert library.settings.get("problems.severity.open-mesh") == "off"
    assert library.settings.consent_ledger() == []
