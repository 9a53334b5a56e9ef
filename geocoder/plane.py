"""Metric work in local planes: an equirectangular projection centred on each region of the data.

Why not a Gauss-Kruger zone through pyproj for everything: the engine measures millions of
distances and offsets per second inside one process, and a per-call pyproj transform costs ~10 µs.
A local plane is an affine map of (lon, lat), so point-in-polygon answers are identical to those in
degrees (as PostGIS gives them on EPSG:4490), it inverts exactly, and within ±0.5° of latitude of
its centre its scale error stays under 0.5 %: a 10 m offset is off by at most 5 cm.

One plane cannot serve a province: Xinjiang spans 73-96° E and 35-49° N, and the east-west scale
of a plane centred at 42° N is 10 % wrong at 35° N. So the index has one plane per *region* (a
prefecture-level city, the first four digits of its admin codes: 6501 乌鲁木齐市, 6531 喀什地区),
centred on that region's data, as a city's survey office would use one zone for the whole city.
Each region's plane is shifted east by ``region number x REGION_STRIDE`` metres, so the planes
never overlap and one set of coordinates (and one STRtree) holds them all; a coordinate tells its
region by its easting. A feature is measured in the plane of the region its representative point
lies in (a road, a polygon: all its vertices, so it stays whole). Output in a Gauss-Kruger zone
still goes through pyproj.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

REGION_STRIDE = 1.0e7  # metres between two regions' plane origins: far more than a region's width
REGION_MARGIN = 0.25  # degrees around a region's extent that still belong to it


class LocalPlane:
    """Equirectangular metres around (lon0, lat0), with the ellipsoid's local radii (CGCS2000),
    shifted east by ``x0`` metres."""

    def __init__(self, lon0: float, lat0: float, x0: float = 0.0) -> None:
        self.lon0, self.lat0, self.x0 = lon0, lat0, x0
        phi = math.radians(lat0)
        # metres per degree of latitude and longitude at lat0 (GRS80/CGCS2000 series expansion)
        self.my = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
        self.mx = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)

    def fwd(self, lon, lat):
        """(lon, lat) in degrees -> (x, y) in metres; scalars or numpy arrays."""
        return (lon - self.lon0) * self.mx + self.x0, (lat - self.lat0) * self.my

    def inv(self, x, y):
        """(x, y) in metres -> (lon, lat) in degrees."""
        return (x - self.x0) / self.mx + self.lon0, y / self.my + self.lat0

    def fwd_coords(self, coords: np.ndarray) -> np.ndarray:
        """An (n, 2) array of lon/lat -> metres (for shapely.transform)."""
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - self.lon0) * self.mx + self.x0
        out[:, 1] = (coords[:, 1] - self.lat0) * self.my
        return out

    def inv_coords(self, coords: np.ndarray) -> np.ndarray:
        """An (n, 2) array of metres -> lon/lat."""
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - self.x0) / self.mx + self.lon0
        out[:, 1] = coords[:, 1] / self.my + self.lat0
        return out


@dataclass(frozen=True)
class Region:
    """A part of the data measured in one plane: its code (a city's 4-digit admin prefix, or ''),
    its extent in degrees (min lon, min lat, max lon, max lat) and its plane."""

    code: str
    bounds: tuple[float, float, float, float]
    plane: LocalPlane


class Planes:
    """The planes of every region, behind the interface of one: ``fwd`` takes each point to its
    region's plane, ``inv`` takes each coordinate back through the plane its easting names."""

    def __init__(self, extents: list[tuple[str, tuple[float, float, float, float]]]) -> None:
        if not extents:
            raise ValueError("at least one region is needed")
        self.regions: list[Region] = []
        for k, (code, (x1, y1, x2, y2)) in enumerate(extents):
            plane = LocalPlane((x1 + x2) / 2, (y1 + y2) / 2, k * REGION_STRIDE)
            self.regions.append(Region(code, (x1, y1, x2, y2), plane))
        self._centres = np.array([[r.plane.lon0, r.plane.lat0] for r in self.regions])
        b = np.array([r.bounds for r in self.regions])
        self._lo, self._hi = b[:, :2] - REGION_MARGIN, b[:, 2:] + REGION_MARGIN

    @classmethod
    def single(cls, lon0: float, lat0: float) -> Planes:
        """One region, one plane centred at (lon0, lat0)."""
        return cls([("", (lon0, lat0, lon0, lat0))])

    def __len__(self) -> int:
        return len(self.regions)

    def region_of(self, lon, lat):
        """The region (its number) each point lies in: inside a region's extent (with a margin),
        the nearest such region's centre; outside all, the nearest centre."""
        if len(self.regions) == 1:
            return 0 if np.isscalar(lon) else np.zeros(np.shape(lon), dtype=np.intp)
        pts = np.column_stack([np.atleast_1d(lon), np.atleast_1d(lat)]).astype(float)
        d = np.hypot((pts[:, None, 0] - self._centres[None, :, 0]) * np.cos(np.radians(pts[:, None, 1])),
                     pts[:, None, 1] - self._centres[None, :, 1])
        inside = np.all((pts[:, None, :] >= self._lo[None]) & (pts[:, None, :] <= self._hi[None]), axis=2)
        d = np.where(inside, d, d + 1000.0)  # any region holding the point before any that does not
        found = np.argmin(d, axis=1)
        return int(found[0]) if np.isscalar(lon) else found

    def region_at(self, x) -> np.ndarray | int:
        """The region a plane coordinate belongs to, from its easting."""
        k = np.floor((np.asarray(x, dtype=float) + REGION_STRIDE / 2) / REGION_STRIDE).astype(np.intp)
        k = np.clip(k, 0, len(self.regions) - 1)
        return int(k) if np.isscalar(x) else k

    def fwd(self, lon, lat):
        """(lon, lat) in degrees -> (x, y) in metres, each point in its region's plane."""
        if len(self.regions) == 1:
            return self.regions[0].plane.fwd(lon, lat)
        k = self.region_of(lon, lat)
        if np.isscalar(k):
            return self.regions[k].plane.fwd(lon, lat)
        return self._apply(k, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), "fwd")

    def inv(self, x, y):
        """(x, y) in metres -> (lon, lat) in degrees, through the plane of each coordinate's region."""
        if len(self.regions) == 1:
            return self.regions[0].plane.inv(x, y)
        k = self.region_at(x)
        if np.isscalar(k):
            return self.regions[k].plane.inv(x, y)
        return self._apply(k, np.asarray(x, dtype=float), np.asarray(y, dtype=float), "inv")

    def _apply(self, k: np.ndarray, a: np.ndarray, b: np.ndarray, how: str):
        out_a, out_b = np.empty_like(a), np.empty_like(b)
        for r in np.unique(k):
            m = k == r
            out_a[m], out_b[m] = getattr(self.regions[r].plane, how)(a[m], b[m])
        return out_a, out_b

    def plane(self, region: int) -> LocalPlane:
        """The plane of region number ``region``."""
        return self.regions[region].plane

    def scale_at(self, x) -> tuple[float, float]:
        """Metres per degree (east, north) in the plane of the coordinate's region."""
        p = self.regions[self.region_at(x)].plane
        return p.mx, p.my
