"""The line-point model (线-点): house numbers along a road, by side and parity.

A road carries an address range per side (``left_from``..``left_to`` with ``left_parity``, the
same for the right; left is left of the direction the line is drawn in). A side with parity step
p (2 for odd/even, 1 for all) and range [from, to] has S = |to - from| / p + 1 slots; number n
takes slot s = |n - from| / p, at distance L (s + 1/2) / S along the line from its first vertex,
and is pushed ``side_offset`` metres (``URBANGIS_GEOCODER_SIDE_OFFSET``, default 15) to its side.
Slot centres keep the first and last numbers off the road's ends, where the crossing streets are.
Reverse runs the same rule backwards.

Where the road's side already has house-number points (:func:`known_sides`), they correct the
rule, after Nominatim's interpolation lines (which place a missing number between its known
neighbours) but without assuming either kind of street: each known number's residual r (where it
stands along the road minus where its slot is) is measured, and a missing number's slot moves by
w times the residual its nearest known neighbours of its parity give it (interpolated by number).
The weight comes from the side's own residuals, read as a drift shared by neighbouring doors plus
each door's own scatter (a nugget c0, the intercept of the residuals' semivariogram over the first
lags, in slots): w = D / (D + c0 (t^2 + (1-t)^2)), with D = mean(r^2) - c0 the shared part and t the
number's share of the way between its neighbours. Doors scattered at random around even slots
have D ~ 0: w ~ 0 and the slot stands (the neighbours' scatter says nothing of the missing door).
Doors at uneven spacing drift from their slots together, c0 ~ 0: w ~ 1 and the number stands
where its neighbours put it, linear interpolation between them (the best guess when spacing varies
at random). A side of a few doors says little, so its share D / (D + c0) is shrunk toward the
median share of its city's sides with the weight of PRIOR_WEIGHT doors (:func:`known_sides`).
Beyond the last known number the nearest residual carries on (t = 0 or 1). The offset
to the side is the median of that side's known doors (the other side's when it has none;
``side_offset`` on roads without any). Sides without ranges interpolate between known neighbours.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from .index import Index, Road, each

MAX_LAG = 4  # slots: the semivariogram's lags whose line gives the nugget
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
    residual: np.ndarray | None = None  # along minus the slot's along, per known number (None: no range)
    shared: float = 0.0  # D: mean square residual less the nugget (m^2)
    nugget: float = 0.0  # c0: each door's own scatter about the shared drift (m^2)
    share: float = 0.0  # D / (D + c0), shrunk toward the city's (see known_sides)
    judged: int = 0  # known numbers the share was measured on

    def own_share(self) -> float | None:
        total = self.shared + self.nugget
        return self.shared / total if total > 0 else None

    def median_offset(self) -> float:
        return float(np.median(self.offset))


PRIOR_WEIGHT = 30  # known numbers at which a side's own share counts as much as its city's
PRIOR_ROADS = 200  # roads sampled for a city's share
MIN_FOR_PRIOR = 8  # known numbers a side needs to count in its city's share


def known_sides(ix: Index, pidx: int) -> dict[str, KnownSide]:
    """The road's house-number points with a plain number (``12``, not ``12-1``), per side of the
    line, each with its share of shared drift: its own, shrunk toward the median of its city's
    sides by the evidence it has (a side of 10 doors says little; a city's streets were laid out
    and numbered alike). Computed on first use and kept on the index (``ix.house_sides``)."""
    got = ix.house_sides.get(pidx)
    if got is not None:
        return got
    out = _raw_sides(ix, pidx)
    prior = _city_share(ix, int(ix.plane.region_at(ix.roads[pidx].x)))
    for have in out.values():
        own = have.own_share()
        if own is not None:
            have.share = (have.judged * own + PRIOR_WEIGHT * prior) / (have.judged + PRIOR_WEIGHT)
    if len(ix.house_sides) > 200_000:
        ix.house_sides.clear()
    ix.house_sides[pidx] = out
    return out


def _city_share(ix: Index, region: int) -> float:
    """The median share of drift over the sides of up to PRIOR_ROADS roads of a region (city)."""
    key = ("city share", region)
    got = ix.house_sides.get(key)
    if got is not None:
        return got
    roads = [i for i, r in enumerate(ix.roads) if ix.plane.region_at(r.x) == region]
    shares = []
    for i in roads[:: max(1, len(roads) // PRIOR_ROADS)]:
        for have in _raw_sides(ix, i).values():
            own = have.own_share()
            if own is not None and have.judged >= MIN_FOR_PRIOR:
                shares.append(own)
    share = float(np.median(shares)) if shares else 0.5
    ix.house_sides[key] = share
    return share


def _raw_sides(ix: Index, pidx: int) -> dict[str, KnownSide]:
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
                _residuals(road, side, have)
                out[side] = have
    return out


def _slot_along(road: Road, f: int, t: int, step: int, n) -> float:
    slots = abs(t - f) // step + 1
    return road.geom.length * (np.abs(n - f) / step + 0.5) / slots


def _residuals(road: Road, side: str, known: KnownSide) -> None:
    """Each known number's residual from its slot on this side, and its shared and own parts."""
    f, t, parity = (road.lf, road.lt, road.lp) if side == "left" else (road.rf, road.rt, road.rp)
    if f is None or t is None:
        return
    step = _step(parity)
    known.residual = known.along - _slot_along(road, f, t, step, known.numbers)
    inside = (known.numbers >= min(f, t)) & (known.numbers <= max(f, t))
    if step == 2:
        inside &= known.numbers % 2 == f % 2
    r = known.residual[inside]
    known.judged = len(r)
    if len(r) < 2:
        return
    by_slot = dict(zip((np.abs(known.numbers[inside] - f) // step).tolist(), r.tolist()))
    lags, gamma = [], []
    for k in range(1, MAX_LAG + 1):
        diffs = [by_slot[s + k] - v for s, v in by_slot.items() if s + k in by_slot]
        if len(diffs) >= 2:
            lags.append(k)
            gamma.append(0.5 * float(np.mean(np.square(diffs))))
    square = float(np.mean(np.square(r)))
    if len(lags) >= 2:
        nugget = float(np.polyfit(lags, gamma, 1)[1])
    elif lags:
        nugget = gamma[0]  # one lag cannot tell drift from scatter: take it all as scatter
    else:
        nugget = square
    known.nugget = min(max(nugget, 0.0), square)
    known.shared = square - known.nugget


def _place(road: Road, side: str, d: float, offset: float) -> tuple[float, float, str]:
    length = road.geom.length
    d = min(max(d, 0.0), length)
    p = shapely.line_interpolate_point(road.geom, d)
    tx, ty = _tangent(road.geom, d, length)
    # the left normal of the drawing direction is (-ty, tx)
    sgn = 1.0 if side == "left" else -1.0
    return p.x - sgn * ty * offset, p.y + sgn * tx * offset, side


def _neighbours(known: KnownSide, n: int, step: int) -> tuple[int, int, float] | None:
    """The known numbers of n's parity around it (lo, hi positions in ``known``) and n's share
    t of the way from lo to hi (outside 0..1 beyond the first or last known number)."""
    same = np.flatnonzero(known.numbers % 2 == n % 2) if step == 2 else np.arange(len(known.numbers))
    nums = known.numbers[same]
    if len(nums) < 2:
        return None
    k = int(np.searchsorted(nums, n))
    lo, hi = (k - 1, k) if 0 < k < len(nums) else ((0, 1) if k == 0 else (len(nums) - 2, len(nums) - 1))
    span = nums[hi] - nums[lo]
    if span == 0:
        return None
    return int(same[lo]), int(same[hi]), float((n - nums[lo]) / span)


def _corrected(known: KnownSide, n: int, step: int, slot: float) -> float:
    """The slot's along moved by the neighbours' residuals, weighted by the side's shared drift."""
    near = _neighbours(known, n, step)
    if near is None or known.residual is None or known.share <= 0.0:
        return slot
    lo, hi, t = near
    r = known.residual
    if 0.0 <= t <= 1.0:
        shift, spread = r[lo] + t * (r[hi] - r[lo]), t * t + (1 - t) * (1 - t)
    else:
        shift, spread = (r[lo] if t < 0 else r[hi]), 1.0
    w = known.share / (known.share + (1.0 - known.share) * spread)
    return slot + w * float(shift)


def _between(known: KnownSide, n: int, step: int) -> float | None:
    """Along of number ``n`` between (or beyond) its known neighbours, for sides without ranges."""
    near = _neighbours(known, n, step)
    if near is None:
        return None
    lo, hi, t = near
    return float(known.along[lo] + t * (known.along[hi] - known.along[lo]))


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
        d = float(_slot_along(road, f, t, step, n))
        if have is not None:
            d = _corrected(have, n, step, d)
            offset = have.median_offset()
        elif known:
            offset = float(np.median(np.concatenate([k.offset for k in known.values()])))
        return _place(road, side, d, offset)
    if not any(f is not None and t is not None for _, f, t, _ in _sides(road)):
        # no ranges at all: the side whose known numbers share n's parity and bracket it
        for side, have in known.items():
            nums = have.numbers[have.numbers % 2 == n % 2]
            if len(nums) and nums[0] < n < nums[-1]:
                along = _between(have, n, 2)
                if along is not None:
                    return _place(road, side, along, have.median_offset())
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
