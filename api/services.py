"""The services one app runs, built once in its lifespan and handed to routes as dependencies.

:class:`Services` is the typed container: the settings, the registry, the database pool, the
OGC catalogue and its caches, the geocoder (with its background index), the tile service (with
a pool of its own) and the ingest job runner. ``create_app`` opens it when the app starts and
closes it when it stops; routes ask for it, or for one of its parts, with ``Depends``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from fastapi import Request
from psycopg_pool import ConnectionPool

from urbangis.access.service import AccessService
from urbangis.cases.service import CaseService, open_service
from urbangis.geocoder.engine import Geocoder
from urbangis.geocoder.refresh import GeocoderService
from urbangis.ingest.jobs import JobRunner
from urbangis.layers.changes import LayerStates
from urbangis.layers.database import database_name, in_time_zone, make_pool
from urbangis.layers.errors import Unavailable
from urbangis.layers.registry import Collection, MapView, map_view, registry
from urbangis.layers.replicas import ReadPool, StandbyWatch
from urbangis.layers.settings import Settings
from urbangis.ogc.collections import Catalog
from urbangis.ogc.items import ResultCache
from urbangis.tiles.imagery import ImageryTiles
from urbangis.tiles.tilesets import TileService, tile_conninfo

from .addresses import geocode_function

log = logging.getLogger("urbangis.api")

Offer = tuple[str, str, str, str]  # rel, path, media type, title: one link of the landing page


@dataclass(frozen=True)
class Doors:
    """What the app declares about itself: the landing page's links and the conformance classes."""

    offers: tuple[Offer, ...]
    conformance: tuple[str, ...]


@dataclass
class Services:
    """Everything the routes of one app share, built once (see :func:`open_services`)."""

    settings: Settings
    conninfo: str
    collections: dict[str, Collection]
    view: MapView
    doors: Doors
    pool: ConnectionPool
    reads: ReadPool  # connections of read-only routes: a standby's when usable (layers/replicas.py)
    catalog: Catalog
    geocoder: GeocoderService
    tiles: TileService
    jobs: JobRunner
    cases: CaseService
    access: AccessService
    imagery: ImageryTiles  # raster tiles of the heritage imagery epochs
    counts: ResultCache = field(default_factory=ResultCache)  # numberMatched of filtered requests
    matches: ResultCache = field(default_factory=lambda: ResultCache(size=8))  # id lists of small matches

    def close(self) -> None:
        """Stop the background work and close the pools (the reverse of :func:`open_services`)."""
        states, watch = self.tiles.states, self.reads.watch
        for step in (self.access.stop, self.imagery.close, self.jobs.stop, self.cases.stop, self.geocoder.stop,
                     *((states.stop,) if states is not None else ()), *((watch.stop,) if watch is not None else ()),
                     self.tiles.pool.close, self.reads.close):
            try:
                step()
            except Exception:  # one failing step must not keep the others from running
                log.exception("closing %s failed", getattr(step, "__qualname__", step))


def open_services(settings: Settings, conninfo: str, doors: Doors) -> Services:
    """Build and start every service of an app on the database at ``conninfo``."""
    path = settings.server.collections
    collections = registry(Path(path) if path else None)
    view = map_view(Path(path) if path else None)
    db = settings.database
    pool = make_pool(conninfo, db.pool_min, db.pool_max, db.pool_wait, db.statement_timeout)
    # reads on a standby when one is configured (layers/replicas.py), else on the primary
    standby = in_time_zone(db.database_url_read, db.timezone) if db.database_url_read else None
    watch = StandbyWatch(conninfo, standby, db.read_max_lag) if standby else None  # one probe for both pools
    reads = ReadPool(pool, make_pool(standby, db.pool_min, db.pool_max, db.pool_wait, db.statement_timeout)
                     if standby else None, watch)
    geocoder = GeocoderService(conninfo, settings.geocoder)
    cache_dir = settings.tiles.cache_dir(settings.database.home)
    # the tilesets' states in memory: only worth a listening connection when tiles are cached
    states = LayerStates(conninfo) if cache_dir is not None else None
    tile_pool = make_pool(tile_conninfo(conninfo), wait=db.pool_wait, statement_timeout=db.statement_timeout)
    tile_standby = make_pool(tile_conninfo(standby), wait=db.pool_wait, statement_timeout=db.statement_timeout) \
        if standby else None
    tiles = TileService(ReadPool(tile_pool, tile_standby, watch) if standby else tile_pool,
                        cache_dir, database_name(conninfo), settings.tiles.gzip_level, collections,
                        settings.database.timezone, settings.tiles.max_kb * 1024, states)
    jobs = JobRunner(conninfo, settings.ingest.jobs_folder(settings.database.home),
                     geocode_factory=lambda: geocode_function(_current(geocoder)),
                     max_unpacked=settings.ingest.max_unpacked_mb << 20, timezone=settings.database.timezone)
    cases = open_service(conninfo, pool, _current(geocoder), settings.cases, settings.database.timezone, reads)
    access = AccessService(settings.access, conninfo, settings.database.home, pool)
    imagery = ImageryTiles(settings.heritage.imagery_folder(settings.database.home))
    services = Services(settings, conninfo, collections, view, doors, pool, reads,
                        Catalog(collections, settings.ogc, pool), geocoder, tiles, jobs, cases, access, imagery)
    access.start()
    if states is not None:
        states.start()
    geocoder.start()
    jobs.start()
    return services


READY_WAIT = 120.0  # seconds a load by address waits for the geocoder's first index


def _current(service: GeocoderService) -> Callable[[], Geocoder]:
    """The running geocoder's current index, as loads by address ask for it (no second index)."""

    def current() -> Geocoder:
        g = service.geocoder or service.wait_ready(READY_WAIT)
        if g is None:
            raise Unavailable(f"the geocoder index is not built yet{f': {service.error}' if service.error else ''}")
        return g

    return current


def services_of(request: Request) -> Services:
    """The app's services."""
    return request.app.state.services


# The dependencies are coroutines though they never wait: FastAPI runs a plain function given to
# Depends in its thread pool, a hop to a worker thread and back on every request for an attribute
# read (about a tenth of a case intake's time in the server).
async def get_services(request: Request) -> Services:
    """The app's services (a dependency of every route that reads data)."""
    return services_of(request)


async def get_pool(request: Request) -> ConnectionPool:
    """The app's database pool."""
    return services_of(request).pool


def base_url(request: Request) -> str:
    """Where links in answers point: the configured public URL, or where the request came in."""
    public = services_of(request).settings.server.public_url
    return (public or str(request.base_url)).rstrip("/")


