"""Keeping the index fresh: a background thread compares ``layer_state`` versions (at most once
per interval) and rebuilds the index when a source table changed, then swaps it in atomically.

Readers take ``service.geocoder`` once per request; the swap is one attribute assignment, so a
request sees the old index or the new one, never a mix. While a rebuild runs, the old index
answers; memory briefly holds both.
"""
from __future__ import annotations

import logging
import threading
import time

import psycopg

from urbangis.layers.settings import GeocoderSettings

from .engine import Geocoder
from .index import SOURCE_LAYERS, Index, build_index
from .models import load_models

log = logging.getLogger("urbangis.geocoder")


def current_versions(conn) -> dict[str, int]:
    """The versions of the tables the index is built from."""
    return dict(conn.execute(
        "SELECT layer, version FROM layer_state WHERE layer = ANY(%s)", [list(SOURCE_LAYERS)]
    ).fetchall())


class GeocoderService:
    """The current :class:`Geocoder` of one database, rebuilt in the background when stale."""

    def __init__(self, conninfo: str, settings: GeocoderSettings | None = None, interval: float = 1.0) -> None:
        self.conninfo = conninfo
        self.settings = settings or GeocoderSettings.model_construct()  # the defaults, not the environment
        self.models = load_models(self.settings.models)  # a bad models file stops the start-up, saying why
        self.interval = interval
        self.geocoder: Geocoder | None = None
        self.error: str | None = None
        self.builds = 0
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def index(self) -> Index | None:
        g = self.geocoder
        return g.ix if g else None

    def start(self) -> None:
        """Start the watcher thread; the first index is built at once, in that thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="geocoder-index", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait_ready(self, timeout: float) -> Geocoder | None:
        """The geocoder, waiting up to ``timeout`` s for the first index."""
        self._ready.wait(timeout)
        return self.geocoder

    def rebuild(self, conn) -> None:
        """Build a new index from ``conn`` and swap it in."""
        for _ in range(3):
            # one snapshot: the versions recorded are those of the rows read
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                ix = build_index(conn, side_offset=self.settings.side_offset)
            finally:
                conn.execute("ROLLBACK")
            # A load that committed while the index was read is read again at once, before the
            # index answers anything: a layer it emptied with TRUNCATE (a big --replace,
            # ingest/merge.replace) reads as empty in a snapshot taken before its commit, since
            # TRUNCATE is not MVCC-safe. Loads without end would still get an index on the third try.
            if current_versions(conn) == ix.versions:
                break
        self.geocoder = Geocoder(ix, self.models)
        self.builds += 1
        self.error = None
        self._ready.set()

    def _run(self) -> None:
        conn = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.conninfo, autocommit=True)
                versions = current_versions(conn)
                ix = self.index
                if ix is None or versions != ix.versions:
                    t0 = time.perf_counter()
                    self.rebuild(conn)
                    log.info("geocoder index (re)built in %.1f s", time.perf_counter() - t0)
            except Exception as exc:  # keep serving the old index; say why in the log and /geocode/status
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("geocoder index refresh failed: %s", self.error)
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass
                    conn = None
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()
