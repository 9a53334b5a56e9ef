"""One time zone through every door: a case reported at 09:30 Beijing time, written without an
offset in a CSV, is stored as 01:30 UTC and reads 09:30+08 from the loader's database, the OGC
items (GeoJSON and filters) and the vector tiles; with URBANGIS_TIMEZONE set to another zone,
the same instant reads in that zone."""
from __future__ import annotations

import datetime as dt

import mapbox_vector_tile
import morecantile
import pytest
from fastapi.testclient import TestClient

from tests.conftest import new_database
from tests.ingest.city import write_city
from urbangis.api.app import create_app
from urbangis.ingest.gazetteer import LoadOptions, load_gazetteer
from urbangis.layers import database as db
from urbangis.layers.settings import DatabaseSettings, Settings

LON, LAT = 87.6190, 43.7894  # in test grid 650102003001001 of tests/ingest/city.py
UTC = dt.timezone.utc


@pytest.fixture()
def city_db(tmp_path):
    """The ingest tests' small city (tests/ingest/city.py), loaded in a fresh database."""
    info = new_database()
    with db.connect(info) as conn:
        load_gazetteer(conn, write_city(tmp_path / "city"))
        conn.commit()
    yield info
    db.drop_database(info)


def _load_case(info: str, tmp_path) -> None:
    path = tmp_path / "cases.csv"
    path.write_text("case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
                    f"TZ-1,event,01,02,reported,2024-05-01 09:30,{LON},{LAT}\n", encoding="utf-8")
    with db.connect(info) as conn:
        load_gazetteer(conn, path, LoadOptions(layer="cases"))
        conn.commit()


def _tile_reported_at(client: TestClient) -> str:
    tile = morecantile.tms.get("WebMercatorQuad").tile(LON, LAT, 15)
    r = client.get(f"/collections/cases/tiles/WebMercatorQuad/15/{tile.y}/{tile.x}")
    assert r.status_code == 200, r.text  # httpx has taken the gzip off
    cases = mapbox_vector_tile.decode(r.content)["cases"]["features"]
    [case] = [f for f in cases if f["properties"]["case_no"] == "TZ-1"]
    return case["properties"]["reported_at"]


def test_a_time_without_offset_is_beijing_time_everywhere(city_db, tmp_path):
    _load_case(city_db, tmp_path)
    with db.connect(city_db) as conn:  # stored as the instant 01:30 UTC
        stored = conn.execute("SELECT reported_at FROM cases WHERE case_no = 'TZ-1'").fetchone()[0]
    assert stored.astimezone(UTC) == dt.datetime(2024, 5, 1, 1, 30, tzinfo=UTC)

    with TestClient(create_app(city_db)) as c:
        item = c.get("/collections/cases/items/TZ-1").json()
        assert item["properties"]["reported_at"] == "2024-05-01T09:30:00+08:00"
        for params in ({"datetime": "2024-05-01T09:30:00+08:00"}, {"datetime": "2024-05-01T01:30:00Z"},
                       {"filter": "reported_at = TIMESTAMP('2024-05-01T01:30:00Z')"},
                       {"reported_at": "2024-05-01T09:30:00+08:00"},
                       # without an offset: Beijing time, as every door reads it
                       {"datetime": "2024-05-01T09:30:00"}, {"datetime": "2024-05-01T09:00:00/2024-05-01T10:00:00"},
                       {"filter": "reported_at = TIMESTAMP('2024-05-01T09:30:00')"},
                       {"filter": "reported_at T_DURING INTERVAL('2024-05-01T09:00:00', '2024-05-01T10:00:00')"}):
            page = c.get("/collections/cases/items", params=params).json()
            assert [f["id"] for f in page["features"]] == ["TZ-1"], (params, page)
        for params in ({"datetime": "2024-05-01T01:30:00"},
                       {"filter": "reported_at = TIMESTAMP('2024-05-01T01:30:00')"}):
            assert c.get("/collections/cases/items", params=params).json()["features"] == []  # not read as UTC
        assert _tile_reported_at(c) == "2024-05-01T09:30:00+08:00"


def test_another_configured_zone_reads_the_same_instant_in_it(city_db, tmp_path):
    _load_case(city_db, tmp_path)
    urumqi = Settings.from_env(database=DatabaseSettings(timezone="Asia/Urumqi"))  # UTC+6
    with TestClient(create_app(city_db, urumqi)) as c:
        item = c.get("/collections/cases/items/TZ-1").json()
        assert item["properties"]["reported_at"] == "2024-05-01T07:30:00+06:00"
        assert _tile_reported_at(c) == "2024-05-01T07:30:00+06:00"
