"""Helpers for reader tests (not fixtures)."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any, Callable

import pytest

from printmanager_core.readers.base import ReadError


def refused(fn: Callable[[], Any], max_seconds: float = 2.0, max_bytes: int = 8 * 1024**2) -> str:
    """Run ``fn`` expecting a ReadError, fast and in bounded memory; return its one-line message."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ReadError) as err:
            fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    elapsed = time.perf_counter() - start
    assert elapsed < max_seconds, f"took {elapsed:.2f}s"
    assert peak < max_bytes, f"peak allocation {peak} bytes"
    message = str(err.value)
    assert message and "\n" not in message
    return message
