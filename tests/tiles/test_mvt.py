"""The tile SQL on a real PostGIS: layers, zoom ranges, feature limits, simplification, attribute
encodings and positions, decoded with mapbox-vector-tile."""
from __future__ import annotations

import dataclasses

import mapbox_vector_tile
import morecantile
import pytest

from layers import database as db
from layers.registry import registry
from tiles import mvt
from tiles import tms as tmslib

from .conftest import CENTRE, FIRST_GRID, IN_FIRST_GRID, N_CASES

WEB = morecantile.tms.get("WebMercatorQuad")


def render(info, layers, tms_id, z, x, y) -> dict:
    with db.connect(info) as conn:
        types = mvt.column_types(conn, [c.table for c in layers])
        query = mvt.tile_sql(layers, tms_id, z, types)
        raw = conn.execute(query, mvt.params(tms_id, z, x, y)).fetchone()[0]
    return mapbox_vector_tile.decode(bytes(raw), default_options={"y_coord_down": True})


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
    assert case["reported_at"] == "2026-03-01T00:07:00Z"
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
