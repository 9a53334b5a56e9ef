"""Metric work in a local plane: an equirectangular projection centred on the city.

Why not EPSG:4538 through pyproj for everything: the engine measures millions of distances and
offsets per second inside one process, and a per-call pyproj transform costs ~10 µs. The local
plane is an affine map of (lon, lat), so point-in-polygon answers are identical to those in
degrees, it inverts exactly, and over a city (±0.5° from the centre) its scale error stays under
0.5 %: a 10 m offset is off by at most 5 cm. Output in EPSG:4538 still goes through pyproj.
"""
from __future__ import annotations

import math

import numpy as np


class LocalPlane:
    """Equirectangular metres around (lon0, lat0), with the ellipsoid's local radii (CGCS2000)."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0, self.lat0 = lon0, lat0
        phi = math.radians(lat0)
        # metres per degree of latitude and longitude at lat0 (GRS80/CGCS2000 series expansion)
        self.my = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
        self.mx = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)

    def fwd(self, lon, lat):
        """(lon, lat) in degrees -> (x, y) in metres; scalars or numpy arrays."""
        return (lon - self.lon0) * self.mx, (lat - self.lat0) * self.my

    def inv(self, x, y):
        """(x, y) in metres -> (lon, lat) in degrees."""
        return x / self.mx + self.lon0, y / self.my + self.lat0

    def fwd_coords(self, coords: np.ndarray) -> np.ndarray:
        """An (n, 2) array of lon/lat -> metres (for shapely.transform)."""
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - self.lon0) * self.mx
        out[:, 1] = (coords[:, 1] - self.lat0) * self.my
        return out

    def inv_coords(self, coords: np.ndarray) -> np.ndarray:
        """An (n, 2) array of metres -> lon/lat."""
        out = np.empty_like(coords)
        out[:, 0] = coords[:, 0] / self.mx + self.lon0
        out[:, 1] = coords[:, 1] / self.my + self.lat0
        return out
