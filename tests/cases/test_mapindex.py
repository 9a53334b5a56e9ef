"""One case's map units (an intake adds one at a time) are those of the whole index's read."""
from __future__ import annotations

import numpy as np

from urbangis.cases.mapindex import mercator, plate, point_units


def test_one_point_has_the_units_of_the_arrays():
    rnd = np.random.default_rng(5)
    lon = np.concatenate([rnd.uniform(73, 136, 100_000), rnd.uniform(-180, 180, 20_000), [-180.0, 180.0, 0.0, 87.6]])
    lat = np.concatenate([rnd.uniform(3, 54, 100_000), rnd.uniform(-90, 90, 20_000), [-90.0, 90.0, 85.2, 43.8]])
    xm, ym = mercator(lon, lat)
    xc, yc = plate(lon, lat)
    got = np.array([point_units(a, b) for a, b in zip(lon.tolist(), lat.tolist())], dtype=np.int64)
    want = np.stack([xm, ym, xc, yc], axis=1).astype(np.int64)
    # numpy's and the C library's log/tan may differ in the last bit: at most one unit (2**-32 of the world)
    assert np.abs(got - want).max() <= 1
    assert (got == want).all(axis=1).mean() > 0.9999
