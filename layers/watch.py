"""A background thread keeping something in memory in step with the database: the geocoder's
index, the case index. Once per interval it calls ``refresh`` on a connection of its own
(reconnecting after a failure); a failure is logged and kept in ``error``, and what was built
before keeps answering."""
from __future__ import annotations

import logging
import threading
import time

import psycopg

log = logging.getLogger("urbangis.watch")


class Watcher:
    """Calls :meth:`refresh` every ``interval`` seconds in a thread of its own, from :meth:`start`
    to :meth:`stop`; :meth:`wait_ready` waits for the first :meth:`ready`."""

    name = "watcher"

    def __init__(self, conninfo: str, interval: float = 1.0) -> None:
        self.conninfo = conninfo
        self.interval = interval
        self.error: str | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self, conn: psycopg.Connection) -> None:
        """One look at the database (subclasses)."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the thread; its first refresh runs at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def ready(self) -> None:
        """What the first refresh was for is there: wake those waiting for it."""
        self.error = None
        self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the first :meth:`ready`; whether it came. A refresh
        that has failed (the database cannot be reached) ends the wait at once: the caller answers
        503 now rather than after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if self._ready.wait(max(min(left, 0.2), 0.0)):
                return True
            if self.error is not None or left <= 0:
                return False

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                self.refresh(conn)
            except Exception as exc:  # keep answering with what we have; say why in the log and the status
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: refresh failed: %s", self.name, self.error)
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()
