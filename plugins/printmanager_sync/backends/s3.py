"""The S3 backend: any S3-compatible endpoint (Cloudflare R2, AWS S3, MinIO).

Small objects go in one PUT with Content-MD5. Objects above
``multipart_threshold`` go in a multipart upload with equal-size parts (R2's
rule), recorded part by part in the local journal: an interrupted upload resumes
with the same upload id, asks the server which parts it holds (ListParts) and
uploads only the missing ones. The upload is completed only after the source
was verified against the object id, so a partial or changed upload is never
committed. The head is replaced with ``If-Match`` (created with
``If-None-Match: *``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator
from urllib.parse import urlsplit

from ..errors import BackendError, ObjectMissing, SourceChanged, SyncError
from ..s3client import Credentials, Part, RetryPolicy, S3Client, S3Error, part_size_for
from .base import ObjectInfo, SourceFile, UploadSource

if TYPE_CHECKING:  # pragma: no cover
    from printmanager_core.library import Library

    from ..storage_credentials import RefreshingCredentials

    from ..journal import Journal

#: objects larger than this are uploaded in parts
MULTIPART_THRESHOLD = 16 * 1024 * 1024
#: the size of every part but the last (S3's minimum is 5 MiB)
PART_SIZE = 8 * 1024 * 1024

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def check_endpoint(endpoint: str) -> str:
    """An endpoint must be https (TLS in transit), except on this machine's loopback."""
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return endpoint.rstrip("/")
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return endpoint.rstrip("/")
    raise SyncError(f"endpoint {endpoint!r} must be https:// (plain http only for 127.0.0.1/localhost)")


class S3Backend:
    """A container in an S3 bucket.

    :param multipart_threshold: objects larger than this use a multipart upload.
    :param part_size: equal part size for multipart uploads (grown if 10,000 parts are not enough).
    """

    name = "s3"
    #: a large container is listed in this many slices at once (ListObjectsV2 pages hold 1,000 names)
    listing_shards = 16

    def __init__(
        self,
        client: S3Client,
        *,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
    ):
        self.client = client
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size

    def describe(self) -> dict[str, Any]:
        return {
            "backend": "s3",
            "endpoint": self.client.endpoint,
            "bucket": self.client.bucket,
            "region": self.client.region,
        }

    # -- writing -------------------------------------------------------------

    def put(
        self, name: str, source: UploadSource, *, journal: "Journal | None" = None, origin: SourceFile | None = None
    ) -> None:
        if source.size <= self.multipart_threshold:
            body = source.read_range(0, source.size)
            source.verify_source()
            self.client.put_object(name, body)
            return
        self._put_multipart(name, source, journal, origin)

    def _put_multipart(
        self, name: str, source: UploadSource, journal: "Journal | None", origin: SourceFile | None
    ) -> None:
        from ..journal import UploadRecord

        part_size = part_size_for(source.size, self.part_size)
        count = -(-source.size // part_size)
        record = journal.find(name) if journal else None
        server: dict[int, Part] = {}
        if record is not None:
            usable = (
                origin is not None
                and record.same_source(origin.path, origin.size, origin.mtime_ns)
                and record.salt == source.salt
                and record.part_size == part_size
                and record.object_size == source.size
            )
            listed = self.client.list_parts(name, record.upload_id) if usable else None
            if listed is None:
                if usable is False:
                    self.client.abort_multipart_upload(name, record.upload_id)
                assert journal is not None
                journal.finish(name)
                record = None
            else:
                # Trust a part only if the server has it with the size and ETag we recorded.
                for part in listed:
                    mine = record.parts.get(part.number)
                    if mine is not None and mine.etag == part.etag and mine.size == part.size:
                        server[part.number] = part
        if record is None:
            upload_id = self.client.create_multipart_upload(name)
            record = UploadRecord(
                name, upload_id, source.salt,
                origin.path if origin else "", origin.size if origin else 0, origin.mtime_ns if origin else 0,
                part_size, source.size,
            )  # fmt: skip
            if journal:
                journal.start(record)
        parts: list[Part] = []
        try:
            for number in range(1, count + 1):
                if number in server:
                    parts.append(server[number])
                    continue
                start = (number - 1) * part_size
                body = source.read_range(start, min(start + part_size, source.size))
                part = self.client.upload_part(name, record.upload_id, number, body)
                if journal:
                    journal.part_done(name, part)
                parts.append(part)
            source.verify_source()
        except (SourceChanged, ObjectMissing):
            # The file changed (or the upload vanished): this upload can never complete.
            self.client.abort_multipart_upload(name, record.upload_id)
            if journal:
                journal.finish(name)
            raise
        try:
            self.client.complete_multipart_upload(name, record.upload_id, parts)
        except ObjectMissing:
            # A retried Complete whose first attempt succeeded: the object is there.
            info = self.stat(name)
            if info is None or info.size != source.size:
                if journal:
                    journal.finish(name)
                raise
        if journal:
            journal.finish(name)

    def put_bytes(self, name: str, data: bytes) -> None:
        self.client.put_object(name, data)

    def write_conditional(self, name: str, data: bytes, *, expect: str | None) -> str:
        if expect is None:
            return self.client.put_object(name, data, if_none_match=True)
        return self.client.put_object(name, data, if_match=expect)

    # -- reading -------------------------------------------------------------

    def get(self, name: str, sink: Callable[[bytes], None]) -> int:
        return self.client.download(name, sink)

    def get_bytes(self, name: str) -> bytes | None:
        got = self.client.get_object(name)
        return got[0] if got else None

    def read_versioned(self, name: str) -> tuple[bytes, str] | None:
        got = self.client.get_object(name)
        if got is None:
            return None
        data, etag = got
        if not etag:
            raise BackendError(f"S3 sent no ETag for {name}; conditional writes are impossible")
        return data, etag

    def stat(self, name: str) -> ObjectInfo | None:
        got = self.client.head_object(name)
        return ObjectInfo(name, got[0], got[1]) if got else None

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        for key, size, etag in self.client.list_objects(prefix):
            yield ObjectInfo(key, size, etag)

    def list_dirs(self, prefix: str) -> list[str]:
        out = []
        for key, size, _etag in self.client.list_objects(prefix, delimiter="/"):
            if size == -1:
                out.append(key[len(prefix) :].rstrip("/"))
        return sorted(out)

    def delete(self, names: Iterable[str]) -> int:
        batch: list[str] = []
        count = 0
        for name in names:
            batch.append(name)
            if len(batch) == 1000:
                count += self._delete_batch(batch)
                batch = []
        if batch:
            count += self._delete_batch(batch)
        return count

    def _delete_batch(self, names: list[str]) -> int:
        try:
            return self.client.delete_objects(names)
        except S3Error as exc:
            if exc.status not in (400, 501) and exc.code not in ("NotImplemented", "MalformedXML"):
                raise
        for name in names:  # a store without DeleteObjects
            self.client.delete_object(name)
        return len(names)

    def abort_upload(self, name: str, upload_id: str) -> None:
        self.client.abort_multipart_upload(name, upload_id)

    def abort_uploads(self, prefix: str) -> int:
        uploads = self.client.list_multipart_uploads(prefix)
        for key, upload_id in uploads:
            self.client.abort_multipart_upload(key, upload_id)
        return len(uploads)

    def close(self) -> None:
        self.client.close()


def s3_factory(config: dict[str, Any], library: "Library") -> S3Backend:
    """Build the S3 backend from ``{"backend": "s3", "endpoint", "bucket", "region"?}``.

    Credentials come from the vault (``sync.s3.access_key_id``,
    ``sync.s3.secret_access_key``) or the standard AWS environment variables — or, with
    ``"credentials": NAME``, as short-lived credentials from that storage credential source
    (``register_storage_credential_sources``), refreshed before they expire; the source may
    also give the endpoint, bucket and region.
    Advanced keys (for tests and slow links): ``timeout``, ``retries``,
    ``retry_base_delay``, ``multipart_threshold``, ``part_size``, ``addressing``
    (``path``, the default, or ``virtual``).
    """
    from ..credentials import s3_credentials

    creds: "Credentials | RefreshingCredentials"
    endpoint = config.get("endpoint")
    bucket = config.get("bucket")
    region = config.get("region") or None
    if not config.get("credentials") and (not endpoint or not bucket):
        raise SyncError("the s3 backend needs --endpoint URL and --bucket NAME")
    if config.get("credentials"):
        from ..storage_credentials import RefreshingCredentials, open_credential_source

        refreshing = RefreshingCredentials(open_credential_source(config, library))
        endpoint = endpoint or refreshing.first.endpoint
        bucket = bucket or refreshing.first.bucket
        region = region or refreshing.first.region
        creds = refreshing
    else:
        creds = s3_credentials(library)
    if not endpoint or not bucket:
        raise SyncError(f"the storage credential source {config['credentials']!r} named no endpoint and bucket; "
                        "give --endpoint URL and --bucket NAME")
    retry = RetryPolicy(
        attempts=int(config.get("retries", 6)), base_delay=float(config.get("retry_base_delay", 0.25))
    )
    client = S3Client(
        check_endpoint(endpoint), bucket, creds,
        region=region, timeout=float(config.get("timeout", 60.0)), retry=retry,
        addressing=str(config.get("addressing", "path")),
    )  # fmt: skip
    return S3Backend(
        client,
        multipart_threshold=int(config.get("multipart_threshold", MULTIPART_THRESHOLD)),
        part_size=int(config.get("part_size", PART_SIZE)),
    )
