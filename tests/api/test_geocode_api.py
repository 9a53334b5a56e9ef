"""The geocoding HTTP contract (docs/api.md): answers, CRS, batch, suggest, and bad input -> 4xx."""
from __future__ import annotations

import csv
import io

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.geocoder import gazetteer
from tests.geocoder.conftest import geo_db  # noqa: F401  (the hand-made gazetteer, shared)
from urbangis.api.app import create_app


@pytest.fixture(scope="module")
def geo_client(geo_db):  # noqa: F811
    with TestClient(create_app(geo_db)) as c:
        yield c


def test_geocode_answer_fields(geo_client):
    r = geo_client.get("/geocode", params={"q": "天山区解放南路12号3号楼", "limit": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["found"] is True
    assert body["model"] == 4 and body["match_level"] == "exact" and 0 < body["confidence"] <= 1
    lon, lat = body["coordinates"]
    assert lon == pytest.approx(87.6050, abs=1e-6) and lat == pytest.approx(43.7896, abs=1e-6)
    assert body["standard_address"] == "天山区胜利路街道三甬碑社区居委会解放南路12号3号楼"
    assert [a["code"] for a in body["admin"]] == ["650000", "650100", "650102", "650102003", "650102003001"]
    assert body["unit_grid"] == "650102003001001" and body["responsibility_grid"] == "TS-001"
    assert body["matched"] == {"layer": "buildings", "id": "B1"}
    assert body["parsed"] == {"district": "天山区", "road": "解放南路", "house": "12", "building": "3"}
    assert isinstance(body["candidates"], list)


@pytest.mark.parametrize("crs", ["EPSG:4490", "http://www.opengis.net/def/crs/EPSG/0/4490", "4490", "EPSG:3857",
                                 "EPSG:4538"])
def test_geocode_crs(geo_client, crs):
    from pyproj import Transformer

    body = geo_client.get("/geocode", params={"q": "解放南路12号", "crs": crs}).json()
    target = "EPSG:" + crs.rsplit("/", 1)[-1].replace("EPSG:", "")
    assert body["crs"] == target
    ex, ey = Transformer.from_crs("EPSG:4490", target, always_xy=True).transform(87.6050, 43.7899)
    x, y = body["coordinates"]
    tol = 1e-6 if target == "EPSG:4490" else 0.05
    assert x == pytest.approx(ex, abs=tol) and y == pytest.approx(ey, abs=tol)


def test_other_candidates_and_limit(geo_client):
    body = geo_client.get("/geocode", params={"q": "人民路8号", "limit": 5}).json()
    assert body["matched"]["id"] in ("H4", "H5")
    assert len(body["candidates"]) == 1
    one = geo_client.get("/geocode", params={"q": "人民路8号", "limit": 1}).json()
    assert one["candidates"] == []


def test_reverse(geo_client):
    r = geo_client.get("/reverse", params={"lon": 87.60501, "lat": 43.78991})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["found"] and body["match_level"] == "exact"
    assert body["house_number"]["id"] == "H1" and body["house_number"]["distance_m"] < 2
    assert body["road"]["name"] == "解放南路" and body["road"]["side"] == "right"
    assert body["unit_grid"] == "650102003001001" and body["responsibility_grid"] == "TS-001"
    assert body["standard_address"].startswith("天山区胜利路街道三甬碑社区居委会")


def test_reverse_in_a_projected_crs(geo_client):
    fwd = geo_client.get("/geocode", params={"q": "解放南路12号", "crs": "EPSG:4538"}).json()
    x, y = fwd["coordinates"]
    body = geo_client.get("/reverse", params={"lon": x, "lat": y, "crs": "EPSG:4538"}).json()
    assert body["house_number"]["id"] == "H1" and body["crs"] == "EPSG:4538"


def test_suggest(geo_client):
    body = geo_client.get("/geocode/suggest", params={"q": "解放南路1"}).json()
    assert {s["text"] for s in body["suggestions"]} == {"解放南路12号", "解放南路13号", "解放南路12-1号"}
    assert all(len(s["coordinates"]) == 2 for s in body["suggestions"])
    assert len(geo_client.get("/geocode/suggest", params={"q": "解"}).json()["suggestions"]) <= 10


def test_status_lists_the_models(geo_client):
    body = geo_client.get("/geocode/status").json()
    assert [m["number"] for m in body["models"]][:18] == list(range(1, 19))
    assert body["counts"]["house_numbers"] == len(gazetteer.HOUSES)


def test_landing_page_lists_geocoding(geo_client):
    hrefs = [link["href"] for link in geo_client.get("/").json()["links"]]
    assert any(h.endswith("/geocode?q=") for h in hrefs) and any("/reverse" in h for h in hrefs)


# -- batch ------------------------------------------------------------------------------------
def test_batch_json_with_bad_rows_keeps_order(geo_client):
    rows = ["解放南路12号", "", 5, {"id": "a", "q": "二道桥"}, "x" * 10_000, "a\x01b", "不存在的地方", None,
            {"id": "b", "address": "650102003001001"}]
    r = geo_client.post("/geocode/batch", json=rows)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    out = [orjson.loads(line) for line in r.content.splitlines()]
    assert [o["row"] for o in out] == list(range(1, len(rows) + 1))
    assert out[0]["matched"]["id"] == "H1"
    assert "empty" in out[1]["error"]["description"]
    assert "string" in out[2]["error"]["description"]
    assert out[3]["id"] == "a" and out[3]["matched"]["id"] == "P1"
    assert "10000 characters" in out[4]["error"]["description"]
    assert "control character" in out[5]["error"]["description"]
    assert out[6]["found"] is False and "error" not in out[6]
    assert out[7]["error"]
    assert out[8]["id"] == "b" and out[8]["model"] == 17


def test_batch_csv_upload_and_csv_answer(geo_client):
    data = "id,address\n1,解放南路12号\n2,\n3,二道桥5号\n".encode("utf-8")
    r = geo_client.post("/geocode/batch?format=csv", files={"file": ("in.csv", data, "text/csv")})
    assert r.status_code == 200, r.text
    recs = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["id"] for x in recs] == ["1", "2", "3"]
    assert recs[0]["model"] == "3" and recs[0]["community"] == "三甬碑社区居委会"
    assert recs[1]["error"] and recs[2]["standard_address"].endswith("二道桥5号")


def test_batch_csv_body_in_gbk(geo_client):
    data = "address\n解放南路12号\n".encode("gbk")
    r = geo_client.post("/geocode/batch", content=data, headers={"content-type": "text/csv"})
    out = [orjson.loads(line) for line in r.content.splitlines()]
    assert out[0]["matched"]["id"] == "H1"


def test_batch_limits_and_bad_bodies(geo_client):
    r = geo_client.post("/geocode/batch", json=["解放南路12号"] * 100_001)
    assert r.status_code == 413 and "100000" in r.json()["description"]
    r = geo_client.post("/geocode/batch", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["description"]
    r = geo_client.post("/geocode/batch", json={"q": "x"})
    assert r.status_code == 400
    r = geo_client.post("/geocode/batch", content=b"x", headers={"content-type": "application/xml"})
    assert r.status_code == 415
    r = geo_client.post("/geocode/batch?format=xml", json=["a"])
    assert r.status_code == 400


# -- bad input --------------------------------------------------------------------------------
def test_a_request_target_over_the_limit_is_414(geo_client):
    r = geo_client.get("/geocode", params={"q": "x" * 10_000})  # URBANGIS_AUTH_MAX_URL, 8192 bytes
    assert r.status_code == 414 and "the most is 8192" in r.json()["description"]


@pytest.mark.parametrize("params,fragment", [
    ({}, "q is required"),
    ({"q": ""}, "empty"),
    ({"q": "   "}, "empty"),
    ({"q": "，。、！？"}, "only punctuation"),
    ({"q": "x" * 5_000}, "5000 characters"),
    ({"q": "解放南路\x0012号"}, "control character"),
    ({"q": "解放南路\x1b12号"}, "control character"),
    ({"q": "解放南路12号", "crs": "EPSG:9999"}, "crs"),
    ({"q": "解放南路12号", "crs": "nonsense"}, "crs"),
    ({"q": "解放南路12号", "limit": 0}, "limit"),
    ({"q": "解放南路12号", "limit": "many"}, "limit"),
])
def test_geocode_bad_input_is_400(geo_client, params, fragment):
    r = geo_client.get("/geocode", params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "InvalidParameterValue" and fragment in body["description"]


@pytest.mark.parametrize("q", ["'; DROP TABLE roads; --", "1 OR 1=1", "SELECT * FROM house_numbers", "<script>"])
def test_sql_looking_strings_are_a_clean_404(geo_client, q):
    r = geo_client.get("/geocode", params={"q": q})
    assert r.status_code == 404 and r.json()["code"] == "NotFound"
    # and nothing happened to the data
    assert geo_client.get("/geocode", params={"q": "解放南路12号"}).status_code == 200


@pytest.mark.parametrize("params,fragment", [
    ({"lon": 200, "lat": 43}, "lon 200"),
    ({"lon": 87, "lat": -95}, "lat -95"),
    ({"lon": "east", "lat": 43}, "lon"),
    ({"lat": 43}, "lon and lat"),
    ({"lon": 87.6, "lat": 43.8, "crs": "EPSG:1234"}, "crs"),
    ({"lon": 87.6, "lat": 43.8, "radius": 0}, "radius"),
    ({"lon": 87.6, "lat": 43.8, "radius": 1e9}, "radius"),
    ({"lon": "nan", "lat": 43.8}, "finite"),
    ({"lon": 1e30, "lat": 1e30, "crs": "EPSG:3857"}, "valid position"),
])
def test_reverse_bad_input_is_400(geo_client, params, fragment):
    r = geo_client.get("/reverse", params=params)
    assert r.status_code == 400, r.text
    assert fragment in r.json()["description"]


def test_suggest_bad_input(geo_client):
    assert geo_client.get("/geocode/suggest", params={"q": ""}).status_code == 400
    assert geo_client.get("/geocode/suggest", params={"q": "解", "limit": 11}).status_code == 400


def test_answers_follow_a_load_without_restart(fresh_db):
    """Freshness through the HTTP API: a house number inserted after start-up is answered within
    seconds (the index is rebuilt in the background and swapped in)."""
    import time

    from urbangis.layers import database as db

    gazetteer.load(fresh_db)
    with TestClient(create_app(fresh_db)) as c:
        assert c.get("/geocode", params={"q": "解放南路14号"}).json()["match_level"] == "interpolated"
        with db.connect(fresh_db) as conn:
            conn.execute("INSERT INTO house_numbers (id, parent_kind, parent_id, number, geom)"
                         " VALUES ('H77', 'road', 'R1', '14', ST_SetSRID(ST_MakePoint(87.6060, 43.7899), 4490))")
            conn.commit()
        deadline = time.monotonic() + 15
        body = {}
        while time.monotonic() < deadline:
            body = c.get("/geocode", params={"q": "解放南路14号"}).json()
            if body["matched"]["id"] == "H77":
                break
            time.sleep(0.2)
        assert body["matched"]["id"] == "H77" and body["match_level"] == "exact"
        assert c.get("/geocode/status").json()["builds"] >= 2


def test_admin_area_without_outline_is_named_not_unknown(fresh_db):
    """A street office loaded from a code list (no outline) has no coordinate to answer with: the
    answer names it as held without an outline instead of saying nothing matches."""
    from urbangis.geocoder.engine import Geocoder
    from urbangis.geocoder.index import build_index
    from urbangis.layers import database as db

    gazetteer.load(fresh_db)
    with db.connect(fresh_db) as conn:
        conn.execute("INSERT INTO admin_areas (code, name, level, parent_code) "
                     "VALUES ('650102099', '新设街道', 'street', '650102')")
        conn.commit()
        ans = Geocoder(build_index(conn)).geocode("新设街道")
    assert ans.candidates == [] and ans.unplaced == [("650102099", "新设街道")]
    with TestClient(create_app(fresh_db)) as client:
        r = client.get("/geocode", params={"q": "新设街道"})
        other = client.get("/geocode", params={"q": "不存在的地方"})
    assert r.status_code == 404 and "新设街道 (650102099), which the gazetteer holds without an outline" in r.json()[
        "description"]
    assert other.status_code == 404 and other.json()["description"].startswith("no gazetteer feature matches")
