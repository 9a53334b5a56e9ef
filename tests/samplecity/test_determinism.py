"""The generator is deterministic: the same seed writes the same city, which is the committed one."""
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


def test_same_seed_same_city(tmp_path):
    counts = generate(tmp_path / "city", seed=DEFAULT_SEED, scale=1.0)
    assert counts["house_numbers"] > 50_000 and counts["cases"] == 25_000
    for path in sorted(SAMPLE.glob("*.gpkg")):
        assert _digest(tmp_path / "city" / path.name) == _digest(path), f"{path.name} differs"
    assert (tmp_path / "city" / "supervisors.csv").read_bytes() == (SAMPLE / "supervisors.csv").read_bytes()
