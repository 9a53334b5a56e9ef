"""Missing house numbers from the known doors of their side (geocoder/interpolate.py): on a street
whose doors scatter about even slots the slot stands; on one whose doors stand at uneven spacing
the number goes between its neighbours; each side keeps its own set-back."""
from __future__ import annotations

import math

import numpy as np
import shapely

from urbangis.geocoder.index import Road
from urbangis.geocoder.interpolate import KnownSide, _residuals, _slot_along, locate

LENGTH = 1000.0


def _road() -> Road:
    # drawn west to east: the left side (odd numbers) is north of it
    return Road("R1", "测试路", "main", "650102", 1, 99, 2, 100, "odd", "even",
                shapely.LineString([(0, 0), (LENGTH, 0)]))


def _street(doors: dict[int, float], setback: float, missing: set[int]) -> KnownSide:
    road = _road()
    known = sorted(n for n in doors if n not in missing)
    have = KnownSide(np.array(known), np.array([doors[n] for n in known]), np.full(len(known), setback))
    _residuals(road, "left", have)
    have.share = have.own_share() or 0.0
    return have


def _errors(doors: dict[int, float], missing: set[int], truth, setback: float = 9.0):
    road = _road()
    have = _street(doors, setback, missing)
    ours, bare = [], []
    for n in sorted(missing):
        x, y, side = locate(road, n, 15.0, {"left": have})
        assert side == "left" and math.isclose(y, setback)  # north of the road, at the side's own set-back
        ours.append(abs(x - truth(n)))
        bx, _, _ = locate(road, n, 15.0)
        bare.append(abs(bx - truth(n)))
    return np.array(ours), np.array(bare), have


def test_doors_scattered_about_even_slots_keep_the_slot():
    rng = np.random.default_rng(3)
    road = _road()
    slot_len = LENGTH / 50
    odd = list(range(1, 100, 2))
    doors = {n: float(_slot_along(road, 1, 99, 2, n)) + rng.uniform(-0.3, 0.3) * slot_len for n in odd}
    missing = set(rng.choice(odd[1:-1], 12, replace=False).tolist())
    ours, bare, have = _errors(doors, missing, lambda n: float(_slot_along(road, 1, 99, 2, n)))
    assert have.own_share() < 0.3, have.own_share()  # the scatter is each door's own
    assert ours.mean() <= bare.mean() + 0.1 * slot_len and ours.max() < 0.35 * slot_len, (ours, bare)


def test_doors_at_uneven_spacing_stand_between_their_neighbours():
    rng = np.random.default_rng(5)
    odd = list(range(1, 100, 2))
    spacing = rng.uniform(8, 40, len(odd))
    along = np.cumsum(spacing) * (LENGTH - 20) / spacing.sum()
    doors = dict(zip(odd, along.tolist()))
    missing = set(rng.choice(odd[1:-1], 12, replace=False).tolist())
    ours, bare, have = _errors(doors, missing, lambda n: doors[n])
    assert have.own_share() > 0.8, have.own_share()  # the doors drift from their slots together
    # where its neighbours put it: off by at most half the unevenness of the two spacings around it
    for n, err in zip(sorted(missing), ours):
        k = odd.index(n)
        lo, hi = k - 1, k + 1
        while odd[lo] in missing:
            lo -= 1
        while odd[hi] in missing:
            hi += 1
        between = doors[odd[lo]] + (n - odd[lo]) / (odd[hi] - odd[lo]) * (doors[odd[hi]] - doors[odd[lo]])
        assert abs(err - abs(between - doors[n])) < 0.5 + 0.2 * abs(between - doors[n]), (n, err, between)
    assert ours.mean() < 0.7 * bare.mean(), (ours.mean(), bare.mean())
