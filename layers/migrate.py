"""Versioned SQL migrations: ``layers/migrations/NNNN_name.sql``, applied once each, in order."""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

log = logging.getLogger("urbangis.migrate")

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """A migration file was edited after it was applied, or failed to apply."""


def available() -> list[Migration]:
    found = []
    for entry in resources.files("urbangis.layers").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda mg: mg.version)


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    integer PRIMARY KEY,
               name       text NOT NULL,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def applied(conn: psycopg.Connection) -> dict[int, str]:
    _ensure_table(conn)
    return dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())


def pending(conn: psycopg.Connection) -> list[Migration]:
    """The migrations not yet applied to the database of ``conn`` (all of them on a bare database),
    read without writing anything."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    done = set() if not exists else {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
    return [mg for mg in available() if mg.version not in done]


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration, each in its own transaction; return those applied."""
    # One migrator at a time: two servers started together must not race.
    with conn.transaction():
        conn.execute("SELECT pg_advisory_lock(727274)")
    try:
        done = applied(conn)
        todo = []
        for mg in available():
            if mg.version in done:
                if done[mg.version] != mg.checksum:
                    raise MigrationError(
                        f"migration {mg.version:04d}_{mg.name}.sql changed after it was applied; "
                        "add a new migration instead of editing an old one"
                    )
                continue
            todo.append(mg)
        for mg in todo:
            log.info("applying migration %04d_%s", mg.version, mg.name)
            try:
                with conn.transaction():
                    conn.execute(mg.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (mg.version, mg.name, mg.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"migration {mg.version:04d}_{mg.name}.sql failed: {exc}") from exc
        return todo
    finally:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_unlock(727274)")
