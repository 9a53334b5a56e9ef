"""The area a request may see, applied to its database work (docs/access.md).

The API sets :data:`AREA` for a request whose caller is bound to an admin area. Every connection
the request's code takes from a pool of :func:`urbangis.layers.database.make_pool` (a
:class:`ScopedPool`) then works as the role ``urbangis_api`` (owning nothing, no BYPASSRLS) with
``urbangis.area`` set, so that the row-level security policies of migration 0013 hide every row
outside the area; a connection taken without an area (access control off, background work, the
catalogue's shared metadata: :func:`unscoped`) is the owner's again. A connection keeps the
settings it was last given, so a run of requests of one area costs no round trip at all (a
transaction per request with ``set_config(..., true)`` cost two: 0.22 ms of a 4 ms items page).
Connections outside a pool (ingest jobs) are scoped per transaction by :func:`scoped`.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Iterator, Protocol

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

log = logging.getLogger("urbangis.layers")

API_ROLE = "urbangis_api"
AREA: ContextVar[str | None] = ContextVar("urbangis_area", default=None)
_SET = "SELECT set_config('role', %s, true), set_config('urbangis.area', %s, true)"


def current() -> str | None:
    """The area of the running request, or None (unscoped)."""
    return AREA.get()


@contextmanager
def unscoped() -> Iterator[None]:
    """Connections taken within are the owner's, whatever the request's area: for metadata every
    caller shares (a collection's count and extent, the case maps' areas), read once for all."""
    token = AREA.set(None)
    try:
        yield
    finally:
        AREA.reset(token)


class ScopedPool(ConnectionPool):
    """A pool whose connections take the running request's area (or none) when they are taken."""

    def getconn(self, timeout: float | None = None) -> psycopg.Connection:
        conn = self._wait(self.timeout if timeout is None else timeout)
        try:
            _take_area(conn, AREA.get())
        except BaseException:
            self.putconn(conn)
            raise
        return conn

    def _wait(self, timeout: float) -> psycopg.Connection:
        """A connection within ``timeout`` seconds; a pool that gives none within PROBE_AFTER asks
        whether the database can be reached at all (one shared probe a second), and when it
        cannot, says so (OperationalError: a 503 "unavailable") instead of waiting out the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                return super().getconn(max(min(left, PROBE_AFTER), 0.001))
            except PoolTimeout:
                if time.monotonic() >= deadline:
                    raise
                info = self.conninfo if isinstance(self.conninfo, str) else self.conninfo()
                if not reachable(info):
                    raise psycopg.OperationalError("the database cannot be reached") from None


PROBE_AFTER = 2.0  # seconds of waiting for a pooled connection before asking whether the database is up
_PROBE_LOCK = threading.Lock()
_PROBED: dict[str, tuple[float, bool]] = {}  # conninfo -> (when, reachable)


def reachable(info: str) -> bool:
    """Whether a new connection to ``info`` can be made (at most one attempt a second per
    database, shared by every waiting request)."""
    with _PROBE_LOCK:
        when, ok = _PROBED.get(info, (0.0, True))
        if time.monotonic() - when < 1.0:
            return ok
        try:
            psycopg.connect(info, connect_timeout=2).close()
            ok = True
        except psycopg.OperationalError as exc:
            log.warning("the database cannot be reached: %s", exc)
            ok = False
        _PROBED[info] = (time.monotonic(), ok)
        return ok


def _take_area(conn: psycopg.Connection, area: str | None) -> None:
    """Session settings of ``area`` on an idle pooled connection, unless it has them already."""
    if getattr(conn, "_urbangis_area", None) == area:
        return
    conn._urbangis_area = None  # type: ignore[attr-defined]  # (unknown until the statement succeeds)
    if area is None:
        conn.execute("RESET ROLE; RESET urbangis.area")
    else:
        conn.execute(sql.SQL("SELECT set_config('role', {}, false), set_config('urbangis.area', {}, false)").format(
            sql.Literal(API_ROLE), sql.Literal(area)))
    conn._urbangis_area = area  # type: ignore[attr-defined]


class Pool(Protocol):
    """A psycopg pool, or anything handing out its connections the same way (layers/replicas.py)."""

    def connection(self) -> AbstractContextManager[psycopg.Connection]: ...


@contextmanager
def connection(pool: Pool) -> Iterator[psycopg.Connection]:
    """A connection of ``pool`` scoped to the running request's area (if it has one)."""
    with pool.connection() as conn:
        if not (isinstance(pool, ScopedPool) or getattr(pool, "takes_area", False)):
            with scoped(conn):
                yield conn
        else:
            yield conn


@contextmanager
def scoped(conn: psycopg.Connection, area: str | None = None) -> Iterator[psycopg.Connection]:
    """``conn`` (not a pooled one) in a transaction limited to ``area`` (default: the running
    request's); as it was when there is none."""
    area = area if area is not None else AREA.get()
    if area is None:
        yield conn
        return
    with conn.transaction():  # (a savepoint inside a transaction already open: settings stay local to it)
        conn.execute(_SET, (API_ROLE, area))
        yield conn


def inside(conn: psycopg.Connection, lonlat: list[tuple[float, float]]) -> list[bool]:
    """Whether each point (CRS84/CGCS2000 degrees) lies in the running request's area, as
    PostgreSQL's outline of it says (all True when unscoped). For answers made from the in-memory
    indexes (geocoder, alerts) rather than from tables under row-level security."""
    if AREA.get() is None or not lonlat:
        return [True] * len(lonlat)
    lons, lats = [p[0] for p in lonlat], [p[1] for p in lonlat]
    rows = conn.execute(
        "SELECT coalesce(ST_Intersects(a.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4490)), false) "
        "FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(lon, lat, i) "
        "LEFT JOIN (SELECT urbangis_scope_area() AS geom) a ON true ORDER BY p.i", (lons, lats)).fetchall()
    return [bool(r[0]) for r in rows]


def visible(conn: psycopg.Connection, table: str, key: str, values: list[str]) -> set[str]:
    """Those of ``values`` (keys of ``table``) whose rows the running request may see: asked of
    the table itself, so its row-level security decides."""
    if AREA.get() is None or not values:
        return set(values)
    q = sql.SQL("SELECT {k} FROM {t} WHERE {k} = ANY(%s)").format(k=sql.Identifier(key), t=sql.Identifier(table))
    return {r[0] for r in conn.execute(q, (values,))}


def key(base: str) -> str:
    """``base`` (a cache key or folder name) made distinct per area, so a cache never serves one
    area's rows to another."""
    area = AREA.get()
    return base if area is None else f"{base}@{area}"
