"""The tile SQL on a real PostGIS: layers, zoom ranges, feature limits, simplification, attribute
encodings and positions, decoded with mapbox-vector-tile."""
from __future__ import annotations

import dataclasses

import mapbox_vector_tile
import morecantile
import pytest

from urbangis.layers import database as db
from urbangis.layers.registry import registry
from urbangis.tiles import mvt
from urbangis.tiles import tms as tmslib

from .conftest import CENTRE, FIRST_GRID, IN_FIRST_GRID, N_CASES

WEB = morecantile.tms.get("WebMercatorQuad")


def render_raw(info, layers, tms_id, z, x, y, stored: bool = True) -> bytes:
    """The tile's MVT bytes, as the server makes them (``stored``: using the geometry the tables
    keep ready for tiles) or clipping every feature from its stored geometry."""
    with db.connect(info) as conn:
        types = mvt.column_types(conn, [c.table for c in layers])
        query = mvt.tile_sql(layers, tms_id, z, types, stored=mvt.stored_geometry(conn) if stored else None)
        return bytes(conn.execute(query, mvt.params(tms_id, z, x, y)).fetchone()[0])


def render(info, layers, tms_id, z, x, y) -> dict:
    raw = render_raw(info, layers, tms_id, z, x, y)
    return mapbox_vector_tile.decode(raw, default_options={"y_coord_down": True})


def centre_tile(z: int, tms_id: str = "WebMercatorQuad") -> morecantile.Tile:
    return tmslib.get(tms_id).tile(CENTRE[0], CENTRE[1], z)


def test_cases_layer_holds_every_case_of_the_tile(tiles_db):
    t = centre_tile(10)
    tile = render(tiles_db, [registry()["cases"]], "WebMercatorQuad", t.z, t.x, t.y)
    assert list(tile) == ["cases"]
    assert tile["cases"]["extent"] == 4096
    assert len(tile["cases"]["features"]) == N_CASES  # all cases lie in the z10 tile around the centre


def test_feature_limit_keeps_tiles_small_and_spread(tiles_db):
    capped = dataclasses.replace(registry()["cases"], tile_feature_limit=250)
    t = centre_tile(13)  # about 2,000 cases over the whole tile
    features = render(tiles_db, [capped], "WebMercatorQuad", t.z, t.x, t.y)["cases"]["features"]
    assert len(features) == 250
    # spread over the tile, not the first clusters of the index: every sixteenth has its share
    counts: dict[tuple[int, int], int] = {}
    for f in features:
        cell = tuple(min(max(v, 0), 4095) // 1024 for v in f["geometry"]["coordinates"])  # buffer -> edge cells
        counts[cell] = counts.get(cell, 0) + 1
    assert len(counts) == 16 and min(counts.values()) >= 8, counts
    assert len({f["properties"]["case_no"] for f in features}) == 250  # no point twice


def test_zoom_ranges_decide_the_city_layers(tiles_db):
    city = list(registry().values())
    low = render(tiles_db, city, "WebMercatorQuad", *_zxy(centre_tile(8)))
    assert "admin_areas" in low and "cases" not in low and "unit_grids" not in low  # cases from z10, grids z12
    t = WEB.tile(*IN_FIRST_GRID, 15)
    high = render(tiles_db, city, "WebMercatorQuad", t.z, t.x, t.y)
    assert {"unit_grids", "cases", "admin_areas"} <= set(high)
    codes = {f["properties"]["code"] for f in high["unit_grids"]["features"]}
    assert FIRST_GRID in codes


def _zxy(t):
    return t.z, t.x, t.y


def _vertices(tile: dict, layer: str) -> int:
    def count(coords):
        if coords and isinstance(coords[0], (int, float)):
            return 1
        return sum(count(c) for c in coords)

    return sum(count(f["geometry"]["coordinates"]) for f in tile[layer]["features"])


def test_simplification_in_tile_pixels(tiles_db):
    admin = registry()["admin_areas"]
    exact = dataclasses.replace(admin, simplify={})
    coarse = dataclasses.replace(admin, simplify={0: 4.0})
    t = centre_tile(7)
    v_exact = _vertices(render(tiles_db, [exact], "WebMercatorQuad", *_zxy(t)), "admin_areas")
    v_coarse = _vertices(render(tiles_db, [coarse], "WebMercatorQuad", *_zxy(t)), "admin_areas")
    assert 0 < v_coarse < v_exact, (v_coarse, v_exact)
    assert mvt.tolerance(coarse, "WebMercatorQuad", 7) == pytest.approx(4 * 2 * 20037508.342789244 / 2**7 / 256)
    assert mvt.tolerance(registry()["cases"], "WebMercatorQuad", 7) == 0.0  # points are never simplified


def test_attributes_are_json_arrays_and_utc_times(tiles_db):
    t = centre_tile(10)
    tile = render(tiles_db, list(registry().values()), "WebMercatorQuad", *_zxy(t))
    case = next(f["properties"] for f in tile["cases"]["features"] if f["properties"]["case_no"] == "T0000001")
    assert case["reported_at"] == "2026-03-01T08:07:00+08:00"  # the session's time zone, with its offset
    # tile_fields, not every field (grid_code is NULL here, and NULLs are not written)
    assert set(case) == set(registry()["cases"].tile_columns) - {"grid_code"}
    assert "description" not in case
    district = next(f["properties"] for f in tile["admin_areas"]["features"] if f["properties"]["level"] == "district")
    assert district["aliases"].startswith("[") and district["aliases"].endswith("]")


@pytest.mark.parametrize("tms_id", ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"])
def test_points_land_where_they_are(tiles_db, tms_id):
    with db.connect(tiles_db) as conn:
        lon, lat = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM cases WHERE case_no = 'T0000042'").fetchone()
    grid = tmslib.get(tms_id)
    t = grid.tile(lon, lat, 14)
    b = grid.xy_bounds(t)
    px, py = (lon, lat) if tms_id != "WebMercatorQuad" else grid.xy(lon, lat)
    expected = ((px - b.left) / (b.right - b.left) * 4096, (b.top - py) / (b.top - b.bottom) * 4096)
    tile = render(tiles_db, [registry()["cases"]], tms_id, t.z, t.x, t.y)
    got = next(f for f in tile["cases"]["features"] if f["properties"]["case_no"] == "T0000042")
    x, y = got["geometry"]["coordinates"]
    assert abs(x - expected[0]) <= 1 and abs(y - expected[1]) <= 1, (x, y, expected)


def test_an_empty_tile_is_empty_bytes(tiles_db):
    with db.connect(tiles_db) as conn:
        query = mvt.tile_sql(list(registry().values()), "WebMercatorQuad", 12)
        raw = conn.execute(query, mvt.params("WebMercatorQuad", 12, 0, 0)).fetchone()[0]
    assert bytes(raw) == b""


# -- geometry kept ready for tiles (layers/migrations/0003_tile_geometry.sql) -------------------
COMMUNITY_SQL = (
    "INSERT INTO admin_areas (code, name, level, parent_code) VALUES ('650102', '天山区', 'district', '650100'), "
    "('650102003', '燕儿窝街道', 'street', '650102'), ('650102003001', '南湖社区', 'community', '650102003')"
)


def _grid_tiles(info, z: int) -> list[tuple[int, int, int]]:
    """Every WebMercatorQuad tile of zoom ``z`` that the unit grids touch."""
    with db.connect(info) as conn:
        w, s, e, n = conn.execute("SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) "
                                  "FROM (SELECT ST_Extent(geom) AS x FROM unit_grids) g").fetchone()
    return [(t.z, t.x, t.y) for t in WEB.tiles(w, s, e, n, [z])]


def test_stored_tile_geometry_gives_the_very_same_tiles(fresh_db):
    # 30 x 30 unit grids (about 120 m x 170 m, slightly rotated so edges are not axis-parallel)
    # around the corner of the z10 tile over the old town: at every zoom some lie wholly inside a
    # tile and some cross its edges
    b = WEB.bounds(WEB.tile(*CENTRE, 10))
    with db.connect(fresh_db) as conn:
        conn.execute(COMMUNITY_SQL)
        conn.execute(
            "INSERT INTO unit_grids (code, community_code, geom) "
            "SELECT '650102003001' || lpad((r * 30 + c + 1)::text, 3, '0'), '650102003001', ST_Multi(ST_Rotate("
            "ST_MakeEnvelope(%(x)s + c * 0.0015, %(y)s + r * 0.0015, "
            "%(x)s + (c + 1) * 0.0015, %(y)s + (r + 1) * 0.0015, 4490), "
            "0.05, ST_Point(%(x)s + c * 0.0015, %(y)s + r * 0.0015))) "
            "FROM generate_series(0, 29) r, generate_series(0, 29) c",
            {"x": b.left - 15 * 0.0015, "y": b.bottom - 15 * 0.0015})
        conn.commit()
        stored = mvt.stored_geometry(conn)[("unit_grids", "geom")]
    assert stored.mercator == "geom_3857" and sorted(stored.zooms) == [10, 11, 12, 13]
    grids = dataclasses.replace(registry()["unit_grids"], minzoom=10)
    inside = crossing = 0
    for z in range(10, 15):  # stored geometry z10-z13; z14 draws from the EPSG:3857 copy
        for z_, x, y in _grid_tiles(fresh_db, z):
            fast = render_raw(fresh_db, [grids], "WebMercatorQuad", z_, x, y)
            assert fast == render_raw(fresh_db, [grids], "WebMercatorQuad", z_, x, y, stored=False), (z_, x, y)
            with db.connect(fresh_db) as conn:
                a, c = conn.execute(
                    "SELECT count(*) FILTER (WHERE geom_3857 @ e), count(*) FILTER (WHERE NOT geom_3857 @ e) "
                    "FROM unit_grids, ST_TileEnvelope(%s, %s, %s) e WHERE geom_3857 && e", (z_, x, y)).fetchone()
            if z_ <= 13:
                inside, crossing = inside + a, crossing + c
    # both branches were taken: grids wholly inside a tile (stored) and grids across an edge (clipped)
    assert inside > 1000 and crossing > 100, (inside, crossing)


def test_stored_tile_geometry_is_used_only_as_the_registry_asks(tiles_db):
    with db.connect(tiles_db) as conn:
        stored = mvt.stored_geometry(conn)[("unit_grids", "geom")]
    grids = dataclasses.replace(registry()["unit_grids"], minzoom=10)
    assert stored.zoom_column(grids, "WebMercatorQuad", 12) == "tile_z12"
    assert stored.zoom_column(grids, "WebMercatorQuad", 14) is None  # none kept for z14
    assert stored.zoom_column(grids, "WorldCRS84Quad", 12) is None  # Web Mercator only
    other = dataclasses.replace(grids, simplify={0: 2.0})  # a registry that simplifies more
    assert stored.zoom_column(other, "WebMercatorQuad", 12) is None
    t = WEB.tile(*IN_FIRST_GRID, 12)
    assert render_raw(tiles_db, [other], "WebMercatorQuad", t.z, t.x, t.y) == render_raw(
        tiles_db, [other], "WebMercatorQuad", t.z, t.x, t.y, stored=False)


def test_stored_tile_geometry_follows_the_data(fresh_db):
    grids = registry()["unit_grids"]
    square = "ST_Multi(ST_MakeEnvelope(%s, %s, %s + 0.0015, %s + 0.0015, 4490))"
    x0, y0 = IN_FIRST_GRID
    t = WEB.tile(x0, y0, 13)
    with db.connect(fresh_db) as conn:
        conn.execute(COMMUNITY_SQL)
        conn.execute("INSERT INTO unit_grids (code, community_code, geom)"
                     f" VALUES ('650102003001001', '650102003001', {square})", (x0, y0, x0, y0))
        conn.commit()
    before = render(fresh_db, [grids], "WebMercatorQuad", t.z, t.x, t.y)["unit_grids"]["features"][0]["geometry"]
    with db.connect(fresh_db) as conn:  # move it by a few metres, as any program might
        conn.execute(f"UPDATE unit_grids SET geom = {square}", (x0 + 0.0001, y0, x0 + 0.0001, y0))
        conn.commit()
    after = render_raw(fresh_db, [grids], "WebMercatorQuad", t.z, t.x, t.y)
    assert after == render_raw(fresh_db, [grids], "WebMercatorQuad", t.z, t.x, t.y, stored=False)
    decoded = mapbox_vector_tile.decode(after, default_options={"y_coord_down": True})
    assert decoded["unit_grids"]["features"][0]["geometry"] != before


def test_tile_geometry_columns_are_generated_and_point_layers_have_none(empty_db):
    with db.connect(empty_db) as conn:
        described = conn.execute("SELECT table_name, column_name FROM tile_geometry").fetchall()
        generated = set(conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND is_generated = 'ALWAYS'").fetchall())
    assert described and set(described) <= generated  # kept in step with `geom` by PostgreSQL itself
    points = {c.table for c in registry().values() if c.geometry == "point"}
    assert points and not points & {t for t, _ in described}  # point layers load as fast as before
