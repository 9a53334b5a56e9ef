"""Landing page, health and version."""
from __future__ import annotations

import html
from typing import cast

import psycopg
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from psycopg_pool import ConnectionPool, PoolTimeout

from urbangis.layers.scope import reachable
from urbangis.ogc.params import parse_format

from ..errors import RETRY_AFTER
from ..services import Services, base_url, get_pool, get_services
from ..version import version

router = APIRouter(tags=["system"])


def install(app: FastAPI) -> None:
    """Include the router."""
    app.include_router(router)

# What the server offers, by door: each family lists its own in OFFERS, and the landing page
# (and its HTML) shows them all (``Services.doors``).
OFFERS = [
    # FastAPI's document is OpenAPI 3.1; OGC clients read the 3.0 one at /api (api/routes/features.py).
    ("service-desc", "/openapi.json", "application/vnd.oai.openapi+json;version=3.1",
     "OpenAPI 3.1 document of the whole server"),
    ("service-doc", "/docs", "text/html", "Interactive API documentation"),
    ("alternate", "/?f=html", "text/html", "This landing page as HTML"),
    ("status", "/healthz", "application/json", "Health: is the database reachable"),
    ("about", "/version", "application/json", "Server and database versions"),
]


@router.get("/", summary="Landing page: what this server offers",
            openapi_extra={"responses": {"200": {"content": {"text/html": {}}}}})
def landing(request: Request, services: Services = Depends(get_services),
            f: str | None = Query(None, description="json or html (default: as the Accept header asks)",
                                  json_schema_extra={"enum": ["json", "html"]})):
    base = base_url(request)
    offers = services.doors.offers
    links = [{"rel": rel, "href": base + href, "type": typ, "title": title} for rel, href, typ, title in offers]
    description = ("Spatial data server of an urban comprehensive-management platform "
                   "(城市综合管理服务平台): geocoding, OGC API Features and Tiles, vector tiles, bulk loading.")
    body = {
        "title": "urbangis",
        "description": description,
        "links": [{"rel": "self", "href": base + "/", "type": "application/json", "title": "This document"}] + links,
    }
    fmt = parse_format(f, ("json", "html"))  # an f of neither is a 400, as on /conformance and /collections
    wants_html = fmt == "html" or (f is None and "text/html" in request.headers.get("accept", ""))
    if wants_html:
        items = "".join(
            f'<li><a href="{html.escape(link["href"])}">{html.escape(link["title"])}</a> '
            f'<small>({html.escape(link["rel"])})</small></li>'
            for link in links
        )
        return HTMLResponse(
            f"<!doctype html><html lang=en><meta charset=utf-8><title>urbangis</title>"
            f"<h1>urbangis</h1><p>{html.escape(description)}</p><ul>{items}</ul></html>"
        )
    return body


@router.get("/healthz", summary="Health: 200 when the database answers, 503 otherwise (down, or every "
                               "pooled connection busy)")
def healthz(pool: ConnectionPool = Depends(get_pool)):
    try:
        with pool.connection(timeout=5) as conn:
            row = conn.execute(
                "SELECT postgis_lib_version(), (SELECT max(version) FROM schema_migrations)"
            ).fetchone()
            if row is None:  # cannot be: a SELECT without FROM returns one row
                raise RuntimeError("the version query returned no row")
    except PoolTimeout as exc:
        # no pooled connection within 5 s: the database is down, or it answers and every pooled
        # connection is busy (slow queries, a lock wait); a monitor must be told which
        # make_pool builds every pool of ours from a conninfo string (never psycopg_pool's callable form)
        if reachable(cast(str, pool.conninfo)):
            waiting = pool.get_stats().get("requests_waiting", 0)
            return JSONResponse(
                {"status": "busy", "database": "up",
                 "description": f"the database answers, but none of the server's {pool.max_size} pooled "
                                f"connections came free within 5 s ({waiting} requests waiting): requests are "
                                "waiting on the database (slow queries or a lock)"},
                status_code=503, headers={"Retry-After": RETRY_AFTER},
            )
        return _down(exc)
    except (psycopg.Error, Exception) as exc:
        return _down(exc)
    return {"status": "ok", "database": "up", "postgis": row[0], "schema_version": row[1]}


def _down(exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"status": "unavailable", "database": "down", "description": f"database unreachable: {exc}"},
        status_code=503, headers={"Retry-After": RETRY_AFTER},
    )


@router.get("/version", summary="Server, PostgreSQL and PostGIS versions")
def get_version(pool: ConnectionPool = Depends(get_pool)):
    with pool.connection(timeout=5) as conn:
        row = conn.execute("SELECT current_setting('server_version'), postgis_full_version()").fetchone()
    if row is None:  # cannot be: a SELECT without FROM returns one row
        raise RuntimeError("the version query returned no row")
    pg, postgis = row
    return {"urbangis": version(), "postgresql": pg, "postgis": postgis}
