"""Fault tests in the manner of restic's and rclone's backend suites: a proxy between the
client and a real S3 server drops connections mid-upload, answers 500/503/429/SlowDown,
stalls, loses responses and truncates downloads. After recovery the container is
consistent, a restore is byte-identical, and no partial object is ever taken for whole."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from sync_support import (
    FaultProxy,
    MotoS3,
    make_prints,
    scanned_library,
    tree,
)

from printmanager_core import Library
from printmanager_sync import check, enable, restore, status, sync_now
from printmanager_sync.errors import BackendError
from printmanager_sync.state import SyncState

MiB = 1024 * 1024
DATA = r"/data/[0-9a-f]{2}/"


def _config(endpoint: str, bucket: str, **extra: Any) -> dict[str, Any]:
    return {"backend": "s3", "endpoint": endpoint, "bucket": bucket, "retry_base_delay": 0.01, "timeout": 1.0,
            "retries": 4, **extra}  # fmt: skip


@pytest.fixture
def setup(s3_env: MotoS3, fault_proxy: FaultProxy, passphrase_env: str, tmp_path: Path, corpus: Path) -> Any:
    bucket = s3_env.new_bucket()
    prints = make_prints(tmp_path / "A" / "Prints", corpus)
    lib = scanned_library(tmp_path / "A" / "library", [prints])
    enable(lib, _config(fault_proxy.endpoint, bucket), consent_given=True)
    yield lib, prints, bucket
    lib.close()


def _restored(s3: MotoS3, bucket: str, tmp_path: Path, name: str = "B") -> dict[str, bytes]:
    lib = Library(tmp_path / name / "library")
    restore(lib, _config(s3.endpoint, bucket), tmp_path / name / "files")
    lib.close()
    return tree(tmp_path / name / "files" / "Prints")


FAULTS = [
    ("PUT", DATA, "status", {"code": 500, "s3code": "InternalError", "times": 2}),
    ("PUT", DATA, "status", {"code": 503, "s3code": "SlowDown", "times": 3}),
    ("PUT", DATA, "status", {"code": 429, "s3code": "TooManyRequests", "times": 1}),
    ("PUT", DATA, "cut_request", {"after": 1000, "times": 2}),
    ("PUT", DATA, "lose_response", {"times": 2}),
    ("PUT", DATA, "stall", {"seconds": 2.5, "times": 1}),
    ("GET", r"/head$", "status", {"code": 502, "s3code": "BadGateway", "times": 1}),
    ("PUT", r"/head$", "lose_response", {"times": 1}),
    ("PUT", r"/snapshots/", "cut_request", {"after": 10, "times": 1}),
    ("GET", r"list-type=2", "stall", {"seconds": 2.5, "times": 1}),
]


@pytest.mark.parametrize("method,pattern,action,kw", FAULTS, ids=[f"{m}-{a}-{p[:8]}" for m, p, a, _ in FAULTS])
def test_sync_recovers_from_transient_faults(
    setup: Any, fault_proxy: FaultProxy, s3_env: MotoS3, tmp_path: Path, method: str, pattern: str, action: str, kw: dict[str, Any]
) -> None:
    lib, prints, bucket = setup
    fault = fault_proxy.add(method, pattern, action, **kw)
    report = sync_now(lib)
    assert fault.hits == kw["times"], "the fault was not exercised"
    assert report.pushed and not report.problems
    fault_proxy.clear()
    result = check(lib, all_blobs=True)
    assert result.ok, result.problems
    assert _restored(s3_env, bucket, tmp_path) == tree(prints)


def test_lasting_outage_fails_cleanly_then_recovers(setup: Any, fault_proxy: FaultProxy, s3_env: MotoS3, tmp_path: Path) -> None:
    lib, prints, bucket = setup
    fault_proxy.add("PUT", DATA, "status", code=503, s3code="SlowDown", times=10_000)
    with pytest.raises(BackendError, match="503"):
        sync_now(lib)
    assert status(lib)["snapshot"] is None  # nothing was published
    with s3_env.client(bucket) as client:
        assert client.head_object(f"users/{SyncState(lib).config['user']}/head") is None
    fault_proxy.clear()
    assert sync_now(lib).pushed
    assert _restored(s3_env, bucket, tmp_path) == tree(prints)


def test_a_cut_upload_never_counts_as_a_complete_object(setup: Any, fault_proxy: FaultProxy, s3_env: MotoS3, tmp_path: Path) -> None:
    """Every upload of one file is cut mid-body until the retries run out; whatever the server
    kept of it is not trusted later: the next sync uploads it again (sizes are checked)."""
    lib, prints, bucket = setup
    fault_proxy.add("PUT", DATA, "cut_request", after=4096, times=10_000)
    with pytest.raises(BackendError):
        sync_now(lib)
    # A server that stored a partial body would show it under the blob's name; plant one
    # ourselves, the worst case, for the largest file.
    fault_proxy.clear()
    state = SyncState(lib)
    largest = max(prints.rglob("*"), key=lambda p: p.stat().st_size if p.is_file() else 0)
    blob = state.cached_ids()[str(largest)][2]
    with s3_env.client(bucket) as client:
        client.put_object(f"users/{state.config['user']}/data/{blob[:2]}/{blob}", b"partial" * 100)
    state.forget_blobs()
    state.delete("blobs_listed")  # a new device would list the bucket and see it
    assert sync_now(lib).pushed
    assert check(lib, all_blobs=True).ok
    assert _restored(s3_env, bucket, tmp_path) == tree(prints)


def test_truncated_downloads_resume_and_stay_byte_identical(setup: Any, fault_proxy: FaultProxy, s3_env: MotoS3, tmp_path: Path) -> None:
    lib, prints, bucket = setup
    big = prints / "sliced" / "large print.gcode"
    big.write_bytes(b"; generated by PrusaSlicer\n" + os.urandom(3 * MiB))
    lib.scan(workers=1, thumbnails=False)
    assert sync_now(lib).pushed
    lib_b = Library(tmp_path / "B" / "library")
    blob = SyncState(lib).cached_ids()[str(big)][2]
    # the large file's download is cut three times, a million bytes in each time
    fault = fault_proxy.add("GET", blob, "truncate", after=1_000_000, times=3)
    rep = restore(lib_b, _config(fault_proxy.endpoint, bucket), tmp_path / "B" / "files")
    assert fault.hits == 3 and rep.files == len(tree(prints))
    assert tree(tmp_path / "B" / "files" / "Prints") == tree(prints)
    # each cut download went on from where it stopped (and was pinned to the same version)
    assert [r for _t, r in fault_proxy.ranged] == ["bytes=1000000-", "bytes=2000000-", "bytes=3000000-"]
    lib_b.close()


def test_a_truncated_object_in_the_container_is_detected(setup: Any, s3_env: MotoS3, tmp_path: Path) -> None:
    """If storage itself loses the end of an object, restore and check refuse it."""
    lib, prints, bucket = setup
    sync_now(lib)
    user = SyncState(lib).config["user"]
    with s3_env.client(bucket) as client:
        key, size, _ = max(
            (o for o in client.list_objects(f"users/{user}/data/")), key=lambda o: o[1]
        )  # fmt: skip
        data, _etag = client.get_object(key)
        client.put_object(key, data[: size - (64 * 1024 + 16)])  # the last chunk is gone
    result = check(lib, all_blobs=True)
    assert not result.ok and any(key.rsplit("/", 1)[1][:16] in p for p in result.problems)
    with pytest.raises(Exception):
        _restored(s3_env, bucket, tmp_path)
