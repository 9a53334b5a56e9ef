"""Case intake: placed, classified and stored with its alerts; a retried request stores nothing
twice; each kind of bad input is a 400 naming the field and value, with nothing stored."""
from __future__ import annotations

import datetime as dt

import pytest

from urbangis.layers import database as db


def _count(info: str, where: str = "true", params=()) -> int:
    with db.connect(info) as conn:
        return conn.execute(f"SELECT count(*) FROM cases WHERE {where}", params).fetchone()[0]


def test_a_case_is_placed_classified_and_stored_with_its_history(api, cases_db, beat):
    r = api.post("/cases", json={"lon": beat.inside[0], "lat": beat.inside[1], "major_class": "市容环境",
                                 "minor_class": "暴露垃圾", "reporter": beat.supervisor, "description": "路边垃圾"})
    assert r.status_code == 201, r.text
    body = r.json()
    case = body["case"]
    assert (case["kind"], case["major_class"], case["minor_class"]) == ("event", "01", "02")  # names read as codes
    assert case["class_name"] == "市容环境/暴露垃圾" and case["status"] == "reported"
    assert case["responsibility_grid"] == beat.grid and case["district_code"] == "650102"
    assert case["grid_code"] and case["grid_code"].startswith("650102") and len(case["case_no"]) == 16
    assert r.headers["location"] == f"/cases/{case['case_no']}"
    assert [e["stage"] for e in body["history"]] == ["reported"] and body["history"][0]["actor"] == beat.supervisor
    again = api.get(f"/cases/{case['case_no']}").json()
    assert again == body  # the answer to the POST is the stored case, exactly
    # reported now, in the server's time zone (+08:00)
    at = dt.datetime.fromisoformat(case["reported_at"])
    assert at.utcoffset() == dt.timedelta(hours=8)
    assert abs(dt.datetime.now(dt.timezone.utc) - at) < dt.timedelta(minutes=1)


def test_a_component_case_finds_its_component_or_says_there_is_none(api, cases_db):
    with db.connect(cases_db) as conn:
        code, major, minor, lon, lat = conn.execute(
            "SELECT code, major_class, minor_class, ST_X(geom), ST_Y(geom) FROM components "
            "WHERE GeometryType(geom) = 'POINT' ORDER BY code LIMIT 1").fetchone()
    near = api.post("/cases", json={"lon": lon + 0.00002, "lat": lat, "kind": "component", "major_class": major,
                                    "minor_class": minor}).json()
    assert near["case"]["component_code"] == code
    assert any(f"component {code}" in n for n in near["notes"])
    named = api.post("/cases", json={"lon": lon, "lat": lat, "component_code": code}).json()
    assert named["case"]["component_code"] == code and named["case"]["kind"] == "component"
    far = api.post("/cases", json={"lon": lon + 0.01, "lat": lat + 0.01, "kind": "component", "major_class": major,
                                   "minor_class": minor}).json()
    assert far["case"]["component_code"] is None and any("within 10 m" in n for n in far["notes"]), far["notes"]


def test_a_case_placed_by_its_address(api):
    r = api.post("/cases", json={"address": "天山区解放南路12号", "kind": "event", "major_class": "05",
                                 "minor_class": "04", "source": "12345热线", "reported_by": "市民王先生"})
    assert r.status_code == 201, r.text
    case = r.json()["case"]
    assert case["district_code"] == "650102" and case["address"] == "天山区解放南路12号"
    assert case["reporter"] == "市民王先生" and case["supervisor_id"] is None and case["source"] == "12345热线"


def test_a_retried_request_never_stores_twice(api, cases_db, beat):
    report = {"lon": beat.inside[0], "lat": beat.inside[1], **{"kind": "event", "major_class": "05",
                                                               "minor_class": "05"}, "reporter": beat.supervisor}
    first = api.post("/cases", json=report, headers={"Idempotency-Key": "pda-7-000123"})
    second = api.post("/cases", json=report, headers={"Idempotency-Key": "pda-7-000123"})
    assert (first.status_code, second.status_code) == (201, 200) and second.headers["idempotent-replayed"] == "true"
    assert second.json()["case"]["case_no"] == first.json()["case"]["case_no"]
    assert _count(cases_db, "idempotency_key = %s", ("pda-7-000123",)) == 1
    in_body = api.post("/cases", json={**report, "idempotency_key": "pda-7-000123"})
    assert in_body.status_code == 200 and in_body.json()["case"]["case_no"] == first.json()["case"]["case_no"]
    other = api.post("/cases", json={**report, "description": "another problem"},
                     headers={"Idempotency-Key": "pda-7-000123"})
    assert other.status_code == 422 and other.json()["code"] == "IdempotencyKeyReused"
    assert _count(cases_db, "idempotency_key = %s", ("pda-7-000123",)) == 1


@pytest.mark.parametrize("change, parameter, words", [
    ({"minor_class": "99"}, "minor_class", "no class"),
    ({"major_class": "市容环境", "minor_class": "不存在的小类"}, "minor_class", "no class"),
    ({"kind": "weather"}, "kind", "neither component"),
    ({"lon": 100.0, "lat": 30.0}, "lon/lat", "no district"),
    ({"lon": 200.0}, "lon/lat", "out of range"),
    ({"lon": None, "lat": None, "address": "火星市不存在路999号"}, "address", "cannot be placed"),
    ({"lon": None, "lat": None}, "lon", "give lon and lat, or an address"),
    ({"reporter": "S99999"}, "reporter", "not a supervisor"),
    ({"reported_at": "2099-01-01T08:00:00+08:00"}, "reported_at", "in the future"),
    ({"reported_at": "1990-01-01T08:00:00+08:00"}, "reported_at", "before 2000"),
    ({"reported_at": "yesterday"}, "reported_at", "datetime"),
    ({"component_code": "6501020101000001", "kind": "event"}, "component_code", "no component"),
    ({"crs": "EPSG:9999"}, "crs", "not offered"),
])
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_stored(api, cases_db, beat, change, parameter, words):
    report = {"lon": beat.inside[0], "lat": beat.inside[1], "kind": "event", "major_class": "01", "minor_class": "02",
              **change}
    report = {k: v for k, v in report.items() if v is not None}
    before = _count(cases_db)
    r = api.post("/cases", json=report)
    assert r.status_code == 400, r.text
    body = r.json()
    assert words in body["description"] and parameter in (body.get("parameter") or body["description"]), body
    assert _count(cases_db) == before
