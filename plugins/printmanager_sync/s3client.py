"""A small S3 client over httpx, signed by botocore's SigV4 signer.

Only what the sync backend needs: objects (GET with ranged resume, PUT with
Content-MD5 and conditional headers, HEAD, DELETE, batch delete, ListObjectsV2),
multipart uploads, bucket creation, and presigned URLs. Signing is botocore's
(:class:`botocore.auth.S3SigV4Auth`, :class:`botocore.auth.S3SigV4QueryAuth`);
nothing here computes a signature by hand.

Every request is retried with exponential backoff and full jitter on transport
errors (connect, read, write, timeouts, a dropped connection), on HTTP 5xx and
429, and on S3's retryable error codes (SlowDown, InternalError, RequestTimeout).
Each attempt is signed afresh.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator
from urllib.parse import quote, urlsplit

import attrs
import httpx
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as _BotoCredentials
from defusedxml import ElementTree

from .errors import BackendError, Conflict, ObjectMissing

if TYPE_CHECKING:  # pragma: no cover
    from .storage_credentials import RefreshingCredentials

#: HTTP statuses worth another attempt
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
#: S3 error codes worth another attempt whatever the status
RETRY_CODES = frozenset({"SlowDown", "InternalError", "RequestTimeout", "ServiceUnavailable", "RequestTimeTooSkewed"})
#: S3's largest part count
MAX_PARTS = 10_000
#: S3 error codes that mean "your temporary credentials ran out": refresh them once and resend
EXPIRED_CODES = frozenset({"ExpiredToken", "TokenRefreshRequired"})


def _signed_key(headers: dict[str, str]) -> str | None:
    """The access key id a SigV4 ``Authorization`` header was signed with."""
    auth = headers.get("Authorization", "")
    start = auth.find("Credential=")
    return auth[start + len("Credential="):].split("/", 1)[0] if start >= 0 else None


@attrs.frozen
class Credentials:
    """S3 credentials. The secret and token never appear in ``repr``."""

    access_key_id: str
    secret_access_key: str = attrs.field(repr=False)
    session_token: str | None = attrs.field(default=None, repr=False)

    def botocore(self) -> _BotoCredentials:
        """The same credentials as botocore's object."""
        return _BotoCredentials(self.access_key_id, self.secret_access_key, self.session_token)


@attrs.define
class RetryPolicy:
    """How often and how patiently to retry.

    :param attempts: tries in all (first one included).
    :param base_delay: the first backoff, in seconds; doubles each retry.
    :param max_delay: the longest backoff.
    """

    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 8.0

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based): full jitter, or Retry-After."""
        if retry_after:
            try:
                return min(self.max_delay, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return random.uniform(0, min(self.max_delay, self.base_delay * (2 ** (retry - 1))))


@attrs.define
class RequestStats:
    """Counts of requests sent, by operation, and retries (thread-safe)."""

    requests: dict[str, int] = attrs.field(factory=dict)
    retries: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def count(self, op: str) -> None:
        with self._lock:
            self.requests[op] = self.requests.get(op, 0) + 1

    def add(self, *, retries: int = 0, sent: int = 0, received: int = 0) -> None:
        with self._lock:
            self.retries += retries
            self.bytes_sent += sent
            self.bytes_received += received

    @property
    def total(self) -> int:
        """Requests sent in all (retries included)."""
        return sum(self.requests.values())

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.retries = self.bytes_sent = self.bytes_received = 0


class S3Error(BackendError):
    """An S3 error response: HTTP status, S3 code and message."""

    def __init__(self, status: int, code: str, message: str, op: str):
        message = " ".join(str(message).split())[:300]  # one readable line, whatever the server sent
        super().__init__(f"S3 {op} failed: {status} {code}: {message}".rstrip(": "))
        self.status = status
        self.code = code


@attrs.frozen
class Part:
    """One uploaded part of a multipart upload."""

    number: int
    etag: str
    size: int


def content_md5(body: bytes) -> str:
    """Base64 MD5 of ``body`` for the Content-MD5 header."""
    return base64.b64encode(hashlib.md5(body).digest()).decode("ascii")


def check_equal_parts(sizes: list[int]) -> None:
    """R2's rule: every part but the last has the same size; the last is not larger.

    :raises ValueError: when the sizes break it.
    """
    if not sizes:
        raise ValueError("a multipart upload needs at least one part")
    first = sizes[0]
    for i, size in enumerate(sizes[:-1], start=1):
        if size != first:
            raise ValueError(f"part {i} is {size} bytes, not {first} like part 1 (parts must be equal)")
    if sizes[-1] > first or sizes[-1] <= 0:
        raise ValueError(f"the last part is {sizes[-1]} bytes; it must be 1..{first}")


def part_size_for(total: int, minimum: int) -> int:
    """Equal part size for an object of ``total`` bytes: ``minimum`` or more, at most 10,000 parts."""
    return max(minimum, -(-total // MAX_PARTS))


def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(data: bytes) -> Any:
    try:
        return ElementTree.fromstring(data)
    except Exception as exc:  # defusedxml raises several types
        raise BackendError(f"S3 sent a response that is not XML ({exc})") from None


def _find(elem: Any, name: str) -> Any:
    for child in elem:
        if _strip(child.tag) == name:
            return child
    return None


def _findall(elem: Any, name: str) -> list[Any]:
    return [child for child in elem if _strip(child.tag) == name]


def _text(elem: Any, name: str, default: str = "") -> str:
    child = _find(elem, name)
    return child.text or default if child is not None else default


def _query(params: dict[str, Any] | None) -> str:
    if not params:
        return ""
    parts = [f"{quote(str(k), safe='-_.~')}={quote(str(v), safe='-_.~')}" for k, v in sorted(params.items())]
    return "?" + "&".join(parts)


def _unquote_etag(etag: str | None) -> str | None:
    return etag.strip('"') if etag else etag


def default_region(endpoint: str) -> str:
    """R2 wants region ``auto``; everyone else gets ``us-east-1`` unless told."""
    host = urlsplit(endpoint).hostname or ""
    return "auto" if host.endswith("r2.cloudflarestorage.com") else "us-east-1"


class S3Client:
    """Path-style S3 requests against ``endpoint``/``bucket``.

    :param endpoint: e.g. ``https://<account>.r2.cloudflarestorage.com`` or ``http://127.0.0.1:9000``.
    :param transport: an httpx transport (tests wrap one to inject faults).
    :param timeout: seconds for connect, read, write and pool waits.
    """

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        credentials: "Credentials | RefreshingCredentials",
        *,
        region: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        addressing: str = "path",
    ):
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BackendError(f"invalid S3 endpoint {endpoint!r}: expected http(s)://host[:port]")
        if addressing not in ("path", "virtual"):
            raise BackendError("addressing must be 'path' or 'virtual'")
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.addressing = addressing
        self.region = region or default_region(endpoint)
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.stats = RequestStats()
        self._sleep = sleep
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> "S3Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- signing ------------------------------------------------------------

    def url(self, key: str = "", params: dict[str, Any] | None = None) -> str:
        """The URL of ``key`` in the bucket (or of the bucket), path-style or virtual-hosted."""
        quoted = "/" + quote(key, safe="/-_.~") if key else ""
        if self.addressing == "virtual":
            parts = urlsplit(self.endpoint)
            return f"{parts.scheme}://{self.bucket}.{parts.netloc}{quoted or '/'}{_query(params)}"
        return f"{self.endpoint}/{quote(self.bucket, safe='')}{quoted}{_query(params)}"

    def sign(self, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> dict[str, str]:
        """Headers for a request signed with botocore's :class:`S3SigV4Auth` (payload hash signed)."""
        req = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
        S3SigV4Auth(self.credentials.botocore(), "s3", self.region).add_auth(req)
        return dict(req.headers.items())

    def presign(self, method: str, key: str, expires: int = 3600, params: dict[str, Any] | None = None) -> str:
        """A presigned URL (botocore's :class:`S3SigV4QueryAuth`) valid ``expires`` seconds."""
        req = AWSRequest(method=method, url=self.url(key, params))
        S3SigV4QueryAuth(self.credentials.botocore(), "s3", self.region, expires=expires).add_auth(req)
        return str(req.url)

    # -- the request loop ------------------------------------------------------

    def _error(self, resp: httpx.Response, op: str) -> S3Error:
        code, message = "", resp.reason_phrase
        body = resp.content
        if body.strip().startswith(b"<"):
            try:
                root = _xml(body)
                code, message = _text(root, "Code"), _text(root, "Message") or message
            except BackendError:
                pass
        return S3Error(resp.status_code, code or str(resp.status_code), message, op)

    def request(
        self,
        op: str,
        method: str,
        key: str = "",
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        ok: Iterable[int] = (200,),
    ) -> httpx.Response:
        """Send a signed request with retries; return the (read) response with an ``ok`` status.

        :raises S3Error: a non-retryable error, or the last retryable one.
        :raises BackendError: transport errors that outlasted the retries.
        """
        ok = tuple(ok)
        url = self.url(key, params)
        last: Exception | None = None
        refreshed = False
        attempt = 0
        while attempt < self.retry.attempts:
            attempt += 1
            if attempt > 1:
                self.stats.add(retries=1)
            signed = self.sign(method, url, headers or {}, body)
            self.stats.count(op)
            if body:
                # httpx keeps a finished request in a reference cycle until the garbage
                # collector runs; an iterator lets go of the body as soon as it is sent.
                signed["Content-Length"] = str(len(body))
            try:
                resp = self._http.request(method, url, headers=signed, content=iter((body,)) if body else None)
            except httpx.TransportError as exc:
                last = BackendError(f"S3 {op}: {type(exc).__name__}: {exc}".rstrip(": "))
                if attempt < self.retry.attempts:
                    self._sleep(self.retry.delay(attempt))
                continue
            self.stats.add(sent=len(body), received=len(resp.content))
            if resp.status_code in ok:
                return resp
            err = self._error(resp, op)
            force_refresh = getattr(self.credentials, "force_refresh", None)
            # A HEAD error has no body to name ExpiredToken: a bare 400 counts as one.
            expired = err.code in EXPIRED_CODES or (method == "HEAD" and resp.status_code == 400)
            if expired and force_refresh is not None and not refreshed:
                # temporary credentials the server already counts as expired: a new set, and the
                # same request again (not counted as an attempt)
                force_refresh(_signed_key(signed))
                refreshed = True
                attempt -= 1
                last = err
                continue
            if (resp.status_code in RETRY_STATUSES or err.code in RETRY_CODES) and attempt < self.retry.attempts:
                last = err
                self._sleep(self.retry.delay(attempt, resp.headers.get("retry-after")))
                continue
            raise err
        assert last is not None
        raise last

    # -- buckets and objects -------------------------------------------------

    def create_bucket(self) -> None:
        """Create the bucket (ignored if this account already owns it)."""
        body = b""
        if self.region not in ("us-east-1", "auto"):
            body = (
                '<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<LocationConstraint>{self.region}</LocationConstraint></CreateBucketConfiguration>"
            ).encode()
        try:
            self.request("CreateBucket", "PUT", body=body)
        except S3Error as exc:
            if exc.code not in ("BucketAlreadyOwnedByYou",):
                raise

    def head_object(self, key: str) -> tuple[int, str | None] | None:
        """``(size, etag)`` of an object, or None if there is none."""
        resp = self.request("HeadObject", "HEAD", key, ok=(200, 404))
        if resp.status_code == 404:
            return None
        return int(resp.headers.get("content-length", "0")), _unquote_etag(resp.headers.get("etag"))

    def get_object(self, key: str) -> tuple[bytes, str | None] | None:
        """A small object's bytes and ETag, or None if there is none."""
        resp = self.request("GetObject", "GET", key, ok=(200, 404))
        if resp.status_code == 404:
            return None
        data = resp.content
        length = resp.headers.get("content-length")
        if length is not None and int(length) != len(data):
            raise BackendError(f"S3 GetObject {key}: got {len(data)} of {length} bytes")
        return data, _unquote_etag(resp.headers.get("etag"))

    def download(self, key: str, sink: Callable[[bytes], None]) -> int:
        """Stream an object into ``sink``; resume with a Range request after a dropped connection.

        The ETag of the first response pins the object (If-Match) so a resumed
        download cannot splice two versions.

        :returns: the number of bytes delivered.
        :raises ObjectMissing: there is no such object.
        """
        received = 0
        total: int | None = None
        etag: str | None = None
        url = self.url(key)
        for attempt in range(1, self.retry.attempts + 1):
            if attempt > 1:
                self.stats.add(retries=1)
            headers: dict[str, str] = {}
            if received:
                headers["Range"] = f"bytes={received}-"
                if etag:
                    headers["If-Match"] = f'"{etag}"'
            signed = self.sign("GET", url, headers)
            self.stats.count("GetObject")
            try:
                with self._http.stream("GET", url, headers=signed) as resp:
                    if resp.status_code == 404 and not received:
                        raise ObjectMissing(f"{key} is not in the container")
                    if resp.status_code not in (200, 206):
                        resp.read()
                        err = self._error(resp, "GetObject")
                        if resp.status_code == 412:
                            raise Conflict(f"{key} changed while it was being downloaded")
                        if (resp.status_code in RETRY_STATUSES or err.code in RETRY_CODES) and attempt < self.retry.attempts:
                            self._sleep(self.retry.delay(attempt, resp.headers.get("retry-after")))
                            continue
                        raise err
                    if etag is None:
                        etag = _unquote_etag(resp.headers.get("etag"))
                    skip = 0
                    if resp.status_code == 200:
                        if total is None and resp.headers.get("content-length") is not None:
                            total = int(resp.headers["content-length"])
                        skip = received  # the server ignored our Range: drop what we have
                    elif total is None:
                        crange = resp.headers.get("content-range", "")
                        if "/" in crange and crange.rsplit("/", 1)[1].isdigit():
                            total = int(crange.rsplit("/", 1)[1])
                    for piece in resp.iter_raw():  # as it arrives: a cut loses nothing received
                        if skip:
                            cut = min(skip, len(piece))
                            piece, skip = piece[cut:], skip - cut
                            if not piece:
                                continue
                        sink(piece)
                        received += len(piece)
                        self.stats.add(received=len(piece))
            except httpx.TransportError as exc:
                if attempt >= self.retry.attempts:
                    raise BackendError(f"S3 GetObject {key}: {type(exc).__name__}: {exc}") from None
                self._sleep(self.retry.delay(attempt))
                continue
            if total is None or received == total:
                return received
            if received > total:
                raise BackendError(f"S3 GetObject {key}: got more bytes than the object has")
            # a short body without an error: resume
            self._sleep(self.retry.delay(attempt))
        raise BackendError(f"S3 GetObject {key}: incomplete after {self.retry.attempts} attempts")

    def put_object(
        self,
        key: str,
        body: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_type: str = "application/octet-stream",
    ) -> str:
        """Upload ``body`` (Content-MD5 checked by the server); return the new ETag.

        :param if_match: only replace the object with this ETag (else :class:`Conflict`).
        :param if_none_match: only create the object if it does not exist (else :class:`Conflict`).
        """
        md5 = content_md5(body)
        headers = {"Content-MD5": md5, "Content-Type": content_type}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        if if_none_match:
            headers["If-None-Match"] = "*"
        try:
            resp = self.request("PutObject", "PUT", key, headers=headers, body=body)
        except S3Error as exc:
            if exc.status in (409, 412) or exc.code in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise Conflict(f"{key} changed since it was read") from None
            if exc.status == 404 and if_match is not None:
                raise Conflict(f"{key} no longer exists") from None
            raise
        etag = _unquote_etag(resp.headers.get("etag")) or ""
        self._check_md5_etag(key, etag, body)
        return etag

    def _check_md5_etag(self, key: str, etag: str, body: bytes) -> None:
        # A plain (non-KMS) S3/R2/MinIO ETag is the body's MD5: one more end-to-end check.
        if len(etag) == 32 and all(c in "0123456789abcdef" for c in etag):
            if etag != hashlib.md5(body).hexdigest():
                raise BackendError(f"S3 stored {key} with a different checksum than sent")

    def delete_object(self, key: str) -> None:
        """Delete one object (no error if it is absent)."""
        self.request("DeleteObject", "DELETE", key, ok=(200, 204, 404))

    def delete_objects(self, keys: list[str]) -> int:
        """Delete up to 1000 objects in one request; return how many were deleted."""
        if not keys:
            return 0
        items = "".join(f"<Object><Key>{_xml_escape(k)}</Key></Object>" for k in keys)
        body = f"<Delete><Quiet>true</Quiet>{items}</Delete>".encode()
        resp = self.request(
            "DeleteObjects", "POST", params={"delete": ""}, headers={"Content-MD5": content_md5(body)}, body=body
        )
        errors = _findall(_xml(resp.content), "Error")
        if errors:
            first = errors[0]
            raise BackendError(f"S3 DeleteObjects: {_text(first, 'Key')}: {_text(first, 'Code')}")
        return len(keys)

    def list_objects(self, prefix: str, *, delimiter: str | None = None) -> Iterator[tuple[str, int, str | None]]:
        """Every ``(key, size, etag)`` under ``prefix`` (ListObjectsV2, all pages).

        With ``delimiter``, common prefixes are yielded as ``(prefix, -1, None)``.
        """
        token: str | None = None
        while True:
            params: dict[str, Any] = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
            if delimiter:
                params["delimiter"] = delimiter
            if token:
                params["continuation-token"] = token
            root = _xml(self.request("ListObjectsV2", "GET", params=params).content)
            for item in _findall(root, "Contents"):
                yield _text(item, "Key"), int(_text(item, "Size", "0")), _unquote_etag(_text(item, "ETag") or None)
            for item in _findall(root, "CommonPrefixes"):
                yield _text(item, "Prefix"), -1, None
            if _text(root, "IsTruncated") != "true":
                return
            token = _text(root, "NextContinuationToken")
            if not token:
                return

    # -- multipart -----------------------------------------------------------

    def create_multipart_upload(self, key: str) -> str:
        """Start a multipart upload; return its upload id."""
        resp = self.request(
            "CreateMultipartUpload", "POST", key, params={"uploads": ""},
            headers={"Content-Type": "application/octet-stream"},
        )
        upload_id = _text(_xml(resp.content), "UploadId")
        if not upload_id:
            raise BackendError(f"S3 CreateMultipartUpload {key}: no upload id in the response")
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> Part:
        """Upload part ``number`` (1-based) with Content-MD5; return it with its ETag."""
        try:
            resp = self.request(
                "UploadPart", "PUT", key, params={"partNumber": str(number), "uploadId": upload_id},
                headers={"Content-MD5": content_md5(body)}, body=body,
            )
        except S3Error as exc:
            if exc.code == "NoSuchUpload":
                raise ObjectMissing(f"multipart upload of {key} is gone") from None
            raise
        etag = _unquote_etag(resp.headers.get("etag")) or ""
        self._check_md5_etag(key, etag, body)
        return Part(number, etag, len(body))

    def list_parts(self, key: str, upload_id: str) -> list[Part] | None:
        """The parts the server holds for an upload (all pages), or None if the upload is gone."""
        parts: list[Part] = []
        marker = "0"
        while True:
            try:
                resp = self.request(
                    "ListParts", "GET", key,
                    params={"uploadId": upload_id, "max-parts": "1000", "part-number-marker": marker},
                )
            except S3Error as exc:
                if exc.code == "NoSuchUpload" or exc.status == 404:
                    return None
                raise
            root = _xml(resp.content)
            for item in _findall(root, "Part"):
                parts.append(
                    Part(int(_text(item, "PartNumber")), _unquote_etag(_text(item, "ETag")) or "", int(_text(item, "Size", "0")))
                )
            if _text(root, "IsTruncated") != "true":
                return parts
            marker = _text(root, "NextPartNumberMarker")
            if not marker:
                return parts

    def complete_multipart_upload(self, key: str, upload_id: str, parts: list[Part]) -> str:
        """Complete an upload from ``parts`` (checked equal-sized first); return the ETag.

        :raises ValueError: the parts break the equal-size rule (nothing is sent).
        """
        parts = sorted(parts, key=lambda p: p.number)
        if [p.number for p in parts] != list(range(1, len(parts) + 1)):
            raise ValueError("parts must be numbered 1..n without gaps")
        check_equal_parts([p.size for p in parts])
        items = "".join(f"<Part><PartNumber>{p.number}</PartNumber><ETag>\"{p.etag}\"</ETag></Part>" for p in parts)
        body = f"<CompleteMultipartUpload>{items}</CompleteMultipartUpload>".encode()
        try:
            resp = self.request("CompleteMultipartUpload", "POST", key, params={"uploadId": upload_id}, body=body)
        except S3Error as exc:
            if exc.code == "NoSuchUpload":
                raise ObjectMissing(f"multipart upload of {key} is gone") from None
            raise
        root = _xml(resp.content)
        if _strip(root.tag) == "Error":  # S3 may report a failure inside a 200 response
            code = _text(root, "Code")
            if code in RETRY_CODES:
                raise BackendError(f"S3 CompleteMultipartUpload {key}: {code}")
            raise S3Error(200, code, _text(root, "Message"), "CompleteMultipartUpload")
        return _unquote_etag(_text(root, "ETag")) or ""

    def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        """Abort an upload and free its parts (no error if it is already gone)."""
        self.request("AbortMultipartUpload", "DELETE", key, params={"uploadId": upload_id}, ok=(200, 204, 404))

    def list_multipart_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """``(key, upload_id)`` of unfinished uploads under ``prefix``."""
        out: list[tuple[str, str]] = []
        key_marker = upload_marker = ""
        while True:
            params: dict[str, Any] = {"uploads": "", "prefix": prefix}
            if key_marker:
                params["key-marker"] = key_marker
                params["upload-id-marker"] = upload_marker
            root = _xml(self.request("ListMultipartUploads", "GET", params=params).content)
            for item in _findall(root, "Upload"):
                out.append((_text(item, "Key"), _text(item, "UploadId")))
            if _text(root, "IsTruncated") != "true":
                return out
            key_marker, upload_marker = _text(root, "NextKeyMarker"), _text(root, "NextUploadIdMarker")
            if not key_marker:
                return out


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
