"""Keeping the index fresh: a background thread compares ``layer_state`` versions (at most once
per interval) and rebuilds the index when a source table changed, then swaps it in atomically.

Readers take ``service.geocoder`` once per request; the swap is one attribute assignment, so a
request sees the old index or the new one, never a mix. While a rebuild runs, the old index
answers; memory briefly holds both.
"""
from __future__ import annotations

import logging
import time

from urbangis.layers.settings import GeocoderSettings
from urbangis.layers.watch import Watcher

from .engine import Geocoder
from .index import SOURCE_LAYERS, Index, build_index
from .models import load_models

log = logging.getLogger("urbangis.geocoder")


def current_versions(conn) -> dict[str, int]:
    """The versions of the tables the index is built from."""
    return dict(conn.execute(
        "SELECT layer, version FROM layer_state WHERE layer = ANY(%s)", [list(SOURCE_LAYERS)]
    ).fetchall())


class GeocoderService(Watcher):
    """The current :class:`Geocoder` of one database, rebuilt in the background when stale."""

    name = "geocoder-index"

    def __init__(self, conninfo: str, settings: GeocoderSettings | None = None, interval: float = 1.0) -> None:
        super().__init__(conninfo, interval)
        self.settings = settings or GeocoderSettings.model_construct()  # the defaults, not the environment
        self.models = load_models(self.settings.models)  # a bad models file stops the start-up, saying why
        self.geocoder: Geocoder | None = None
        self.builds = 0

    @property
    def index(self) -> Index | None:
        g = self.geocoder
        return g.ix if g else None

    def wait_ready(self, timeout: float) -> Geocoder | None:  # type: ignore[override]
        """The geocoder, waiting up to ``timeout`` s for the first index."""
        super().wait_ready(timeout)
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
        self.ready()

    def refresh(self, conn) -> None:
        """Rebuild the index when a table it is built from changed (failures keep the old one
        answering; /geocode/status says why)."""
        ix = self.index
        if ix is None or current_versions(conn) != ix.versions:
            t0 = time.perf_counter()
            self.rebuild(conn)
            log.info("geocoder index (re)built in %.1f s", time.perf_counter() - t0)
