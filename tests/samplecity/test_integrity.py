"""The generated sample city, checked in PostGIS after loading it through the loader."""
from __future__ import annotations

import csv

import pytest

from tests.paths import SAMPLE
from urbangis.layers import database as db

REAL = SAMPLE.parent / "real"


def _one(info: str, query: str, params=()):
    with db.connect(info) as conn:
        return conn.execute(query, params).fetchone()


def _all(info: str, query: str, params=()):
    with db.connect(info) as conn:
        return conn.execute(query, params).fetchall()


def test_real_skeleton_whole(sample_db):
    with (REAL / "urumqi_communities.csv").open(encoding="utf-8") as fh:
        communities = {r["code"]: r["name"] for r in csv.DictReader(fh)}
    with (REAL / "urumqi_streets.csv").open(encoding="utf-8") as fh:
        streets = {r["code"]: r["name"] for r in csv.DictReader(fh)}
    rows = _all(sample_db, "SELECT code, name, level FROM admin_areas")
    got = {level: {c: n for c, n, lv in rows if lv == level} for level in ("street", "community")}
    assert got["street"] == streets and got["community"] == communities
    chain = _all(sample_db, "SELECT code, level, parent_code FROM admin_areas WHERE level IN ('province', 'city')")
    assert sorted(chain) == [("650000", "province", None), ("650100", "city", "650000")]
    districts = _one(sample_db, "SELECT count(*) FROM admin_areas WHERE level = 'district' AND parent_code = '650100'")
    assert districts[0] == 8


@pytest.mark.parametrize("level,parent_level", [("street", "district"), ("community", "street")])
def test_admin_polygons_partition_their_parent(sample_db, level, parent_level):
    # children cover the parent, without overlaps, within 0.01 % of its area
    bad = _all(sample_db, """
        SELECT p.code, ST_Area(p.geom::geography) AS parent,
               ST_Area(ST_Union(c.geom)::geography) AS covered, sum(ST_Area(c.geom::geography)) AS total
        FROM admin_areas p JOIN admin_areas c ON c.parent_code = p.code AND c.level = %s
        WHERE p.level = %s GROUP BY p.code, p.geom
        HAVING abs(ST_Area(ST_Union(c.geom)::geography) - ST_Area(p.geom::geography))
                   > 1e-4 * ST_Area(p.geom::geography)
            OR sum(ST_Area(c.geom::geography)) - ST_Area(ST_Union(c.geom)::geography)
                   > 1e-4 * ST_Area(p.geom::geography)
    """, (level, parent_level))
    assert bad == []


def test_core_dense_periphery_large(sample_db):
    core, outer = _one(sample_db, """
        SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Area(geom::geography))
                   FILTER (WHERE code LIKE '650102%%'),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Area(geom::geography))
                   FILTER (WHERE code LIKE '650107%%')
        FROM admin_areas WHERE level = 'community'""")
    assert outer > 20 * core


def test_unit_grids_cover_urban_communities(sample_db):
    rows = _all(sample_db, """
        SELECT c.code, c.name, ST_Area(ST_Transform(c.geom, 4538)) AS area,
               coalesce(ST_Area(ST_Union(ST_Transform(g.geom, 4538))), 0) AS covered,
               coalesce(sum(ST_Area(ST_Transform(g.geom, 4538))), 0) AS total, count(g.code) AS n
        FROM admin_areas c LEFT JOIN unit_grids g ON g.community_code = c.code
        WHERE c.level = 'community' GROUP BY c.code, c.name, c.geom""")
    # residents' committees (社区居委会, 居委会) are urban; village committees (…村委会) are not
    urban = [r for r in rows if ("社区" in r[1] or r[1].endswith("居委会")) and "村委会" not in r[1]]
    assert all(r[5] == 0 for r in rows if r not in urban)  # grids only in urban communities
    gaps = [(r[0], r[2] - r[3]) for r in urban if r[2] - r[3] > 200]  # crumbs < 100 m² are left out
    overlaps = [(r[0], r[4] - r[3]) for r in urban if r[4] - r[3] > 1]
    assert gaps == [] and overlaps == []
    total_gap = sum(r[2] - r[3] for r in urban) / sum(r[2] for r in urban)
    assert total_gap < 1e-4
    # about 10,000 m² each
    median = _one(sample_db, "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Area(ST_Transform(geom, 4538))) "
                             "FROM unit_grids")[0]
    assert 9_000 < median <= 10_001


def test_codes_well_formed(sample_db):
    assert _one(sample_db, "SELECT count(*) FROM unit_grids WHERE code !~ '^[0-9]{15}$' "
                           "OR left(code, 12) <> community_code")[0] == 0
    bad = _one(sample_db, """
        SELECT count(*) FROM components c JOIN admin_areas d ON d.code = left(c.code, 6)
        WHERE c.code !~ '^[0-9]{6}0[1-6][0-9]{2}[0-9]{6}$' OR NOT ST_Covers(d.geom, ST_PointOnSurface(c.geom))""")[0]
    assert bad == 0
    assert _one(sample_db, "SELECT count(DISTINCT major_class) FROM components")[0] == 6
    assert _one(sample_db, "SELECT count(*) FROM components WHERE grid_code IS NOT NULL AND NOT EXISTS "
                           "(SELECT 1 FROM unit_grids g WHERE g.code = grid_code)")[0] == 0


def test_grid_sequence_west_to_east_then_north_to_south(sample_db):
    rows = _all(sample_db, """
        SELECT community_code, code, floor(ST_Y(ST_Centroid(ST_Transform(geom, 4538))) / 100),
               floor(ST_X(ST_Centroid(ST_Transform(geom, 4538))) / 100)
        FROM unit_grids ORDER BY code""")
    pairs = in_order = 0
    for a, b in zip(rows, rows[1:]):
        if a[0] != b[0]:
            continue
        pairs += 1
        in_order += (a[2] > b[2]) or (a[2] == b[2] and a[3] < b[3])
    assert in_order / pairs > 0.99  # a cell with a merged sliver may shift its centroid


def test_parents_exist(sample_db):
    orphans = _one(sample_db, """
        SELECT (SELECT count(*) FROM house_numbers h WHERE NOT (
                   (h.parent_kind = 'road' AND EXISTS (SELECT 1 FROM roads r WHERE r.id = h.parent_id)) OR
                   (h.parent_kind = 'place' AND EXISTS (SELECT 1 FROM place_names p WHERE p.id = h.parent_id)) OR
                   (h.parent_kind = 'courtyard' AND EXISTS (SELECT 1 FROM courtyards c WHERE c.id = h.parent_id)))),
               (SELECT count(*) FROM buildings b WHERE NOT (
                   (b.parent_kind = 'house_number'
                    AND EXISTS (SELECT 1 FROM house_numbers h WHERE h.id = b.parent_id)) OR
                   (b.parent_kind = 'road' AND EXISTS (SELECT 1 FROM roads r WHERE r.id = b.parent_id)) OR
                   (b.parent_kind = 'place' AND EXISTS (SELECT 1 FROM place_names p WHERE p.id = b.parent_id)) OR
                   (b.parent_kind = 'organisation'
                    AND EXISTS (SELECT 1 FROM organisations o WHERE o.id = b.parent_id)) OR
                   (b.parent_kind = 'courtyard' AND EXISTS (SELECT 1 FROM courtyards c WHERE c.id = b.parent_id)))),
               (SELECT count(*) FROM organisations o WHERE NOT EXISTS (
                   SELECT 1 FROM house_numbers h WHERE h.parent_id = o.road_id AND h.number = o.house_number)),
               (SELECT count(*) FROM storefronts s WHERE NOT EXISTS (
                   SELECT 1 FROM house_numbers h WHERE h.parent_id = s.road_id AND h.number = s.house_number))""")
    assert orphans == (0, 0, 0, 0)
    kinds = {k for (k,) in _all(sample_db, "SELECT DISTINCT parent_kind FROM buildings")}
    assert kinds == {"house_number", "road", "place", "organisation", "courtyard"}


def test_roads_inside_urumqi_and_their_district(sample_db):
    bad = _one(sample_db, """
        SELECT count(*) FROM roads r JOIN admin_areas d ON d.code = r.district_code
        WHERE NOT ST_CoveredBy(r.geom, d.geom)
           OR NOT ST_Within(r.geom, (SELECT geom FROM admin_areas WHERE code = '650100'))""")[0]
    assert bad == 0
    assert {k for (k,) in _all(sample_db, "SELECT DISTINCT kind FROM roads")} == {"main", "secondary", "branch", "lane"}
    names = [n for (n,) in _all(sample_db, "SELECT name FROM roads")]
    for real in ("解放北路", "人民路", "友好南路", "北京南路", "南湖路", "克拉玛依西路", "喀什东路"):
        assert real in names


def test_components_and_cases_inside_their_grid_and_district(sample_db):
    # strictly (the loader allows a few metres at an edge): the generator keeps points clear of
    # grid edges, and road furniture off the city's outer edge
    bad = _one(sample_db, """
        SELECT (SELECT count(*) FROM components m JOIN unit_grids g ON g.code = m.grid_code
                WHERE NOT ST_Covers(g.geom, ST_PointOnSurface(m.geom))),
               (SELECT count(*) FROM components m JOIN admin_areas d ON d.code = left(m.code, 6)
                WHERE NOT ST_Covers(d.geom, ST_PointOnSurface(m.geom))),
               (SELECT count(*) FROM cases c JOIN unit_grids g ON g.code = c.grid_code
                WHERE NOT ST_Covers(g.geom, c.geom))""")
    assert bad == (0, 0, 0)
    assert _one(sample_db, "SELECT count(*) FROM components WHERE grid_code IS NOT NULL")[0] > 40_000


def test_house_numbers_respect_ranges_parity_and_side(sample_db):
    rows = _all(sample_db, """
        WITH h AS (
            SELECT h.num, r.left_from, r.left_to, r.right_from, r.right_to, r.left_parity, r.right_parity,
                   ST_GeometryN(r.geom, 1) AS line, h.geom AS p,
                   ST_LineLocatePoint(ST_GeometryN(r.geom, 1), h.geom) AS f
            FROM house_numbers h JOIN roads r ON r.id = h.parent_id WHERE h.parent_kind = 'road')
        SELECT num, left_from, left_to, right_from, right_to, left_parity, right_parity,
               sign((ST_X(b) - ST_X(a)) * (ST_Y(p) - ST_Y(a)) - (ST_Y(b) - ST_Y(a)) * (ST_X(p) - ST_X(a)))
        FROM (SELECT *, ST_LineInterpolatePoint(line, greatest(f - 0.001, 0)) AS a,
                        ST_LineInterpolatePoint(line, least(f + 0.001, 1)) AS b FROM h) x""")

    def fits(n, lo, hi, par):
        return lo is not None and lo <= n <= hi and (par == "all" or (n % 2 == 1) == (par == "odd"))

    wrong = 0
    for n, lf, lt, rf, rt, lp, rp, side in rows:
        on_left = fits(n, lf, lt, lp)
        on_right = fits(n, rf, rt, rp)
        if not ((side > 0 and on_left) or (side < 0 and on_right)):
            wrong += 1
    assert len(rows) > 50_000 and wrong / len(rows) < 0.002  # a house at a sharp bend may flip side
    forms = _one(sample_db, "SELECT count(*) FILTER (WHERE number ~ '^[0-9]+-[0-9]+$'), "
                            "count(*) FILTER (WHERE number ~ '^[0-9]+附[0-9]+$') FROM house_numbers")
    assert min(forms) > 100
    parities = {p for (p,) in _all(sample_db, "SELECT DISTINCT left_parity FROM roads")}
    assert parities == {"odd", "even", "all"}


def test_cases_cover_workflow_and_cluster(sample_db):
    statuses = {s for (s,) in _all(sample_db, "SELECT DISTINCT status FROM cases")}
    assert statuses == {"reported", "registered", "dispatched", "handling", "handled", "verified", "closed",
                        "cancelled"}
    assert {k for (k,) in _all(sample_db, "SELECT DISTINCT kind FROM cases")} == {"component", "event"}
    span = _one(sample_db, "SELECT max(reported_at) - min(reported_at) FROM cases")[0]
    assert span.days > 700
    # component cases refer to a real component of the same class
    assert _one(sample_db, "SELECT count(*) FROM cases c LEFT JOIN components k ON k.code = c.component_code "
                           "WHERE c.kind = 'component' AND (k.code IS NULL OR k.major_class <> c.major_class)")[0] == 0
    # near-duplicates: within 50 m and 4 hours of the case they repeat
    dup = _one(sample_db, """
        SELECT count(*), count(*) FILTER (
                   WHERE ST_DWithin(c.geom::geography, o.geom::geography, 50)
                   AND c.reported_at - o.reported_at BETWEEN interval '0' AND interval '4 hours')
        FROM cases c JOIN cases o ON o.case_no = c.attrs->>'duplicate_of'""")
    assert dup[0] > 100 and dup[1] == dup[0]
    # clustered: the busiest 5 % of the grids with cases hold far more than 5 % of the cases
    share = _one(sample_db, """
        SELECT sum(n) FILTER (WHERE rk <= 0.05 * cnt)::float / sum(n) FROM (
            SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS rk, count(*) OVER () AS cnt
            FROM cases GROUP BY grid_code) x""")[0]
    assert share > 0.2
