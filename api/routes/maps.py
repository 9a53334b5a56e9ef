"""The map page: MapLibre GL JS (vendored from npm at setup, nothing from the internet) drawing
the city style, with a layer switcher by group and click-to-inspect."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from urbangis.layers.errors import Unavailable

STATIC = Path(__file__).resolve().parent.parent / "static"
VENDOR = STATIC / "vendor" / "maplibre-gl"

router = APIRouter(tags=["map"])


def install(app: FastAPI) -> None:
    """Serve /static and the /map page."""
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    app.include_router(router)


@router.get("/map", summary="Map of the city (HTML, MapLibre GL JS)", response_class=FileResponse)
def map_page() -> FileResponse:
    if not (VENDOR / "maplibre-gl.js").is_file():
        raise Unavailable(
            f"the map page needs MapLibre GL JS in {VENDOR}; run `make web` (npm ci in web/) to vendor it"
        )
    return FileResponse(STATIC / "map.html", media_type="text/html")
