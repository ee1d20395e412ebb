"""Helpers for tests that drive the CLI in-process (not fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from printmanager_core.cli import main


def run(capsys: pytest.CaptureFixture[str], library: Path, *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process, as ``printmanager --library LIBRARY ARGS``."""
    code = 0
    try:
        main(["--library", str(library), *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err
