"""Reads on a standby, writes on the primary (``URBANGIS_DATABASE_URL_READ``).

A :class:`ReadPool` is what read-only routes take their connections from (features, tiles, a
case and its history, case maps). It hands out a connection of the standby's pool when the
standby is usable, of the primary's otherwise:

- **lag**: a probe (one connection to each side, every :data:`PROBE_EVERY` seconds) compares the
  standby's replayed WAL position with the primary's current one; the standby's lag is 0 when it
  has replayed everything, else the age of the last transaction it replayed. A standby lagging
  more than ``max_lag`` seconds, not in recovery (promoted: then it is no standby of ours), or not
  answering is skipped until a probe finds it good again.
- **a caller's own writes**: a write's answer carries the primary's WAL position after its commit
  (``Urbangis-Written`` header and cookie, api/read_after.py); a later read that sends it back
  (the cookie, or the ``Urbangis-Read-After`` header) sets :data:`READ_AFTER`, and goes to the
  standby only once the standby has replayed past that position, else to the primary.

``URBANGIS_DATABASE_URL_READ`` is a libpq URL or conninfo; a multi-host one with
``target_session_attrs=standby`` (or ``prefer-standby``) lets libpq pick among several. Without
it every read is the primary's and nothing is probed.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

import psycopg
from psycopg_pool import ConnectionPool

log = logging.getLogger("urbangis.layers")

PROBE_EVERY = 0.5  # seconds between looks at the standby's replay position
READ_AFTER: ContextVar[int | None] = ContextVar("urbangis_read_after", default=None)


def lsn_value(text: str) -> int:
    """A WAL position written by PostgreSQL (``16/B374D848``) as a number; ValueError if it is none."""
    high, sep, low = text.strip().partition("/")
    if not sep or not high or not low or len(high) > 8 or len(low) > 8:
        raise ValueError(f"not a WAL position: {text!r}")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class StandbyState:
    usable: bool
    replayed: int = 0  # the standby's replayed WAL position
    lag: float = float("inf")  # seconds
    why: str = "not probed yet"


class ReadPool:
    """Connections for reads: the standby's when usable and caught up with the caller, else the
    primary's. ``standby`` None: always the primary's."""

    takes_area = True  # its pools are scoped pools (layers/scope.py): connections come with the area

    def __init__(self, primary: ConnectionPool, standby: ConnectionPool | None = None,
                 primary_info: str = "", standby_info: str = "", max_lag: float = 5.0) -> None:
        self.primary = primary
        self.standby = standby
        self.max_lag = max_lag
        self._infos = (primary_info, standby_info)
        self.state = StandbyState(False)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if standby is not None:
            self._thread = threading.Thread(target=self._probe_loop, name="urbangis-standby-probe", daemon=True)
            self._thread.start()

    # -- choosing -------------------------------------------------------------------------
    def chosen(self) -> ConnectionPool:
        """The pool this read goes to."""
        state = self.state
        if self.standby is None or not state.usable or state.lag > self.max_lag:
            return self.primary
        after = READ_AFTER.get()
        if after is not None and state.replayed < after:
            return self.primary  # the caller wrote something the standby has not replayed yet
        return self.standby

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        with self.chosen().connection() as conn:
            yield conn

    def written(self) -> int:
        """The primary's WAL position now: past every commit that came before this call."""
        with self.primary.connection() as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        return lsn_value(row[0]) if row else 0

    def get_stats(self) -> dict[str, int]:
        """The pools' counters added up (psycopg_pool's names)."""
        total: dict[str, int] = {}
        for pool in (self.primary, self.standby):
            if pool is not None:
                for key, value in pool.get_stats().items():
                    total[key] = total.get(key, 0) + value
        return total

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for pool in (self.standby, self.primary):
            if pool is not None:
                pool.close()

    # -- probing --------------------------------------------------------------------------
    def _probe_loop(self) -> None:
        primary_info, standby_info = self._infos
        conns: dict[str, psycopg.Connection] = {}
        while not self._stop.is_set():
            was = self.state.usable
            try:
                for side, info in (("primary", primary_info), ("standby", standby_info)):
                    if side not in conns or conns[side].closed:
                        conns[side] = psycopg.connect(info, autocommit=True, connect_timeout=2)
                self.state = probe(conns["primary"], conns["standby"])
            except psycopg.Error as exc:
                if was:
                    log.warning("the standby is skipped: %s", exc)
                self.state = StandbyState(False, why=str(exc).strip() or type(exc).__name__)
                for conn in conns.values():
                    conn.close()
                conns.clear()
            if was != self.state.usable and self.standby is not None:
                # the standby went away or came back: drop the pooled connections that broke
                # (a restarted standby ended them; the pool would hand them out once more)
                self.standby.check()
            self._stop.wait(PROBE_EVERY)
        for conn in conns.values():
            conn.close()


def probe(primary: psycopg.Connection, standby: psycopg.Connection) -> StandbyState:
    """How far behind ``standby`` is."""
    recovering, replayed, age = _one(standby, "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                                              "extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8")
    if not recovering or replayed is None:
        return StandbyState(False, why="not a standby in recovery")
    current = _one(primary, "SELECT pg_current_wal_lsn()::text")[0]
    done = lsn_value(replayed)
    lag = 0.0 if done >= lsn_value(current) else (age if age is not None else float("inf"))
    return StandbyState(True, done, max(lag, 0.0), "")


def _one(conn: psycopg.Connection, query: str) -> tuple:
    row = conn.execute(query).fetchone()
    assert row is not None  # (functions without FROM: always one row)
    return row
