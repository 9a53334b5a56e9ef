"""Taking a layer's table exclusively without stalling its readers.

While a lock request waits, every new query on the table queues behind it (PostgreSQL grants
locks in order), so one long query, or a session left idle in a transaction that read the table (a
desktop SQL client), would hold up every reader of the layer for as long as it lasts. So the lock
is asked for LOCK_WAIT at a time (``lock_timeout``, in a savepoint so that a timeout does not
abort the load); after each timeout the queued queries run, and it is asked for again, LOCK_TRIES
times (about a minute); then the load fails naming the sessions that hold the table.
"""
from __future__ import annotations

import logging
import time

import psycopg
from psycopg import sql

from . import fetch

log = logging.getLogger("urbangis.ingest")

LOCK_WAIT = 2.0
LOCK_TRIES = 24
LOCK_PAUSE = 0.5


class TableInUse(Exception):
    """The table stayed in use by other sessions for as long as the load would wait."""


def lock_exclusive(conn: psycopg.Connection, table: str, purpose: str) -> None:
    """ACCESS EXCLUSIVE on ``table`` until the commit, or :class:`TableInUse` saying ``purpose``
    could not be done and who held the table."""
    t = sql.Identifier(table)
    before = fetch.one(conn.execute("SELECT current_setting('lock_timeout')"))[0]
    told = None
    for attempt in range(LOCK_TRIES):
        try:
            with conn.transaction():
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(LOCK_WAIT * 1000)}ms",))
                conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(t))
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (before,))
            return
        except psycopg.errors.LockNotAvailable:
            said = "; ".join(f"pid {pid} ({app}, {state}, in a transaction since {since})"
                             for pid, app, state, since in holders(conn, table)) or "sessions that have ended since"
            if attempt == LOCK_TRIES - 1:
                raise TableInUse(
                    f"{table}: {purpose}: the table stayed in use for {LOCK_TRIES * (LOCK_WAIT + LOCK_PAUSE):.0f} s "
                    f"by {said}; nothing was loaded. End that session (or wait for its query) and load again"
                ) from None
            if said != told:  # once, and again when other sessions hold it
                log.info("%s: waiting for the table (up to %.0f s): in use by %s", table,
                         LOCK_TRIES * (LOCK_WAIT + LOCK_PAUSE), said)
                told = said
            time.sleep(LOCK_PAUSE)


def holders(conn: psycopg.Connection, table: str) -> list[tuple]:
    """(pid, application, state, transaction start) of the other sessions holding a lock on ``table``."""
    return conn.execute(
        "SELECT DISTINCT a.pid, coalesce(nullif(a.application_name, ''), a.client_addr::text, 'local'), a.state, "
        "to_char(a.xact_start, 'HH24:MI:SSTZH:TZM') FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.relation = %s::regclass AND l.granted AND l.pid <> pg_backend_pid() ORDER BY 1", (table,)).fetchall()
