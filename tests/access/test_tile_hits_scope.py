"""Cached tiles answered before the framework (api/tile_hits.py) keep every caller to their own
area and role: a person's tile is theirs, the public's is the public's, and what a caller may
not read is refused on every request, cached or not."""
from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_tile_hits import GZIP, known
from urbangis.access.people import People
from urbangis.access.sealing import SecretBox
from urbangis.api.app import create_app
from urbangis.layers import database as db
from urbangis.layers.settings import Settings, TileSettings

from .conftest import SAYBAGH, TIANSHAN

PASSWORD = "tiles and more tiles 瓦片"
CITY_Z11 = "/collections/cases/tiles/WebMercatorQuad/11/746/1522"  # Urumqi's centre, both districts


def test_cached_tiles_keep_callers_to_their_areas(access_db, access_settings, tmp_path):
    people = People(SecretBox(access_settings.auth_key_file))
    with db.connect(access_db, autocommit=True) as conn:
        people.add(conn, "tile.tianshan", "天山瓦片", "analyst", TIANSHAN, PASSWORD)
        people.add(conn, "tile.saybagh", "沙区瓦片", "analyst", SAYBAGH, PASSWORD)
    settings = Settings.from_env(access=access_settings, tiles=TileSettings(cache=str(tmp_path / "cache")))
    with TestClient(create_app(access_db, settings)) as c:
        known(c)
        cookie = {}
        for name, login in (("a", "tile.tianshan"), ("b", "tile.saybagh")):
            r = c.post("/login", json={"login": login, "password": PASSWORD})
            assert r.status_code == 200
            cookie[name] = {**GZIP, "Cookie": f"urbangis_session={r.cookies['urbangis_session']}"}
            c.cookies.clear()
        seen = {}
        for name in ("a", "b", "a2", "b2"):
            r = c.get(CITY_Z11, headers=cookie[name[0]])
            assert r.status_code == 200 and r.headers["cache-control"].startswith("private"), name
            seen[name] = r
        assert [seen[n].headers["x-tile-cache"] for n in ("a", "b", "a2", "b2")] == ["miss", "miss", "hit", "hit"]
        assert seen["a"].content == seen["a2"].content and seen["b"].content == seen["b2"].content
        assert seen["a"].headers["etag"] != seen["b"].headers["etag"] and seen["a"].content != seen["b"].content
        # the public: cases are not public, on the first request and the next; admin outlines are
        refused = [c.get(CITY_Z11, headers=GZIP).status_code for _ in range(2)]
        assert refused[0] in (401, 403) and refused == refused[:1] * 2
        outlines = [c.get("/collections/admin_areas/tiles/WebMercatorQuad/11/746/1522", headers=GZIP)
                    for _ in range(2)]
        assert [r.headers["x-tile-cache"] for r in outlines] == ["miss", "hit"]
        assert outlines[1].headers["cache-control"].startswith("private")
        # a session that ended is not served from the cache either
        assert c.post("/logout", headers=cookie["a"]).status_code == 204
        assert c.get(CITY_Z11, headers=cookie["a"]).status_code in (401, 403)
