"""The line-point model (线-点): house numbers along a road, by side and parity.

A road carries an address range per side (``left_from``..``left_to`` with ``left_parity``, the
same for the right; left is left of the direction the line is drawn in). A side with parity step
p (2 for odd/even, 1 for all) and range [from, to] has S = |to - from| / p + 1 slots; number n
takes slot s = |n - from| / p, at distance L (s + 1/2) / S along the line from its first vertex,
and is pushed ``side_offset`` metres (``URBANGIS_GEOCODER_SIDE_OFFSET``, default 15) to its side.
Slot centres keep the first and last numbers off the road's ends, where the crossing streets are.
Reverse runs the same rule backwards.

Where the road's side already has house-number points (:func:`known_sides`), those decide instead,
as Nominatim's interpolation lines do: a missing number stands between the nearest known numbers
below and above it on the same side and of the same parity, at a distance along the road and an
offset from it interpolated linearly by number; beyond the last known number it is extrapolated
with the spacing of the two nearest; and the side's offset (the median of its known points) replaces
the fixed ``side_offset`` wherever the range rule still places a number. The range rule alone
remains for roads without points. Real doors do not stand at equal slots 15 m off the centre line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from .index import Index, Road, each

NEIGHBOURS_WIN = 2.0  # how much better the neighbours must place a side's known numbers to replace its ranges
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


@dataclass(slots=True)
class KnownSide:
    """The plain-numbered house points on one side of a road, sorted by number."""

    numbers: np.ndarray  # int
    along: np.ndarray  # metres from the line's first vertex to the foot of the point
    offset: np.ndarray  # metres from the centre line
    by_range: bool = False  # the side's range rule places its known numbers better than their neighbours do

    def median_offset(self) -> float:
        return float(np.median(self.offset))


def known_sides(ix: Index, pidx: int) -> dict[str, KnownSide]:
    """The road's house-number points with a plain number (``12``, not ``12-1``), per side of the
    line; computed on first use and kept on the index (``ix.house_sides``)."""
    got = ix.house_sides.get(pidx)
    if got is not None:
        return got
    road = ix.roads[pidx]
    table = ix.houses.by_parent.get(("r", pidx)) or {}
    rows = [(int(key), i) for key, pos in table.items() if key.isdigit() for i in each(pos)[:1]]
    out: dict[str, KnownSide] = {}
    length = road.geom.length
    if rows and length > 0:
        numbers = np.array([n for n, _ in rows])
        pos = np.array([i for _, i in rows])
        xs, ys = ix.houses.xs[pos], ix.houses.ys[pos]
        pts = shapely.points(xs, ys)
        along = shapely.line_locate_point(road.geom, pts)
        before = shapely.line_interpolate_point(road.geom, np.maximum(along - 1.0, 0.0))
        after = shapely.line_interpolate_point(road.geom, np.minimum(along + 1.0, length))
        foot = shapely.line_interpolate_point(road.geom, along)
        tx = shapely.get_x(after) - shapely.get_x(before)
        ty = shapely.get_y(after) - shapely.get_y(before)
        fx, fy = shapely.get_x(foot), shapely.get_y(foot)
        left = tx * (ys - fy) - ty * (xs - fx) > 0
        offset = np.hypot(xs - fx, ys - fy)
        for side, mask in (("left", left), ("right", ~left)):
            if mask.any():
                order = np.argsort(numbers[mask], kind="stable")
                have = KnownSide(numbers[mask][order], along[mask][order], offset[mask][order])
                have.by_range = _range_fits(road, side, have)
                out[side] = have
    if len(ix.house_sides) > 200_000:
        ix.house_sides.clear()
    ix.house_sides[pidx] = out
    return out


def _slot_along(road: Road, f: int, t: int, step: int, n) -> float:
    slots = abs(t - f) // step + 1
    return road.geom.length * (np.abs(n - f) / step + 0.5) / slots


def _range_fits(road: Road, side: str, known: KnownSide) -> bool:
    """Which rule places this side's missing numbers: leave each known number out in turn and ask
    both where it stands. The ranges are what the gazetteer declares, so they are kept unless the
    neighbours place the known numbers at least twice as well (median error): on a road whose
    doors stand near their even slots the two rules err alike (by the doors' own scatter) and the
    declaration decides; on a road whose doors stand where they stand, the range rule's error
    grows along the road and the neighbours win by far. The side's own points decide."""
    f, t, parity = (road.lf, road.lt, road.lp) if side == "left" else (road.rf, road.rt, road.rp)
    if f is None or t is None:
        return False
    step = _step(parity)
    inside = (known.numbers >= min(f, t)) & (known.numbers <= max(f, t))
    if step == 2:
        inside &= known.numbers % 2 == f % 2
    nums, along = known.numbers[inside], known.along[inside]
    if len(nums) < 3:
        return True  # too few to judge: the ranges, as without points
    lo, hi, mid = nums[:-2], nums[2:], nums[1:-1]
    ok = hi != lo
    between = along[:-2] + (mid - lo) / np.where(ok, hi - lo, 1) * (along[2:] - along[:-2])
    err_neighbours = np.abs(between - along[1:-1])[ok]
    err_range = np.abs(_slot_along(road, f, t, step, mid) - along[1:-1])[ok]
    if len(err_range) == 0:
        return True
    return bool(np.median(err_range) <= NEIGHBOURS_WIN * np.median(err_neighbours))


def _place(road: Road, side: str, d: float, offset: float) -> tuple[float, float, str]:
    length = road.geom.length
    d = min(max(d, 0.0), length)
    p = shapely.line_interpolate_point(road.geom, d)
    tx, ty = _tangent(road.geom, d, length)
    # the left normal of the drawing direction is (-ty, tx)
    sgn = 1.0 if side == "left" else -1.0
    return p.x - sgn * ty * offset, p.y + sgn * tx * offset, side


def _between(known: KnownSide, n: int, step: int) -> tuple[float, float] | None:
    """(along, offset) of number ``n`` from the known numbers of its parity on its side."""
    same = known.numbers % 2 == n % 2 if step == 2 else np.ones(len(known.numbers), dtype=bool)
    nums, along, off = known.numbers[same], known.along[same], known.offset[same]
    if len(nums) == 0:
        return None
    k = int(np.searchsorted(nums, n))
    if 0 < k < len(nums):  # known numbers below and above
        lo, hi = k - 1, k
    elif len(nums) >= 2:  # beyond the first or last known: the spacing of the two nearest
        lo, hi = (0, 1) if k == 0 else (len(nums) - 2, len(nums) - 1)
    else:
        return None
    span = nums[hi] - nums[lo]
    if span == 0:
        return None
    t = (n - nums[lo]) / span
    return float(along[lo] + t * (along[hi] - along[lo])), float(off[lo] + min(max(t, 0.0), 1.0) * (off[hi] - off[lo]))


def locate(road: Road, n: int, offset: float = OFFSET, known: dict[str, KnownSide] | None = None,
           ) -> tuple[float, float, str] | None:
    """Where number ``n`` lies on ``road``: (x, y, side), or None. ``known`` (from
    :func:`known_sides`) are the road's house points; without them, the address ranges alone."""
    known = known or {}
    for side, f, t, parity in _sides(road):
        if f is None or t is None or not (min(f, t) <= n <= max(f, t)) or not _parity_ok(parity, n):
            continue
        step = _step(parity)
        have = known.get(side)
        if have is not None and not have.by_range:
            hit = _between(have, n, step)
            if hit is not None:
                return _place(road, side, *hit)
        d = float(_slot_along(road, f, t, step, n))
        if have is not None:
            offset = have.median_offset()
        elif known:
            offset = float(np.median(np.concatenate([k.offset for k in known.values()])))
        return _place(road, side, d, offset)
    if not any(f is not None and t is not None for _, f, t, _ in _sides(road)):
        # no ranges at all: the side whose known numbers share n's parity and bracket it
        for side, have in known.items():
            nums = have.numbers[have.numbers % 2 == n % 2]
            if len(nums) and nums[0] < n < nums[-1]:
                hit = _between(have, n, 2)
                if hit is not None:
                    return _place(road, side, *hit)
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
