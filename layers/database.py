"""Connections: where the database is, creating it, and the connection pool. Nothing more."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from .cluster import Cluster
from .config import DatabaseSettings, get_settings

log = logging.getLogger("urbangis.db")


def cluster_for(settings: DatabaseSettings | None = None) -> Cluster:
    settings = settings or get_settings()
    return Cluster(settings.home, settings.pg_port)


def conninfo(settings: DatabaseSettings | None = None, dbname: str | None = None) -> str:
    """The libpq connection string of the configured database (or of ``dbname`` beside it)."""
    settings = settings or get_settings()
    if settings.external:
        info = settings.database_url or ""
        return make_conninfo(info, dbname=dbname) if dbname else info
    return cluster_for(settings).conninfo(dbname or settings.db_name)


def database_name(info: str) -> str:
    return conninfo_to_dict(info).get("dbname") or "postgres"


@contextmanager
def connect(info: str | None = None, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """One connection; a missing server is reported with what to do about it."""
    info = info or conninfo()
    try:
        conn = psycopg.connect(info, autocommit=autocommit, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise psycopg.OperationalError(
            f"cannot reach PostGIS ({exc}). Start the embedded cluster with `urbangis db start` "
            "or set URBANGIS_DATABASE_URL."
        ) from exc
    try:
        yield conn
    finally:
        conn.close()


def create_database(info: str) -> bool:
    """Create the database named in ``info`` with PostGIS; return False if it existed."""
    name = database_name(info)
    created = False
    with connect(make_conninfo(info, dbname="postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            # byte-order collation: the same order as C.UTF-8 (code points) and as this cluster's
            # default, but PostgreSQL sorts it with memcmp and abbreviated keys, so the btree
            # builds over text codes after a bulk load take ~35 % less time (docs/performance.md);
            # character classes (LC_CTYPE) stay the server's
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C'").format(
                sql.Identifier(name)))
            created = True
    with connect(info, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return created


def drop_database(info: str) -> None:
    name = database_name(info)
    with connect(make_conninfo(info, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def make_pool(info: str | None = None, min_size: int | None = None, max_size: int | None = None) -> ConnectionPool:
    settings = get_settings()
    pool = ConnectionPool(
        info or conninfo(),
        min_size=min_size or settings.pool_min,
        max_size=max_size or settings.pool_max,
        kwargs={"autocommit": True},
        open=False,
        name="urbangis",
    )
    pool.open(wait=False)
    return pool
