"""Tilesets (one per collection, plus the multi-layer "city") and the making of one tile: check
the request, look up the data's state, answer from the cache or from PostGIS."""
from __future__ import annotations

import gzip
import hashlib
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from isal import igzip, isal_zlib
from psycopg import sql
from psycopg_pool import ConnectionPool

from urbangis.layers import scope
from urbangis.layers.changes import LayerStates
from urbangis.layers.database import with_options
from urbangis.layers.registry import Collection, registry
from urbangis.layers.replicas import READ_AFTER, ReadPool, lsn_value

from . import mvt
from .cache import TileCache
from .tms import TileError

log = logging.getLogger("urbangis.tiles")

CITY = "city"
# Thinning levels a tile over the size budget may go through: at 8 it keeps 1/256 of each
# layer's feature limit and no line or polygon under 128 pixels.
MAX_THINNING = 8


# Tile statements are LIMITed probes of GiST indexes. Planning with a bind parameter for the
# envelope, PostgreSQL guesses ~100 matching rows and prefers a bitmap scan, which must collect
# every match before LIMIT can stop it (all 570,000 cases of a dense z11 tile); an index scan
# stops at the limit (measured on 1M cases: a dense z11 point tile 190 ms with bitmap scans,
# 65 ms without). So tile connections (their own pool) plan without them.
TILE_SESSION_OPTIONS = "-c enable_bitmapscan=off"


def tile_conninfo(info: str) -> str:
    """``info`` with the session options of tile connections added."""
    return with_options(info, TILE_SESSION_OPTIONS)


class UnknownTileset(TileError):
    """No collection or tileset has that id."""


@dataclass(frozen=True)
class Tileset:
    """A vector tileset: its id, what it says about itself, and the collections it carries."""

    id: str
    title: str
    description: str
    layers: tuple[Collection, ...]

    @property
    def minzoom(self) -> int:
        return min(c.minzoom for c in self.layers)

    @property
    def maxzoom(self) -> int:
        return max(c.maxzoom for c in self.layers)

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(sorted({c.table for c in self.layers}))

    def fingerprint(self) -> str:
        """Digest of the registry entries: a changed configuration is a changed tile (computed
        once per tileset object: the repr of the city's collections is long)."""
        found = self.__dict__.get("_fingerprint")
        if found is None:
            found = hashlib.sha1(repr(self.layers).encode()).hexdigest()[:12]
            object.__setattr__(self, "_fingerprint", found)
        return found


def city_tileset(colls: Mapping[str, Collection] | None = None) -> Tileset:
    """The multi-layer tileset with every collection as a layer; a mixed collection with parts
    comes as its parts (a layer per geometry kind: a style needs no geometry-type filter, which
    QGIS cannot read)."""
    colls = colls if colls is not None else registry()
    return Tileset(
        CITY,
        "City: every published layer",
        "All collections of the registry as layers of one vector tileset, each within its zoom range; "
        "a collection of mixed geometry as a layer per geometry kind.",
        tuple(c for c in colls.values() if not c.parts),
    )


def collection_tileset(coll: Collection) -> Tileset:
    return Tileset(coll.id, coll.title, coll.description, (coll,))


def get_tileset(tileset_id: str, colls: Mapping[str, Collection] | None = None) -> Tileset:
    """The tileset ``tileset_id`` (``city`` or a collection id)."""
    colls = colls if colls is not None else registry()
    if tileset_id == CITY:
        return city_tileset(colls)
    try:
        return collection_tileset(colls[tileset_id])
    except KeyError:
        raise UnknownTileset(
            f"unknown collection {tileset_id!r}; available: {', '.join(colls)}",
            parameter="collectionId", value=tileset_id,
        ) from None


@dataclass(frozen=True)
class TileResult:
    """A tile answer: gzipped bytes (b'' when the tile is empty), its ETag, and whether the
    client's copy is current (then there are no bytes) and where it came from."""

    data: bytes | None
    etag: str | None
    not_modified: bool = False
    source: str = "database"

    @property
    def answered(self) -> bool:
        """Whether it answers the request (bytes or a 304), not only tells the ETag."""
        return self.data is not None or self.not_modified


def etag_matches(header: str | None, etag: str | None) -> bool:
    """Weak comparison of an If-None-Match header with our ETag (RFC 9110 13.1.2)."""
    if not header or not etag:
        return False
    if header.strip() == "*":
        return True
    ours = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == ours for tag in header.split(","))


STATE_SQL = (
    "SELECT coalesce(string_agg(layer || ':' || version || ':' || "
    "extract(epoch FROM updated_at)::text, ',' ORDER BY layer), '') || '|' || count(*) "
    "FROM layer_state WHERE layer = ANY(%(tables)s)"
)
# the state and the primary's WAL position as it was read (asked of the primary only)
STATE_AT_SQL = f"SELECT ({STATE_SQL}), pg_current_wal_lsn()::text"


def gzip_tile(raw: bytes, level: int = 1) -> bytes:
    """``raw`` gzipped (b'' stays b''). Levels 1-3 by ISA-L's igzip, whose level 1 is 4x faster
    than zlib's for the same size (measured on 400-900 kB grid tiles: 0.6 ms vs 2.4 ms per tile,
    114 kB either way), so a big tile no longer waits on its compression; 4-9 by zlib."""
    if not raw:
        return b""
    if level <= isal_zlib.ISAL_BEST_COMPRESSION:
        return igzip.compress(raw, level, mtime=0)
    return gzip.compress(raw, level, mtime=0)


class TileService:
    """Makes tiles from one database, through an optional disk cache."""

    def __init__(self, pool: ConnectionPool | ReadPool, cache_root: Path | None, database: str, gzip_level: int = 6,
                 collections: Mapping[str, Collection] | None = None, zone: str = "",
                 max_bytes: int = 500 * 1024, states: LayerStates | None = None) -> None:
        self.pool = pool  # renders: a ReadPool may send them to a standby (layers/replicas.py)
        self.primary = getattr(pool, "primary", pool)  # the tilesets' states: always the primary's
        self.states = states  # the tilesets' states kept in memory (layers/changes.py), if listening
        self.max_bytes = max_bytes  # a raw tile above it is made again, thinner (0: no limit)
        # the sessions' time zone: tiles write times with its offset, so it is part of a tile's key
        self.zone = zone
        self.collections = collections if collections is not None else registry()
        # One folder per database: tests and several checkouts may share a cache root.
        self.cache = TileCache(Path(cache_root) / database if cache_root is not None else None)
        self.database = database
        self.gzip_level = gzip_level
        self._types: dict[str, dict[str, str]] | None = None
        self._stored: dict[tuple[str, str], mvt.StoredGeometry] | None = None
        self._lock = threading.Lock()
        self._queries: dict[tuple, str] = {}

    # -- SQL ------------------------------------------------------------------------------
    def column_types(self, conn) -> dict[str, dict[str, str]]:
        """{table: {column: SQL type}} of the published tables, read once."""
        if self._types is None:
            with self._lock:
                if self._types is None:
                    tables = sorted({c.table for c in self.collections.values()})
                    self._types = mvt.column_types(conn, tables)
        return self._types

    def stored_geometry(self, conn) -> dict[tuple[str, str], mvt.StoredGeometry]:
        """What the tables keep ready for tiles (layers/migrations/0003_tile_geometry.sql), read once."""
        if self._stored is None:
            with self._lock:
                if self._stored is None:
                    self._stored = mvt.stored_geometry(conn)
        return self._stored

    def statement(self, conn, ts: Tileset, tms_id: str, z: int, with_state: bool) -> str:
        """The SQL text of a tile of ``ts`` at zoom ``z`` (plus the tileset's state column when
        ``with_state``); the same text for every tile of the zoom, so one prepared plan serves them."""
        key = (ts.id, ts.fingerprint(), tms_id, z, with_state)
        query = self._queries.get(key)
        if query is None:
            extra = [sql.SQL("({}) AS state").format(sql.SQL(STATE_SQL))] if with_state else []
            query = mvt.tile_sql(
                ts.layers, tms_id, z, self.column_types(conn), extra, self.stored_geometry(conn)
            ).as_string(conn)
            self._queries[key] = query
        return query

    # -- tiles ----------------------------------------------------------------------------
    def _etag(self, ts: Tileset, tms_id: str, z: int, x: int, y: int, state: str | None) -> str | None:
        if not _complete(state, ts):
            return None  # a table without a layer_state row (a view): we cannot tell when it changes
        # the area of a scoped request is part of the tag and of the cache's key: one area's tile is
        # never answered to another (layers/scope.py)
        digest = hashlib.sha1(
            f"{self.database}|{ts.fingerprint()}|{self.zone}|{tms_id}|{z}/{x}/{y}|{scope.key(state or '')}".encode())
        return f'W/"{digest.hexdigest()[:24]}"'

    def _gzip(self, raw: bytes) -> bytes:
        return gzip_tile(raw, self.gzip_level)

    def render(self, ts: Tileset, tms_id: str, z: int, x: int, y: int) -> bytes:
        """The raw (not gzipped) MVT bytes of a tile, straight from PostGIS, no cache."""
        params = mvt.params(tms_id, z, x, y)
        with scope.connection(self.pool) as conn:
            row = _run(conn, self.statement(conn, ts, tms_id, z, False), params)
            return self._within_budget(conn, ts, tms_id, z, params, bytes(row[0]))

    def _within_budget(self, conn, ts: Tileset, tms_id: str, z: int, params: dict, raw: bytes) -> bytes:
        """``raw``, or when it is over ``max_bytes`` the tile made again at rising thinning levels
        until it fits (tiles/mvt.py ``thinned``: fewer points, no lines or polygons smaller than a
        few pixels). Deterministic: the same data gives the same tile. The size a client can take
        is what decides, not a zoom: a sparse county's tiles stay whole, a city's centre is thinned."""
        level = 0
        while self.max_bytes and len(raw) > self.max_bytes and level < MAX_THINNING:
            # a level halves the features: go straight to the one the excess asks for, then on
            level = min(MAX_THINNING, max(level + 1, math.ceil(math.log2(len(raw) / self.max_bytes))))
            thin = Tileset(ts.id, ts.title, ts.description, tuple(mvt.thinned(c, level) for c in ts.layers))
            raw = bytes(_run(conn, self.statement(conn, thin, tms_id, z, False), params)[0])
        if level:
            log.debug("tile %s %s/%s of %s thinned to level %d: %d bytes", tms_id, z, params, ts.id, level, len(raw))
        return raw

    def tile(self, ts: Tileset, tms_id: str, z: int, x: int, y: int, if_none_match: str | None = None) -> TileResult:
        """Tile z/x/y of a tileset, gzipped; raises TileError subclasses for bad requests."""
        params = {**mvt.params(tms_id, z, x, y), "tables": list(ts.tables)}
        if not (self.cache.enabled or if_none_match):
            with scope.connection(self.pool) as conn:
                # No cache, no conditional request: one round trip, the state read in the same
                # snapshot as the tile.
                raw, state = _run(conn, self.statement(conn, ts, tms_id, z, True), params)
                raw = self._within_budget(conn, ts, tms_id, z, params, bytes(raw))
                return TileResult(self._gzip(raw), self._etag(ts, tms_id, z, x, y, state))
        # The tileset's state: kept in memory while the server listens for changes (no round
        # trip at all for a cached tile), else read from the primary, with the primary's WAL
        # position then: a tile made on a standby is made once the standby has replayed that far
        # (layers/replicas.py), so a tile of older data is never kept under a newer state.
        kept = self.states.get(ts.tables) if self.states is not None else None
        if kept is not None:
            state, at = kept
            known = self._known(ts, tms_id, z, x, y, state, if_none_match)
            if known.answered:
                return known
        else:
            token = self.states.token() if self.states is not None else None
            with scope.connection(self.primary) as conn:
                state, lsn = conn.execute(STATE_AT_SQL, params).fetchone() or (None, "0/0")  # (always a row)
            at = lsn_value(lsn)
            if state is not None and self.states is not None:
                self.states.keep(ts.tables, (state, at), token)
            known = self._known(ts, tms_id, z, x, y, state, if_none_match)
            if known.answered:
                return known
        after = READ_AFTER.set(max(at, READ_AFTER.get() or 0))
        try:
            with scope.connection(self.pool) as conn:
                raw = _run(conn, self.statement(conn, ts, tms_id, z, False), params)[0]
                raw = self._within_budget(conn, ts, tms_id, z, params, bytes(raw))
        finally:
            READ_AFTER.reset(after)
        data = self._gzip(raw)
        skey = self._state_key(ts, state)
        if skey:
            self.cache.put(ts.id, tms_id, skey, z, x, y, data)
        return TileResult(data, known.etag)

    def cached(self, ts: Tileset, tms_id: str, z: int, x: int, y: int,
               if_none_match: str | None = None) -> TileResult | None:
        """The tile from memory and the disk cache only (no database, no connection): a hit or a
        304, or None when the state is not known in memory or the tile is not cached."""
        kept = self.states.get(ts.tables) if self.states is not None and self.cache.enabled else None
        if kept is None:
            return None
        known = self._known(ts, tms_id, z, x, y, kept[0], if_none_match)
        return known if known.answered else None

    def _state_key(self, ts: Tileset, state: str | None) -> str | None:
        """The cache folder of a tileset's state (every tile of it shares the key); None when
        the state cannot tell when the data changes."""
        if not _complete(state, ts):
            return None
        return hashlib.sha1(f"{ts.fingerprint()}|{self.zone}|{scope.key(state or '')}".encode()).hexdigest()[:16]

    def _known(self, ts: Tileset, tms_id: str, z: int, x: int, y: int, state: str | None,
               if_none_match: str | None) -> TileResult:
        """What the state alone answers: a 304, a cache hit, or (data None) only the ETag."""
        etag = self._etag(ts, tms_id, z, x, y, state)
        if etag_matches(if_none_match, etag):
            return TileResult(None, etag, not_modified=True, source="state")
        skey = self._state_key(ts, state)
        if skey:
            cached = self.cache.get(ts.id, tms_id, skey, z, x, y)
            if cached is not None:
                return TileResult(cached, etag, source="cache")
        return TileResult(None, etag)


def _run(conn, query: str, params: dict) -> tuple:
    """One row of a tile statement: prepared from its first use (the text is the same for every
    tile of a zoom), in binary so the tile's bytes are not sent as hex text (half the bytes)."""
    return conn.execute(query, params, prepare=True, binary=True).fetchone()


def _complete(state: str | None, ts: Tileset) -> bool:
    """Whether the state names a layer_state row for every table of the tileset."""
    if not state:
        return False
    _, _, count = state.rpartition("|")
    return count.isdigit() and int(count) == len(ts.tables)
