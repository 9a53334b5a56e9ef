"""The cross-grid and similar-case alerts: inside, outside and at the boundary of one's grids; a
near-duplicate found, a far, old or other-class case not; the in-memory index answering exactly
what one PostGIS statement answers."""
from __future__ import annotations

import datetime as dt
import random

import pytest
from pyproj import Geod

from urbangis.cases import peer
from urbangis.cases.grids import Supervisors, cross_grid
from urbangis.cases.index import build_case_index
from urbangis.cases.similarity import load_rules
from urbangis.geocoder.index import build_index
from urbangis.layers import database as db

GEOD = Geod(ellps="GRS80")
EVENT = {"kind": "event", "major_class": "01", "minor_class": "02"}  # 市容环境 / 暴露垃圾


def _check(api, lon, lat, **params):
    r = api.get("/cases/check", params={"lon": lon, "lat": lat, **EVENT, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_inside_one_s_own_grid_raises_no_cross_grid_alert(api, beat):
    body = _check(api, *beat.inside, reporter=beat.supervisor)
    assert body["cross_grid"] is None and body["place"]["responsibility_grid"] == beat.grid


def test_outside_one_s_grids_names_where_and_whose(api, beat):
    body = _check(api, *beat.across, reporter=beat.supervisor)
    alert = body["cross_grid"]
    assert alert["grid"]["code"] == beat.neighbour_grid
    assert [s["id"] for s in alert["grid"]["supervisors"]] == [beat.neighbour_supervisor]
    assert alert["own_grids"] == [beat.grid] and alert["nearest_own_grid"]["code"] == beat.grid
    with db.connect(api.app.state.services.conninfo) as conn:
        _, metres, inside = peer.cross_grid(conn, beat.supervisor, *beat.across)
    assert not inside and alert["nearest_own_grid"]["distance_m"] == pytest.approx(metres, abs=0.5)


def test_just_outside_within_the_gps_tolerance_is_at_the_boundary(api, beat):
    body = _check(api, *beat.boundary, reporter=beat.supervisor)
    assert body["cross_grid"] is None
    assert any("at its boundary" in n for n in body["notes"]), body["notes"]


def test_a_report_without_a_supervisor_raises_no_cross_grid_alert(api, beat):
    assert _check(api, *beat.across)["cross_grid"] is None


def _moved(lon, lat, metres, azimuth=45.0):
    x, y, _ = GEOD.fwd(lon, lat, azimuth, metres)
    return x, y


def test_a_near_duplicate_is_found_and_far_old_or_other_class_cases_are_not(api, beat):
    at = dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    lon, lat = _moved(*beat.inside, 3.0)
    first = api.post("/cases", json={"lon": lon, "lat": lat, **EVENT, "reporter": beat.supervisor,
                                     "reported_at": at.isoformat(), "description": "垃圾堆放"})
    assert first.status_code == 201, first.text
    case_no = first.json()["case"]["case_no"]
    near = _moved(lon, lat, 20.0)
    later = (at + dt.timedelta(hours=2)).isoformat()
    found = _check(api, *near, reported_at=later)["similar"]
    assert [m["case_no"] for m in found][:1] == [case_no]
    hit = found[0]
    assert hit["distance_m"] == pytest.approx(20.0, abs=0.5) and hit["hours_before"] == pytest.approx(2.0)
    assert hit["same_minor_class"] and 0.5 < hit["score"] <= 1
    far = _check(api, *_moved(lon, lat, 200.0), reported_at=later)["similar"]
    old = _check(api, *near, reported_at=(at + dt.timedelta(hours=100)).isoformat())["similar"]
    other = api.get("/cases/check", params={"lon": near[0], "lat": near[1], "kind": "event", "major_class": "05",
                                            "minor_class": "01", "reported_at": later}).json()["similar"]
    before = _check(api, *near, reported_at=(at - dt.timedelta(hours=1)).isoformat())["similar"]
    for answer in (far, old, other, before):
        assert case_no not in [m["case_no"] for m in answer]
    # the same major class, another minor class: found, scoring half
    sibling = api.get("/cases/check", params={"lon": near[0], "lat": near[1], "kind": "event", "major_class": "01",
                                              "minor_class": "04", "reported_at": later}).json()["similar"]
    [same_major] = [m for m in sibling if m["case_no"] == case_no]
    assert not same_major["same_minor_class"] and same_major["score"] == pytest.approx(hit["score"] / 2, abs=0.01)


def test_a_cancelled_case_counts_only_where_the_rules_say_so(api, cases_db, beat, tmp_path):
    """By default a case judged not a case (cancelled) raises no alert; a rules file whose
    count_ended names cancelled lists it, with its stage."""
    at = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    lon, lat = _moved(*beat.inside, 6.0, 135.0)
    first = api.post("/cases", json={"lon": lon, "lat": lat, **EVENT, "reported_at": at.isoformat()})
    assert first.status_code == 201, first.text
    case_no = first.json()["case"]["case_no"]
    moved = api.post(f"/cases/{case_no}/events", json={"to": "cancelled", "actor": "受理员", "note": "无效上报"})
    assert moved.status_code == 201, moved.text
    near, later = _moved(lon, lat, 5.0), at + dt.timedelta(hours=1)
    assert case_no not in [m["case_no"] for m in _check(api, *near, reported_at=later.isoformat())["similar"]]
    rules_file = tmp_path / "similarity.yaml"
    rules_file.write_text("count_ended: [closed, cancelled]\n", encoding="utf-8")
    rules = load_rules(rules_file)
    with db.connect(cases_db, autocommit=True) as conn:
        index = build_case_index(conn)
        [hit] = [m for m in index.similar(EVENT["kind"], EVENT["major_class"], EVENT["minor_class"], *near,
                                          later.timestamp(), rules, limit=100) if m.case_no == case_no]
        assert hit.status == "cancelled"
        truth = peer.similar(conn, EVENT["kind"], EVENT["major_class"], EVENT["minor_class"], *near, later, rules)
        assert case_no in [t[0] for t in truth]


def test_the_index_answers_what_postgis_answers(cases_db):
    """200 random reports near the sample city's cases: the in-memory index finds exactly the cases
    one PostGIS statement finds, at the same distances, in the same order."""
    rules = load_rules()
    rnd = random.Random(7)
    with db.connect(cases_db, autocommit=True) as conn:
        index = build_case_index(conn)
        rows = conn.execute("SELECT kind, major_class, minor_class, ST_X(geom), ST_Y(geom), reported_at FROM cases "
                            "ORDER BY case_no").fetchall()
        compared = matched = 0
        for kind, major, minor, lon, lat, at in rnd.sample(rows, 200):
            lon, lat = _moved(lon, lat, rnd.uniform(0, 40), rnd.uniform(0, 360))
            at = at + dt.timedelta(hours=rnd.uniform(0, 30))
            ours = index.similar(kind, major, minor, lon, lat, at.timestamp(), rules, limit=1000)
            truth = peer.similar(conn, kind, major, minor, lon, lat, at, rules)
            assert [m.case_no for m in ours] == [t[0] for t in truth], (kind, major, minor, lon, lat, at)
            for m, t in zip(ours, truth):
                assert m.distance_m == pytest.approx(t[1], abs=0.06) and m.score == pytest.approx(t[5], abs=1e-3)
            compared += 1
            matched += bool(truth)
    assert compared == 200 and matched >= 20  # the sample is dense enough that many reports have matches


def test_the_cross_grid_check_answers_what_postgis_answers(cases_db):
    """300 reports at random cases' places moved up to 300 m, by the case's own supervisor or by
    a random one: the check
    (own grids first, then where the point lies) agrees with one PostGIS statement on inside or
    not, the distance to the nearest own grid and the grid the point lies in."""
    rnd = random.Random(19)
    with db.connect(cases_db, autocommit=True) as conn:
        ix = build_index(conn)
        people = Supervisors.read(conn)
        points = conn.execute("SELECT ST_X(geom), ST_Y(geom), supervisor_id FROM cases "
                              "WHERE supervisor_id IS NOT NULL ORDER BY case_no").fetchall()
        kinds = {"inside": 0, "boundary": 0, "alert": 0}
        for lon, lat, who in rnd.sample(points, 300):
            lon, lat = _moved(lon, lat, rnd.uniform(0, 300), rnd.uniform(0, 360))
            who = who if rnd.random() < 0.5 and who in people.grids_of else rnd.choice(sorted(people.grids_of))
            x, y = ix.plane.fwd(lon, lat)
            alert, note = cross_grid(ix, people, who, x, y, 10.0)
            here, nearest, inside = peer.cross_grid(conn, who, lon, lat)
            if inside:
                assert alert is None and note is None, (who, lon, lat)
                kinds["inside"] += 1
            elif nearest <= 10.0:
                assert alert is None and "at its boundary" in note, (who, lon, lat, nearest)
                kinds["boundary"] += 1
            else:
                # the plane of the index is exact to ~0.02 % across a city: metres near the edge, not 13 km away
                assert alert["nearest_own_grid"]["distance_m"] == pytest.approx(nearest, rel=5e-4, abs=0.5)
                assert (alert["grid"]["code"] in here) if alert["grid"] else not here, (who, lon, lat, here)
                kinds["alert"] += 1
    assert kinds["inside"] >= 30 and kinds["alert"] >= 100, kinds
