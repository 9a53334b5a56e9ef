"""Writing layers in the data contract: GeoPackage (one file per layer, appended in chunks so
memory stays bounded) and CSV for the table without geometry (supervisors)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import shapely
from pyogrio.raw import write as ogr_write

from .geo import GEO_EPSG, to_geo

# geometry type declared per layer (GeoPackage); "Unknown" lets points and polygons mix
GEOMETRY_TYPE = {
    "admin_areas": "MultiPolygon", "unit_grids": "MultiPolygon", "responsibility_grids": "MultiPolygon",
    "roads": "MultiLineString", "place_names": "Unknown", "courtyards": "Unknown", "house_numbers": "Point",
    "buildings": "Point", "organisations": "Unknown", "storefronts": "Point", "components": "Unknown",
    "cases": "Point", "patrol_points": "Point",
}


class LayerWriter:
    """Append chunks of one layer to ``<out>/<layer>.gpkg``; geometry given in metres."""

    def __init__(self, out: Path, layer: str, fields: list[str]):
        self.path = out / f"{layer}.gpkg"
        self.layer = layer
        self.fields = fields
        self.rows = 0
        if self.path.exists():
            self.path.unlink()

    def write(self, columns: dict[str, list], geoms_metric) -> None:
        n = len(geoms_metric)
        if n == 0:
            return
        geoms = to_geo(np.asarray(geoms_metric, dtype=object))
        if GEOMETRY_TYPE[self.layer] == "MultiPolygon":
            # projecting can fold a vertex over a neighbour's edge (nanometres): repair here
            bad = ~shapely.is_valid(geoms)
            if bad.any():
                geoms[bad] = [_multipolygon(shapely.make_valid(g)) for g in geoms[bad]]
        wkb = shapely.to_wkb(geoms, output_dimension=2)
        data = [_array(columns[f]) for f in self.fields]
        ogr_write(self.path, wkb, data, self.fields, layer=self.layer, driver="GPKG",
                  geometry_type=GEOMETRY_TYPE[self.layer], crs=f"EPSG:{GEO_EPSG}", encoding="UTF-8",
                  append=self.rows > 0, layer_options={"SPATIAL_INDEX": "NO"})
        self.rows += n


def _multipolygon(g):
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    return shapely.MultiPolygon(polys)


def _array(values: list) -> np.ndarray:
    """Object arrays for text (None stays null); numbers keep their type."""
    ints = [v for v in values if v is not None]
    if ints and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in ints):
        if len(ints) == len(values):
            return np.asarray(values, dtype=np.int64)
        return np.asarray([np.nan if v is None else float(v) for v in values])  # NaN is written as null
    return np.asarray([None if v is None else str(v) for v in values], dtype=object)


def write_csv(path: Path, fields: list[str], rows: list[list]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(fields)
        w.writerows(rows)
