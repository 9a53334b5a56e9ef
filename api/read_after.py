"""A caller reads their own writes when reads go to a standby (layers/replicas.py).

Pure ASGI. A write (POST, PUT, PATCH, DELETE) answered below 400 gets the primary's WAL position
after it (taken when the answer starts, so after the route's commit) as the header
``Urbangis-Written: 0/1A2B3C4D`` and a cookie of the same name (``urbangis_written``, one minute,
HttpOnly). A request that brings it back, as the cookie or as the header ``Urbangis-Read-After``,
reads from the standby only once the standby has replayed that far; until then from the
primary. Only installed when a standby is configured: without one nothing is added.
"""
from __future__ import annotations

import asyncio
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from urbangis.layers.replicas import READ_AFTER, ReadPool, lsn_text, lsn_value

from .guard import services_of_scope

COOKIE = "urbangis_written"
HEADER = b"urbangis-read-after"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEEP = 60  # seconds the cookie lives: a standby that lags longer is skipped anyway


class ReadAfterWrites:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = READ_AFTER.set(_wanted(scope))
        try:
            if scope["method"] not in WRITES:
                await self.app(scope, receive, send)
                return

            services = services_of_scope(scope)
            reads: ReadPool | None = services.reads if services is not None else None

            async def stamped(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] < 400 and reads is not None:
                    try:
                        at = lsn_text(await asyncio.to_thread(reads.written))
                    except Exception:  # noqa: BLE001 - the write is done; its answer goes out unstamped
                        at = None
                    if at is not None:
                        cookie = f"{COOKIE}={at}; Max-Age={KEEP}; Path=/; HttpOnly; SameSite=Strict"
                        message = {**message, "headers": [*message.get("headers", []), (b"urbangis-written",
                                                          at.encode()), (b"set-cookie", cookie.encode())]}
                await send(message)

            await self.app(scope, receive, stamped)
        finally:
            READ_AFTER.reset(token)


def _wanted(scope: Scope) -> int | None:
    """The WAL position the request must read at or after (its header or cookie), if any."""
    found: list[int] = []
    for name, value in scope.get("headers") or ():
        text = None
        if name == HEADER:
            text = value.decode("latin-1")
        elif name == b"cookie" and COOKIE.encode() in value:
            jar: SimpleCookie = SimpleCookie()
            jar.load(value.decode("latin-1"))
            text = jar[COOKIE].value if COOKIE in jar else None
        if text:
            try:
                found.append(lsn_value(text))
            except ValueError:
                continue  # a mangled position is no position (reads go where they would)
    return max(found) if found else None
