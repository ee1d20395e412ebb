"""Consent (PROMISES 1 and 2): nothing leaves the machine until the user opts in; opting in
and out is recorded; withdrawing stops sync at once. Plus the sync-backend hook."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from sync_support import make_prints, no_network, scanned_library

from printmanager_core import Library
from printmanager_core.plugins import register_plugin, unregister_plugin
from printmanager_core.settings import POLICY_VERSION
from printmanager_sync import check, disable, enable, restore, status, sync_now
from printmanager_sync.backends import backend_registry, open_backend
from printmanager_sync.backends.folder import FolderBackend
from printmanager_sync.errors import NotConfigured, SyncDisabled
from printmanager_sync.state import SyncState


def test_no_network_at_all_without_opt_in(tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = no_network(monkeypatch)
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = Library(tmp_path / "library")
    report = lib.scan([prints], workers=1)  # thumbnails on: every plugin runs
    assert report.added >= 12
    # browsing
    assert lib.files("format:stl")
    assert lib.models()
    assert lib.file(lib.files()[0].id)
    lib.tag(lib.files()[0].id, "boat")
    assert lib.files("tag:boat")
    with lib.open_file(lib.files()[0]) as f:
        assert f.read(10)
    # sync never enabled: status works offline, everything else refuses before any connection
    assert status(lib)["enabled"] is False and status(lib)["configured"] is False
    for call in (lambda: sync_now(lib), lambda: check(lib)):
        with pytest.raises(SyncDisabled):
            call()
    for config in ({"backend": "s3", "endpoint": "https://example.r2.cloudflarestorage.com", "bucket": "b"},
                   {"backend": "folder", "path": str(tmp_path / "c")}):  # fmt: skip
        with pytest.raises(SyncDisabled):
            open_backend(lib, config)
    with pytest.raises(SyncDisabled):
        enable(lib, {"backend": "folder", "path": str(tmp_path / "c")}, consent_given=False)
    assert attempts == []
    assert not (tmp_path / "c").exists()
    assert lib.settings.get("privacy.sync") is False and lib.settings.consent_ledger() == []
    # the patch really does catch connections
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", 9))
    assert attempts
    lib.close()


def test_enable_records_consent_and_disable_records_withdrawal(tmp_path: Path, corpus: Path, passphrase_env: str) -> None:
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "library", [prints])
    config = {"backend": "folder", "path": str(tmp_path / "container")}
    result = enable(lib, config, consent_given=True, user="alice", source="cli")
    assert result["enabled"] and result["user"] == "alice"
    (entry,) = lib.settings.consent_ledger()
    assert entry["switch"] == "privacy.sync" and entry["value"] is True
    assert entry["policy_version"] == POLICY_VERSION and entry["source"] == "cli" and entry["at"]
    assert entry["detail"] == {"backend": "folder", "path": config["path"], "user": "alice", "action": "enable"}
    assert "passphrase" not in str(entry) and passphrase_env not in str(lib.settings.consent_ledger())
    assert sync_now(lib).pushed

    disable(lib, source="cli")
    withdrawal = lib.settings.consent_ledger()[-1]
    assert withdrawal["value"] is False and withdrawal["detail"]["action"] == "disable"
    with pytest.raises(SyncDisabled):
        sync_now(lib)
    assert status(lib)["enabled"] is False and status(lib)["configured"] is True
    # enabling again is a new, recorded consent
    enable(lib, config, consent_given=True)
    assert [e["value"] for e in lib.settings.consent_ledger()] == [True, False, True]
    assert not sync_now(lib).pushed  # same container, same state: nothing to do
    lib.close()


def test_failed_enable_leaves_sync_off(tmp_path: Path, passphrase_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lib_a = Library(tmp_path / "a")
    config = {"backend": "folder", "path": str(tmp_path / "container")}
    enable(lib_a, config, consent_given=True, user="alice")
    lib_b = Library(tmp_path / "b")
    monkeypatch.setenv("PRINTMANAGER_SYNC_PASSPHRASE", "a different passphrase")
    with pytest.raises(Exception, match="passphrase"):
        enable(lib_b, config, consent_given=True, user="alice")
    assert lib_b.settings.get("privacy.sync") is False
    assert [e["value"] for e in lib_b.settings.consent_ledger()] == [True, False]
    assert SyncState(lib_b).config is None
    with pytest.raises(NotConfigured):
        disable(Library(tmp_path / "never"))
    lib_a.close()
    lib_b.close()


def test_restore_is_an_explicit_opt_in(tmp_path: Path, corpus: Path, passphrase_env: str) -> None:
    prints = make_prints(tmp_path / "Prints", corpus)
    lib = scanned_library(tmp_path / "library", [prints])
    config = {"backend": "folder", "path": str(tmp_path / "container")}
    enable(lib, config, consent_given=True)
    sync_now(lib)
    target = Library(tmp_path / "target")
    restore(target, config, tmp_path / "files")
    (entry,) = target.settings.consent_ledger()
    assert entry["value"] is True and entry["detail"]["action"] == "restore"
    assert status(target)["enabled"]
    lib.close()
    target.close()


class MirrorBackend(FolderBackend):
    """A third-party backend: a folder that counts what it stores."""

    name = "mirror"
    puts: list[str] = []

    def put_bytes(self, name: str, data: bytes) -> None:
        MirrorBackend.puts.append(name)
        super().put_bytes(name, data)


class MirrorPlugin:
    from printmanager_core.hookspecs import hookimpl

    @hookimpl
    def register_sync_backends(self, register: Any) -> None:
        register("mirror", lambda config, library: MirrorBackend(config["path"]))


def test_register_sync_backends_builtin_and_third_party(tmp_path: Path, corpus: Path, passphrase_env: str) -> None:
    registry = backend_registry()
    assert {"folder", "s3"} <= set(registry.names())
    assert {e.name: e.plugin for e in registry}["folder"] == "sync"
    register_plugin(MirrorPlugin(), name="mirror-plugin")
    try:
        assert "mirror" in backend_registry()
        prints = make_prints(tmp_path / "Prints", corpus)
        lib = scanned_library(tmp_path / "library", [prints])
        config = {"backend": "mirror", "path": str(tmp_path / "mirror")}
        with pytest.raises(SyncDisabled):  # the same consent gate for every backend
            open_backend(lib, config)
        enable(lib, config, consent_given=True)
        assert sync_now(lib).pushed
        assert any(name.endswith("/head") or "/snapshots/" in name for name in MirrorBackend.puts)
        assert check(lib, all_blobs=True).ok
        lib.close()
    finally:
        unregister_plugin("mirror-plugin")
    assert "mirror" not in backend_registry()
