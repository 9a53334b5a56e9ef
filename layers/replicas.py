"""Reads on a standby, writes on the primary (``URBANGIS_DATABASE_URL_READ``).

A :class:`ReadPool` is what read-only routes take their connections from (features, tiles, a
case and its history, case maps). It hands out a connection of the standby's pool when the
standby is usable, of the primary's otherwise, as one :class:`StandbyWatch` per process says:

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


class StandbyWatch:
    """One probe of a standby (a thread, a connection to each side), shared by every ReadPool of
    the process that reads from it: the server's pool and the tiles' pool ask the same question."""

    def __init__(self, primary_info: str, standby_info: str, max_lag: float = 5.0) -> None:
        self.max_lag = max_lag
        self.state = StandbyState(False)
        self._infos = (primary_info, standby_info)
        self._pools: list[ConnectionPool] = []  # the standby's pools, checked when it goes or comes back
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe_loop, name="urbangis-standby-probe", daemon=True)
        self._thread.start()

    def serves(self, pool: ConnectionPool) -> None:
        self._pools.append(pool)

    def usable(self) -> bool:
        """Whether reads may go to the standby: in recovery, answering, lagging at most the bound,
        and past the caller's last write (READ_AFTER) when it sent one."""
        state = self.state
        if not state.usable or state.lag > self.max_lag:
            return False
        after = READ_AFTER.get()
        return after is None or state.replayed >= after

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

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
            if was != self.state.usable:
                # the standby went away or came back: drop the pooled connections that broke
                # (a restarted standby ended them; the pool would hand them out once more)
                for pool in self._pools:
                    pool.check()
            self._stop.wait(PROBE_EVERY)
        for conn in conns.values():
            conn.close()


class ReadPool:
    """Connections for reads: the standby's when ``watch`` finds it usable for this read, else the
    primary's. ``standby`` None: always the primary's."""

    takes_area = True  # its pools are scoped pools (layers/scope.py): connections come with the area

    def __init__(self, primary: ConnectionPool, standby: ConnectionPool | None = None,
                 watch: StandbyWatch | None = None) -> None:
        self.primary = primary
        self.standby = standby if watch is not None else None
        self.watch = watch
        if self.standby is not None and watch is not None:
            watch.serves(self.standby)

    @property
    def state(self) -> StandbyState:
        return self.watch.state if self.watch is not None else StandbyState(False, why="no standby")

    def chosen(self) -> ConnectionPool:
        """The pool this read goes to."""
        if self.standby is not None and self.watch is not None and self.watch.usable():
            return self.standby
        return self.primary

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
        """Close its pools (the watch is stopped by whoever made it)."""
        for pool in (self.standby, self.primary):
            if pool is not None:
                pool.close()


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
