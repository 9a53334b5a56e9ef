"""The FastAPI application: one lifespan builds every service once (:mod:`.services`), the error
handlers are installed, each endpoint family's router is included. Nothing else lives here."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES

from urbangis.layers.database import conninfo, in_time_zone
from urbangis.layers.settings import Settings

from . import errors, route_heads
from .auth import without_security
from .guard import Guard
from .head import HeadAsGet
from .read_after import ReadAfterWrites
from .routes import case_maps, cases, features, geocode, heritage, ingest, login, maps, system, tiles
from .services import Doors, open_services
from .tile_hits import TileHits
from .version import version

log = logging.getLogger("urbangis.api")

# in the order the landing page lists them; the case maps before the cases (/cases/stats is no case number)
FAMILIES = (system, features, tiles, geocode, case_maps, cases, heritage, ingest, maps, login)


def create_app(database: str | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the app against ``database`` (a libpq conninfo; default: the configured one) with
    ``settings`` (default: read from the environment now)."""
    settings = settings or Settings.from_env()
    # the sessions of a database given here run in the configured time zone too
    info = in_time_zone(database, settings.database.timezone) if database else conninfo(settings.database)
    doors = Doors(
        offers=tuple(offer for family in FAMILIES for offer in getattr(family, "OFFERS", ())),
        conformance=tuple(dict.fromkeys(c for family in FAMILIES for c in getattr(family, "CONFORMANCE", ()))),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        services = open_services(settings, info, doors)
        app.state.services = services
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="urbangis",
        version=version(),
        description="Spatial data server of an urban comprehensive-management platform: geocoding, "
        "OGC API Features and Tiles, vector tiles and bulk loading, on PostGIS.",
        lifespan=lifespan,
    )
    errors.install(app)
    # level 5, not Starlette's default 9: on a 9 MB answer (Gi* of 58,000 unit grids) level 9 takes
    # 400 ms for 1.76 MB, level 5 115 ms for 1.80 MB
    # tiles are stored gzipped and sent as the client accepts them (api/routes/tiles.py): the
    # middleware leaves them alone (it added a second "Vary: Accept-Encoding" to the plain ones)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5,
                       exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, tiles.MVT))
    for family in FAMILIES:
        family.install(app)
    route_heads.install(app)  # a router is asked only for paths it can hold (api/route_heads.py)
    app.add_middleware(Guard)  # limits and the audit log (api/guard.py)
    if settings.database.database_url_read:
        app.add_middleware(ReadAfterWrites)  # a caller reads their own writes (api/read_after.py)
    app.add_middleware(HeadAsGet)  # HEAD runs every GET route (api/head.py)
    app.add_middleware(TileHits)  # outermost: cached tiles answered before the framework (api/tile_hits.py)
    # with access control off the document says so: no operation asks for a signature
    open_doors = () if settings.access.enabled else (without_security,)
    errors.document_errors(app, features.openapi_limits(settings.ogc), *open_doors)
    return app
