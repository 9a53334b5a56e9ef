"""A province in one server: the sample city (Urumqi, 87° E) and a second city generated with
another seed and moved to Kashgar's prefecture (76° E, another Gauss-Kruger zone), loaded into one
database with the loader. Each geocodes there as well as it does alone, and each city is measured
in a plane of its own."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod

from tests.conftest import new_database
from tests.paths import ROOT, SAMPLE
from urbangis.geocoder.engine import Geocoder
from urbangis.geocoder.index import build_index
from urbangis.geocoder.reverse import reverse
from urbangis.ingest.gazetteer import load_gazetteer
from urbangis.layers import database as db
from urbangis.samplecity.city import build_city
from urbangis.samplecity.generate import generate
from urbangis.samplecity.queries import build_queries
from urbangis.samplecity.relocate import KASHGAR, relocate, relocate_queries

SEED_B = 7
PER_MODEL = 25  # clean queries per model (as many noisy): 900 per city
URUMQI = "乌鲁木齐市"


@pytest.fixture(scope="module")
def second_city(tmp_path_factory) -> tuple[Path, list[dict]]:
    """City B: seed 7, moved to Kashgar's prefecture (codes 6531..., centre 75.99° E 39.47° N)."""
    work = tmp_path_factory.mktemp("city_b")
    city = build_city(SEED_B, 1.0)
    generate(work / "generated", seed=SEED_B, city=city)
    queries = build_queries(city, PER_MODEL)
    mover = relocate(work / "generated", work / "kashgar", KASHGAR)
    return work / "kashgar", relocate_queries(queries, mover)


def _load(*folders: Path) -> str:
    info = new_database("urbangis_province")
    with db.connect(info) as conn:
        for folder in folders:
            load_gazetteer(conn, folder)
        conn.commit()
    return info


@pytest.fixture(scope="module")
def databases(second_city):
    """Urumqi alone, city B alone, and both in one database."""
    folder_b, _ = second_city
    made = {"a": _load(SAMPLE), "b": _load(folder_b), "ab": _load(SAMPLE, folder_b)}
    geocoders = {}
    for key, info in made.items():
        with db.connect(info) as conn:
            geocoders[key] = Geocoder(build_index(conn))
    yield geocoders
    for info in made.values():
        db.drop_database(info)


def _queries_a() -> list[dict]:
    rows = [json.loads(line) for line in (ROOT / "data-samples" / "urumqi_queries.jsonl").open(encoding="utf-8")]
    picked: dict[tuple[int, bool], int] = {}
    out = []
    for r in rows:  # the same share of each model as city B's set
        key = (r["model"], r["noisy"])
        if picked.get(key, 0) < PER_MODEL:
            picked[key] = picked.get(key, 0) + 1
            out.append(r)
    return out


def _named(rows: list[dict], city: str) -> list[dict]:
    """Each query with its city's name in front, as a provincial caller writes it."""
    return [{**r, "query": r["query"] if city in r["query"] else city + r["query"]} for r in rows]


def _hits(g: Geocoder, rows: list[dict]) -> int:
    """Queries whose best answer lies within 10 m of the truth (measured on the ellipsoid)."""
    geod = Geod(ellps="GRS80")
    n = 0
    for r in rows:
        cands = g.geocode(r["query"], 1).candidates
        if cands:
            lon, lat = g.ix.plane.inv(cands[0].x, cands[0].y)
            n += geod.inv(float(lon), float(lat), r["lon"], r["lat"])[2] <= 10.0
    return n


def test_both_cities_geocode_in_one_database_as_well_as_alone(databases, second_city):
    _, rows_b = second_city
    rows_a = _named(_queries_a(), URUMQI)
    rows_b = _named(rows_b, KASHGAR.name)
    alone_a, alone_b = _hits(databases["a"], rows_a), _hits(databases["b"], rows_b)
    both_a, both_b = _hits(databases["ab"], rows_a), _hits(databases["ab"], rows_b)
    assert alone_a >= 0.95 * len(rows_a) and alone_b >= 0.95 * len(rows_b), (alone_a, alone_b, len(rows_a))
    assert (both_a, both_b) == (alone_a, alone_b)


def test_each_city_has_a_plane_of_its_own(databases):
    ix = databases["ab"].ix
    assert {r.code for r in ix.plane.regions} == {"6501", "6531"}
    geod = Geod(ellps="GRS80")
    for region, (lon, lat) in zip(("6501", "6531"), ((87.617, 43.795), KASHGAR.centre)):
        # a 1 km east-west and north-south step a few km from the centre measures 1 km within 0.5 %
        for dlon, dlat in ((0.05, 0.04), (-0.08, -0.03)):
            x0, y0 = ix.plane.fwd(lon + dlon, lat + dlat)
            k = ix.plane.regions[ix.plane.region_at(x0)]
            assert k.code == region
            for east, north in ((1000.0, 0.0), (0.0, 1000.0)):
                lon1, lat1 = ix.plane.inv(x0 + east, y0 + north)
                metres = geod.inv(lon + dlon, lat + dlat, float(lon1), float(lat1))[2]
                assert metres == pytest.approx(1000.0, rel=0.005)


def test_reverse_finds_the_same_houses_in_one_database(databases, second_city):
    """The nearest house number of a point, in each city, is the same with or without the other city."""
    _, rows_b = second_city
    points = [(r["lon"], r["lat"]) for r in rows_b if r["target"]["layer"] == "house_numbers"][:40]
    points += [(r["lon"], r["lat"]) for r in _queries_a() if r["target"]["layer"] == "house_numbers"][:40]
    assert len(points) == 80
    for lon, lat in points:
        answers = []
        for key in ("ab", "b" if lon < 80 else "a"):
            ix = databases[key].ix
            x, y = ix.plane.fwd(lon, lat)
            found = reverse(ix, x, y, 50.0).house
            answers.append((found.id, round(found.distance, 1)) if found else None)
        assert answers[0] == answers[1] and answers[0] is not None


def test_the_zone_of_a_longitude_in_sql_and_python():
    """urbangis_gk_srid: the zone whose central meridian is nearest (as layers.geodesy.zone_srid)."""
    from urbangis.layers.geodesy import zone_srid

    lons = np.array([73.6, 75.99, 76.49, 76.51, 87.6, 88.49, 88.51, 96.3, 135.0])
    info = new_database()
    try:
        with db.connect(info) as conn:
            got = [conn.execute("SELECT urbangis_gk_srid(%s)", (float(x),)).fetchone()[0] for x in lons]
    finally:
        db.drop_database(info)
    assert got == [zone_srid(float(x)) for x in lons] == [4534, 4534, 4534, 4535, 4538, 4538, 4539, 4541, 4554]
    assert math.isclose(zone_srid(88.5), 4539)  # a meridian halfway between two goes east, in both


def test_a_name_every_city_has_is_ambiguous_without_a_city(databases):
    """人民路 in both cities: without a city the answer names both and picks neither with confidence;
    with the city's name, that city decides and nothing is ambiguous."""
    g = databases["ab"]
    ix = g.ix
    by_name: dict[str, set[str]] = {}
    for road in ix.roads:
        by_name.setdefault(road.name, set()).add(road.district or "")
    # a road name each city has in exactly one district
    shared = sorted(n for n, districts in by_name.items()
                    if len(districts) == 2 and {d[:4] for d in districts} == {"6501", "6531"})
    assert len(shared) >= 5, len(shared)
    for name in shared[:5]:
        ans = g.geocode(name, 5)
        assert [a["code"] for a in ans.ambiguous] in (["650100", "653100"], ["653100", "650100"]), (name, ans.ambiguous)
        assert {a["level"] for a in ans.ambiguous} == {"city"}
        tops = ans.candidates[:2]
        cities = {next(a["code"] for a in c.chain if a["level"] == "district")[:4] for c in tops}
        assert cities == {"6501", "6531"} and all(c.score <= 0.5 for c in tops), (name, [c.score for c in tops])
        alone = databases["a"].geocode(name, 5)
        assert alone.ambiguous == [] and alone.candidates[0].score > 0.5
        for city, code in ((URUMQI, "6501"), (KASHGAR.name, "6531")):
            named = g.geocode(city + name, 5)
            assert named.ambiguous == [], (city, name, named.ambiguous)
            top = named.candidates[0]
            assert next(a["code"] for a in top.chain if a["level"] == "district")[:4] == code
            assert top.score > 0.5


def _outcomes(g: Geocoder, rows: list[dict]) -> dict[str, int]:
    """Per query without a city: right (best answer within 10 m, not ambiguous), flagged (the
    answer names the ambiguity and one of its candidates is right), wrong (anything else)."""
    geod = Geod(ellps="GRS80")
    out = {"right": 0, "flagged": 0, "wrong": 0}

    def near(c, r) -> bool:
        lon, lat = g.ix.plane.inv(c.x, c.y)
        return geod.inv(float(lon), float(lat), r["lon"], r["lat"])[2] <= 10.0

    for r in rows:
        ans = g.geocode(r["query"], 5)
        if ans.candidates and not ans.ambiguous and near(ans.candidates[0], r):
            out["right"] += 1
        elif ans.ambiguous and any(near(c, r) for c in ans.candidates):
            out["flagged"] += 1
        else:
            out["wrong"] += 1
    return out


def test_without_a_city_each_query_is_right_or_says_it_is_ambiguous(databases, second_city):
    """The same queries without the city's name, in the province database: those whose names only
    one city has are answered as alone; those both cities have name the ambiguity with the right
    answer among the candidates; at most 1 % of what each city answers alone goes wrong."""
    _, rows_b = second_city
    for key, rows in (("a", _queries_a()), ("b", rows_b)):
        bare = [r for r in rows if URUMQI not in r["query"] and KASHGAR.name not in r["query"]]
        alone = _hits(databases[key], bare)
        got = _outcomes(databases["ab"], bare)
        assert got["flagged"] > 0, got  # the two cities share road names: some queries are ambiguous
        assert got["right"] + got["flagged"] >= alone - 0.01 * len(bare), (key, got, alone, len(bare))
