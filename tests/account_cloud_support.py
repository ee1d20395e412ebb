"""Test support for the account plugin's hosted features: the service's Edge Functions beside
the contract-faithful GoTrue server (tests/gotrue_server.py), and hosted storage on moto.

* :class:`Billing` — the service's ``GET /functions/v1/entitlement``: the user's subscription
  (as the service would read it from Stripe) signed as an ES256 JWT with the project's key
  (``aud: printmanager-entitlement``, ``sub``, ``iat``, ``exp``, ``plan``, ``status``,
  ``features``, ``current_period_end``).
* :class:`HostedStorage` — the service's ``POST /functions/v1/storage-credentials``: it calls
  STS ``AssumeRole`` over HTTP on the moto server (with the service's own IAM user) for a
  per-user role whose policy allows only ``users/<sub>/*`` of the service's bucket, and hands
  out ``AccessKeyId/SecretAccessKey/SessionToken/Expiration`` with where they are good for.
  moto checks the SigV4 signature, the session token (``x-amz-security-token``) and the role's
  policy; it does not enforce expiry, so the S3 endpoint the service names is moto behind
  :class:`ExpiryGate`, which answers a request signed with a credential past the expiry the
  service gave it as S3 does: ``400 ExpiredToken`` "The provided token has expired."
* :class:`ShiftedClock` — the one clock the service, the gate and the client's refresh logic read
  (real time plus an offset the test moves forward), so an hour passes in a microsecond.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import attrs
import uvicorn
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gotrue_server import GoTrue, build_app

ENTITLEMENT_AUDIENCE = "printmanager-entitlement"
DAY = 86400.0


@attrs.define
class ShiftedClock:
    """Real time plus ``offset`` seconds."""

    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc).isoformat(timespec="seconds")


@attrs.define
class Subscription:
    plan: str
    status: str
    features: list[str]
    current_period_end: float | None


@attrs.define
class Billing:
    """The service's view of each user's subscription and how it signs it."""

    key: ECKey
    clock: ShiftedClock
    subscriptions: dict[str, Subscription] = attrs.Factory(dict)
    #: seconds an entitlement token is good for
    ttl: float = 3600.0
    #: signs with this key instead of the project's (a key the JWKS does not publish)
    signing_key: ECKey | None = None
    #: ``iat`` offset of the token sent (negative: an old, expired token is replayed)
    issued_offset: float = 0.0
    #: rewrites the signed token before it is sent (a party in the middle changing it)
    mangle: Callable[[str], str] | None = None
    requests: list[str] = attrs.Factory(list)

    def subscribe(self, user_id: str, plan: str = "pro", status: str = "active",
                  features: tuple[str, ...] = ("hosted_storage",), period_days: float = 30) -> Subscription:
        sub = Subscription(plan, status, list(features), self.clock() + period_days * DAY)
        self.subscriptions[user_id] = sub
        return sub

    def token(self, user_id: str) -> str:
        sub = self.subscriptions.get(user_id) or Subscription("free", "none", [], None)
        now = int(self.clock() + self.issued_offset)
        claims = {"aud": ENTITLEMENT_AUDIENCE, "sub": user_id, "iat": now, "exp": int(now + self.ttl),
                  "plan": sub.plan, "status": sub.status, "features": sub.features,
                  "current_period_end": int(sub.current_period_end) if sub.current_period_end else None}
        key = self.signing_key or self.key
        signed = jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)
        return self.mangle(signed) if self.mangle else signed


@attrs.define
class Issued:
    access_key_id: str
    user_id: str
    expires_at: float
    #: what the gate needs to check a presigned URL's signature (S3 knows it; moto cannot check those)
    secret_access_key: str = attrs.field(default="", repr=False)
    session_token: str = attrs.field(default="", repr=False)


@attrs.define
class HostedStorage:
    """The service's hosted bucket on moto and the credentials it handed out."""

    moto_endpoint: str
    gated_endpoint: str
    bucket: str
    service_key_id: str
    service_secret: str
    clock: ShiftedClock
    #: seconds the credentials are good for (STS's minimum is 900)
    ttl: float = 900.0
    #: the service's IAM user (the principal the roles trust)
    service_user: str = ""
    #: the Edge Function fails (503) while this is set
    unavailable: bool = False
    issued: dict[str, Issued] = attrs.Factory(dict)
    roles: dict[str, str] = attrs.Factory(dict)
    _lock: threading.RLock = attrs.Factory(threading.RLock)
    _clients: dict[str, Any] = attrs.Factory(dict)

    def _client(self, service: str) -> Any:
        """The service's own botocore client (made once: loading the API models is slow)."""
        import botocore.session

        with self._lock:
            if service not in self._clients:
                self._clients[service] = botocore.session.get_session().create_client(
                    service, endpoint_url=self.moto_endpoint, region_name="us-east-1",
                    aws_access_key_id=self.service_key_id, aws_secret_access_key=self.service_secret)
            return self._clients[service]

    def _role(self, user_id: str) -> str:
        from moto.core import DEFAULT_ACCOUNT_ID

        with self._lock:
            if user_id in self.roles:
                return self.roles[user_id]
            iam = self._client("iam")
            trust = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"AWS": f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:user/{self.service_user}"}}]}
            name = f"pm-user-{uuid.uuid4().hex[:12]}"
            arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
            policy = {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": f"arn:aws:s3:::{self.bucket}/users/{user_id}/*"},
                {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                 "Resource": f"arn:aws:s3:::{self.bucket}"},
                # moto authorises DeleteObjects against the bucket; S3 checks s3:DeleteObject for each
                # key against the statement above (the gate does that: ExpiryGate._delete_outside)
                {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": f"arn:aws:s3:::{self.bucket}"}]}
            iam.put_role_policy(RoleName=name, PolicyName="own-prefix", PolicyDocument=json.dumps(policy))
            self.roles[user_id] = arn
            return arn

    def issue(self, user_id: str) -> dict[str, Any]:
        """STS AssumeRole for the user's role; the STS-style answer of the Edge Function."""
        sts = self._client("sts")
        creds = sts.assume_role(RoleArn=self._role(user_id), RoleSessionName=f"u-{user_id[:60]}",
                                DurationSeconds=int(max(self.ttl, 900)))["Credentials"]
        expires_at = self.clock() + self.ttl
        with self._lock:
            self.issued[creds["AccessKeyId"]] = Issued(creds["AccessKeyId"], user_id, expires_at,
                                                       creds["SecretAccessKey"], creds["SessionToken"])
        return {"AccessKeyId": creds["AccessKeyId"], "SecretAccessKey": creds["SecretAccessKey"],
                "SessionToken": creds["SessionToken"], "Expiration": iso(expires_at),
                "Endpoint": self.gated_endpoint, "Bucket": self.bucket, "Region": "us-east-1",
                "Prefix": f"users/{user_id}/"}

    def new_bucket(self) -> str:
        """A fresh bucket of the service's (made with its own static keys)."""
        from printmanager_sync.s3client import Credentials, S3Client

        bucket = f"pm-hosted-{os.urandom(4).hex()}"
        with S3Client(self.moto_endpoint, bucket, Credentials(self.service_key_id, self.service_secret)) as c:
            c.create_bucket()
        return bucket

    def expire_now(self, access_key_id: str) -> None:
        """The server side counts the credential as expired already (clock skew, revocation)."""
        with self._lock:
            self.issued[access_key_id].expires_at = self.clock() - 1


def service_app(gotrue: GoTrue, billing: Billing, storage: HostedStorage | None = None) -> Starlette:
    """GoTrue's routes plus the service's two Edge Functions, on one project address."""

    def entitlement(request: Request) -> Response:
        billing.requests.append("entitlement")
        found = gotrue.bearer_user(request)
        if found is None or request.headers.get("apikey") is None:
            return JSONResponse({"message": "Invalid JWT"}, status_code=401)
        return JSONResponse({"token": billing.token(found[0].id)})

    def storage_credentials(request: Request) -> Response:
        billing.requests.append("storage-credentials")
        found = gotrue.bearer_user(request)
        if found is None:
            return JSONResponse({"message": "Invalid JWT"}, status_code=401)
        if storage is not None and storage.unavailable:
            return JSONResponse({"message": "upstream STS unavailable"}, status_code=503)
        sub = billing.subscriptions.get(found[0].id)
        if storage is None or sub is None or sub.status not in ("active", "trialing") \
                or "hosted_storage" not in sub.features:
            return JSONResponse({"message": "hosted storage is not part of your plan"}, status_code=403)
        return JSONResponse(storage.issue(found[0].id))

    routes = list(build_app(gotrue).routes) + [
        Route("/functions/v1/entitlement", entitlement, methods=["GET"]),
        Route("/functions/v1/storage-credentials", storage_credentials, methods=["POST"]),
    ]
    return Starlette(routes=routes)


@attrs.define
class RunningService:
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Take the service off the network (the device is offline from now on)."""
        self.server.should_exit = True
        self.thread.join(5)


def start_service(app: Starlette) -> RunningService:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test service did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    return RunningService(f"http://127.0.0.1:{port}", server, thread)


# -- moto behind the expiry gate ----------------------------------------------------------


EXPIRED_BODY = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ExpiredToken</Code>"
                "<Message>The provided token has expired.</Message><Token-0>{token}</Token-0>"
                "<RequestId>{rid}</RequestId></Error>")


@attrs.define
class Seen:
    """One request as the gate saw it."""

    method: str
    path: str
    query: str
    access_key_id: str | None
    session_token: bool
    status: int


class ExpiryGate:
    """WSGI middleware in front of moto's app: a request signed with a credential the service
    issued is refused once the service's clock passes its expiry (``400 ExpiredToken``, as S3
    answers; a HEAD answer has no body) — presigned URLs too (:meth:`_presigned`). Everything is logged in ``seen``; ``after_part`` is
    called after each successful UploadPart."""

    def __init__(self, app: Any, storage: HostedStorage) -> None:
        self.app = app
        self.storage = storage
        self.seen: list[Seen] = []
        self.after_part: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if "X-Amz-Credential=" in environ.get("QUERY_STRING", "") and not environ.get("HTTP_AUTHORIZATION"):
            refused = self._presigned(environ)
            if refused is not None:
                return self._refuse(environ, start_response, *refused)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        key = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else None
        token = environ.get("HTTP_X_AMZ_SECURITY_TOKEN")
        method, query = environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")
        issued = self.storage.issued.get(key or "")
        status_box: list[int] = []

        def record(status: str, headers: Any, exc_info: Any = None) -> Any:
            status_box.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

        if issued is not None and method == "POST" and "delete" in [q.split("=", 1)[0] for q in query.split("&")] and self._delete_outside(
                environ, issued):
            return self._refuse(environ, start_response, 403, "AccessDenied", "Access Denied", key)
        if issued is not None and token is not None and self.storage.clock() >= issued.expires_at:
            body = b"" if method == "HEAD" else EXPIRED_BODY.format(token=token[:16], rid=os.urandom(8).hex()).encode()
            record("400 Bad Request", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
            result: Any = [body]
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        else:
            result = list(self.app(environ, record))
        status = status_box[0] if status_box else 0
        with self._lock:
            self.seen.append(Seen(method, environ.get("PATH_INFO", ""), query, key, token is not None, status))
        if method == "PUT" and "partNumber=" in query and status == 200 and self.after_part is not None:
            self.after_part()
        return result

    def _refuse(self, environ: dict[str, Any], start_response: Callable[..., Any], status: int, code: str,
                message: str, key: str | None) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        body = b"" if method == "HEAD" else (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
                                             f"<Message>{message}</Message><RequestId>{os.urandom(8).hex()}"
                                             "</RequestId></Error>").encode()
        phrase = {400: "Bad Request", 403: "Forbidden"}[status]
        start_response(f"{status} {phrase}", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        with self._lock:
            self.seen.append(Seen(method, environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), key, True,
                                  status))
        return [body]

    def _delete_outside(self, environ: dict[str, Any], issued: Issued) -> bool:
        """A DeleteObjects request naming a key outside the user's prefix (the body is put back)."""
        import xml.etree.ElementTree as ET

        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        keys = [e.text or "" for e in ET.fromstring(body).iter() if e.tag.rsplit("}", 1)[-1] == "Key"]
        return any(not k.startswith(f"users/{issued.user_id}/") for k in keys)

    def _presigned(self, environ: dict[str, Any]) -> tuple[int, str, str, str | None] | None:
        """A presigned request (SigV4 in the query string) with credentials the service issued,
        checked as S3 checks it — the session token, the signature, the URL's own expiry
        (``X-Amz-Date`` + ``X-Amz-Expires``, stamped by botocore from the real clock) and the
        credentials' expiry (the service's clock: ``400 ExpiredToken``). moto cannot check a
        query signature, so an accepted request is handed to it signed in the header with the
        same credentials: moto still checks the session token and the role's policy.

        :returns: ``(status, code, message, key)`` to refuse with, or None (``environ`` rewritten).
        """
        import datetime as _dt
        from urllib.parse import parse_qsl

        from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials as BotoCredentials

        method, query = environ["REQUEST_METHOD"], environ["QUERY_STRING"]
        params = dict(parse_qsl(query, keep_blank_values=True))
        scope = params.get("X-Amz-Credential", "").split("/")
        key = scope[0]
        issued = self.storage.issued.get(key)
        if issued is None or len(scope) != 5:
            return None  # not the service's: moto's own answer
        token = params.get("X-Amz-Security-Token")
        if token != issued.session_token:
            return 400, "InvalidToken", "The provided token is malformed or otherwise invalid.", key
        raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ["PATH_INFO"]).split("?", 1)[0]
        url = f"http://{environ['HTTP_HOST']}{raw}"
        unsigned = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))
        check = AWSRequest(method=method, url=f"{url}?{unsigned}")
        check.context["timestamp"] = params.get("X-Amz-Date", "")
        creds = BotoCredentials(key, issued.secret_access_key, token)
        auth = S3SigV4QueryAuth(creds, "s3", scope[2], expires=int(params.get("X-Amz-Expires") or 0))
        if auth.signature(auth.string_to_sign(check, auth.canonical_request(check)), check) \
                != params.get("X-Amz-Signature"):
            return 403, "SignatureDoesNotMatch", ("The request signature we calculated does not match the "
                                                  "signature you provided."), key
        signed_at = _dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
        if time.time() > signed_at.timestamp() + int(params["X-Amz-Expires"]):
            return 403, "AccessDenied", "Request has expired", key
        if self.storage.clock() >= issued.expires_at:
            return 400, "ExpiredToken", "The provided token has expired.", key
        rest = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-"))
        forward = AWSRequest(method=method, url=f"{url}?{rest}" if rest else url)
        S3SigV4Auth(creds, "s3", scope[2]).add_auth(forward)
        environ["QUERY_STRING"] = rest
        environ["RAW_URI"] = environ["REQUEST_URI"] = f"{raw}?{rest}" if rest else raw
        for name, value in forward.headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        return None

    def parts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "PUT" and "partNumber=" in s.query]


@attrs.define
class GatedMoto:
    endpoint: str
    gate: ExpiryGate
    stop: Callable[[], None]


def start_gated_moto(storage_factory: Callable[[str], HostedStorage]) -> tuple[GatedMoto, HostedStorage]:
    """moto's app (the same in-process backends as the ``moto_s3`` server) behind an :class:`ExpiryGate`."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, None, threaded=True, request_handler=MotoRequestHandler)  # type: ignore[arg-type]
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    storage = storage_factory(endpoint)
    gate = ExpiryGate(DomainDispatcherApplication(create_backend_app), storage)
    server.app = gate
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(5)

    return GatedMoto(endpoint, gate, stop), storage


def hosted_storage(moto_endpoint: str, clock: ShiftedClock) -> Iterator[tuple[GatedMoto, HostedStorage]]:
    """The service's IAM user (allowed to manage roles and assume them), its bucket, the gate."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    user = f"pm-service-{os.urandom(3).hex()}"
    iam.create_user("us-east-1", user)
    iam.put_user_policy(user, "service", json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:CreateRole", "iam:PutRolePolicy", "sts:AssumeRole", "s3:*"],
         "Resource": "*"}]}))
    key = iam.create_access_key(user)

    def make(gated: str) -> HostedStorage:
        storage = HostedStorage(moto_endpoint, gated, "", key.access_key_id, key.secret_access_key, clock)
        storage.service_user = user
        storage.bucket = storage.new_bucket()
        return storage

    gated, storage = start_gated_moto(make)
    try:
        yield gated, storage
    finally:
        gated.stop()
