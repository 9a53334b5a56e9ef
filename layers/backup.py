"""Backups of the whole database with PostgreSQL's own tools: ``pg_dump`` (one consistent snapshot:
it runs in a single repeatable-read transaction, so a dump taken while cases arrive holds each
table as of one instant) in its custom format, and ``pg_restore`` into a database of its own.

What is ours is only the driving: the binaries of the cluster's PostgreSQL (or those on PATH for an
external database), the progress (one step per table, read from the tools' ``--verbose`` lines)
and clear errors."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from psycopg import sql
from psycopg.conninfo import make_conninfo

from . import database as db
from .cluster import ClusterError, find_pg_bin

Progress = Callable[[str], None]  # called with a table's name as the tool reaches it

_DUMPING = re.compile(r'dumping contents of table "?([^"\s]+)"?')
_RESTORING = re.compile(r'processing data for table "?([^"\s]+)"?')
# the API role the policies and grants name (layers/migrations/0013_access.sql creates it in a
# cluster); a dump restored into another cluster needs it before its policies can be made
_API_ROLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'urbangis_api') THEN
        CREATE ROLE urbangis_api NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
    EXECUTE format('GRANT urbangis_api TO %I', current_user);
END $$
"""


class BackupError(RuntimeError):
    """A backup or restore that could not be made; the message says why and what to do."""


@dataclass(frozen=True)
class Done:
    """What a backup or restore did."""

    database: str
    path: Path
    tables: int
    bytes: int
    seconds: float


def tool(name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore``: the cluster's PostgreSQL's, else the one on PATH."""
    try:
        return str(find_pg_bin() / name)
    except ClusterError:
        found = shutil.which(name)
        if found is None:
            raise BackupError(f"{name} not found: install PostgreSQL's client tools (Debian: postgresql-client)")
        return found


def data_tables(info: str) -> list[str]:
    """The tables whose rows a dump holds (every ordinary table of the database's own schemas)."""
    with db.connect(info) as conn:
        rows = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') "
            "ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def dump_tables(path: Path) -> int:
    """How many tables' rows the dump at ``path`` holds (its table of contents)."""
    listed = subprocess.run([tool("pg_restore"), "--list", str(path)], capture_output=True, text=True)
    if listed.returncode != 0:
        raise BackupError(f"{path}: not a backup pg_restore can read ({listed.stderr.strip()[:300]})")
    return sum(" TABLE DATA " in line for line in listed.stdout.splitlines())


def _run(cmd: list[str], pattern: re.Pattern, progress: Progress | None) -> None:
    """Run a tool, passing each table its verbose output names to ``progress``; fail with its words."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    tail: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        m = pattern.search(line)
        if m and progress:
            progress(m.group(1))
        if ": error:" in line or "FATAL" in line or ": fatal:" in line:
            tail.append(line.strip())
    if proc.wait() != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed ({proc.returncode}): {' | '.join(tail[-5:]) or 'no message'}")


def backup(info: str, path: Path, progress: Progress | None = None) -> Done:
    """Dump the database of ``info`` to ``path`` (custom format, compressed), in one snapshot."""
    started = time.monotonic()
    path.parent.mkdir(parents=True, exist_ok=True)
    tables = data_tables(info)
    partial = path.with_name(path.name + ".partial")
    _run([tool("pg_dump"), "--format=custom", "--compress=6", "--verbose", f"--file={partial}", f"--dbname={info}"],
         _DUMPING, progress)
    partial.replace(path)  # a dump cut short never takes the name of a finished one
    return Done(db.database_name(info), path, len(tables), path.stat().st_size, time.monotonic() - started)


def restore(path: Path, info: str, replace: bool = False, progress: Progress | None = None) -> Done:
    """Restore the dump at ``path`` into the database of ``info``, which must not exist yet (or,
    with ``replace``, is dropped first). All or nothing: on an error the new database is dropped."""
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    started = time.monotonic()
    name = db.database_name(info)
    admin = make_conninfo(info, dbname="postgres")
    with db.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not replace:
            raise BackupError(f"database {name} exists: restore into a new one (--into NAME), or give --replace "
                              "to drop it and restore in its place")
        conn.execute(_API_ROLE)
    if exists:
        db.drop_database(info)
    with db.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        _run([tool("pg_restore"), "--exit-on-error", "--single-transaction", "--verbose", f"--dbname={info}",
              str(path)], _RESTORING, progress)
    except BackupError:
        db.drop_database(info)
        raise
    return Done(name, path, len(data_tables(info)), path.stat().st_size, time.monotonic() - started)
