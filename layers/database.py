"""Connections: where the database is, creating it, and the connection pool. Nothing more."""
from __future__ import annotations

import logging
import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from .cluster import Cluster
from .scope import ScopedPool
from .settings import DatabaseSettings

log = logging.getLogger("urbangis.db")


def cluster_for(settings: DatabaseSettings) -> Cluster:
    """The embedded cluster these settings describe."""
    return Cluster(settings.home, settings.pg_port, settings.timezone)


def conninfo(settings: DatabaseSettings, dbname: str | None = None) -> str:
    """The libpq connection string of the configured database (or of ``dbname`` beside it). Its
    sessions run in the configured time zone: a time written without an offset is read in it,
    and PostgreSQL writes times with its offset (09:30+08 for a case reported at 09:30 in Beijing),
    whatever the server's own ``timezone`` is."""
    if settings.external:
        info = settings.database_url or ""
        if dbname:
            info = make_conninfo(info, dbname=dbname)
    else:
        info = cluster_for(settings).conninfo(dbname or settings.db_name)
    return in_time_zone(info, settings.timezone)


def in_time_zone(info: str, zone: str) -> str:
    """``info`` whose sessions run in time zone ``zone`` (an IANA name)."""
    return with_options(info, f"-c timezone={zone}")


def with_options(info: str, options: str) -> str:
    """``info`` with session ``options`` (``-c name=value``) added to those it has."""
    had = conninfo_to_dict(info).get("options") or ""
    return make_conninfo(info, options=f"{had} {options}".strip())


def database_name(info: str) -> str:
    return str(conninfo_to_dict(info).get("dbname") or "postgres")  # a parsed conninfo string: str values


@contextmanager
def connect(info: str, autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """One connection; a missing server is reported with what to do about it."""
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


def new_database(settings: DatabaseSettings, prefix: str) -> str:
    """A new database beside the configured one (the embedded cluster started if it is not
    running), named ``prefix``, the process id and a random part, with PostGIS and the current
    schema: for tests and benchmarks. Returns its conninfo."""
    from .migrate import migrate

    if not settings.external:
        cluster = cluster_for(settings)
        cluster.init()
        cluster.start()
        cluster.wait_ready()
    info = make_conninfo(conninfo(settings), dbname=f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    create_database(info)
    with connect(info, autocommit=True) as conn:
        migrate(conn)
    return info


def drop_database(info: str) -> None:
    name = database_name(info)
    with connect(make_conninfo(info, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def make_pool(info: str, min_size: int = 1, max_size: int = 10, wait: float = 30.0,
              statement_timeout: float = 0.0) -> ConnectionPool:
    """An autocommit pool on ``info``, opening in the background; its connections take the
    running request's area (layers/scope.py). ``wait``: seconds a caller waits for a connection;
    ``statement_timeout``: seconds a statement may run on them (0: no limit)."""
    if statement_timeout:
        info = with_options(info, f"-c statement_timeout={int(statement_timeout * 1000)}")
    pool = ScopedPool(
        info,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True},
        open=False,
        name="urbangis",
        timeout=wait,
    )
    pool.open(wait=False)
    return pool
