"""Coordinate handling: generation works in metres (EPSG:4538), files are written in EPSG:4490."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer

GEO_EPSG = 4490  # CGCS2000 geographic: what the files and the database hold
METRIC_EPSG = 4538  # CGCS2000 / 3-degree Gauss-Kruger CM 87E: Urumqi sits on the central meridian


@lru_cache(maxsize=None)
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def _apply(geoms, src: int, dst: int):
    t = _transformer(src, dst)

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = t.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def to_metric(geoms):
    """EPSG:4490 geometry (or array of them) -> EPSG:4538 metres."""
    return _apply(geoms, GEO_EPSG, METRIC_EPSG)


def to_geo(geoms):
    """EPSG:4538 geometry (or array of them) -> EPSG:4490 lon/lat."""
    return _apply(geoms, METRIC_EPSG, GEO_EPSG)


def xy_to_lonlat(x, y):
    """Metric coordinates (arrays) -> lon, lat arrays."""
    return _transformer(METRIC_EPSG, GEO_EPSG).transform(np.asarray(x, float), np.asarray(y, float))


def lonlat_to_xy(lon, lat):
    """Lon/lat (arrays) -> metric x, y arrays."""
    return _transformer(GEO_EPSG, METRIC_EPSG).transform(np.asarray(lon, float), np.asarray(lat, float))
