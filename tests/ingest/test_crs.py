"""Source CRS handling: GCJ-02 / BD-09 conversions, checked on real Amap data, and overrides."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.paths import ROOT
from urbangis.ingest.crs import (
    CRSError,
    SourceCRS,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_source_crs,
    wgs84_to_gcj02,
)
from urbangis.ingest.gazetteer import LoadError, LoadOptions, load_gazetteer
from urbangis.layers import database as db

from .util import feature, write_geojson

DATA = ROOT / "tests" / "data"
NAMES = {"650102": "天山区", "650103": "沙依巴克区", "650104": "新市区", "650105": "水磨沟区", "650106": "头屯河区",
         "650107": "达坂城区", "650109": "米东区", "650121": "乌鲁木齐县"}


def test_gcj02_round_trip_is_sub_millimetre():
    lon, lat = np.array([87.6168, 75.99, 130.1]), np.array([43.8256, 39.47, 46.8])
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.abs(back[0] - lon).max() < 1e-8 and np.abs(back[1] - lat).max() < 1e-8
    shift = np.hypot(*(np.array(wgs84_to_gcj02(lon, lat)) - [lon, lat]))
    assert (shift > 0.001).all()  # GCJ-02 moves points by hundreds of metres


def test_bd09_round_trip():
    lon, lat = np.array([87.6168]), np.array([43.8256])
    back = bd09_to_wgs84(*gcj02_to_bd09(*wgs84_to_gcj02(lon, lat)))
    assert abs(back[0][0] - lon[0]) < 1e-8 and abs(back[1][0] - lat[0]) < 1e-8


def test_outside_china_is_not_shifted():
    lon, lat = wgs84_to_gcj02(np.array([2.35]), np.array([48.85]))
    assert lon[0] == 2.35 and lat[0] == 48.85


@pytest.mark.parametrize("text,expected", [("gcj02", SourceCRS(4326, "gcj02")), ("GCJ-02", SourceCRS(4326, "gcj02")),
                                           ("bd09", SourceCRS(4326, "bd09")), ("EPSG:4538", SourceCRS(4538)),
                                           ("3857", SourceCRS(3857))])
def test_parse_source_crs(text, expected):
    assert parse_source_crs(text) == expected


def test_unknown_crs_is_refused():
    with pytest.raises(CRSError, match="not one PROJ knows"):
        parse_source_crs("mars-2")


def test_real_amap_gcj02_outlines_land_within_5_m_of_wgs84(fresh_db, tmp_path):
    """Load Amap's GCJ-02 district outlines with --source-crs gcj02 and compare, in PostGIS, every
    vertex of the WGS84 outlines with the loaded outline of the same district."""
    gcj = json.loads((DATA / "urumqi_districts_gcj02.geojson").read_text())
    feats = [feature({"code": f["properties"]["adcode"], "name": NAMES[f["properties"]["adcode"]],
                      "level": "district", "parent_code": "650100"}, f["geometry"]) for f in gcj["features"]]
    src = write_geojson(tmp_path / "admin_areas.geojson", feats)
    with db.connect(fresh_db) as conn:
        report = load_gazetteer(conn, src, LoadOptions(source_crs=parse_source_crs("gcj02")))
        assert report.loaded == 8 and report.layers[0].source_crs == "GCJ-02"
        wgs = (DATA / "urumqi_districts_wgs84.geojson").read_text()
        rows = conn.execute(
            "WITH w AS (SELECT f->'properties'->>'district_adcode' code, "
            "  ST_SetSRID(ST_GeomFromGeoJSON(f->'geometry'), 4490) g "
            "  FROM jsonb_array_elements(%s::jsonb->'features') f), "
            "v AS (SELECT w.code, (ST_DumpPoints(w.g)).geom p FROM w) "
            "SELECT v.code, ST_Distance(v.p::geography, ST_Boundary(a.geom)::geography) d, "
            "  ST_Distance(v.p::geography, ST_Boundary(ST_SetSRID(ST_GeomFromGeoJSON(%s), 4490))::geography) raw "
            "FROM v JOIN admin_areas a ON a.code = v.code",
            (wgs, json.dumps(gcj["features"][0]["geometry"]))).fetchall()
    d = np.array([r[1] for r in rows])
    # Where both sources trace the same boundary, the converted outline is within 5 m (in fact
    # within 1 m); elsewhere the boundary was redrawn between the two data vintages (40 m and more).
    same = d < 30
    assert same.mean() > 0.7, f"only {same.mean():.0%} of vertices on a shared boundary"
    assert d[same].max() < 5.0
    assert np.median(d) < 1.0
    assert not ((d >= 5) & (d < 30)).any()
    for code in ("650107", "650109"):  # districts whose boundaries did not change between vintages
        assert max(r[1] for r in rows if r[0] == code and r[1] < 100) < 5.0


def test_unconverted_gcj02_is_hundreds_of_metres_off(fresh_db, tmp_path):
    """The control: the same file loaded without --source-crs is visibly off."""
    gcj = json.loads((DATA / "urumqi_districts_gcj02.geojson").read_text())
    f = next(x for x in gcj["features"] if x["properties"]["adcode"] == "650107")
    src = write_geojson(tmp_path / "admin_areas.geojson", [feature(
        {"code": "650107", "name": "达坂城区", "level": "district", "parent_code": "650100"}, f["geometry"])])
    wgs = json.loads((DATA / "urumqi_districts_wgs84.geojson").read_text())
    w = next(x for x in wgs["features"] if x["properties"]["district_adcode"] == "650107")
    with db.connect(fresh_db) as conn:
        load_gazetteer(conn, src)
        med = conn.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP "
            "  (ORDER BY ST_Distance(p::geography, ST_Boundary(a.geom)::geography)) "
            "FROM (SELECT (ST_DumpPoints(ST_SetSRID(ST_GeomFromGeoJSON(%s), 4490))).geom p) v, admin_areas a",
            (json.dumps(w["geometry"]),)).fetchone()[0]
    assert med > 100


@pytest.mark.parametrize("lon,lat,shift", [("高德经度", "高德纬度", "gcj02"), ("lng_gcj", "lat_gcj", "gcj02"),
                                           ("bd_lng", "bd_lat", "bd09"), ("百度经纬度", None, "bd09")])
def test_coordinate_columns_named_for_a_web_map_are_converted(city_db, tmp_path, lon, lat, shift):
    """Columns named for Amap/Tencent (GCJ-02) or Baidu (BD-09), as exports of apps built on them
    are, are converted to CGCS2000 without --source-crs (a warning says so); a plain GPS经度 beside
    a 高德经度 is the one read; --source-crs still decides."""
    from urbangis.ingest.crs import gcj02_to_bd09

    true_lon, true_lat = 87.6195, 43.7897
    x, y = wgs84_to_gcj02(np.array([true_lon]), np.array([true_lat]))
    if shift == "bd09":
        x, y = gcj02_to_bd09(x, y)
    head, cells = ("case_no,kind,major_class,minor_class,status,reported_at",
                   "M1,event,01,02,reported,2024-05-01 08:00")
    coords = f'"{x[0]:.7f},{y[0]:.7f}"' if lat is None else f"{x[0]:.7f},{y[0]:.7f}"
    path = tmp_path / "cases.csv"
    path.write_text(f"{head},{lon}{',' + lat if lat else ''}\n{cells},{coords}\n", encoding="utf-8")

    def where(options: LoadOptions) -> tuple:
        with db.connect(city_db) as conn:
            report = load_gazetteer(conn, path, options)
            point = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM cases WHERE case_no = 'M1'").fetchone()
        return report, point

    report, point = where(LoadOptions())
    assert report.loaded == 1 and report.layers[0].source_crs == {"gcj02": "GCJ-02", "bd09": "BD-09"}[shift]
    assert abs(point[0] - true_lon) < 1e-7 and abs(point[1] - true_lat) < 1e-7
    assert any("named for a" in i["reason"] and i["severity"] == "warning" for i in report.issues)
    report, point = where(LoadOptions(source_crs=parse_source_crs("EPSG:4490")))  # the user knows better
    assert abs(point[0] - x[0]) < 1e-7 and report.layers[0].source_crs == "EPSG:4490"


def test_plain_coordinates_beside_web_map_ones_are_the_ones_read(city_db, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("case_no,kind,major_class,minor_class,status,reported_at,GPS经度,GPS纬度,高德经度,高德纬度\n"
                    "M2,event,01,02,reported,2024-05-01 08:00,87.6195,43.7897,87.6205,43.7890\n", encoding="utf-8")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
        point = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM cases WHERE case_no = 'M2'").fetchone()
    assert report.layers[0].source_crs == "EPSG:4490" and point == (87.6195, 43.7897)
    path.write_text("case_no,kind,major_class,minor_class,status,reported_at,高德经度,百度纬度\n"
                    "M3,event,01,02,reported,2024-05-01 08:00,87.6205,43.7890\n", encoding="utf-8")
    with db.connect(city_db) as conn, pytest.raises(LoadError, match="disagree on the map .*'百度纬度' \\(BD-09\\), "
                                                                         "'高德经度' \\(GCJ-02\\)"):
        load_gazetteer(conn, path)


def _components_in_grids(tmp_path, shift: str | None) -> Path:
    """30 components inside the test city's three unit grids, each naming its grid, written as
    GeoJSON (WGS84 by definition) with their coordinates as a web map would give them."""
    from .city import grid_box

    rng = np.random.default_rng(7)
    feats = []
    for k in range(30):
        i = k % 3
        x0, y0, x1, y1 = grid_box(i)
        lon, lat = rng.uniform(x0 + 0.0001, x1 - 0.0001), rng.uniform(y0 + 0.0001, y1 - 0.0001)
        if shift:
            lon, lat = (v[0] for v in wgs84_to_gcj02(np.array([lon]), np.array([lat])))
        if shift == "bd09":
            from urbangis.ingest.crs import gcj02_to_bd09

            lon, lat = (v[0] for v in gcj02_to_bd09(np.array([lon]), np.array([lat])))
        props = {"code": f"6501020101{100 + k:06d}", "name": "井盖", "grid_code": f"650102003001{i + 1:03d}"}
        feats.append(feature(props, {"type": "Point", "coordinates": [lon, lat]}))
    return write_geojson(tmp_path / "components.geojson", feats)


@pytest.mark.parametrize("shift", ["gcj02", "bd09"])
def test_web_map_coordinates_passed_off_as_wgs84_are_refused(city_db, tmp_path, shift):
    """Components picked on Amap (GCJ-02) or Baidu (BD-09) in a GeoJSON: as they are, few lie in
    the grid they name. The load is refused naming the offset (a skip-invalid load would have kept
    the few inside a grid, every one misplaced); with --source-crs they load where they belong;
    with --source-crs EPSG:4490 the user has the last word (and the rows outside their grid are
    rejected one by one)."""
    path = _components_in_grids(tmp_path, shift)
    name = {"gcj02": "GCJ-02", "bd09": "BD-09"}[shift]
    refused = (f"these look like {name} coordinates .*of the first 30 rows naming a unit grid, "
               rf"\d lie in it as they are, 30 once converted .*--source-crs {shift}")
    with db.connect(city_db) as conn, pytest.raises(LoadError, match=refused):
        load_gazetteer(conn, path, LoadOptions(strict=False))
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path, LoadOptions(source_crs=parse_source_crs(shift)))
    assert report.loaded == 30 and report.rejected == 0
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path, LoadOptions(strict=False, source_crs=parse_source_crs("EPSG:4490")))
    assert report.rejected > 20 and all("lies outside its unit grid" in i["reason"] for i in report.issues
                                        if i["severity"] == "error")


def test_true_wgs84_coordinates_are_not_taken_for_web_map_ones(city_db, tmp_path):
    path = _components_in_grids(tmp_path, None)
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
    assert report.loaded == 30 and report.rejected == 0


def test_a_file_unreadable_in_its_first_rows_is_a_clear_error_before_the_offset_test(city_db, tmp_path):
    """Found by the fuzzer: the web-map offset test reads the first rows before the load does, and
    a file unreadable there raised ReadError instead of failing the load with its reason."""
    path = _components_in_grids(tmp_path, None)
    path.write_bytes(path.read_bytes().replace("井盖".encode(), b"\xff\xfe", 1))
    with db.connect(city_db) as conn, pytest.raises(LoadError, match="unreadable after row 0"):
        load_gazetteer(conn, path)
