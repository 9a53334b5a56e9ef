"""A simulated patrol round (巡查) of every supervisor, as the GPS fixes their phones would post: a
walk from patrol point to patrol point of their own grids and back, at walking pace, one fix a
minute with a few metres of GPS scatter. Demonstration data for the map and the nearest-supervisor
query of the sample city; the fixes go in through the same code as ``POST /supervisors/fixes``."""
from __future__ import annotations

import datetime as dt

import numpy as np

from .geo import lonlat_to_xy, xy_to_lonlat
from .rand import rng

WALK_MPS = (0.9, 1.4)  # each supervisor's pace, drawn in this range
GPS_SCATTER_M = 4.0  # one standard deviation, per axis


def simulate_round(route: list[tuple[float, float]], supervisor_id: str, end: dt.datetime, minutes: int,
                   step_s: int, seed: int) -> list[dict]:
    """Fixes of one supervisor walking ``route`` (lon, lat points, visited in order and round again)
    for ``minutes`` up to ``end``, one every ``step_s`` seconds: dicts of the fix fields. The walk
    is drawn in the generator's metres (samplecity/geo.py)."""
    r = rng(seed, "round", supervisor_id)
    if not route:
        return []
    x, y = lonlat_to_xy(*zip(*route))
    loop = np.column_stack([np.append(x, x[0]), np.append(y, y[0])])
    legs = np.hypot(*np.diff(loop, axis=0).T)
    cum = np.concatenate([[0.0], np.cumsum(legs)])
    total = cum[-1]
    pace = r.uniform(*WALK_MPS)
    n = max(1, minutes * 60 // step_s)
    t = np.arange(n) * step_s
    walked = (r.uniform(0, total) + pace * t) % total if total > 0 else np.zeros(n)
    leg = np.clip(np.searchsorted(cum, walked, side="right") - 1, 0, len(legs) - 1)
    frac = np.where(legs[leg] > 0, (walked - cum[leg]) / np.maximum(legs[leg], 1e-9), 0.0)
    px = loop[leg, 0] + frac * (loop[leg + 1, 0] - loop[leg, 0]) + r.normal(0, GPS_SCATTER_M, n)
    py = loop[leg, 1] + frac * (loop[leg + 1, 1] - loop[leg, 1]) + r.normal(0, GPS_SCATTER_M, n)
    lon, lat = xy_to_lonlat(px, py)
    start = end - dt.timedelta(seconds=int(t[-1]))
    return [{"supervisor_id": supervisor_id, "lon": round(float(a), 7), "lat": round(float(b), 7),
             "at": start + dt.timedelta(seconds=int(s)), "accuracy_m": GPS_SCATTER_M,
             "speed_mps": round(pace, 2)} for a, b, s in zip(lon, lat, t)]
