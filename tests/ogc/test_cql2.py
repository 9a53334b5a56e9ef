"""Part 3 filtering: CQL2 text and JSON, translated to SQL and run on PostGIS. Every expected
answer is plain SQL written here, so the translation is checked against the database itself."""
from __future__ import annotations

import json

import pytest

from urbangis.ogc import cql2
from urbangis.ogc import crs as crsmod
from urbangis.ogc.collections import Catalog
from urbangis.ogc.errors import InvalidParameter
from urbangis.ogc.sqlparts import Params

EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
SQUARE = "POLYGON((87.56 43.77, 87.60 43.77, 87.60 43.80, 87.56 43.80, 87.56 43.77))"


def fetch(ogc, params: dict, cid: str = "cases") -> list:
    r = ogc.get(f"/collections/{cid}/items", params={"limit": 1000, **params})
    assert r.status_code == 200, r.text
    return [f["id"] for f in r.json()["features"]]


def expect(conn, where: str, table: str = "cases", key: str = "case_no") -> list:
    rows = conn.execute(f"SELECT {key} FROM {table} WHERE {where} ORDER BY {key}").fetchall()
    return [r[0] for r in rows]


TEXT_CASES = [
    ("status = 'closed'", "status = 'closed'"),
    ("status <> 'closed' AND kind = 'component'", "status <> 'closed' AND kind = 'component'"),
    ("major_class > '03'", "major_class > '03'"),
    ("status IN ('handled', 'verified')", "status IN ('handled', 'verified')"),
    ("status NOT IN ('handled', 'verified')", "status NOT IN ('handled', 'verified')"),
    ("minor_class BETWEEN '02' AND '04'", "minor_class BETWEEN '02' AND '04'"),
    ("description IS NULL", "description IS NULL"),
    ("closed_at IS NOT NULL", "closed_at IS NOT NULL"),
    ("description LIKE '问题 1_'", "description LIKE '问题 1_'"),
    ("address LIKE '%路 2%' OR source = 'hotline'", "address LIKE '%%路 2%%' OR source = 'hotline'"),
    ("NOT (source = 'hotline')", "NOT (source = 'hotline')"),
    ("CASEI(status) = casei('CLOSED')", "lower(status) = 'closed'"),
    ("reported_at > TIMESTAMP('2024-02-15T00:00:00Z')", "reported_at > '2024-02-15T00:00:00Z'"),
    ("reported_at < DATE('2024-01-03')", "reported_at < '2024-01-03 00:00+08'"),
    ("reported_at T_AFTER TIMESTAMP('2024-03-01T00:00:00Z')", "reported_at > '2024-03-01T00:00:00Z'"),
    ("reported_at T_BEFORE DATE('2024-01-05')", "reported_at < '2024-01-05 00:00+08'"),
    ("reported_at T_DURING INTERVAL('2024-01-10T00:00:00Z','2024-01-20T00:00:00Z')",
     "reported_at > '2024-01-10T00:00:00Z' AND reported_at < '2024-01-20T00:00:00Z'"),
    ("reported_at T_INTERSECTS INTERVAL('2024-01-10','2024-01-20')",
     "reported_at >= '2024-01-10 00:00+08' AND reported_at < '2024-01-21 00:00+08'"),
    ("reported_at T_INTERSECTS INTERVAL('..','2024-01-03T00:00:00Z')", "reported_at <= '2024-01-03T00:00:00Z'"),
    ("reported_at T_EQUALS TIMESTAMP('2024-01-01T07:00:00Z')", "reported_at = '2024-01-01T07:00:00Z'"),
    ("reported_at T_DISJOINT INTERVAL('2024-01-02T00:00:00Z','2024-03-01T00:00:00Z')",
     "reported_at < '2024-01-02T00:00:00Z' OR reported_at > '2024-03-01T00:00:00Z'"),
    ("closed_at > reported_at", "closed_at > reported_at"),  # property-property
    (f"S_INTERSECTS(geometry, {SQUARE})", f"ST_Intersects(geom, ST_GeomFromText('{SQUARE}', 4490))"),
    (f"S_WITHIN(geometry, {SQUARE})", f"ST_Within(geom, ST_GeomFromText('{SQUARE}', 4490))"),
    ("S_INTERSECTS(geometry, BBOX(87.56, 43.77, 87.60, 43.80))",
     "ST_Intersects(geom, ST_MakeEnvelope(87.56, 43.77, 87.60, 43.80, 4490))"),
    ("S_DISJOINT(geometry, BBOX(87.56, 43.77, 87.60, 43.80))",
     "ST_Disjoint(geom, ST_MakeEnvelope(87.56, 43.77, 87.60, 43.80, 4490))"),
    (f"S_CONTAINS({SQUARE}, geometry)", f"ST_Contains(ST_GeomFromText('{SQUARE}', 4490), geom)"),
    ("S_EQUALS(geometry, POINT(87.5725 43.76))", "ST_Equals(geom, ST_SetSRID(ST_MakePoint(87.5725, 43.76), 4490))"),
    ("S_DWITHIN(geometry, POINT(87.6 43.8), 1500)",
     "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(87.6, 43.8), 4490)::geography, 1500)"),
    ("S_DWITHIN(geometry, POINT(87.6 43.8), 1.5, 'km') AND status = 'closed'",
     "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(87.6, 43.8), 4490)::geography, 1500) AND status = 'closed'"),
]


@pytest.mark.parametrize("text, where", TEXT_CASES, ids=[t for t, _ in TEXT_CASES])
def test_cql2_text(ogc, dbconn, text, where):
    want = expect(dbconn, where.replace("%%", "%"))
    assert want, "a test filter should match something"
    got = fetch(ogc, {"filter": text})
    assert got == want


JSON_CASES = [
    ({"op": "=", "args": [{"property": "status"}, "closed"]}, "status = 'closed'"),
    ({"op": "and", "args": [{"op": ">=", "args": [{"property": "major_class"}, "03"]},
                            {"op": "like", "args": [{"property": "address"}, "%路 1%"]}]},
     "major_class >= '03' AND address LIKE '%路 1%'"),
    ({"op": "between", "args": [{"property": "minor_class"}, "02", "04"]}, "minor_class BETWEEN '02' AND '04'"),
    ({"op": "in", "args": [{"property": "status"}, ["handled", "verified"]]}, "status IN ('handled', 'verified')"),
    ({"op": "isNull", "args": [{"property": "description"}]}, "description IS NULL"),
    ({"op": "not", "args": [{"op": "isNull", "args": [{"property": "closed_at"}]}]}, "closed_at IS NOT NULL"),
    ({"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [87.56, 43.77, 87.60, 43.80]}]},
     "ST_Intersects(geom, ST_MakeEnvelope(87.56, 43.77, 87.60, 43.80, 4490))"),
    ({"op": "s_within", "args": [{"property": "geometry"},
                                 {"type": "Polygon", "coordinates": [[[87.56, 43.77], [87.60, 43.77], [87.60, 43.80],
                                                                      [87.56, 43.80], [87.56, 43.77]]]}]},
     f"ST_Within(geom, ST_GeomFromText('{SQUARE}', 4490))"),
    ({"op": "t_intersects", "args": [{"property": "reported_at"}, {"interval": ["2024-01-10", ".."]}]},
     "reported_at >= '2024-01-10 00:00+08'"),
    ({"op": "t_before", "args": [{"property": "reported_at"}, {"timestamp": "2024-01-03T00:00:00Z"}]},
     "reported_at < '2024-01-03T00:00:00Z'"),
    ({"op": "s_dwithin", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [87.6, 43.8]}, 1500]},
     "ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(87.6, 43.8), 4490)::geography, 1500)"),
]


@pytest.mark.parametrize("doc, where", JSON_CASES, ids=[d["op"] for d, _ in JSON_CASES])
def test_cql2_json(ogc, dbconn, doc, where):
    want = expect(dbconn, where)
    assert want
    assert fetch(ogc, {"filter": json.dumps(doc), "filter-lang": "cql2-json"}) == want


def test_arrays_and_arithmetic_on_admin_areas(ogc, dbconn):
    got = fetch(ogc, {"filter": "A_CONTAINS(aliases, ('乌市'))"}, "admin_areas")
    assert got == expect(dbconn, "aliases @> ARRAY['乌市']", "admin_areas", "code") and got
    got = fetch(ogc, {"filter": "A_OVERLAPS(aliases, ('乌市', '不存在'))"}, "admin_areas")
    assert got == expect(dbconn, "aliases && ARRAY['乌市', '不存在']", "admin_areas", "code")
    got = fetch(ogc, {"filter": "left_from + 2 > right_from"}, "roads")
    assert got == expect(dbconn, "left_from + 2 > right_from", "roads", "id")


def test_filter_crs_takes_coordinates_in_that_crs_axis_order(ogc, dbconn):
    lat_lon = "POLYGON((43.77 87.56, 43.77 87.60, 43.80 87.60, 43.80 87.56, 43.77 87.56))"
    got = fetch(ogc, {"filter": f"S_INTERSECTS(geometry, {lat_lon})", "filter-crs": EPSG4326})
    assert got == expect(dbconn, f"ST_Intersects(geom, ST_GeomFromText('{SQUARE}', 4490))")


def test_the_legacy_filter_lang_name_gdal_sends(ogc, dbconn):
    assert fetch(ogc, {"filter": "status = 'closed'", "filter-lang": "cql-text"}) == expect(dbconn, "status = 'closed'")


def test_filter_and_other_parameters_combine(ogc, dbconn):
    got = fetch(ogc, {"filter": "kind = 'event'", "bbox": "87.56,43.77,87.60,43.80", "status": "closed",
                      "datetime": "2024-01-01T00:00:00Z/2024-02-15T00:00:00Z"})
    assert got == expect(dbconn, "kind = 'event' AND status = 'closed' AND ST_Intersects(geom, ST_MakeEnvelope("
                                 "87.56, 43.77, 87.60, 43.80, 4490)) AND reported_at BETWEEN '2024-01-01T00:00:00Z' "
                                 "AND '2024-02-15T00:00:00Z'")


def test_values_are_bound_parameters_never_sql_text(ogc_db):
    from urbangis.layers import database as db

    injection = "x' OR '1'='1"
    with db.connect(ogc_db) as conn:
        layout = Catalog().layout(conn, "cases")
        params = Params()
        where = cql2.to_sql(f"status = '{injection.replace(chr(39), chr(39) * 2)}' AND S_INTERSECTS(geometry, "
                            f"POINT(87.6 43.8))", "cql2-text", layout, params, crsmod.default())
        text = where.as_string(conn)
    assert injection not in text and "87.6" not in text
    assert injection in params.values.values()


@pytest.mark.parametrize("text, lang, words", [
    ("status =", "cql2-text", "syntax error"),
    ("status = 'a' AND", "cql2-text", "syntax error"),
    ("nosuch = 1", "cql2-text", "unknown property 'nosuch'"),
    ("S_INTERSECTS(geometry, POINT(1 2)) AND nosuch IS NULL", "cql2-text", "unknown property 'nosuch'"),
    ("reported_at > 'not a date'", "cql2-text", "not a valid value for property 'reported_at'"),
    ("status T_AFTER TIMESTAMP('2024-01-01T00:00:00Z')", "cql2-text", "date or time property"),
    ("S_INTERSECTS(status, POINT(1 2))", "cql2-text", "not one"),
    ("FOO(status) = 'a'", "cql2-text", "unsupported function"),
    ("S_DWITHIN(geometry, POINT(87.6 43.8), 5, 'furlongs')", "cql2-text", "units"),
    ('{"op": "=", "args": [{"property": "status"}', "cql2-json", "not valid JSON"),
    ('{"op": "nope", "args": []}', "cql2-json", "unsupported operator"),
    ('{"op": "=", "args": [{"property": "secret"}, 1]}', "cql2-json", "unknown property 'secret'"),
])
def test_bad_filters_are_400_with_a_reason(ogc, text, lang, words):
    r = ogc.get("/collections/cases/items", params={"filter": text, "filter-lang": lang})
    assert r.status_code == 400, r.text
    assert words in r.json()["description"]


def test_a_geometry_postgis_rejects_is_a_400(ogc):
    r = ogc.get("/collections/cases/items", params={"filter": "S_INTERSECTS(geometry, POINT(1e30 1e30))",
                                                    "filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4538"})
    assert r.status_code == 400 and "projection domain" in r.json()["description"]


def test_parse_errors_raise_invalid_parameter():
    with pytest.raises(InvalidParameter):
        cql2.parse("((", "cql2-text")
