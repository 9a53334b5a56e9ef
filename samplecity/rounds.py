"""A simulated patrol round (巡查) of every supervisor, as the GPS fixes their phones would post: a
walk from patrol point to patrol point of their own grids and back, at walking pace, one fix a
minute with a few metres of GPS scatter. Demonstration data for the map and the nearest-supervisor
query of the sample city; the fixes go in through the same code as ``POST /supervisors/fixes``."""
from __future__ import annotations

import datetime as dt

import numpy as np
from pyproj import Geod

from .rand import rng

GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid: distances along the round
WALK_MPS = (0.9, 1.4)  # each supervisor's pace, drawn in this range
GPS_SCATTER_M = 4.0  # one standard deviation, per axis
DEG_M = 111_320.0  # metres per degree of latitude, near enough for a few metres of scatter


def simulate_round(route: list[tuple[float, float]], supervisor_id: str, end: dt.datetime, minutes: int,
                   step_s: int, seed: int) -> list[dict]:
    """Fixes of one supervisor walking ``route`` (lon, lat points, visited in order and round again)
    for ``minutes`` up to ``end``, one every ``step_s`` seconds: dicts of the fix fields."""
    r = rng(seed, "round", supervisor_id)
    pts = np.asarray(route, dtype=float)
    if len(pts) == 0:
        return []
    loop = np.vstack([pts, pts[:1]])
    legs = np.asarray(GEOD.inv(loop[:-1, 0], loop[:-1, 1], loop[1:, 0], loop[1:, 1])[2], dtype=float)
    cum = np.concatenate([[0.0], np.cumsum(legs)])
    total = cum[-1]
    pace = r.uniform(*WALK_MPS)
    n = max(1, minutes * 60 // step_s)
    t = np.arange(n) * step_s
    walked = (r.uniform(0, total) + pace * t) % total if total > 0 else np.zeros(n)
    leg = np.clip(np.searchsorted(cum, walked, side="right") - 1, 0, len(legs) - 1)
    frac = np.where(legs[leg] > 0, (walked - cum[leg]) / np.maximum(legs[leg], 1e-9), 0.0)
    lon = loop[leg, 0] + frac * (loop[leg + 1, 0] - loop[leg, 0])
    lat = loop[leg, 1] + frac * (loop[leg + 1, 1] - loop[leg, 1])
    lat = lat + r.normal(0, GPS_SCATTER_M, n) / DEG_M
    lon = lon + r.normal(0, GPS_SCATTER_M, n) / (DEG_M * np.cos(np.radians(lat)))
    start = end - dt.timedelta(seconds=int(t[-1]))
    return [{"supervisor_id": supervisor_id, "lon": round(float(x), 7), "lat": round(float(y), 7),
             "at": start + dt.timedelta(seconds=int(s)), "accuracy_m": GPS_SCATTER_M,
             "speed_mps": round(pace, 2)} for x, y, s in zip(lon, lat, t)]
