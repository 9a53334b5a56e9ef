"""Tile matrix sets (OGC 2D TMS 2.0), from morecantile: which grids tiles are cut on, and the
bounds of one tile in its CRS."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import morecantile
from pyproj import CRS

from urbangis.layers.errors import NotFound


class TileError(NotFound, ValueError):
    """A tile request names something that does not exist (404); the message says what and why."""


class OutOfMatrix(TileError):
    """The zoom, row or column is outside the tile matrix set."""


class UnknownTileMatrixSet(TileError):
    """No tile matrix set has that id."""


# CGCS2000Quad: the WorldCRS84Quad layout (2x1 tiles at zoom 0) on EPSG:4490, the datum the
# data is stored in and the grid Chinese map services (天地图 "_c" layers) are cut on. It costs
# no transform at all and is a one-line custom TMS in morecantile.
_CGCS2000 = morecantile.TileMatrixSet.custom(
    [-180.0, -90.0, 180.0, 90.0],
    CRS.from_epsg(4490),
    matrix_scale=[2, 1],
    id="CGCS2000Quad",
    title="CGCS2000 geographic quad (EPSG:4490), the WorldCRS84Quad layout",
    minzoom=0,
    maxzoom=22,
)

_SETS = {
    "WebMercatorQuad": morecantile.tms.get("WebMercatorQuad"),
    "WorldCRS84Quad": morecantile.tms.get("WorldCRS84Quad"),
    "CGCS2000Quad": _CGCS2000,
}

# SRIDs PostGIS knows the TMS CRSs by (CRS84 is EPSG:4326 with lon/lat order, as PostGIS has it).
_SRID = {"WebMercatorQuad": 3857, "WorldCRS84Quad": 4326, "CGCS2000Quad": 4490}

DEFAULT_TMS = "WebMercatorQuad"


@dataclass(frozen=True)
class TileBounds:
    """A tile's bounds in its TMS CRS, as PostGIS wants them (x = easting/longitude)."""

    left: float
    bottom: float
    right: float
    top: float
    srid: int

    @property
    def width(self) -> float:
        return self.right - self.left


def ids() -> list[str]:
    """The ids of the tile matrix sets this server cuts tiles on."""
    return list(_SETS)


def get(tms_id: str) -> morecantile.TileMatrixSet:
    """The tile matrix set ``tms_id``; UnknownTileMatrixSet names the ones that exist."""
    try:
        return _SETS[tms_id]
    except KeyError:
        raise UnknownTileMatrixSet(
            f"unknown tile matrix set {tms_id!r}; available: {', '.join(_SETS)}",
            parameter="tileMatrixSetId", value=tms_id,
        ) from None


def srid(tms_id: str) -> int:
    """The PostGIS SRID of the TMS's CRS."""
    get(tms_id)
    return _SRID[tms_id]


def maxzoom(tms_id: str) -> int:
    return get(tms_id).maxzoom


def check_tile(tms_id: str, z: int, x: int, y: int) -> None:
    """Raise OutOfMatrix, saying which of z/x/y is out and the valid range, if the tile is not
    in the matrix set."""
    tms = get(tms_id)
    if not tms.minzoom <= z <= tms.maxzoom:
        raise OutOfMatrix(f"zoom {z} is outside {tms_id} (tile matrices {tms.minzoom}..{tms.maxzoom})",
                          tile=f"{tms_id}/{z}/{y}/{x}")
    matrix = tms.matrix(z)
    if not 0 <= x < matrix.matrixWidth:
        raise OutOfMatrix(f"column (x) {x} is outside {tms_id} zoom {z} (0..{matrix.matrixWidth - 1})",
                          tile=f"{tms_id}/{z}/{y}/{x}")
    if not 0 <= y < matrix.matrixHeight:
        raise OutOfMatrix(f"row (y) {y} is outside {tms_id} zoom {z} (0..{matrix.matrixHeight - 1})",
                          tile=f"{tms_id}/{z}/{y}/{x}")


@lru_cache(maxsize=4096)
def bounds(tms_id: str, z: int, x: int, y: int) -> TileBounds:
    """The bounds of tile z/x/y (checked) in the TMS CRS."""
    check_tile(tms_id, z, x, y)
    b = get(tms_id).xy_bounds(morecantile.Tile(x, y, z))
    return TileBounds(b.left, b.bottom, b.right, b.top, _SRID[tms_id])


ENCODINGS = ("2.0", "1.0")


def document(tms_id: str, encoding: str = "2.0") -> dict:
    """The OGC 2D TMS JSON document of the set: 2.0 (OGC 17-083r4), or the 1.0 encoding
    (17-083r2) that Debian's GDAL 3.6 reads (its parser fails on 2.0 with "Invalid tiling
    matrix set name"). One document cannot be both: GDAL 3.6 needs the 1.0 ``supportedCRS`` at
    the root, which 2.0 readers such as morecantile refuse."""
    doc = get(tms_id).model_dump(exclude_none=True, mode="json")
    if encoding != "1.0":
        return doc
    out = {"type": "TileMatrixSetType", "identifier": doc["id"], "title": doc.get("title", doc["id"]),
           "supportedCRS": crs_uri(tms_id)}
    if doc.get("uri"):
        out["wellKnownScaleSet"] = doc["uri"]
    box = doc.get("boundingBox")
    if box:
        out["boundingBox"] = {"type": "BoundingBoxType", "crs": box.get("crs", out["supportedCRS"]),
                              "lowerCorner": box["lowerLeft"], "upperCorner": box["upperRight"]}
    # corners in the CRS's axis order, as in 2.0 (EPSG:4490: latitude first)
    out["tileMatrix"] = [
        {"type": "TileMatrixType", "identifier": m["id"], "scaleDenominator": m["scaleDenominator"],
         "topLeftCorner": m["pointOfOrigin"], "tileWidth": m["tileWidth"], "tileHeight": m["tileHeight"],
         "matrixWidth": m["matrixWidth"], "matrixHeight": m["matrixHeight"]}
        for m in doc["tileMatrices"]
    ]
    return out


def crs_uri(tms_id: str) -> str:
    return str(get(tms_id).crs.root)
