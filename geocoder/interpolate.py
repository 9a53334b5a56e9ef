"""The line-point model (线-点): house numbers along a road, by side and parity.

A road carries an address range per side (``left_from``..``left_to`` with ``left_parity``, the
same for the right; left is left of the direction the line is drawn in). A side with parity step
p (2 for odd/even, 1 for all) and range [from, to] has S = |to - from| / p + 1 slots; number n
takes slot s = |n - from| / p, at distance L (s + 1/2) / S along the line from its first vertex,
and is pushed ``side_offset`` metres (``URBANGIS_GEOCODER_SIDE_OFFSET``, default 15) to its side.
Slot centres keep the first and last numbers off the road's ends, where the crossing streets are.
Reverse runs the same rule backwards.
"""
from __future__ import annotations

import math

import shapely

from .index import Road

OFFSET = 15.0  # metres, centre line to house fronts (the default of URBANGIS_GEOCODER_SIDE_OFFSET)


def _parity_ok(parity: str | None, n: int) -> bool:
    return parity in (None, "all") or (parity == "odd") == (n % 2 == 1)


def _step(parity: str | None) -> int:
    return 1 if parity in (None, "all") else 2


def _sides(road: Road):
    yield "left", road.lf, road.lt, road.lp
    yield "right", road.rf, road.rt, road.rp


def _tangent(line, d: float, length: float) -> tuple[float, float]:
    a = shapely.line_interpolate_point(line, max(d - 1.0, 0.0))
    b = shapely.line_interpolate_point(line, min(d + 1.0, length))
    dx, dy = b.x - a.x, b.y - a.y
    norm = math.hypot(dx, dy) or 1.0
    return dx / norm, dy / norm


def locate(road: Road, n: int, offset: float = OFFSET) -> tuple[float, float, str] | None:
    """Where number ``n`` lies on ``road`` by its address ranges: (x, y, side), or None."""
    for side, f, t, parity in _sides(road):
        if f is None or t is None or not (min(f, t) <= n <= max(f, t)) or not _parity_ok(parity, n):
            continue
        step = _step(parity)
        slots = abs(t - f) // step + 1
        length = road.geom.length
        d = length * (abs(n - f) / step + 0.5) / slots
        p = shapely.line_interpolate_point(road.geom, d)
        tx, ty = _tangent(road.geom, d, length)
        # the left normal of the drawing direction is (-ty, tx)
        sgn = 1.0 if side == "left" else -1.0
        return p.x - sgn * ty * offset, p.y + sgn * tx * offset, side
    return None


def number_at(road: Road, x: float, y: float, pt=None) -> tuple[int, str, float] | None:
    """The address number the ranges give at point (x, y) near ``road``: (number, side, distance)."""
    pt = pt if pt is not None else shapely.Point(x, y)
    length = road.geom.length
    if length <= 0:
        return None
    d = shapely.line_locate_point(road.geom, pt)
    foot = shapely.line_interpolate_point(road.geom, d)
    tx, ty = _tangent(road.geom, d, length)
    cross = tx * (y - foot.y) - ty * (x - foot.x)
    side = "left" if cross > 0 else "right"
    for s, f, t, parity in _sides(road):
        if s != side or f is None or t is None:
            continue
        step = _step(parity)
        slots = abs(t - f) // step + 1
        slot = min(slots - 1, max(0, int(d / length * slots)))
        n = f + (slot * step if t >= f else -slot * step)
        return n, side, math.hypot(x - foot.x, y - foot.y)
    return None
