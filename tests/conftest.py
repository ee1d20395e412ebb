"""Test configuration: isolated user dirs, only our own plugins, the corpus fixture."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

# Only our built-in plugin packages load in the test run; whatever else is
# installed in the environment stays out (sqlite-utils' lesson). Tests that want
# a third-party plugin register it explicitly.
os.environ["PRINTMANAGER_LOAD_PLUGINS"] = "thumbnails,vault,sync,web,account,share,notify,printers"
os.environ.pop("PRINTMANAGER_BLOCK_PLUGINS", None)

# A test run started in the background by a non-interactive shell (`cmd &`) inherits
# SIGINT and SIGQUIT ignored, and an ignored signal stays ignored in every child, so
# the Ctrl-C tests' real processes would never see their Ctrl-C. Handled here, the
# children start with the default instead.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
if signal.getsignal(signal.SIGQUIT) is signal.SIG_IGN:
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)

# fixtures of the S3/sync test support (a moto server, a fault proxy, fast scrypt)
from sync_support import fast_scrypt, fault_proxy, moto_s3, passphrase_env, s3_env  # noqa: E402,F401

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every per-user directory at a temp dir so no test touches the real ones."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PRINTMANAGER_LIBRARY", str(home / "library"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared corpus of real files (../shared/corpus). Required in CI."""
    if not CORPUS.is_dir():
        pytest.fail(f"the corpus is missing at {CORPUS}; the tests need it (CI provides it)")
    return CORPUS


@pytest.fixture
def library(tmp_path: Path):
    """A fresh library in a temp dir."""
    from printmanager_core import Library

    lib = Library(tmp_path / "library")
    yield lib
    lib.close()
