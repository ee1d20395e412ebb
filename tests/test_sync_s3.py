"""The S3 client and backend against a real S3-compatible server (moto, signatures checked),
plus the client-side checks moto cannot make: SigV4 known answers, presigned URLs,
Content-MD5 and payload hashes, and R2's equal-part rule."""

from __future__ import annotations

import base64
import datetime
import hashlib
import os
import re
from pathlib import Path
from typing import Any

import httpx
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
from printmanager_sync.backends.s3 import S3Backend, check_endpoint
from printmanager_sync.errors import BackendError, Conflict, SyncError
from printmanager_sync.s3client import Credentials, Part, RetryPolicy, S3Client, S3Error, check_equal_parts
from printmanager_sync.state import SyncState

MiB = 1024 * 1024
AWS_EXAMPLE = Credentials("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


class Recorder(httpx.HTTPTransport):
    """An httpx transport that remembers every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return super().handle_request(request)


@pytest.fixture
def frozen_2013(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: datetime.datetime(2013, 5, 24, 0, 0, 0))


# -- the signer: AWS's published examples ------------------------------------------------


def test_header_signature_matches_the_aws_example(frozen_2013: None) -> None:
    """docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "GET Object"."""
    client = S3Client("https://s3.amazonaws.com", "examplebucket", AWS_EXAMPLE, addressing="virtual")
    url = client.url("test.txt")
    assert url == "https://examplebucket.s3.amazonaws.com/test.txt"
    headers = client.sign("GET", url, {"Range": "bytes=0-9"})
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    ).replace(",", ", ")
    client.close()


def test_presigned_url_matches_the_aws_example(frozen_2013: None) -> None:
    """docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html (moto cannot check these)."""
    client = S3Client("https://s3.amazonaws.com", "examplebucket", AWS_EXAMPLE, addressing="virtual")
    url = client.presign("GET", "test.txt", expires=86400)
    assert url == (
        "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    # another key, another expiry: another signature
    assert client.presign("GET", "test.txt", expires=60) != url
    client.close()


def test_endpoints_must_use_tls_except_on_loopback() -> None:
    assert check_endpoint("https://acct.r2.cloudflarestorage.com/") == "https://acct.r2.cloudflarestorage.com"
    assert check_endpoint("http://127.0.0.1:9000") == "http://127.0.0.1:9000"
    for bad in ("http://minio.lan:9000", "ftp://x", "s3.amazonaws.com"):
        with pytest.raises(SyncError):
            check_endpoint(bad)
    assert S3Client("https://acct.r2.cloudflarestorage.com", "b", AWS_EXAMPLE).region == "auto"


# -- the server checks signatures ----------------------------------------------------------


def test_moto_rejects_wrong_signatures(moto_s3: MotoS3) -> None:
    bucket = moto_s3.new_bucket()
    with moto_s3.client(bucket) as good:
        good.put_object("probe", b"x")
    bad = S3Client(moto_s3.endpoint, bucket, Credentials(moto_s3.access_key_id, "not-the-secret"),
                   retry=RetryPolicy(attempts=1))  # fmt: skip
    with pytest.raises(S3Error) as info:
        bad.get_object("probe")
    assert info.value.status == 403 and info.value.code == "SignatureDoesNotMatch"
    unknown = S3Client(moto_s3.endpoint, bucket, Credentials("AKIAUNKNOWNKEY000000", "x"), retry=RetryPolicy(attempts=1))
    with pytest.raises(S3Error) as info:
        unknown.put_object("probe", b"y")
    assert info.value.code == "InvalidAccessKeyId"
    # an unsigned request is refused too
    assert httpx.get(f"{moto_s3.endpoint}/{bucket}/probe").status_code in (400, 403, 500)
    bad.close()
    unknown.close()


# -- what the client sends -------------------------------------------------------------------


def test_put_sends_content_md5_and_signed_payload_hash(moto_s3: MotoS3) -> None:
    bucket = moto_s3.new_bucket()
    rec = Recorder()
    body = os.urandom(70_000)
    with moto_s3.client(bucket, transport=rec) as client:
        etag = client.put_object("users/u/data/aa/x", body)
        assert etag == hashlib.md5(body).hexdigest()
        req = rec.requests[-1]
        assert req.content == body
        assert req.headers["content-md5"] == base64.b64encode(hashlib.md5(body).digest()).decode()
        assert req.headers["x-amz-content-sha256"] == hashlib.sha256(body).hexdigest()
        signed = re.search(r"SignedHeaders=([^,]+)", req.headers["authorization"]).group(1).split(";")
        assert {"content-md5", "host", "x-amz-content-sha256", "x-amz-date"} <= set(signed)
        # the server saw exactly these bytes
        got = client.get_object("users/u/data/aa/x")
        assert got is not None and got[0] == body


def test_multipart_parts_are_equal_and_checksummed(moto_s3: MotoS3, tmp_path: Path) -> None:
    """R2 needs equal parts; moto accepts anything, so the client's requests are checked here."""
    from printmanager_sync import crypto

    bucket = moto_s3.new_bucket()
    rec = Recorder()
    data = os.urandom(13 * MiB + 12345)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    keys = crypto.RepositoryKeys(os.urandom(32), os.urandom(16))
    blob = keys.file_id(src)
    with open(src, "rb") as f:

        def read_at(o: int, n: int) -> bytes:
            f.seek(o)
            return f.read(n)

        enc = crypto.ObjectEncryptor(keys, "blob", blob, len(data), read_at)
        backend = S3Backend(moto_s3.client(bucket, transport=rec), multipart_threshold=6 * MiB, part_size=5 * MiB)
        backend.put("users/u/data/" + blob, enc)
    parts = [r for r in rec.requests if r.method == "PUT" and "partNumber=" in str(r.url)]
    sizes = [len(r.content) for r in parts]
    assert len(parts) == 3 and sizes[0] == sizes[1] == 5 * MiB and 0 < sizes[2] <= 5 * MiB
    assert sum(sizes) == crypto.ciphertext_size(len(data))
    for r in parts:
        assert r.headers["content-md5"] == base64.b64encode(hashlib.md5(r.content).digest()).decode()
        assert r.headers["x-amz-content-sha256"] == hashlib.sha256(r.content).hexdigest()
    got: list[bytes] = []
    backend.get("users/u/data/" + blob, got.append)
    assert crypto.decrypt_bytes(keys, "blob", blob, b"".join(got)) == data
    backend.close()


def test_unequal_parts_are_refused_before_sending(moto_s3: MotoS3) -> None:
    for sizes in ([5, 6, 1], [5, 5, 6], [5, 4, 5], [5, 0]):
        with pytest.raises(ValueError):
            check_equal_parts([s * MiB for s in sizes])
    check_equal_parts([5 * MiB, 5 * MiB, 1])
    check_equal_parts([7])
    bucket = moto_s3.new_bucket()
    with moto_s3.client(bucket) as client:
        upload = client.create_multipart_upload("k")
        before = client.stats.total
        with pytest.raises(ValueError):
            client.complete_multipart_upload("k", upload, [Part(1, "a", 5 * MiB), Part(2, "b", 6 * MiB)])
        assert client.stats.total == before  # nothing went out
        client.abort_multipart_upload("k", upload)


def test_head_is_replaced_only_with_the_right_etag(moto_s3: MotoS3) -> None:
    bucket = moto_s3.new_bucket()
    with moto_s3.client(bucket) as c1, moto_s3.client(bucket) as c2:
        backend1, backend2 = S3Backend(c1), S3Backend(c2)
        tag = backend1.write_conditional("users/u/head", b"v1", expect=None)
        with pytest.raises(Conflict):
            backend2.write_conditional("users/u/head", b"other v1", expect=None)
        tag2 = backend2.write_conditional("users/u/head", b"v2 from device 2", expect=tag)
        with pytest.raises(Conflict):  # device 1 still holds the old tag: it must merge first
            backend1.write_conditional("users/u/head", b"v2 from device 1", expect=tag)
        assert backend1.read_versioned("users/u/head") == (b"v2 from device 2", tag2)


# -- end to end ---------------------------------------------------------------------------


def _s3_config(endpoint: str, bucket: str, **extra: Any) -> dict[str, Any]:
    return {"backend": "s3", "endpoint": endpoint, "bucket": bucket, "region": "us-east-1",
            "retry_base_delay": 0.01, **extra}  # fmt: skip


def test_s3_sync_restore_check_and_no_plaintext(s3_env: MotoS3, passphrase_env: str, tmp_path: Path, corpus: Path) -> None:
    bucket = s3_env.new_bucket()
    config = _s3_config(s3_env.endpoint, bucket, multipart_threshold=6 * MiB, part_size=5 * MiB)
    prints = make_prints(tmp_path / "A" / "Prints", corpus)
    big = prints / "sliced" / "big print.gcode"
    with open(big, "wb") as f:  # a large sliced file: a multipart upload
        f.write(b"; generated by PrusaSlicer 2.6.0\n")
        f.write(os.urandom(11 * MiB))
    lib = scanned_library(tmp_path / "A" / "library", [prints])
    for f in lib.files():
        lib.tag(f.id, "tag-" + Path(f.path).stem.replace(" ", "_"))
    enable(lib, config, consent_given=True)
    report = sync_now(lib)
    assert report.pushed and report.requests is not None
    assert report.uploaded_blobs == report.files + 1

    again = sync_now(lib)
    assert not again.pushed and again.requests is not None and again.requests <= 2  # the head, nothing else

    assert check(lib, all_blobs=True).ok
    lib_b = Library(tmp_path / "B" / "library")
    rep = restore(lib_b, config, tmp_path / "B" / "files")
    assert tree(tmp_path / "B" / "files" / "Prints") == tree(prints)
    assert sorted(f.tags for f in lib_b.files()) == sorted(f.tags for f in lib.files())
    assert rep.catalogue["files"] == len(lib.files())

    objects = s3_env.raw_objects(bucket)
    assert len(objects) >= report.files + 4
    needles = {b"solid", b"STL File created", b"PK\x03\x04", b"; generated by", b"GCDE", b"SQLite format 3",
               b"Benchy", b"Prints", b"tag-", str(prints).encode()}  # fmt: skip
    needles |= {Path(f.path).name.encode() for f in lib.files()}
    for key, data in objects.items():
        assert re.fullmatch(r"users/[0-9a-f]{16}/(config|head|keys/[0-9a-f]{16}|snapshots/[0-9a-f]{64}|data/[0-9a-f]{2}/[0-9a-f]{64})", key)
        for needle in needles:
            assert needle not in data, f"{needle!r} in {key}"
    lib.close()
    lib_b.close()


def test_interrupted_multipart_upload_resumes_from_the_journal(
    s3_env: MotoS3, fault_proxy: FaultProxy, passphrase_env: str, tmp_path: Path
) -> None:
    bucket = s3_env.new_bucket()
    config = _s3_config(fault_proxy.endpoint, bucket, multipart_threshold=6 * MiB, part_size=5 * MiB, retries=2)
    root = tmp_path / "Prints"
    root.mkdir()
    data = b"; generated by PrusaSlicer\n" + os.urandom(17 * MiB)
    (root / "large.gcode").write_bytes(data)
    lib = scanned_library(tmp_path / "library", [root])
    enable(lib, config, consent_given=True)
    # The connection drops during part 3, every time: the sync gives up after its retries.
    fault_proxy.add("PUT", r"partNumber=3&", "cut_request", after=1 * MiB, times=100)
    with pytest.raises(BackendError):
        sync_now(lib)
    assert status(lib)["pending_uploads"] == 1 and status(lib)["snapshot"] is None
    assert fault_proxy.count("PUT", r"partNumber=1&") == 1 and fault_proxy.count("PUT", r"partNumber=2&") == 1

    fault_proxy.clear()
    report = sync_now(lib)
    assert report.pushed
    # parts 1 and 2 were not sent again; the server was asked which parts it holds
    assert fault_proxy.count("PUT", r"partNumber=1&") == 1 and fault_proxy.count("PUT", r"partNumber=2&") == 1
    assert fault_proxy.count("PUT", r"partNumber=3&") == 1 and fault_proxy.count("PUT", r"partNumber=4&") == 1
    assert fault_proxy.count("GET", r"uploadId=.*part-number-marker|part-number-marker=.*uploadId") == 1
    assert status(lib)["pending_uploads"] == 0
    assert check(lib, all_blobs=True).ok
    lib_b = Library(tmp_path / "B")
    restore(lib_b, _s3_config(s3_env.endpoint, bucket), tmp_path / "restored")
    assert (tmp_path / "restored" / "Prints" / "large.gcode").read_bytes() == data
    with s3_env.client(bucket) as client:
        assert client.list_multipart_uploads("users/") == []  # nothing left half-done
    lib.close()
    lib_b.close()


def test_stale_journal_entry_for_a_changed_file_is_aborted(
    s3_env: MotoS3, fault_proxy: FaultProxy, passphrase_env: str, tmp_path: Path
) -> None:
    bucket = s3_env.new_bucket()
    config = _s3_config(fault_proxy.endpoint, bucket, multipart_threshold=6 * MiB, part_size=5 * MiB, retries=1)
    root = tmp_path / "Prints"
    root.mkdir()
    target = root / "large.gcode"
    target.write_bytes(os.urandom(12 * MiB))
    lib = scanned_library(tmp_path / "library", [root])
    enable(lib, config, consent_given=True)
    fault_proxy.add("PUT", r"partNumber=2&", "status", code=500, s3code="InternalError", times=100)
    with pytest.raises(BackendError):
        sync_now(lib)
    fault_proxy.clear()
    new = os.urandom(12 * MiB)
    target.write_bytes(new)  # edited before the next sync
    lib.scan(workers=1, thumbnails=False)
    assert sync_now(lib).pushed
    with s3_env.client(bucket) as client:
        assert client.list_multipart_uploads("users/") == []  # the old upload was aborted
    assert status(lib)["pending_uploads"] == 0 and check(lib, all_blobs=True).ok
    assert SyncState(lib).config["bucket"] == bucket
    lib.close()


def test_a_resumed_upload_rehashes_the_file_before_reusing_its_salt(
    s3_env: MotoS3, fault_proxy: FaultProxy, passphrase_env: str, tmp_path: Path
) -> None:
    """Content swapped under the same size and modification time (a tool that keeps mtimes, a
    coarse clock): resuming would encrypt the new content under the interrupted upload's salt —
    the same key and nonces as the parts already on the server. The resume hashes the file
    again first: no part goes out under the old salt, the file is reported and read again."""
    bucket = s3_env.new_bucket()
    config = _s3_config(fault_proxy.endpoint, bucket, multipart_threshold=6 * MiB, part_size=5 * MiB, retries=1)
    root = tmp_path / "Prints"
    root.mkdir()
    target = root / "large.gcode"
    target.write_bytes(os.urandom(12 * MiB))
    lib = scanned_library(tmp_path / "library", [root])
    enable(lib, config, consent_given=True)
    fault_proxy.add("PUT", r"partNumber=2&", "status", code=500, s3code="InternalError", times=100)
    with pytest.raises(BackendError):
        sync_now(lib)
    assert fault_proxy.count("PUT", r"partNumber=1&") == 1 and status(lib)["pending_uploads"] == 1
    fault_proxy.clear()
    st = target.stat()
    new = os.urandom(12 * MiB)
    target.write_bytes(new)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime, other bytes
    parts_sent = fault_proxy.count("PUT", r"partNumber=")
    report = sync_now(lib)
    assert any("changed since its interrupted upload" in p for p in report.problems), report.problems
    assert fault_proxy.count("PUT", r"partNumber=") == parts_sent  # not one part under the old salt
    again = sync_now(lib)  # read again: a new id, a fresh salt
    assert again.pushed and status(lib)["pending_uploads"] == 0 and check(lib, all_blobs=True).ok
    with s3_env.client(bucket) as client:
        assert client.list_multipart_uploads("users/") == []  # the interrupted upload was aborted
    lib_b = Library(tmp_path / "B")
    restore(lib_b, _s3_config(s3_env.endpoint, bucket), tmp_path / "restored")
    assert (tmp_path / "restored" / "Prints" / "large.gcode").read_bytes() == new
    lib.close()
    lib_b.close()


def test_credentials_and_key_cache_from_the_vault(
    moto_s3: MotoS3, tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 keys from `secrets set sync.s3.*`, and the master key cached in the vault: no AWS
    variables and, after enabling, no sync passphrase needed."""
    from printmanager_vault import get_secret, kdf, set_secret

    kdf.set_scrypt_params_for_tests(kdf.TEST_SCRYPT)
    try:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PRINTMANAGER_SYNC_PASSPHRASE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("PRINTMANAGER_VAULT_BACKEND", "passphrase")
        monkeypatch.setenv("PRINTMANAGER_VAULT_PASSPHRASE", "vault passphrase")
        bucket = moto_s3.new_bucket()
        prints = make_prints(tmp_path / "Prints", corpus)
        lib = scanned_library(tmp_path / "library", [prints])
        config = _s3_config(moto_s3.endpoint, bucket)
        with pytest.raises(SyncError, match="no S3 credentials"):
            enable(lib, config, consent_given=True, passphrase="repo passphrase")
        set_secret(lib, "sync.s3.access_key_id", moto_s3.access_key_id)
        set_secret(lib, "sync.s3.secret_access_key", moto_s3.secret_access_key)
        enable(lib, config, consent_given=True, passphrase="repo passphrase")
        user = SyncState(lib).config["user"]
        assert get_secret(lib, f"sync.master_key.{user}")
        assert sync_now(lib).pushed  # no passphrase given: the cached key opens the repository
        assert "repo passphrase" not in (lib.directory / "vault.bin").read_bytes().decode("latin-1")
        from printmanager_sync import disable

        disable(lib)
        assert get_secret(lib, f"sync.master_key.{user}") is None
        lib.close()
    finally:
        kdf.set_scrypt_params_for_tests(None)
