"""The area a request may see, applied to its database work (docs/access.md).

The API sets :data:`AREA` for a request whose caller is bound to an admin area; every connection
the request's code takes with :func:`connection` then works in a transaction that takes the role
``urbangis_api`` (owning nothing, no BYPASSRLS) and sets ``urbangis.area``, both local to the
transaction, so that the row-level security policies of migration 0013 hide every row outside the
area. Without an area (access control off, the CLI, loaders) the connection is as it was.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import psycopg
from psycopg_pool import ConnectionPool

API_ROLE = "urbangis_api"
AREA: ContextVar[str | None] = ContextVar("urbangis_area", default=None)


def current() -> str | None:
    """The area of the running request, or None (unscoped)."""
    return AREA.get()


@contextmanager
def connection(pool: ConnectionPool) -> Iterator[psycopg.Connection]:
    """A connection of ``pool`` scoped to the running request's area (if it has one)."""
    with pool.connection() as conn:
        with scoped(conn):
            yield conn


@contextmanager
def scoped(conn: psycopg.Connection, area: str | None = None) -> Iterator[psycopg.Connection]:
    """``conn`` in a transaction limited to ``area`` (default: the running request's)."""
    area = area if area is not None else AREA.get()
    if area is None:
        yield conn
        return
    with conn.transaction():
        conn.execute("SELECT set_config('role', %s, true), set_config('urbangis.area', %s, true)", (API_ROLE, area))
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
    from psycopg import sql

    q = sql.SQL("SELECT {k} FROM {t} WHERE {k} = ANY(%s)").format(k=sql.Identifier(key), t=sql.Identifier(table))
    return {r[0] for r in conn.execute(q, (values,))}


def key(base: str) -> str:
    """``base`` (a cache key or folder name) made distinct per area, so a cache never serves one
    area's rows to another."""
    area = AREA.get()
    return base if area is None else f"{base}@{area}"
