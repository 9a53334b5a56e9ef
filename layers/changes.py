"""Data states kept in memory, forgotten the moment PostgreSQL announces a change.

Every change of a published table bumps its ``layer_state`` slot and sends the table's name on
the channel ``urbangis_layer_state`` at commit (migration 0014). :class:`LayerStates` listens on
a connection of its own (one background thread per server process) and keeps what readers asked
of ``layer_state`` (a state string per set of tables) until a notification names one of those
tables. A cached tile then costs no database round trip (tiles/tilesets.py).

It is only trusted while it listens: before the first LISTEN, and from the moment the
connection drops until it is back, :meth:`get` answers None (readers ask the database as
before) and what was kept is forgotten, since notifications sent meanwhile are lost. A value read
from the database is kept only if no notification came between the read's start and its end
(:meth:`token` / :meth:`keep`), so a state read just before a commit is never kept past it.
What a reader may see stale is bounded by the delivery of a notification after commit (measured
in docs/performance.md, "Cached tiles"), as any read that started before the commit is.
"""
from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable

import psycopg

log = logging.getLogger("urbangis.layers")

CHANNEL = "urbangis_layer_state"
RETRY = 1.0  # seconds between attempts to listen again after the connection dropped
BARRIER = "barrier:"  # a payload that names no table (barrier())
WAKE = 0.5  # seconds the listener waits for notifications before looking whether it should stop


class LayerStates:
    """States of sets of tables, valid while the listener holds its connection."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._kept: dict[tuple[str, ...], tuple[str, int]] = {}  # tables -> (state, WAL position read at)
        self._lock = threading.Lock()
        self._epoch = 0  # moves at every notification and every (re)connection
        self._listening = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._barriers: dict[str, threading.Event] = {}

    # -- readers --------------------------------------------------------------------------
    def get(self, tables: tuple[str, ...]) -> tuple[str, int] | None:
        """The kept state of ``tables`` (sorted) and the primary's WAL position it was read at,
        or None (not kept, or not listening)."""
        return self._kept.get(tables) if self._listening else None

    def token(self) -> int | None:
        """Taken before reading a state from the database; None when not listening."""
        return self._epoch if self._listening else None

    def keep(self, tables: tuple[str, ...], state: tuple[str, int], token: int | None) -> None:
        """Keep ``state`` of ``tables`` if nothing changed since ``token`` was taken."""
        if token is None:
            return
        with self._lock:
            if self._listening and self._epoch == token:
                self._kept[tables] = state

    @property
    def listening(self) -> bool:
        return self._listening

    def barrier(self, timeout: float = 10.0) -> bool:
        """Wait until every change committed before this call has been seen (a notification of
        our own, sent now, has arrived: PostgreSQL delivers them in commit order). False when it
        did not arrive within ``timeout`` seconds (not listening)."""
        mark = f"{BARRIER}{uuid.uuid4().hex}"
        seen = self._barriers[mark] = threading.Event()
        try:
            with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, mark))
            return seen.wait(timeout)
        finally:
            self._barriers.pop(mark, None)

    # -- the listener ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="urbangis-layer-states", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # seen within WAKE seconds
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _forget(self, tables: Iterable[str] | None = None, listening: bool | None = None) -> None:
        with self._lock:
            self._epoch += 1
            if listening is not None:
                self._listening = listening
            if tables is None:
                self._kept.clear()
            else:
                changed = set(tables)
                for key in [k for k in self._kept if changed.intersection(k)]:
                    del self._kept[key]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._forget(listening=True)
                    log.debug("listening for layer changes")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=WAKE):  # each as it arrives
                            if note.payload.startswith(BARRIER):
                                if (seen := self._barriers.get(note.payload)) is not None:
                                    seen.set()
                            else:
                                self._forget((note.payload,))
            except Exception as exc:  # noqa: BLE001 - any failure: forget all, listen again
                if not self._stop.is_set():
                    log.warning("layer change listener: %s; states are read from the database until it is back", exc)
            finally:
                self._forget(listening=False)
            self._stop.wait(RETRY)
