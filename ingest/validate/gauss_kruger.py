"""Metres where degrees were assumed: which Gauss-Kruger zone a file's coordinates are in.

A shapefile whose .prj was lost, a surveyor's CSV of X/Y: the file says no CRS, so its
coordinates are taken as CGCS2000 longitude and latitude, and every row fails as "outside China".
When the first rows are plainly metres, the load is refused at once, naming the CRS to give:
- an easting with its zone number in front (29,549,910: zone 29) names the zone, so the EPSG code
  of that CGCS2000 Gauss-Kruger zone;
- otherwise each CGCS2000 3-degree zone (EPSG:4534-4554, central meridians 75E-135E; each 6-degree
  zone shares its projection with the 3-degree one on the same meridian), Web Mercator (EPSG:3857)
  and UTM 43N-53N are tried on the first rows against the districts the database holds, and the
  one that puts them there is named.
The datum cannot be told from the numbers (a Xi'an 1980 or Beijing 1954 survey is tens of metres
off CGCS2000), so the message says so; nothing is loaded on a guess.
"""
from __future__ import annotations

import numpy as np
import psycopg
import shapely
from pyproj import CRS

from .. import crs as crs_mod

THREE_DEGREE = range(4534, 4555)  # CGCS2000 / 3-degree Gauss-Kruger CM 75E .. CM 135E
# the other metres Chinese files come in: web maps' Pseudo-Mercator, GPS receivers' UTM 43N-53N
OTHERS = (3857, *range(32643, 32654))
AT_LEAST = 0.9  # share of the first rows a zone must put in the districts


def _zone_code(easting: float) -> int | None:
    """The EPSG code of the CGCS2000 Gauss-Kruger zone an easting with its zone number in front
    names (zones 25-45: 3-degree, EPSG:4513-4533; 13-23: 6-degree, EPSG:4491-4501)."""
    zone = int(easting // 1_000_000)
    if 25 <= zone <= 45:
        return 4513 + zone - 25
    if 13 <= zone <= 23:
        return 4491 + zone - 13
    return None


def verdict(conn: psycopg.Connection, geoms: np.ndarray) -> str | None:
    """Why the first rows' coordinates are not degrees and what CRS to give, or None."""
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    if not present.any():
        return None
    xy = shapely.get_coordinates(shapely.point_on_surface(geoms[present]))
    degrees = (np.abs(xy[:, 0]) <= 180) & (np.abs(xy[:, 1]) <= 90)
    if degrees.mean() >= 0.5:
        return None
    x, y = xy[:, 0], xy[:, 1]
    shown = f"x {np.median(x):,.0f}, y {np.median(y):,.0f}"
    said = (f"the file declares no CRS and its coordinates are metres, not degrees ({shown} in the first "
            f"{len(x)} rows)")
    older = " (a survey in Xi'an 1980 or Beijing 1954 is tens of metres off it: give that CRS then)"
    code = _zone_code(float(np.median(x)))
    if code is not None:
        return (f"{said}: the easting's zone number says CGCS2000 Gauss-Kruger zone {int(np.median(x) // 1e6)}; "
                f"load with --source-crs EPSG:{code} ({CRS.from_epsg(code).name}){older}")
    rows = conn.execute("SELECT ST_AsBinary(geom) FROM admin_areas WHERE level = 'district' AND geom IS NOT NULL"
                        ).fetchall()
    if rows:
        districts = shapely.from_wkb(np.array([bytes(r[0]) for r in rows], dtype=object))
        tree = shapely.STRtree(districts)
        found = []  # (share, code, lon, lat)
        points = shapely.points(x, y)
        for candidate in (*THREE_DEGREE, *OTHERS):
            moved = crs_mod.to_target(points, crs_mod.SourceCRS(candidate))
            lon, lat = shapely.get_coordinates(moved).T
            share = len(np.unique(tree.query(moved, predicate="within")[0])) / len(x)
            if share >= AT_LEAST:
                found.append((share, candidate, lon, lat))
        found.sort(key=lambda f: -f[0])
        # those as good as the best that place the rows elsewhere (UTM 45N and Gauss-Kruger CM 87E
        # share a meridian but not a scale: 2 km apart north-south, both inside a city's districts)
        named: list = []
        for share, code, lon, lat in found:
            if share >= found[0][0] - 0.02 and all(np.abs(lon - o[2]).max() > 1e-5 or np.abs(lat - o[3]).max() > 1e-5
                                                  for o in named):
                named.append((share, code, lon, lat))
        if len(named) == 1:
            best, share = named[0][1], named[0][0]
            return (f"{said}: as EPSG:{best} ({CRS.from_epsg(best).name}) {share:.0%} of them lie in the "
                    f"districts the database holds; load with --source-crs EPSG:{best}{older}")
        if named:
            apart = max(float(np.hypot((a[2] - b[2]) * 80_000, (a[3] - b[3]) * 111_000).max())
                        for a in named for b in named)
            options = " or ".join(f"EPSG:{code} ({CRS.from_epsg(code).name})" for _, code, _, _ in named)
            return (f"{said}: as {options}, {named[0][0]:.0%} of them lie in the districts the database holds "
                    f"either way, though these place them up to {apart / 1000:.1f} km apart; load with "
                    "--source-crs naming the one the survey used")
    return (f"{said}; give the CRS with --source-crs (CGCS2000 3-degree Gauss-Kruger: EPSG:4534, central "
            "meridian 75E, to EPSG:4554, 135E; Urumqi's is EPSG:4538, 87E)")
