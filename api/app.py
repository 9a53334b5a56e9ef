"""The FastAPI application: lifespan opens the pool, then each endpoint family is included."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware

from urbangis.layers.database import conninfo, make_pool

from . import errors
from .routes import features, geocode, ingest, maps, system, tiles
from .settings import ServerSettings, get_server_settings
from .version import version

log = logging.getLogger("urbangis.api")


def create_app(database: str | None = None, settings: ServerSettings | None = None) -> FastAPI:
    """Build the app against ``database`` (a libpq conninfo; default: the configured one)."""
    settings = settings or get_server_settings()
    info = database or conninfo()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = make_pool(info)
        try:
            yield
        finally:
            app.state.pool.close()

    app = FastAPI(
        title="urbangis",
        version=version(),
        description="Spatial data server of an urban comprehensive-management platform: geocoding, "
        "OGC API Features and Tiles, vector tiles and bulk loading, on PostGIS.",
        lifespan=lifespan,
    )
    app.state.server_settings = settings
    app.state.conninfo = info
    app.state.offers = []
    app.state.conformance = []
    errors.install(app)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.include_router(system.router)
    features.install(app)
    ingest.install(app)
    tiles.install(app)
    geocode.install(app)
    maps.install(app)
    errors.document_errors(app)
    return app
