"""The line-point model (线-点): house numbers along a road, by side and parity.

A road carries an address range per side (``left_from``..``left_to`` with ``left_parity``, the
same for the right; left is left of the direction the line is drawn in). A number missing from
``house_numbers`` is placed at its share of the range along the line and pushed ``OFFSET`` metres
to its side, as TIGER-style address ranges are used. Reverse runs the same model backwards.
"""
from __future__ import annotations

import math

import shapely

from .index import Road

OFFSET = 10.0  # metres from the centre line to the house fronts


def _parity_ok(parity: str | None, n: int) -> bool:
    return parity in (None, "all") or (parity == "odd") == (n % 2 == 1)


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
        length = road.geom.length
        frac = 0.5 if t == f else (n - f) / (t - f)
        d = frac * length
        p = shapely.line_interpolate_point(road.geom, d)
        tx, ty = _tangent(road.geom, d, length)
        # left normal of the drawing direction is (-ty, tx)
        sgn = 1.0 if side == "left" else -1.0
        return p.x - sgn * ty * offset, p.y + sgn * tx * offset, side
    return None


def number_at(road: Road, x: float, y: float) -> tuple[int, str, float] | None:
    """The address number the ranges give at point (x, y) near ``road``: (number, side, distance)."""
    pt = shapely.Point(x, y)
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
        raw = f + (t - f) * d / length
        n = int(round(raw))
        if not _parity_ok(parity, n):
            # step to the nearest number of the side's parity, staying inside the range
            n += 1 if raw >= n else -1
            if not (min(f, t) <= n <= max(f, t)):
                n -= 2 if n > max(f, t) else -2
        n = max(min(f, t), min(max(f, t), n))
        return n, side, math.hypot(x - foot.x, y - foot.y)
    return None
