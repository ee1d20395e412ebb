"""Test support for the sync plugin's tests (tests/test_sync*.py).

* ``moto_s3``: a real S3-compatible server (moto's ThreadedMotoServer) on
  127.0.0.1 and a free port, with signature checking switched on
  (``INITIAL_NO_AUTH_ACTION_COUNT=0``) and an IAM user whose keys the tests use.
* :class:`FaultProxy`: a loopback HTTP proxy in front of it that injects the
  failures restic's and rclone's backend tests care about: error statuses,
  connections cut mid-request, lost responses, stalls, truncated downloads.
* Small helpers: a scanned library of real corpus files, folder trees as bytes.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs
import pytest

ACCESS_KEY_ID_PREFIX = "AKIA"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@attrs.define
class MotoS3:
    """The running server and the credentials of its IAM user."""

    endpoint: str
    access_key_id: str
    secret_access_key: str
    port: int

    def client(self, bucket: str, **kwargs: Any) -> Any:
        from printmanager_sync.s3client import Credentials, S3Client

        return S3Client(self.endpoint, bucket, Credentials(self.access_key_id, self.secret_access_key), **kwargs)

    def new_bucket(self) -> str:
        name = f"pm-{os.urandom(5).hex()}"
        with self.client(name) as c:
            c.create_bucket()
        return name

    def raw_objects(self, bucket: str) -> dict[str, bytes]:
        """Every object's bytes, read straight from moto's storage (not through our client)."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        return {key: obj.value for key, obj in backend.get_bucket(bucket).keys.items()}


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """A moto S3 server on 127.0.0.1 that checks every request's SigV4 signature."""
    os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"
    from moto import settings

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # in case moto was imported before
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends
    from moto.server import ThreadedMotoServer

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    user = f"sync-tests-{os.urandom(3).hex()}"
    iam.create_user("us-east-1", user)
    iam.put_user_policy(
        user,
        "s3-all",
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
    )
    key = iam.create_access_key(user)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield MotoS3(f"http://127.0.0.1:{port}", key.access_key_id, key.secret_access_key, port)
    finally:
        server.stop()


@pytest.fixture
def s3_env(moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> MotoS3:
    """The moto server's credentials in the standard AWS environment variables."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_s3.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_s3.secret_access_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return moto_s3


# -- the fault proxy -------------------------------------------------------------------


@attrs.define
class Fault:
    """One injected failure for requests matching ``method`` and ``pattern`` (a regex on the target).

    Actions: ``status`` (answer ``code`` with S3 error ``s3code`` instead of forwarding),
    ``cut_request`` (forward only ``after`` bytes of the body, then drop the connection),
    ``lose_response`` (forward the request, drop the connection before answering),
    ``stall`` (hold the request ``seconds``, then drop it), ``truncate`` (forward only
    ``after`` bytes of the response body, then drop the connection).
    """

    method: str
    pattern: str
    action: str
    times: int = 1
    code: int = 503
    s3code: str = "SlowDown"
    after: int = 0
    seconds: float = 2.0
    hits: int = 0


class FaultProxy:
    """A loopback HTTP/1.1 proxy to ``upstream_port`` that injects :class:`Fault` s.

    Each request goes upstream on a fresh connection and the client is told
    ``Connection: close``, so requests and responses are easy to cut exactly.
    """

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, str]] = []  # method, target, what happened
        self.ranged: list[tuple[str, str]] = []  # target, Range header of ranged requests
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = int(self._sock.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def add(self, method: str, pattern: str, action: str, **kwargs: Any) -> Fault:
        fault = Fault(method, pattern, action, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def close(self) -> None:
        self._stop = True
        self._sock.close()

    def count(self, method: str, pattern: str, what: str = "forward") -> int:
        with self._lock:
            return sum(1 for m, t, w in self.log if m == method and re.search(pattern, t) and w == what)

    def _take(self, method: str, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.hits < fault.times and re.search(fault.pattern, target):
                    fault.hits += 1
                    return fault
        return None

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_head(sock: socket.socket) -> tuple[bytes, bytes] | None:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                return None
            buf += data
        head, rest = buf.split(b"\r\n\r\n", 1)
        return head + b"\r\n\r\n", rest

    @staticmethod
    def _recv_exact(sock: socket.socket, n: int, have: bytes) -> bytes:
        chunks = [have]
        got = len(have)
        while got < n:
            data = sock.recv(min(1 << 20, n - got))
            if not data:
                break
            chunks.append(data)
            got += len(data)
        return b"".join(chunks)

    def _serve(self, client: socket.socket) -> None:
        try:
            got = self._read_head(client)
            if got is None:
                return
            head, rest = got
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, target, _ = request_line.split(" ", 2)
            length = 0
            m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
            if m:
                length = int(m.group(1))
            fault = self._take(method, target)
            action = fault.action if fault else "forward"
            ranged = re.search(rb"\r\nrange:\s*([^\r]+)", head, re.I)
            with self._lock:
                self.log.append((method, target, action))
                if ranged:
                    self.ranged.append((target, ranged.group(1).decode()))
            if action == "stall":
                time.sleep(fault.seconds)  # type: ignore[union-attr]
                return
            if action == "status":
                self._recv_exact(client, length, rest)
                body = (
                    f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{fault.s3code}</Code>"  # type: ignore[union-attr]
                    f"<Message>injected</Message></Error>"
                ).encode()
                client.sendall(
                    f"HTTP/1.1 {fault.code} Injected\r\nContent-Type: application/xml\r\n"  # type: ignore[union-attr]
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
                )
                return
            body = self._recv_exact(client, length, rest)
            head = re.sub(rb"\r\nconnection:[^\r]*", b"", head, flags=re.I)
            head = head[:-2] + b"Connection: close\r\n\r\n"
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            try:
                if action == "cut_request":
                    upstream.sendall(head + body[: fault.after])  # type: ignore[union-attr]
                    return
                upstream.sendall(head + body)
                response = b""
                while True:
                    data = upstream.recv(1 << 20)
                    if not data:
                        break
                    response += data
            finally:
                upstream.close()
            if action == "lose_response":
                return
            rhead, _, rbody = response.partition(b"\r\n\r\n")
            rhead = re.sub(rb"\r\nconnection:[^\r]*", b"", rhead, flags=re.I) + b"\r\nConnection: close\r\n\r\n"
            if action == "truncate":
                client.sendall(rhead + rbody[: fault.after])  # type: ignore[union-attr]
                return
            client.sendall(rhead + rbody)
        except OSError:
            pass
        finally:
            client.close()


@pytest.fixture
def fault_proxy(moto_s3: MotoS3) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_s3.port)
    yield proxy
    proxy.close()


# -- libraries -------------------------------------------------------------------------


def make_prints(dest: Path, corpus: Path) -> Path:
    """A folder of real files the way a user keeps them (STL, 3MF, G-code, binary G-code)."""
    shutil.copytree(corpus / "Benchy multi-part", dest / "Benchy", copy_function=shutil.copyfile)
    shutil.copytree(corpus / "sliced", dest / "sliced", copy_function=shutil.copyfile)
    (dest / "3mf").mkdir(parents=True)
    for name in ("cube_gears.3mf", "box.3mf"):
        shutil.copyfile(corpus / "3mf-samples" / name, dest / "3mf" / name)
    (dest / "Spider").mkdir()
    shutil.copyfile(corpus / "assimp" / "Spider_ascii.stl", dest / "Spider" / "Spider_ascii.stl")
    shutil.copyfile(corpus / "assimp" / "spider.obj", dest / "Spider" / "spider.obj")
    for p in [dest, *dest.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def scanned_library(path: Path, roots: list[Path]) -> Any:
    from printmanager_core import Library

    lib = Library(path)
    lib.scan(roots, workers=1, thumbnails=False)
    return lib


def tree(folder: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``folder``."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def container_objects(folder: Path) -> dict[str, bytes]:
    """Every object of a folder container."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- a container, as its provider sees it ---------------------------------------------------------


@attrs.define
class Server:
    """The container as its provider sees it: objects by name, changed behind sync's back."""

    config: dict[str, Any]
    folder: Path | None = None
    s3: MotoS3 | None = None
    env: dict[str, str] = attrs.field(factory=dict)

    def _client(self) -> Any:
        assert self.s3 is not None
        return self.s3.client(self.config["bucket"])

    def names(self, prefix: str = "") -> list[str]:
        if self.folder is not None:
            return sorted(p.relative_to(self.folder).as_posix() for p in self.folder.rglob("*")
                          if p.is_file() and p.relative_to(self.folder).as_posix().startswith(prefix))  # fmt: skip
        with self._client() as c:
            return sorted(key for key, _size, _etag in c.list_objects(prefix))

    def read(self, name: str) -> bytes:
        if self.folder is not None:
            return (self.folder / name).read_bytes()
        with self._client() as c:
            return c.get_object(name)[0]

    def write(self, name: str, data: bytes) -> None:
        if self.folder is not None:
            (self.folder / name).write_bytes(data)
            return
        with self._client() as c:
            c.put_object(name, data)

    def delete(self, *names: str) -> None:
        for name in names:
            if self.folder is not None:
                (self.folder / name).unlink()
            else:
                with self._client() as c:
                    c.delete_object(name)

    def cli_args(self) -> list[str]:
        if self.folder is not None:
            return ["--backend", "folder", "--path", str(self.folder)]
        return ["--backend", "s3", "--endpoint", self.config["endpoint"], "--bucket", self.config["bucket"]]


@pytest.fixture(params=["folder", "s3"])
def server(request: pytest.FixtureRequest, tmp_path: Path, passphrase_env: str) -> Server:
    if request.param == "folder":
        folder = tmp_path / "container"
        return Server({"backend": "folder", "path": str(folder)}, folder=folder)
    s3: MotoS3 = request.getfixturevalue("s3_env")
    config = {"backend": "s3", "endpoint": s3.endpoint, "bucket": s3.new_bucket()}
    return Server(config, s3=s3, env={"AWS_ACCESS_KEY_ID": s3.access_key_id, "AWS_SECRET_ACCESS_KEY": s3.secret_access_key})


def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Make every network socket fail and record the attempt; return the record.

    Watches the whole way a connection is made: creating an internet socket
    (``socket.socket()``; Unix-domain sockets are local IPC and are allowed),
    ``bind()``, ``connect()``/``connect_ex()`` and ``socket.create_connection``.
    """
    attempts: list[Any] = []
    real_init = socket.socket.__init__

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("network use is forbidden in this test")

    def init(self: socket.socket, family: Any = -1, type: Any = -1, proto: Any = -1, fileno: Any = None) -> None:
        if fileno is None and family in (-1, socket.AF_INET, socket.AF_INET6):
            attempts.append(("socket", family, type))
            raise OSError("network use is forbidden in this test (socket())")
        real_init(self, family, type, proto, fileno)

    monkeypatch.setattr(socket.socket, "__init__", init)
    monkeypatch.setattr(socket.socket, "bind", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def flip_bit(path: Path, offset: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 1 << bit
    path.write_bytes(bytes(data))


Callback = Callable[..., Any]


@pytest.fixture(autouse=True)
def fast_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """New key files in tests use a cheaper scrypt cost (stored in the key file, so opening
    follows it); the default cost is exercised by the CLI test that runs a real process."""
    from printmanager_sync import crypto

    monkeypatch.setattr(crypto, "SCRYPT_N", 2**14)


PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def passphrase_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PRINTMANAGER_SYNC_PASSPHRASE", PASSPHRASE)
    return PASSPHRASE
