"""Supervisors in the field: GPS fixes kept as tracks with bad ones set aside, last positions, the
on-duty supervisors nearest a case, and the check-in rules."""
from __future__ import annotations

import datetime as dt

import pytest

from urbangis.layers import database as db


def test_fixes_tracks_positions_and_the_nearest_on_duty(api, cases_db, beat):
    now = dt.datetime.now(dt.timezone.utc)
    lon, lat = beat.inside
    fixes = [{"supervisor_id": beat.supervisor, "lon": lon, "lat": lat,
              "at": (now - dt.timedelta(minutes=m)).isoformat(), "accuracy_m": 5} for m in (9, 6, 3)]
    fixes += [{"supervisor_id": beat.neighbour_supervisor, "lon": beat.across[0], "lat": beat.across[1],
               "at": (now - dt.timedelta(minutes=2)).isoformat()},
              {"supervisor_id": "S99999", "lon": lon, "lat": lat, "at": now.isoformat()},
              {"supervisor_id": beat.supervisor, "lon": 10.0, "lat": 10.0, "at": now.isoformat()},
              {"supervisor_id": beat.supervisor, "lon": lon, "lat": lat,
               "at": (now + dt.timedelta(hours=2)).isoformat()}]
    r = api.post("/supervisors/fixes", json={"fixes": fixes})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["accepted"] == 4 and body["positions_updated"] == 2
    assert [(x["index"], x["reason"].split(" ")[0]) for x in body["rejected"]] == [
        (4, "supervisor_id"), (5, "(10.0,"), (6, "at")]
    with db.connect(cases_db) as conn:
        assert conn.execute("SELECT count(*) FROM supervisor_fixes WHERE supervisor_id = %s",
                            (beat.supervisor,)).fetchone()[0] >= 3
        parts = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'supervisor_fixes'::regclass"
                             ).fetchone()[0]
    assert parts >= 1  # a partition per day
    # tracks and positions are collections like any layer (a partitioned table included)
    with db.connect(cases_db, autocommit=True) as conn:
        conn.execute("ANALYZE supervisor_fixes")
    tracks = api.get("/collections/supervisor_fixes").json()
    west, _, east, _ = tracks["extent"]["spatial"]["bbox"][0]
    assert tracks["itemCount"] >= 4 and west - 1e-6 <= lon <= east + 1e-6
    items = api.get("/collections/supervisor_fixes/items", params={"supervisor_id": beat.supervisor}).json()
    assert items["numberReturned"] >= 3 and api.get("/styles/city/style.json").status_code == 200
    positions = {f["id"]: f for f in api.get("/supervisors/positions").json()["features"]}
    newest = positions[beat.supervisor]["properties"]
    assert newest["on_duty"] and dt.datetime.fromisoformat(newest["at"]) > now - dt.timedelta(minutes=4)
    case = api.post("/cases", json={"lon": lon, "lat": lat, "kind": "event", "major_class": "01",
                                    "minor_class": "04"}).json()["case"]
    near = api.get(f"/cases/{case['case_no']}/nearest-supervisors", params={"limit": 2}).json()["supervisors"]
    assert near[0]["supervisor_id"] == beat.supervisor and near[0]["distance_m"] < 1
    assert near[1]["supervisor_id"] == beat.neighbour_supervisor and near[1]["distance_m"] > near[0]["distance_m"]


@pytest.fixture(scope="module")
def patrol_point(cases_db, beat):
    """A patrol point in the beat's grid, at its inner point."""
    with db.connect(cases_db) as conn:
        conn.execute("INSERT INTO patrol_points (id, name, grid_code, geom) VALUES ('PP-1', '巡更点1', %s, "
                     "ST_SetSRID(ST_MakePoint(%s, %s), 4490)) ON CONFLICT DO NOTHING", (beat.grid, *beat.inside))
        conn.execute("INSERT INTO patrol_points (id, name, grid_code, geom) VALUES ('PP-2', '巡更点2', %s, "
                     "ST_SetSRID(ST_MakePoint(%s, %s), 4490)) ON CONFLICT DO NOTHING",
                     (beat.neighbour_grid, *beat.across))
        conn.commit()
    return "PP-1"


def test_check_in_rules(api, beat, patrol_point):
    lon, lat = beat.inside
    ok = api.post("/patrols/checkins", json={"supervisor_id": beat.supervisor, "point_id": "PP-1",
                                             "lon": lon + 0.0001, "lat": lat})
    assert ok.status_code == 201 and ok.json()["accepted"] and ok.json()["reasons"] == [], ok.text
    far = api.post("/patrols/checkins", json={"supervisor_id": beat.supervisor, "point_id": "PP-1",
                                              "lon": lon + 0.001, "lat": lat}).json()
    assert not far["accepted"] and far["reasons"] and "must be within 30 m" in far["reasons"][-1]
    other = api.post("/patrols/checkins", json={"supervisor_id": beat.supervisor, "point_id": "PP-2",
                                                "lon": beat.across[0], "lat": beat.across[1]}).json()
    assert not other["accepted"]
    assert any("not one of" in r for r in other["reasons"]) and any("outside every grid" in r for r in other["reasons"])
    assert api.post("/patrols/checkins", json={"supervisor_id": beat.supervisor, "point_id": "PP-404",
                                               "lon": lon, "lat": lat}).status_code == 404
    assert api.post("/patrols/checkins", json={"supervisor_id": "S99999", "point_id": "PP-1",
                                               "lon": lon, "lat": lat}).status_code == 404


def test_fixes_refuse_what_json_would_not_send_and_text_the_database_cannot_keep(api, beat):
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    lon, lat = beat.inside
    good = {"supervisor_id": beat.supervisor, "lon": lon, "lat": lat, "at": now}
    for bad, field in (({"lon": str(lon)}, "lon"), ({"at": 1765000000}, "at"), ({"speed_mps": True}, "speed_mps")):
        r = api.post("/supervisors/fixes", json={"fixes": [{**good, **bad}]})
        assert r.status_code == 400 and field in r.text, (bad, r.text)
    # a NUL character reaches the database's text fields no more than any other store: a 400 saying so
    r = api.post("/supervisors/fixes", json={"fixes": [{**good, "supervisor_id": beat.supervisor + "\u0000"}]})
    assert r.status_code == 400 and "cannot contain NUL" in r.json()["description"], r.text
