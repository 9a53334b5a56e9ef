"""Publishing follows the registry and the data: a new registry entry is a collection with no
code, and counts/extents follow changes to the table (cached per layer_state version)."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from urbangis.layers import database as db
from urbangis.layers.registry import registry

EXTRA = """
  relic_points:
    title: 历史建筑 Heritage buildings
    description: Protected historic buildings (a layer added after the first release).
    table: relic_points
    id_field: site_id
    fields: [site_id, name, listed_on, grade]
    time_field: listed_on
    geometry: point
    group: heritage
"""


@pytest.fixture()
def extended_registry(tmp_path: Path, monkeypatch):
    """The packaged registry plus one entry, through URBANGIS_COLLECTIONS."""
    text = (Path(__file__).resolve().parents[2] / "layers" / "collections.yaml").read_text(encoding="utf-8")
    path = tmp_path / "collections.yaml"
    path.write_text(text + EXTRA, encoding="utf-8")
    monkeypatch.setenv("URBANGIS_COLLECTIONS", str(path))
    yield path


def test_a_registry_entry_is_published_without_code(fresh_db, extended_registry):
    with db.connect(fresh_db) as conn:
        conn.execute("CREATE TABLE relic_points (site_id integer PRIMARY KEY, name text NOT NULL, "
                     "listed_on timestamptz, grade text, secret text, geom geometry(Point, 4490))")
        conn.execute("INSERT INTO relic_points VALUES (1, '八路军驻新疆办事处旧址', '1990-01-01Z', '国家级', 'x', "
                     "ST_SetSRID(ST_MakePoint(87.60, 43.79), 4490)), (2, '红山塔', '2003-06-01Z', '省级', 'y', "
                     "ST_SetSRID(ST_MakePoint(87.62, 43.81), 4490))")
        conn.commit()
    from urbangis.api.app import create_app

    with TestClient(create_app(fresh_db)) as c:
        ids = [col["id"] for col in c.get("/collections").json()["collections"]]
        assert ids[-1] == "relic_points" and "relic_points" in registry(extended_registry)
        doc = c.get("/collections/relic_points").json()
        assert doc["itemCount"] == 2 and doc["extent"]["temporal"]["interval"][0][0] == "1990-01-01T00:00:00Z"
        q = c.get("/collections/relic_points/queryables").json()["properties"]
        assert q["site_id"]["type"] == "integer" and "secret" not in q  # only the configured fields
        fc = c.get("/collections/relic_points/items",
                   params={"filter": "grade = '省级'", "datetime": "2000-01-01/.."}).json()
        assert [f["id"] for f in fc["features"]] == [2] and "secret" not in fc["features"][0]["properties"]
        assert c.get("/collections/relic_points/items/1").json()["properties"]["name"] == "八路军驻新疆办事处旧址"
        assert c.get("/collections/relic_points/items/x").status_code == 404  # not an integer id
        api = c.get("/api").json()
        assert "/collections/relic_points/items" in api["paths"]


def test_counts_and_extent_follow_the_data(fresh_db):
    from urbangis.api.app import create_app

    insert = ("INSERT INTO responsibility_grids (code, name, district_code, geom) VALUES (%s, %s, '650102', "
              "ST_Multi(ST_MakeEnvelope(%s, 43.7, %s, 43.8, 4490)))")
    with db.connect(fresh_db) as conn:
        conn.execute(insert, ("G1", "一号", 87.5, 87.6))
        conn.commit()
    with TestClient(create_app(fresh_db)) as c:
        first = c.get("/collections/responsibility_grids").json()
        assert first["itemCount"] == 1 and first["extent"]["spatial"]["bbox"][0][2] == pytest.approx(87.6)
        assert c.get("/collections/responsibility_grids/items").json()["numberMatched"] == 1
        with db.connect(fresh_db) as conn:
            conn.execute(insert, ("G2", "二号", 87.6, 87.9))
            conn.commit()
        second = c.get("/collections/responsibility_grids").json()
        assert second["itemCount"] == 2 and second["extent"]["spatial"]["bbox"][0][2] == pytest.approx(87.9)
        assert c.get("/collections/responsibility_grids/items").json()["numberMatched"] == 2
        filtered = c.get("/collections/responsibility_grids/items", params={"filter": "name = '二号'"}).json()
        assert filtered["numberMatched"] == 1


def test_a_large_busy_table_is_not_recounted_on_every_change(fresh_db, monkeypatch):
    from urbangis.api.app import create_app
    from urbangis.layers.settings import OgcSettings, Settings
    from urbangis.ogc import collections

    settings = Settings.from_env(ogc=OgcSettings(exact_count_max=0))  # every table counts as large
    monkeypatch.setattr(collections, "RECOUNT_INTERVAL", 3600.0)
    insert = ("INSERT INTO responsibility_grids (code, name, geom) VALUES (%s, 'g', "
              "ST_Multi(ST_MakeEnvelope(87.5, 43.7, 87.6, 43.8, 4490)))")
    with db.connect(fresh_db, autocommit=True) as conn:
        conn.execute(insert, ("G1",))
        conn.execute("ANALYZE responsibility_grids")
    with TestClient(create_app(fresh_db, settings)) as c:
        assert c.get("/collections/responsibility_grids").json()["itemCount"] == 1
        with db.connect(fresh_db, autocommit=True) as conn:
            conn.execute(insert, ("G2",))
        # changed within the interval: the count is unknown, not stale
        assert "itemCount" not in c.get("/collections/responsibility_grids").json()
        page = c.get("/collections/responsibility_grids/items").json()
        assert "numberMatched" not in page and page["numberReturned"] == 2
        monkeypatch.setattr(collections, "RECOUNT_INTERVAL", 0.0)
        assert c.get("/collections/responsibility_grids").json()["itemCount"] == 2
        assert c.get("/collections/responsibility_grids/items").json()["numberMatched"] == 2
