"""The disk tile cache: hits, invalidation when the layer's data changes, and switched off."""
from __future__ import annotations

import mapbox_vector_tile
import morecantile

from tests.conftest import new_database
from urbangis.layers import database as db
from urbangis.layers.settings import TileSettings
from urbangis.tiles import cache as cache_module
from urbangis.tiles.cache import TileCache

from .conftest import CENTRE, add_cases, tile_client

WEB = morecantile.tms.get("WebMercatorQuad")


def _path(z: int) -> str:
    t = WEB.tile(CENTRE[0], CENTRE[1], z)
    return f"{t.z}/{t.y}/{t.x}"


def test_second_request_is_a_hit_with_the_same_bytes(tiles_db, tmp_path):
    with tile_client(tiles_db, tmp_path / "cache") as client:
        url = f"/tiles/WebMercatorQuad/{_path(12)}"
        first = client.get(url)
        second = client.get(url)
        assert (first.headers["x-tile-cache"], second.headers["x-tile-cache"]) == ("miss", "hit")
        assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
        files = list((tmp_path / "cache").rglob("*.mvt.gz"))
        z, y, x = _path(12).split("/")
        assert len(files) == 1 and files[0].parts[-3:] == (z, x, f"{y}.mvt.gz")
        empty = client.get("/tiles/WebMercatorQuad/12/0/0")
        assert empty.status_code == 204 and client.get("/tiles/WebMercatorQuad/12/0/0").headers["x-tile-cache"] == "hit"
        assert client.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304


def test_a_change_to_the_data_invalidates_the_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "RETIRE_AFTER", 0.0)  # the old state's folder goes at once
    info = new_database()
    try:
        add_cases(info, 50)
        with tile_client(info, tmp_path / "cache") as client:
            url = f"/collections/cases/tiles/WebMercatorQuad/{_path(10)}"  # holds every case
            before = client.get(url)
            assert client.get(url).headers["x-tile-cache"] == "hit"
            with db.connect(info) as conn:
                conn.execute(
                    "INSERT INTO cases (case_no, kind, major_class, minor_class, status, reported_at, geom) "
                    "VALUES ('NEW1', 'event', '01', '01', 'reported', now(), ST_SetSRID(ST_MakePoint(%s, %s), 4490))",
                    CENTRE,
                )
                conn.commit()
            # (the server forgets the state it kept when PostgreSQL's notification arrives: wait
            # for it, as tests/api/test_tile_hits.py does; the bench measures how soon that is)
            assert client.app.state.services.tiles.states.barrier()
            after = client.get(url)
            assert after.headers["x-tile-cache"] == "miss"
            assert after.headers["etag"] != before.headers["etag"]
            # the client's old copy is no longer current
            assert client.get(url, headers={"If-None-Match": before.headers["etag"]}).status_code == 200
            features = mapbox_vector_tile.decode(after.content)["cases"]["features"]
            assert len(features) == 51 and "NEW1" in {f["properties"]["case_no"] for f in features}
            # only the current state's folder is left
            states = list((tmp_path / "cache").glob("*/cases/WebMercatorQuad/*"))
            assert len(states) == 1
    finally:
        db.drop_database(info)


def test_cache_off(tiles_db, tmp_path, monkeypatch):
    monkeypatch.setenv("URBANGIS_TILE_CACHE", "off")
    assert TileSettings().cache_dir(tmp_path) is None
    monkeypatch.setenv("URBANGIS_TILE_CACHE", str(tmp_path / "elsewhere"))
    assert TileSettings().cache_dir(tmp_path) == tmp_path / "elsewhere"
    monkeypatch.delenv("URBANGIS_TILE_CACHE")
    assert TileSettings().cache_dir(tmp_path) == tmp_path / "tiles"  # under URBANGIS_HOME by default
    with tile_client(tiles_db, None) as client:
        r = client.get(f"/tiles/WebMercatorQuad/{_path(12)}")
        assert r.status_code == 200 and r.headers["x-tile-cache"] == "off" and r.headers["etag"]
    assert not (tmp_path / "elsewhere").exists()


def test_a_tile_over_the_size_budget_is_made_thinner(tiles_db, tmp_path):
    """A tile heavier than URBANGIS_TILE_MAX_KB is made again with fewer points and without the
    lines and polygons smaller than a few pixels, until it fits; the same every time, cached or not."""
    from fastapi.testclient import TestClient

    from urbangis.api.app import create_app
    from urbangis.layers.registry import registry
    from urbangis.layers.settings import Settings
    from urbangis.tiles.mvt import thinned

    cases = registry()["cases"]
    assert (thinned(cases, 0), thinned(cases, 2).tile_feature_limit) == (cases, cases.tile_feature_limit // 4)
    assert thinned(registry()["roads"], 3).tile_min_pixels == 4.0

    url = f"/tiles/WebMercatorQuad/{_path(12)}"
    plain = {"Accept-Encoding": "identity"}

    def app(max_kb: int, cache=None):
        return TestClient(create_app(tiles_db, Settings.from_env(
            tiles=TileSettings(cache=str(cache) if cache else "off", max_kb=max_kb))))

    with app(0) as whole_client:
        whole = whole_client.get(url, headers=plain).content
    assert len(whole) > 100 * 1024  # the 3,000 cases of the test city and its grids
    with app(100) as thin_client, app(100, tmp_path / "cache") as cached_client:
        thin = thin_client.get(url, headers=plain).content
        assert len(thin) <= 100 * 1024 and thin == thin_client.get(url, headers=plain).content
        assert cached_client.get(url, headers=plain).content == thin == cached_client.get(url, headers=plain).content
    full, kept = mapbox_vector_tile.decode(whole), mapbox_vector_tile.decode(thin)
    assert 0 < len(kept["cases"]["features"]) < len(full["cases"]["features"])
    assert set(kept) <= set(full) and "admin_areas" in kept


def test_workers_writing_two_states_keep_each_others_folders(tmp_path, monkeypatch):
    """Two worker processes, one of which has seen a newer state first: neither removes the
    other's fresh folder (a tile written into a folder removed under it would be lost, with a
    warning), and a folder older than RETIRE_AFTER goes when a new state is first written."""
    a, b = TileCache(tmp_path), TileCache(tmp_path)
    a.put("city", "WebMercatorQuad", "s1", 14, 1, 1, b"one")
    b.put("city", "WebMercatorQuad", "s2", 14, 1, 1, b"two")
    a.put("city", "WebMercatorQuad", "s1", 14, 1, 2, b"one more")
    assert b.get("city", "WebMercatorQuad", "s2", 14, 1, 1) == b"two"
    assert a.get("city", "WebMercatorQuad", "s1", 14, 1, 1) == b"one"  # not removed by b's first write
    assert a.get("city", "WebMercatorQuad", "s1", 14, 1, 2) == b"one more"
    monkeypatch.setattr(cache_module, "RETIRE_AFTER", 0.0)
    c = TileCache(tmp_path)
    c.put("city", "WebMercatorQuad", "s3", 14, 1, 1, b"three")
    assert sorted(p.name for p in (tmp_path / "city" / "WebMercatorQuad").iterdir()) == ["s3"]
