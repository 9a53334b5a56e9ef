"""The sample city's evaluation set (urbangis samples queries) as a regression guard: every model,
clean and noisy, on the sample loaded through the loader. The thresholds sit below the figures of
docs/performance.md (which bench/geocode_accuracy.py measures), so that only a real regression,
not a regenerated sample, fails them."""
from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest

from tests.paths import ROOT
from urbangis.geocoder.engine import Geocoder
from urbangis.geocoder.index import build_index
from urbangis.layers import database as db

QUERIES = ROOT / "data-samples" / "urumqi_queries.jsonl"
FLOOR = {False: 0.97, True: 0.85}  # share within 10 m of the truth, per model


@pytest.fixture(scope="module")
def sample_geocoder(sample_db):
    with db.connect(sample_db) as conn:
        return Geocoder(build_index(conn))


def test_every_model_clean_and_noisy(sample_geocoder):
    rows = [json.loads(line) for line in QUERIES.open(encoding="utf-8") if line.strip()]
    assert {r["model"] for r in rows} == set(range(1, 19))
    ix = sample_geocoder.ix
    hits: dict[tuple[int, bool], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        stat = hits[(r["model"], bool(r["noisy"]))]
        stat[0] += 1
        cands = sample_geocoder.geocode(r["query"], 1).candidates
        if cands:
            tx, ty = ix.plane.fwd(r["lon"], r["lat"])
            stat[1] += math.hypot(cands[0].x - tx, cands[0].y - ty) <= 10.0
    low = {f"model {m} {'noisy' if n else 'clean'}": f"{ok}/{total}"
           for (m, n), (total, ok) in sorted(hits.items()) if ok / total < FLOOR[n]}
    assert not low, low
