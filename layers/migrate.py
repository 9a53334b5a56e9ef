"""Versioned SQL migrations: ``layers/migrations/NNNN_name.sql``, applied once each, in order;
then the contract's field CHECKs (code formats, enumerations: layers/contract.py) kept equal to
the contract, so that a new status or a revised code length is one edit of the contract."""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

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
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()  # always one row
    exists = row is not None and row[0]
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
        sync_field_checks(conn)
        return todo
    finally:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_unlock(727274)")


def sync_field_checks(conn: psycopg.Connection, checks: dict[tuple[str, str], str] | None = None) -> list[str]:
    """Make the database's field CHECKs those of the contract (``checks``: its
    :func:`~urbangis.layers.contract.field_checks`); returns the constraints (re)written.

    Each one written is recorded with its expression in ``contract_checks``; one whose recorded
    expression is the contract's is left alone, so a run with nothing changed costs one query. A
    table's changed constraints are replaced in one ALTER TABLE, validated in one scan of it; a
    row the new constraint refuses (a status taken out of the contract while rows still hold it)
    fails the migration, naming the constraint, and nothing of it is kept."""
    from .contract import field_checks

    wanted = field_checks() if checks is None else checks
    with conn.transaction():
        conn.execute("CREATE TABLE IF NOT EXISTS contract_checks (table_name text NOT NULL, name text NOT NULL, "
                     "expression text NOT NULL, written_at timestamptz NOT NULL DEFAULT now(), "
                     "PRIMARY KEY (table_name, name))")
        recorded = {(t, n): e for t, n, e in conn.execute("SELECT table_name, name, expression FROM contract_checks")}
        changed = {key: expr for key, expr in wanted.items() if recorded.get(key) != expr}
        by_table: dict[str, list[tuple[str, str]]] = {}
        for (table, name), expr in sorted(changed.items()):
            by_table.setdefault(table, []).append((name, expr))
        for table, constraints in by_table.items():
            steps = []
            for name, expr in constraints:
                steps.append(sql.SQL("DROP CONSTRAINT IF EXISTS {}").format(sql.Identifier(name)))
                steps.append(sql.SQL("ADD CONSTRAINT {} CHECK ({})").format(sql.Identifier(name), sql.SQL(expr)))
            log.info("contract checks of %s: %s", table, ", ".join(n for n, _ in constraints))
            try:
                conn.execute(sql.SQL("ALTER TABLE {} ").format(sql.Identifier(table)) + sql.SQL(", ").join(steps))
            except psycopg.errors.CheckViolation as exc:
                raise MigrationError(f"the contract's checks of {table} refuse rows it holds: {exc}") from exc
            conn.execute("INSERT INTO contract_checks (table_name, name, expression) "
                         "SELECT %s, n, e FROM unnest(%s::text[], %s::text[]) AS u(n, e) "
                         "ON CONFLICT (table_name, name) DO UPDATE SET expression = excluded.expression, "
                         "written_at = now()",
                         (table, [n for n, _ in constraints], [e for _, e in constraints]))
    return [name for (_, name) in sorted(changed)]
