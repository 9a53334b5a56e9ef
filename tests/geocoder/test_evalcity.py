"""The geocoder on cities it was not tuned on (issue 23): the evaluation city of ``bench/evalcity``
(written independently of samplecity/: other street shapes, naming habits, door spacing and
set-backs, made-up addresses) around two real county seats, loaded with the loader."""
from __future__ import annotations

import json
import math
import re
from collections import defaultdict

import pytest

from bench.evalcity import build
from tests.conftest import new_database
from urbangis.geocoder.engine import Geocoder
from urbangis.geocoder.index import _admin_short, build_index
from urbangis.geocoder.interpolate import known_sides, locate
from urbangis.ingest.gazetteer import load_gazetteer
from urbangis.layers import database as db

CITIES = {"kuqa": ("652902", 1, 80), "korla": ("652801", 5, 80)}  # county, seed, clean queries per model
ANSWER = 0.5  # a best candidate at this confidence or more is an answer


@pytest.fixture(scope="module", params=sorted(CITIES))
def city(request, tmp_path_factory):
    county, seed, per_model = CITIES[request.param]
    got = build(tmp_path_factory.mktemp(request.param), county, seed, per_model)
    rows = [json.loads(line) for line in got["queries"].open(encoding="utf-8")]
    info = new_database("urbangis_evalcity")
    try:
        with db.connect(info) as conn:
            load_gazetteer(conn, got["gazetteer"])
            conn.commit()
            ix = build_index(conn)
        yield Geocoder(ix), rows
    finally:
        db.drop_database(info)


def _metres(g: Geocoder, c, r) -> float:
    x, y = g.ix.plane.fwd(r["lon"], r["lat"])
    return math.hypot(c.x - x, c.y - y)


def test_every_model_clean_and_noisy(city):
    """Clean >= 99 % and noisy >= 97 % within 10 m over the 18 models; no model under 95 %
    (house numbers missing from the gazetteer are measured apart, below)."""
    g, rows = city
    hits: dict[tuple[int, bool], list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        if r.get("made_up") or r.get("interpolated"):
            continue
        cands = g.geocode(r["query"], 1).candidates
        stat = hits[(r["model"], r["noisy"])]
        stat[0] += 1
        stat[1] += bool(cands) and _metres(g, cands[0], r) <= 10.0
    assert {m for m, _ in hits} == set(range(1, 19))
    for noisy, target in ((False, 0.99), (True, 0.97)):
        n = sum(v[0] for (_, k), v in hits.items() if k == noisy)
        ok = sum(v[1] for (_, k), v in hits.items() if k == noisy)
        assert ok / n >= target, (noisy, ok, n)
    worst = {key: v[1] / v[0] for key, v in hits.items() if v[1] / v[0] < 0.95}
    assert not worst, worst


def test_made_up_addresses_are_not_answered(city):
    """Roads, places, courtyards and branches the city does not have: no answer at confidence
    0.5 or more (at most 1 %), though each shares words, stems or a suffix with real names."""
    g, rows = city
    made = [r for r in rows if r.get("made_up")]
    assert len(made) >= 100
    answered = [(r["query"], c.label, round(c.score, 2)) for r in made
                for c in g.geocode(r["query"], 1).candidates[:1] if c.score >= ANSWER]
    assert len(answered) <= 0.01 * len(made), answered


def test_missing_numbers_stand_between_their_neighbours(city):
    """House numbers missing from the gazetteer: placed from the known doors of their side, they
    land within 10 m far more often than by the range rule with a fixed 15 m offset alone; and
    within 10 m for >= 80 % (this city's doors are 8-40 m apart at random: about one missing door
    in seven stands more than 10 m from where any interpolation between its neighbours puts it)."""
    g, rows = city
    ix = g.ix
    missing = [r for r in rows if r.get("interpolated") and not r["noisy"]]
    assert len(missing) >= 20
    ours = ranges = 0
    for r in missing:
        pidx = ix.road_by_id[r["target"]["id"]]
        n = int(re.search(r"([0-9]+)号", g.normalise(r["query"])).group(1))
        x, y = ix.plane.fwd(r["lon"], r["lat"])
        hit = locate(ix.roads[pidx], n, 15.0, known_sides(ix, pidx))
        bare = locate(ix.roads[pidx], n, 15.0)
        assert hit is not None and bare is not None
        ours += math.hypot(hit[0] - x, hit[1] - y) <= 10.0
        ranges += math.hypot(bare[0] - x, bare[1] - y) <= 10.0
        top = g.geocode(r["query"], 1).candidates[0]
        assert (top.level, top.layer, top.id) == ("interpolated", "roads", r["target"]["id"])
    assert ours >= 0.8 * len(missing) and ours > ranges + 0.2 * len(missing), (ours, ranges, len(missing))


def test_province_city_and_county_short_names_are_read(city):
    """新疆 / 阿克苏 / 库车 in front of an address are the province, prefecture and county (not text
    the geocoder could not read, which would halve the confidence)."""
    g, rows = city
    ix = g.ix
    names = {a.level: a.name for a in ix.admin if a.level in ("province", "city", "district")}
    short = {level: _admin_short(name, level) for level, name in names.items()}
    assert all(short.values()), short
    clean = next(r for r in rows if r["model"] == 3 and not r["noisy"] and not r.get("interpolated"))
    for prefix in (short["province"], short["province"] + short["city"] + short["district"], short["district"]):
        ans = g.geocode(prefix + clean["query"], 1)
        assert ans.parse is not None and ans.parse.unread == [], (prefix, ans.parse.unread)
        top = ans.candidates[0]
        assert top.level == "exact" and top.score >= 0.9 and _metres(g, top, clean) <= 10.0, (prefix, top)


def test_a_road_word_is_never_edited_away(city):
    """One edit is a typo, but not when it turns what the query calls a road into a place:
    X路 is not the place or courtyard X城 / X园 / X院 with its last character mistyped."""
    g, _ = city
    ix = g.ix
    roads = {r.name for r in ix.roads}
    tried = 0
    for f in ix.places + ix.courtyards:
        stem = f.name[:-1]
        if len(f.name) < 3 or f.name[-1] in "路街巷道" or any(r.startswith(stem) for r in roads):
            continue
        tried += 1
        for c in g.geocode(stem + "路", 5).candidates:
            assert c.id != f.id, (stem + "路", f.name, c.level, c.score)
    assert tried >= 20, tried
