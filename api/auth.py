"""Who may use each route (docs/access.md): the dependency every route family is included with.

``allow(*roles)`` is a FastAPI security dependency: the OpenAPI document shows the scheme
(``httpSignature``, RFC 9421) and, on each operation, the roles it admits. On a request it finds
the caller once (a signed request's key, checked by :mod:`urbangis.access.signatures`; no signature:
the ``public`` role), refuses a role the route does not admit, applies the caller's rate, and sets
the caller's area for the request's database work (:mod:`urbangis.layers.scope`). With access
control off every request is the local, unscoped admin.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from typing import Any

import http_sf
from fastapi import Request, Security
from fastapi.openapi.models import APIKey, APIKeyIn
from fastapi.security.base import SecurityBase

from urbangis.access import roles as R
from urbangis.access.caller import LOCAL, Caller
from urbangis.access.signatures import Refused
from urbangis.cases.filters import admin_prefix
from urbangis.layers import scope
from urbangis.layers.errors import Forbidden, TooManyRequests, Unauthorized

from .head import SENT
from .services import services_of

ANONYMOUS = "anonymous"
COOKIE = "urbangis_session"
DESCRIPTION = (
    "HTTP Message Signatures (RFC 9421): `Signature-Input` and `Signature` covering at least `@method`, "
    "`@target-uri` and, with a body, `content-digest` (RFC 9530), with parameters `created`, `nonce`, "
    "`keyid` and `alg` (hmac-sha256, hmac-sm3 or ed25519). Keys come from `urbangis keys create`; the "
    "scopes listed on an operation are the roles it admits (docs/access.md). Unsigned requests are "
    "the `public` role.")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Refusal(Unauthorized):
    """A signature that was not accepted (401; the reason names what failed)."""

    headers = {"WWW-Authenticate": 'Signature realm="urbangis"'}


class Signed(SecurityBase):
    """The security scheme and check of routes admitting ``roles``."""

    def __init__(self, admitted: tuple[str, ...]):
        self.admitted = admitted
        self.model = APIKey.model_validate({"in": APIKeyIn.header, "name": "Signature", "description": DESCRIPTION})
        self.scheme_name = "httpSignature"

    async def __call__(self, request: Request) -> Caller:
        return await authorise(request, self.admitted)


def allow(*admitted: str):
    """The dependency of a route (or router) admitting the roles ``admitted``."""
    return Security(Signed(tuple(admitted)), scopes=list(admitted))


async def caller_of(request: Request) -> Caller:
    """The request's caller, found once per request (a nonce is spent once)."""
    found = getattr(request.state, "caller", None)
    if found is not None:
        return found
    access = services_of(request).access
    if not access.enabled:
        found = LOCAL
    elif "signature-input" not in request.headers and "signature" not in request.headers:
        found = await _person(request, access)
    else:
        body = await _body(request)
        upload = body is None and request.method in WRITES
        try:
            method = request.scope.get(SENT, request.method)
            key = access.verifier.verify(method, target_uri(request), request.headers.items(), body,
                                         digest_later=upload)
            if upload:
                request.state.upload_digest = _upload_digest(request)
        except Refused as exc:
            request.state.refusal = exc.reason
            request.state.caller = Caller(exc.keyid or ANONYMOUS, R.PUBLIC, "", "refused")
            raise Refusal(exc.reason) from None
        found = Caller(key.keyid, key.role, key.area, "signature")
    request.state.caller = found
    if access.enabled:
        peer = request.client.host if request.client else ""
        who = found.actor if found.actor != ANONYMOUS else f"{ANONYMOUS}@{peer}"
        wait = access.rates.wait_for(who)
        if wait:
            request.state.refusal = "rate"
            raise TooManyRequests(f"over the rate of {access.settings.auth_rate} requests a minute; retry in "
                                  f"{wait} s", retry_after=wait)
    if found.area is not None:
        scope.AREA.set(found.area)
    return found


async def _person(request: Request, access) -> Caller:
    """The person of the request's session cookie, or the anonymous public (area "": no row of
    any area, only public tables)."""
    token = request.cookies.get(COOKIE)
    if token:
        person = access.people.cached(token) or await asyncio.to_thread(access.session, token)
        if person is None:
            request.state.refusal = "session ended"
            raise Refusal("session ended (logged out, or idle too long): log in again at /login")
        return Caller(person.login, person.role, person.area, "session")
    return Caller(ANONYMOUS, R.PUBLIC, "", "none")


async def authorise(request: Request, admitted: tuple[str, ...]) -> Caller:
    caller = await caller_of(request)
    if caller.via == "off":
        return caller
    if caller.role == R.PUBLIC and R.PUBLIC in admitted:
        collection = request.path_params.get("collectionId")
        known = services_of(request).collections
        if collection is None or (collection in known and known[collection].public) or collection not in known:
            return caller  # (an unknown collection is a 404 of the route)
        _refuse(request, caller, f"collection {collection!r} is not public")
    if caller.role not in admitted:
        _refuse(request, caller, f"the {caller.role} role may not use {request.method} {request.url.path} "
                                 f"(admitted: {', '.join(admitted)})")
    return caller


def _refuse(request: Request, caller: Caller, why: str):
    request.state.refusal = why
    if caller.actor == ANONYMOUS:
        raise Refusal(f"missing signature: {why}")
    raise Forbidden(why)


def target_uri(request: Request) -> str:
    """The URI the caller signed: the public URL's origin (behind a proxy) or the request's, with
    the path and query as sent."""
    public = services_of(request).settings.server.public_url
    if public:
        url = request.url
        base = public.rstrip("/")
        query = f"?{url.query}" if url.query else ""
        return f"{base}{request.scope.get('raw_path', url.path.encode()).decode('latin-1')}{query}"
    return request_url(request)


# A Host header of a plain name or IPv4 address and a port of at most five digits; a path that
# begins with one "/" and has no character Starlette escapes (? # \\).
_PLAIN_HOST = re.compile(r"[A-Za-z0-9.\-]+(?::([0-9]{1,5}))?")
_ESCAPED = re.compile(r"[?#\\]|^//|^(?!/)")


def request_url(request: Request) -> str:
    """``str(request.url)``, spelled directly for the common request (an http(s) scheme, a plain
    Host header, a path Starlette leaves as it is): Starlette's URL validates the Host header with
    a general pattern and rebuilds the URL through urllib, ~70 µs of each signed request's 0.2 ms
    of verification on the test machine. Anything else is Starlette's own reading (tested to agree
    in tests/api/test_auth_url.py)."""
    scope = request.scope
    scheme, path = scope.get("scheme", "http"), scope["path"]
    host = None
    for key, value in scope["headers"]:
        if key == b"host":
            host = value.decode("latin-1")
            break
    plain = host is not None and scheme in ("http", "https") and _PLAIN_HOST.fullmatch(host)
    if not plain or (plain[1] is not None and int(plain[1]) > 65535) or _ESCAPED.search(path):
        return str(request.url)
    query = scope.get("query_string", b"").decode()
    return f"{scheme}://{host}{path}?{query}" if query else f"{scheme}://{host}{path}"


class Digest:
    """The Content-Digest (RFC 9530) of a signed upload, checked while the body streams in: the
    signature covers the digest (the verifier requires it), this proves the body matches it."""

    HASHES: dict[str, Any] = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}

    def __init__(self, expected: dict[str, bytes] | None):
        self.expected = expected or {}
        self.hashers = {name: self.HASHES[name]() for name in self.expected}

    @classmethod
    def of(cls, request: Request) -> Digest:
        return cls(getattr(request.state, "upload_digest", None))

    def update(self, chunk: bytes) -> None:
        for h in self.hashers.values():
            h.update(chunk)

    def check(self) -> None:
        for name, h in self.hashers.items():
            if not hmac.compare_digest(h.digest(), self.expected[name]):
                raise Refusal("content-digest mismatch")


def _upload_digest(request: Request) -> dict[str, bytes]:
    """The digests a signed upload's Content-Digest field declares (401 when there is none usable)."""
    parsed: Any
    try:
        parsed = http_sf.parse(request.headers.get("content-digest", "").encode(), tltype="dictionary")
        found = {name: value for name, (value, _) in parsed.items() if name in Digest.HASHES and
                 isinstance(value, bytes)}
    except Exception:
        found = {}
    if not found:
        raise Refusal("uncovered content-digest")
    return found


async def _body(request: Request) -> bytes | None:
    """The body the signature's content-digest covers. A multipart upload (up to 1 GiB) is not read
    here: api/routes/ingest.py checks its digest while it streams to disk."""
    if request.method not in WRITES:
        return None
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        return None
    return await request.body()


def narrowed_area(requested: str | None) -> str | None:
    """The ``area`` filter of an in-memory case map for the running request: the caller's own
    area when none is asked for, the one asked for when it lies inside the caller's, and a 403 when
    it lies outside (the case maps and alerts are answered from the server's in-memory index,
    which row-level security does not see; the database's answers are scoped by it)."""
    own = scope.current()
    if own is None:
        return requested
    if own == "":
        raise Forbidden("the case maps need a key bound to an area")
    if not requested or in_area(requested, own):
        return requested or own
    if in_area(own, requested):
        return own
    raise Forbidden(f"area {requested!r} lies outside the caller's area {own!r}", parameter="area", value=requested)


def in_area(code: str, area: str | None = None) -> bool:
    """Whether an admin, grid or component code (letters before the digits ignored: ZR650102...)
    lies in ``area`` (default: the running request's; True when unscoped)."""
    area = scope.current() if area is None else area
    if area is None:
        return True
    if area == "":
        return False
    digits = code.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return digits.startswith(admin_prefix(area) if len(area) == 6 else area)


def without_security(spec: dict) -> None:
    """The OpenAPI document of a server with access control off: no operation asks for a
    signature (every request is served unsigned), so none is declared, nor its 401."""
    for item in spec.get("paths", {}).values():
        for op in item.values():
            if isinstance(op, dict):
                op.pop("security", None)
                op.get("responses", {}).pop("401", None)
    spec.get("components", {}).pop("securitySchemes", None)
