"""Limits every request meets before a route runs, and the audit entry of each that matters.

Pure ASGI (no body buffering): a request target over ``URBANGIS_AUTH_MAX_URL`` bytes is a 414; a
declared body over ``URBANGIS_AUTH_MAX_BODY_KB`` (uploads to /ingest/jobs and /ingest/imagery and
address batches excepted: they have their own limits) a 413, and a streamed one is cut off at the
limit with the same 413. After the response, refusals (401, 403, 429), every write and every
ingest job go to the audit log (:mod:`urbangis.access.audit`) with who, what, when and from where.
"""
from __future__ import annotations

import orjson

from urbangis.access.audit import Entry

from .errors import error_body

INGEST = ("/ingest/jobs", "/ingest/imagery")  # audited as ingest
UPLOADS = (*INGEST, "/geocode/batch")  # each with its own, larger limit
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def _reject(status: int, code: str, text: str):
    body = orjson.dumps(error_body(code, text))

    async def send_it(send) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return send_it


class Guard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        services = services_of_scope(scope)
        if services is None:
            return await self.app(scope, receive, send)
        limits = services.settings.access
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"") + 1
        if target > limits.auth_max_url:
            return await _reject(414, "URITooLong", f"the request target has {target} bytes; the most is "
                                 f"{limits.auth_max_url} (send long filters as POST where offered)")(send)
        path = scope.get("path", "")
        most = limits.auth_max_body_kb << 10
        if not path.startswith(UPLOADS):
            declared = dict(scope.get("headers") or []).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > most:
                return await _reject(413, "PayloadTooLarge", f"the body has {int(declared)} bytes; the most is "
                                                              f"{most} ({limits.auth_max_body_kb} KiB)")(send)
            receive = _bounded(receive, most)
        status = {}

        async def send_seen(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        except _Over:
            too_big = f"the body is over {most} bytes ({limits.auth_max_body_kb} KiB)"
            await _reject(413, "PayloadTooLarge", too_big)(send)
            status["code"] = 413
        if services.access.enabled:
            _audit(services, scope, status.get("code"))


class _Over(Exception):
    pass


def _bounded(receive, most: int):
    seen = 0

    async def bounded():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > most:
                raise _Over()
        return message

    return bounded


def services_of_scope(scope):
    app = scope.get("app")
    state = getattr(app, "state", None) if app is not None else None
    return getattr(state, "services", None)


def _audit(services, scope, status: int | None) -> None:
    state = scope.get("state") or {}
    caller = state.get("caller")
    method, path = scope.get("method", ""), scope.get("path", "")
    refused = status in (401, 403, 429)
    if not refused and method in READS:
        if caller is not None and caller.via == "signature":
            services.access.count_use(caller)
        return
    client = scope.get("client")
    action = "refused" if refused else ("ingest" if path.startswith(INGEST) else "write")
    detail = {"reason": state["refusal"]} if refused and state.get("refusal") else {}
    services.access.record(Entry(
        actor=caller.actor if caller else "anonymous", action=action, target=f"{method} {path}", status=status,
        role=caller.role if caller else None, area=caller.area if caller else None,
        client=client[0] if client else None, detail=detail))
