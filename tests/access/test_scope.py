"""Area scoping: keys of two districts see nothing of each other's through every door, enforced
by PostgreSQL's row-level security with the spatial index still used (EXPLAIN)."""
from __future__ import annotations

import json
import urllib.parse

import mapbox_vector_tile
import morecantile
import pytest

from urbangis.layers import database as db
from urbangis.layers import scope

from .conftest import SAYBAGH, TIANSHAN

EVENT = {"kind": "event", "major_class": "01", "minor_class": "02"}  # 市容环境 / 暴露垃圾


def _rows(info, q, *params):
    with db.connect(info) as conn:
        return conn.execute(q, params).fetchall()


def _ids(r) -> set:
    assert r.status_code == 200, r.text
    return {f["id"] for f in r.json()["features"]}


KEYS = {"cases": "case_no"}


def _outside(info, table: str, area: str, ids) -> int:
    """How many of ``ids`` (of ``table``) do not meet ``area``'s outline."""
    key = KEYS.get(table, "id")
    return _rows(info, f"SELECT count(*) FROM {table} t, admin_areas a WHERE a.code = %s AND t.{key}::text = ANY(%s) "
                       "AND NOT ST_Intersects(t.geom, a.geom)", area, [str(i) for i in ids])[0][0]


def test_items_of_two_districts_do_not_meet(access_db, callers):
    a = _ids(callers["tianshan"].get("/collections/buildings/items?limit=10000"))
    b = _ids(callers["saybagh"].get("/collections/buildings/items?limit=10000"))
    assert a and b
    assert _outside(access_db, "buildings", TIANSHAN, a) == 0 and _outside(access_db, "buildings", SAYBAGH, b) == 0
    # every building of the district is there (the policy hides others, not its own)
    inside = _rows(access_db, "SELECT count(*) FROM buildings t, admin_areas a WHERE a.code = %s AND "
                              "ST_Intersects(t.geom, a.geom)", TIANSHAN)[0][0]
    assert len(a) == inside


def test_an_item_of_the_other_district_is_not_found(access_db, callers):
    other = _rows(access_db, "SELECT t.id FROM buildings t, admin_areas a, admin_areas b WHERE a.code = %s AND "
                             "b.code = %s AND ST_Intersects(t.geom, b.geom) AND NOT ST_Intersects(t.geom, a.geom) "
                             "LIMIT 1", TIANSHAN, SAYBAGH)[0][0]
    assert callers["saybagh"].get(f"/collections/buildings/items/{other}").status_code == 200
    r = callers["tianshan"].get(f"/collections/buildings/items/{other}")
    assert r.status_code == 404, r.text


def test_filters_cannot_reach_out_of_the_area(access_db, callers):
    q = urllib.parse.quote(f"district_code = '{SAYBAGH}'")
    assert _ids(callers["tianshan"].get(f"/collections/roads/items?filter={q}&limit=1000")) <= _ids(
        callers["tianshan"].get("/collections/roads/items?limit=10000"))
    (x0, y0, x1, y1), = _rows(access_db, "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) "
                                         "FROM admin_areas WHERE code = %s", SAYBAGH)
    box = f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"
    for f in (f"S_INTERSECTS(geom, {box})", f"S_WITHIN(geom, {box}) OR 1 = 1", "1 = 1 OR district_code IS NULL"):
        got = _ids(callers["tianshan"].get(f"/collections/cases/items?limit=10000&filter={urllib.parse.quote(f)}"))
        assert _outside(access_db, "cases", TIANSHAN, got) == 0
    got = _ids(callers["tianshan"].get(f"/collections/cases/items?limit=10000&bbox={x0},{y0},{x1},{y1}"))
    assert _outside(access_db, "cases", TIANSHAN, got) == 0


def _tile_of(lon, lat, z):
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, z)
    return t.x, t.y


def _tile_ids(r) -> set:
    if r.status_code == 204:
        return set()
    assert r.status_code == 200, r.text
    layers = mapbox_vector_tile.decode(r.content)
    return {(name, f.get("id")) for name, layer in layers.items() for f in layer["features"]}


def test_tiles_at_every_zoom_and_from_the_cache(access_db, callers, deep_in):
    lon, lat = deep_in[SAYBAGH]
    for z in range(8, 19):
        layer = "buildings" if z >= 15 else "roads"  # (buildings are drawn from zoom 15)
        x, y = _tile_of(lon, lat, z)
        path = f"/collections/{layer}/tiles/WebMercatorQuad/{z}/{y}/{x}"
        theirs = _tile_ids(callers["saybagh"].get(path))  # made first: in the cache when the other asks
        mine = _tile_ids(callers["tianshan"].get(path))
        again = callers["tianshan"].get(path)
        assert again.headers["x-tile-cache"] == "hit" and _tile_ids(again) == mine
        assert _outside(access_db, layer, TIANSHAN, [i for _, i in mine]) == 0, z
        assert _outside(access_db, layer, SAYBAGH, [i for _, i in theirs]) == 0, z
        if z >= 15:  # a tile 3 km inside the other district holds nothing of mine
            assert theirs and not mine, z
    # the city tileset too, and its tiles are private to the caller
    x, y = _tile_of(lon, lat, 15)
    r = callers["tianshan"].get(f"/tiles/WebMercatorQuad/15/{y}/{x}")
    assert r.status_code == 204 or "private" in r.headers["cache-control"]
    assert not {n for n, _ in _tile_ids(r)} - {"admin_areas"}


def test_the_public_sees_public_layers_only(callers, deep_in):
    pub = callers["public"]
    assert pub.get("/collections/admin_areas/items?limit=5").status_code == 200
    r = pub.get("/collections/roads/items")
    assert r.status_code == 401 and "not public" in r.json()["description"]
    lon, lat = deep_in[SAYBAGH]
    x, y = _tile_of(lon, lat, 14)
    assert {n for n, _ in _tile_ids(pub.get(f"/tiles/WebMercatorQuad/14/{y}/{x}"))} <= {"admin_areas"}
    assert pub.get("/cases/stats").status_code == 401
    assert pub.get("/geocode?q=x").status_code == 401


def test_geocode_answers_inside_the_area_only(access_db, callers, deep_in):
    lon, lat = deep_in[SAYBAGH]
    there = callers["saybagh"].get(f"/reverse?lon={lon}&lat={lat}&radius=2000")
    assert there.status_code == 200 and there.json()["found"], there.text
    address = there.json()["standard_address"]
    assert callers["saybagh"].get(f"/geocode?q={urllib.parse.quote(address)}").json()["found"]
    r = callers["tianshan"].get(f"/geocode?q={urllib.parse.quote(address)}")
    assert r.status_code == 404 or all(c["admin"].get("district", {}).get("code", TIANSHAN) == TIANSHAN
                                       for c in [r.json()] + r.json()["candidates"]), r.text
    assert callers["tianshan"].get(f"/reverse?lon={lon}&lat={lat}").status_code == 403
    # a batch, and suggestions, answer only inside the area too
    for who, found in (("saybagh", True), ("tianshan", False)):
        r = callers[who].post_json("/geocode/batch", [address])
        assert r.status_code == 200, r.text
        row = json.loads(r.content.splitlines()[0])
        assert row["found"] is found, (who, row)
        sugg = callers[who].get(f"/geocode/suggest?q={urllib.parse.quote(address[:-2])}").json()["suggestions"]
        area = SAYBAGH if who == "saybagh" else TIANSHAN
        for s in sugg:
            if s["coordinates"]:
                x, y = s["coordinates"]
                assert _rows(access_db, "SELECT ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4490)) FROM "
                                        "admin_areas WHERE code = %s", x, y, area)[0][0], (who, s)


def test_case_intake_alerts_and_reads_stay_in_the_area(access_db, callers, deep_in):
    lon, lat = deep_in[SAYBAGH]
    mine = callers["saybagh_sub"].post_json("/cases", {"lon": lon, "lat": lat, **EVENT})
    assert mine.status_code == 201, mine.text
    case_no = mine.json()["case"]["case_no"]
    # the other district may not report there, nor check there, nor read the case
    r = callers["tianshan_sub"].post_json("/cases", {"lon": lon, "lat": lat, **EVENT})
    assert r.status_code == 403 and "outside" in r.json()["description"], r.text
    q = urllib.parse.urlencode({"lon": lon, "lat": lat, **EVENT})
    assert callers["tianshan_sub"].get(f"/cases/check?{q}").status_code == 403
    assert callers["tianshan"].get(f"/cases/{case_no}").status_code == 404
    assert callers["saybagh"].get(f"/cases/{case_no}").status_code == 200
    # an analyst reads but does not write
    assert callers["saybagh"].post_json("/cases", {"lon": lon, "lat": lat, **EVENT}).status_code == 403
    # nor moves the other district's case on
    r = callers["tianshan_sub"].post_json(f"/cases/{case_no}/events", {"to": "registered", "actor": "x"})
    assert r.status_code == 404, r.text
    # the similar-case alert of a report at the edge names only cases of the caller's area
    alerts = callers["saybagh_sub"].get(f"/cases/check?{q}").json()
    assert case_no in {m["case_no"] for m in alerts["similar"]}
    names = [m["case_no"] for m in alerts["similar"]]
    seen = {r[0] for r in _rows(access_db, "SELECT c.case_no FROM cases c, admin_areas a WHERE a.code = %s AND "
                                           "ST_Intersects(c.geom, a.geom) AND c.case_no = ANY(%s)", SAYBAGH, names)}
    assert set(names) == seen


def test_case_maps_and_statistics_stay_in_the_area(access_db, callers):
    for by in ("district", "street", "unit_grid", "responsibility_grid"):
        doc = callers["tianshan"].get(f"/cases/stats?by={by}&geometry=false").json()
        codes = [f["properties"]["code"] for f in doc["features"]]
        assert codes and all(c.lstrip("ZR").startswith(TIANSHAN) for c in codes), by
    assert callers["tianshan"].get(f"/cases/stats?area={SAYBAGH}").status_code == 403
    hot = callers["tianshan"].get("/cases/hotspots?geometry=false").json()
    assert all(f["properties"]["code"].startswith(TIANSHAN) for f in hot["features"])
    x, y = _tile_of(87.6, 43.8, 10)
    a = int(callers["tianshan"].get(f"/cases/tiles/WebMercatorQuad/10/{y}/{x}").headers["x-case-count"])
    b = int(callers["saybagh"].get(f"/cases/tiles/WebMercatorQuad/10/{y}/{x}").headers["x-case-count"])
    per = dict(_rows(access_db, "SELECT district_code, count(*) FROM cases GROUP BY 1"))
    assert 0 < a <= per[TIANSHAN] and 0 < b <= per[SAYBAGH]


def test_scoped_tiles_still_use_the_spatial_index(access_db):
    """The pitfall of row-level security: a predicate that is not leakproof cannot use an index
    ahead of the policy. `&&` is marked leakproof (migration 0013): the tile's envelope is the
    index condition, not a filter over the whole district."""
    with db.connect(access_db) as conn:
        with scope.scoped(conn, TIANSHAN):
            plan = conn.execute(
                "EXPLAIN (FORMAT JSON) SELECT count(*) FROM buildings t "
                "WHERE t.geom && ST_Transform(ST_TileEnvelope(15, 24353, 11946), 4490)").fetchone()[0]
            items = conn.execute(
                "EXPLAIN (FORMAT JSON) SELECT id FROM roads WHERE geom && ST_MakeEnvelope(87.6, 43.8, 87.61, 43.81, "
                "4490) AND ST_Intersects(geom, ST_MakeEnvelope(87.6, 43.8, 87.61, 43.81, 4490))").fetchone()[0]
            role = conn.execute("SELECT current_user").fetchone()[0]
    assert role == "urbangis_api"
    for doc, index in ((plan, "buildings_geom"), (items, "roads_geom")):
        text = json.dumps(doc)
        assert index in text, text
        conds = [n.get("Index Cond", "") for n in _nodes(doc[0]["Plan"])]
        assert any("&&" in c and ("st_tileenvelope" in c.lower() or "st_makeenvelope" in c.lower() or "0103" in c)
                   for c in conds), conds


def _nodes(plan):
    yield plan
    for p in plan.get("Plans", []):
        yield from _nodes(p)


def test_the_api_role_owns_nothing_and_cannot_bypass(access_db):
    (owner, bypass, superuser), = _rows(
        access_db, "SELECT (SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE "
                   "r.rolname = 'urbangis_api'), rolbypassrls, rolsuper FROM pg_roles WHERE rolname = 'urbangis_api'")
    assert (owner, bypass, superuser) == (0, False, False)
    with db.connect(access_db) as conn:
        with scope.scoped(conn, TIANSHAN):
            with pytest.raises(Exception, match="permission denied"):
                conn.execute("SELECT count(*) FROM audit_log")


def test_every_view_runs_with_the_callers_rights(access_db):
    views = _rows(access_db, "SELECT c.relname, coalesce(c.reloptions, '{}') FROM pg_class c JOIN pg_namespace n ON "
                             "n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'v' AND NOT EXISTS "
                             "(SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')")  # PostGIS' own
    assert views and all("security_invoker=true" in opts for _, opts in views), views
    assert not _rows(access_db, "SELECT 1 FROM pg_class WHERE relkind = 'm' AND relnamespace = 'public'::regnamespace")


def test_counts_are_the_callers_own(access_db, callers):
    """numberMatched of a scoped caller counts its area (the collection's count is shared metadata
    and not answered to it), and a count cached for one area is not answered to another."""
    for name, code in (("tianshan", TIANSHAN), ("saybagh", SAYBAGH), ("tianshan", TIANSHAN)):
        for path in ("/collections/buildings/items?limit=1", "/collections/buildings/items?limit=1&filter=1%3D1"):
            got = callers[name].get(path).json()["numberMatched"]
            inside = _rows(access_db, "SELECT count(*) FROM buildings t, admin_areas a WHERE a.code = %s AND "
                                      "ST_Intersects(t.geom, a.geom)", code)[0][0]
            assert got == inside, (name, path)


def test_supervisors_fixes_of_a_new_day_in_the_area(access_db, callers):
    """A day's first fix makes the day's partition: the API's role owns nothing, a database
    function of the owner's makes it (migration 0013); a fix outside the caller's area is refused."""
    (who, lon, lat), = _rows(access_db, "SELECT sg.supervisor_id, ST_X(c), ST_Y(c) FROM supervisor_grids sg JOIN "
                                        "(SELECT code, ST_PointOnSurface(geom) c FROM responsibility_grids "
                                        " WHERE district_code = %s) g ON g.code = sg.grid_code LIMIT 1", TIANSHAN)
    at = "2021-05-04T09:30:00+08:00"  # a day no fixture has touched
    r = callers["tianshan_sub"].post_json("/supervisors/fixes",
                                          {"fixes": [{"supervisor_id": who, "lon": lon, "lat": lat, "at": at}]})
    assert r.status_code == 201 and r.json()["accepted"] == 1, r.text
    assert _rows(access_db, "SELECT to_regclass('supervisor_fixes_20210504') IS NOT NULL")[0][0]
    r = callers["saybagh_sub"].post_json("/supervisors/fixes",
                                         {"fixes": [{"supervisor_id": who, "lon": lon, "lat": lat, "at": at}]})
    assert r.status_code == 403, r.text
