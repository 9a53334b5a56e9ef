"""The generator is deterministic: the same seed writes the same city, which is the committed one
when this machine's floating point is that of the machine that wrote it.

On 2026-12-07's host (AMD EPYC: AVX2, no AVX-512) the same seed writes a city a few rows apart from
the committed one (buildings 21,754 against 21,743, roads 3,140 against 3,138; coordinates of
synthetic outlines 1e-14 degrees apart), whichever of shapely 2.1.2 / 2.2.0, pyproj 3.7.1 / 3.7.2 and
numpy 2.3.5 / 2.4.5 / 2.4.6 is installed; earlier hosts reproduced it bit for bit. The likely cause:
numpy picks its kernels for sin, cos, exp and the like by the CPU it finds (SVML under AVX-512),
they differ in the last bit now and then, and the generator's choices (a road kept or not, a number
placed or not) follow those bits. There the test asks what still holds: the same seed twice gives
the same city, of the committed city's size.
"""
from __future__ import annotations

import hashlib

import pyogrio

from tests.paths import SAMPLE
from urbangis.samplecity.city import DEFAULT_SEED
from urbangis.samplecity.generate import generate


def _digest(path) -> str:
    _meta, _fids, geometry, fields = pyogrio.raw.read(path)
    h = hashlib.sha256()
    for column in fields:
        h.update(repr(column.tolist()).encode())
    for wkb in geometry:
        h.update(bytes(wkb))
    return h.hexdigest()


def _rows(path) -> int:
    return int(pyogrio.read_info(path)["features"])


def test_same_seed_same_city(tmp_path):
    counts = generate(tmp_path / "city", seed=DEFAULT_SEED, scale=1.0)
    assert counts["house_numbers"] > 50_000 and counts["cases"] == 25_000
    layers = sorted(path.name for path in SAMPLE.glob("*.gpkg"))
    differ = [name for name in layers if _digest(tmp_path / "city" / name) != _digest(SAMPLE / name)]
    if not differ:  # the committed city, bit for bit
        assert (tmp_path / "city" / "supervisors.csv").read_bytes() == (SAMPLE / "supervisors.csv").read_bytes()
        return
    # another CPU's floating point (module docstring): deterministic here, and the committed city's size
    generate(tmp_path / "again", seed=DEFAULT_SEED, scale=1.0)
    for name in layers:
        assert _digest(tmp_path / "again" / name) == _digest(tmp_path / "city" / name), f"{name}: not deterministic"
        here, committed = _rows(tmp_path / "city" / name), _rows(SAMPLE / name)
        assert abs(here - committed) <= max(2, 0.005 * committed), (name, here, committed)
    assert (tmp_path / "again" / "supervisors.csv").read_bytes() == (tmp_path / "city" / "supervisors.csv").read_bytes()
