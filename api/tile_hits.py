"""Cached tiles answered before the framework: the outermost ASGI layer of the app.

A map wall asks for the same few hundred tiles again and again. Through FastAPI a cache hit
cost ~1-2 ms (routing, dependencies, a worker thread, a database round trip for the data's
state), ~360 tiles/s at 64 connections on this machine. Here a GET or HEAD of a tile whose
tileset state is known in memory (layers/changes.py: forgotten the moment PostgreSQL announces a
change) and whose bytes are in the disk cache is answered at once, with the very headers the
route sends (api/routes/tiles.py). Anything else goes on to the app unchanged: a miss, a query
string, a Range, a client not accepting gzip, a signed caller, a session not seen in the last
minute, a collection the public may not read, a caller over their rate.

Who may read is decided as api/auth.py decides it: with access control off, everyone, unscoped;
with it on, the anonymous public (area "": only public layers' rows; public collections only)
and people whose session cookie was seen within a minute (their role and area), each taking a
token of their rate. Their area is part of the cache key, as on the route.
"""
from __future__ import annotations

import logging
import re
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

from urbangis.access import roles as R
from urbangis.layers import scope as area_scope
from urbangis.tiles import tms as tmslib
from urbangis.tiles.tilesets import TileResult, Tileset, UnknownTileset, get_tileset

from .auth import ANONYMOUS, COOKIE
from .guard import services_of_scope

log = logging.getLogger("urbangis.api")

MVT = b"application/vnd.mapbox-vector-tile"
_PATH = re.compile(r"^(?:/collections/(?P<coll>[A-Za-z0-9_.\-]{1,64}))?/tiles/(?P<tms>[A-Za-z0-9]{1,40})/"
                   r"(?P<z>\d{1,2})/(?P<y>\d{1,8})/(?P<x>\d{1,8})$")
_ADMITTED = frozenset((*R.READ, R.PUBLIC))


class TileHits:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._tilesets: dict[tuple[int, str], Tileset] = {}  # built once per registry
        self._tms = frozenset(tmslib.ids())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and not scope.get("query_string"):
            match = _PATH.match(scope["path"])
            if match is not None:
                try:
                    found = self._answer(scope, match)
                except Exception:  # noqa: BLE001 - the route answers instead, and says what failed
                    log.exception("cached tile path failed; the route answers %s", scope["path"])
                    found = None
                if found is not None:  # (sent outside the try: a half-sent answer is never sent twice)
                    result, private, max_age = found
                    await _send(send, result, private, max_age, scope["method"] == "HEAD")
                    return
        await self.app(scope, receive, send)

    def _answer(self, scope: Scope, match: re.Match) -> tuple[TileResult, bool, int] | None:
        """(the cached answer, whether it is private, its max-age), or None: the route decides."""
        services = services_of_scope(scope)
        if services is None or match["tms"] not in self._tms:
            return None
        headers = dict(scope.get("headers") or ())
        if b"range" in headers or b"gzip" not in headers.get(b"accept-encoding", b""):
            return None
        coll = match["coll"]
        ours, area = _area(services, scope, headers, coll)
        if not ours:
            return None
        ts = self._tileset(services, coll)
        if ts is None:
            return None
        inm = headers.get(b"if-none-match")
        token = area_scope.AREA.set(area)  # (the route sets the caller's area the same way)
        try:
            result = services.tiles.cached(ts, match["tms"], int(match["z"]), int(match["x"]), int(match["y"]),
                                           inm.decode("latin-1") if inm is not None else None)
        finally:
            area_scope.AREA.reset(token)
        if result is None:
            return None
        return result, area is not None, services.settings.tiles.max_age

    def _tileset(self, services, coll: str | None) -> Tileset | None:
        key = (id(services.collections), coll or "")
        ts = self._tilesets.get(key)
        if ts is None:
            try:
                ts = get_tileset(coll or "city", services.collections)
            except UnknownTileset:
                return None
            self._tilesets[key] = ts
        return ts


def _area(services, scope: Scope, headers: dict, coll: str | None) -> tuple[bool, str | None]:
    """(True, the caller's area (None: unscoped)), or (False, None) when the route must decide."""
    access = services.access
    if not access.enabled:
        return True, None
    if b"signature" in headers or b"signature-input" in headers:
        return False, None
    cookie = headers.get(b"cookie")
    if cookie is not None:
        jar = SimpleCookie()
        jar.load(cookie.decode("latin-1"))
        morsel = jar.get(COOKIE)
        person = access.people.cached(morsel.value) if morsel is not None else None
        if person is None:
            return False, None
        who, role, area = person.login, person.role, person.area
    else:
        client = scope.get("client")
        who, role, area = f"{ANONYMOUS}@{client[0] if client else ''}", R.PUBLIC, ""
        known = services.collections
        if coll is not None and not (coll in known and known[coll].public):
            return False, None
    if role not in _ADMITTED or access.rates.wait_for(who):
        return False, None
    return True, area


async def _send(send: Send, result: TileResult, private: bool, max_age: int, head: bool) -> None:
    headers = [
        (b"cache-control", f"{'private' if private else 'public'}, max-age={max_age}".encode()),
        (b"vary", b"Accept-Encoding"),
        (b"x-tile-cache", b"revalidated" if result.not_modified else b"hit"),
    ]
    if result.etag:
        headers.append((b"etag", result.etag.encode()))
    body = b""
    if result.not_modified:
        status = 304
    elif not result.data:
        status = 204  # an empty tile, as the route answers it
    else:
        status, body = 200, result.data
        headers += [(b"accept-ranges", b"bytes"), (b"content-encoding", b"gzip"),
                    (b"content-length", str(len(body)).encode()), (b"content-type", MVT)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
