"""What desktop GIS in Chinese city offices hands over besides shapefiles: Esri File Geodatabases
(a .gdb folder, zipped to send), MapInfo tables (.tab + .dat + .map + .id) and interchange files
(.mif + .mid), in GBK, in a projected CRS that has no EPSG code; and the refusals that say why."""
from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely
import shapely.affinity
from fastapi.testclient import TestClient
from pyproj import Transformer

from urbangis.api.app import create_app
from urbangis.ingest.crs import CRSError, parse_source_crs
from urbangis.ingest.formats import ReadError, detect_kind
from urbangis.ingest.gazetteer import LoadError, LoadOptions, load_gazetteer
from urbangis.layers import database as db

from .test_http import _wait
from .util import fingerprint

CODES = [f"65010201010000{i:02d}" for i in range(2, 5)]
NAMES = ["雨水井盖", "路灯", "垃圾箱"]
LONLAT = [(87.6201, 43.7902), (87.6205, 43.7904), (87.6210, 43.7906)]
# CGCS2000 / 3-degree Gauss-Kruger CM 87E, as survey offices deliver
TO_4538 = Transformer.from_crs(4490, 4538, always_xy=True)


def _write(path, driver: str, *, crs: str = "EPSG:4538", z: bool = False, layer: str | None = None, **kw):
    xy = [TO_4538.transform(x, y) for x, y in LONLAT]
    pts = shapely.points([(x, y, 850.0) for x, y in xy]) if z else shapely.points(xy)
    fields = [np.array(CODES, dtype=object), np.array(NAMES, dtype=object), np.array(["完好"] * 3, dtype=object)]
    pyogrio.raw.write(path, shapely.to_wkb(pts), fields, fields=["code", "name", "status"], driver=driver, crs=crs,
                      geometry_type="Point Z" if z else "Point", layer=layer, **kw)
    return path


def _loaded(info: str) -> list[tuple]:
    """(code, name, lon, lat) of the components the tests load."""
    with db.connect(info) as conn:
        return conn.execute("SELECT code, name, ST_X(geom), ST_Y(geom) FROM components WHERE code = ANY(%s) "
                            "ORDER BY code", (CODES,)).fetchall()


def _assert_loaded(info: str, metres: float = 0.01) -> None:
    """The components loaded, each where it was surveyed to within ``metres``."""
    rows = _loaded(info)
    assert [(r[0], r[1]) for r in rows] == list(zip(CODES, NAMES))
    d = np.array([r[2:] for r in rows]) - np.array(LONLAT)
    off = np.hypot(d[:, 0] * np.cos(np.radians(43.79)), d[:, 1]) * 111_320
    assert off.max() < metres, off


def _load(info: str, path, **options):
    with db.connect(info) as conn:
        return load_gazetteer(conn, path, LoadOptions(**options))


def test_file_geodatabase_folder_and_zip(city_db, tmp_path):
    """A .gdb with a feature class named in Chinese (部件, Z values as ArcGIS keeps them) and one no
    layer is named for: loaded from the folder, then the same from a zip of it (how it is sent)."""
    gdb = _write(tmp_path / "城管普查.gdb", "OpenFileGDB", z=True, layer="部件")
    _write(gdb, "OpenFileGDB", layer="测量控制点", append=False)
    assert detect_kind(gdb) == "filegdb"
    report = _load(city_db, gdb)
    assert report.outcome == "loaded" and report.loaded == 3
    assert [(lr.layer, lr.file, lr.source_crs) for lr in report.layers] == [
        ("components", "城管普查.gdb:部件", "EPSG:4538")]
    assert any("测量控制点" in i["reason"] and "not loaded" in i["reason"] for i in report.issues)
    _assert_loaded(city_db)
    before = fingerprint(city_db)
    archive = tmp_path / "普查成果.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in gdb.iterdir():
            zf.write(part, f"城管普查.gdb/{part.name}")
    again = _load(city_db, archive)
    assert again.layers[0].unchanged == 3 and fingerprint(city_db) == before


def test_file_geodatabase_inside_a_folder_beside_other_files(city_db, tmp_path):
    folder = tmp_path / "成果"
    (folder / "矢量").mkdir(parents=True)
    _write(folder / "矢量" / "data.gdb", "OpenFileGDB", layer="components")
    (folder / "说明.csv").write_text("项目,内容\n部件普查,2024\n", encoding="utf-8")
    report = _load(city_db, folder)
    assert report.loaded == 3 and report.layers[0].file == "矢量/data.gdb:components"
    _assert_loaded(city_db)


def test_folder_named_gdb_that_is_not_one(fresh_db, tmp_path):
    fake = tmp_path / "components.gdb"
    fake.mkdir()
    (fake / "readme.txt").write_text("x")
    with pytest.raises(ReadError, match="not a File Geodatabase"):
        detect_kind(fake)
    before = fingerprint(fresh_db)
    with pytest.raises(LoadError, match="not a File Geodatabase"):
        _load(fresh_db, fake)
    assert fingerprint(fresh_db) == before


@pytest.mark.parametrize("suffix", [".tab", ".mif"])
def test_mapinfo_in_gbk_with_a_coordsys_without_epsg_code(city_db, tmp_path, suffix):
    """MapInfo writes CGCS2000 Gauss-Kruger as 'Earth Projection 8, 104' (Transverse Mercator on
    WGS84): no EPSG code, but on the same ellipsoid, so it is used as it is defined."""
    path = _write(tmp_path / f"components{suffix}", "MapInfo File", layer_options={"ENCODING": "CP936"})
    assert "WindowsSimpChinese" in path.read_text(encoding="gbk")
    assert detect_kind(path) == "mapinfo"
    report = _load(city_db, path)
    assert report.outcome == "loaded" and report.loaded == 3
    assert report.layers[0].source_crs == "Transverse Mercator CM 87E (World Geodetic System 1984)"
    _assert_loaded(city_db, 0.02)  # a .tab keeps integer coordinates, at about a centimetre here


@pytest.mark.parametrize("suffix", [".tab", ".mif"])
def test_mapinfo_saying_neutral_over_gbk_text(city_db, tmp_path, suffix):
    path = _write(tmp_path / f"components{suffix}", "MapInfo File", layer_options={"ENCODING": "CP936"})
    header = path.read_bytes().replace(b"WindowsSimpChinese", b"Neutral")
    path.write_bytes(header)
    report = _load(city_db, path)
    assert report.loaded == 3
    warnings = [i["reason"] for i in report.issues if i["severity"] == "warning"]
    assert any('says Charset "Neutral"' in w and "read as GBK" in w for w in warnings), warnings
    _assert_loaded(city_db, 0.02)
    assert path.read_bytes() == header  # the staff's file as it was


@pytest.mark.parametrize("suffix,missing,message", [(".tab", ".dat", r"\.dat \(its rows\) is missing"),
                                                    (".tab", ".id", r"\.id .* is missing"),
                                                    (".mif", ".mid", r"\.mid \(its 3 columns' values\) is missing")])
def test_mapinfo_lacking_a_part(fresh_db, tmp_path, suffix, missing, message):
    path = _write(tmp_path / f"components{suffix}", "MapInfo File")
    path.with_suffix(missing).unlink()
    before = fingerprint(fresh_db)
    with pytest.raises(LoadError, match=message):
        _load(fresh_db, path)
    assert fingerprint(fresh_db) == before


def test_tab_files_that_are_no_mapinfo_vector_table(fresh_db, tmp_path):
    raster = tmp_path / "影像.tab"
    raster.write_text('!table\n!version 300\n!charset WindowsSimpChinese\n\nDefinition Table\n  File "影像.tif"\n'
                      "  Type \"RASTER\"\n", encoding="gbk")
    with pytest.raises(ReadError, match="raster table"):
        detect_kind(raster)
    # a .tab that is tab-separated text is read as such
    text = tmp_path / "cases.tab"
    text.write_text("case_no\tlon\tlat\nA1\t87.62\t43.79\n", encoding="utf-8")
    assert detect_kind(text) == "csv"
    mif = tmp_path / "components.mif"
    mif.write_text("not a mif\n", encoding="utf-8")
    with pytest.raises(ReadError, match="not a MapInfo interchange file"):
        detect_kind(mif)


def test_personal_geodatabase_is_refused_saying_what_to_do(tmp_path):
    mdb = tmp_path / "部件.mdb"
    mdb.write_bytes(b"\x00\x01\x00\x00Standard Jet DB\x00" + bytes(2000))
    with pytest.raises(ReadError, match="personal geodatabase.*File Geodatabase"):
        detect_kind(mdb)


def test_city_coordinate_system_without_epsg_code(city_db, tmp_path):
    """A city's own Gauss-Kruger system (独立坐标系: its own central meridian and false origin, on
    the CGCS2000 ellipsoid), in a shapefile's .prj or given with --source-crs, is used as defined;
    one on Beijing 1954's ellipsoid with no EPSG code is refused, its shift to CGCS2000 unknown."""
    local = ("+proj=tmerc +lat_0=0 +lon_0=87.6 +k=1 +x_0=50000 +y_0=-4800000 +ellps=GRS80 +units=m +no_defs")
    shp = _write(tmp_path / "components.shp", "ESRI Shapefile", crs=local)
    # the coordinates really are in the local system (small numbers), not in EPSG:4538
    to_local = Transformer.from_crs(4490, local, always_xy=True)
    shp.unlink(), shp.with_suffix(".shx").unlink(), shp.with_suffix(".dbf").unlink()
    xy = [to_local.transform(x, y) for x, y in LONLAT]
    pyogrio.raw.write(shp, shapely.to_wkb(shapely.points(xy)),
                      [np.array(CODES, dtype=object), np.array(NAMES, dtype=object),
                       np.array(["完好"] * 3, dtype=object)],
                      fields=["code", "name", "status"], driver="ESRI Shapefile", crs=local, geometry_type="Point")
    assert abs(xy[0][0] - 51620) < 1000  # 1.6 km east of the local meridian
    report = _load(city_db, shp)
    assert report.loaded == 3 and report.layers[0].source_crs.startswith("Transverse Mercator CM 87.6E")
    _assert_loaded(city_db)
    # the same file with its .prj lost, the system given by the user
    shp.with_suffix(".prj").unlink()
    again = _load(city_db, shp, source_crs=parse_source_crs(local))
    assert again.layers[0].unchanged == 3
    with pytest.raises(CRSError, match="Krassovsky, 1942 ellipsoid, whose shift to CGCS2000"):
        parse_source_crs("+proj=tmerc +lon_0=87.6 +x_0=50000 +ellps=krass +units=m")


def test_zipped_geodatabase_over_http(http_city, city_db, tmp_path):
    _write(tmp_path / "部件.gdb", "OpenFileGDB", layer="components")
    archive = tmp_path / "部件.gdb.zip"
    shutil.make_archive(str(archive.with_suffix("")), "zip", tmp_path, "部件.gdb")
    r = http_city.post("/ingest/jobs", files={"file": (archive.name, archive.read_bytes(), "application/zip")})
    assert r.status_code == 202, r.text
    job = _wait(http_city, r.json()["id"])
    assert job["state"] == "loaded" and job["report"]["loaded"] == 3, job
    _assert_loaded(city_db)


@pytest.fixture()
def http_city(city_db):
    with TestClient(create_app(city_db)) as c:
        yield c


def test_a_mapinfo_table_uploaded_without_its_parts_is_400(http_city, tmp_path):
    path = _write(tmp_path / "components.tab", "MapInfo File")
    r = http_city.post("/ingest/jobs", files={"file": (path.name, path.read_bytes(), "application/octet-stream")})
    assert r.status_code == 400 and ".dat (its rows) is missing" in r.json()["description"], r.text


def test_a_crs_proj_reads_but_cannot_use_is_a_clear_error():
    """Found by the fuzzer: a damaged MapInfo CoordSys with scale factor 0 (PROJ reads the CRS,
    then cannot build the transformation) raised ProjError."""
    from pyproj import CRS

    from urbangis.ingest.crs import declared_crs

    wkt = CRS.from_proj4("+proj=tmerc +lon_0=87 +k=0.5 +x_0=500000 +ellps=GRS80 +units=m").to_wkt("WKT1_GDAL")
    with pytest.raises(CRSError, match="PROJ cannot transform it to CGCS2000 .*k/k_0"):
        declared_crs(wkt.replace('"scale_factor",0.5', '"scale_factor",0'))


BEIJING54_SHIFT = "+towgs84=15.8,-154.4,-82.3,0,0,0,0"  # the city's parameters, as a surveying bureau gives them
BEIJING54_CM87 = "+proj=tmerc +lat_0=0 +lon_0=87 +k=1 +x_0=500000 +y_0=0 +ellps=krass +units=m"


def test_old_datum_without_known_shift_is_refused_unless_said(city_db, tmp_path):
    """A shapefile in Beijing 1954 / 3-degree Gauss-Kruger CM 87E (EPSG:2426), as older city surveys
    are: PROJ knows no shift from Beijing 1954 to CGCS2000 and would convert by the ellipsoid
    alone, tens of metres off, so the load is refused, printing the CRS as a PROJ string to
    complete with the city's 7 parameters. With them the points land where they were surveyed;
    --source-crs EPSG:2426 loads them converted by the ellipsoid alone, with a warning."""
    to_b54 = Transformer.from_crs(4326, f"{BEIJING54_CM87} {BEIJING54_SHIFT}", always_xy=True)
    xy = [to_b54.transform(x, y) for x, y in LONLAT]
    path = tmp_path / "components.shp"
    pyogrio.raw.write(path, shapely.to_wkb(shapely.points(xy)),
                      [np.array(CODES, dtype=object), np.array(NAMES, dtype=object),
                       np.array(["完好"] * 3, dtype=object)],
                      fields=["code", "name", "status"], driver="ESRI Shapefile", crs="EPSG:2426",
                      geometry_type="Point")
    before = fingerprint(city_db)
    with pytest.raises(LoadError, match=r"Beijing 1954 / 3-degree Gauss-Kruger CM 87E \(EPSG:2426\)"
                                        r".*no transformation.*--source-crs '\+proj=tmerc .*\+ellps=krass "
                                        r".*\+towgs84=dx,dy,dz,rx,ry,rz,ds'"):
        _load(city_db, path)
    assert fingerprint(city_db) == before
    report = _load(city_db, path, source_crs=parse_source_crs(f"{BEIJING54_CM87} {BEIJING54_SHIFT}"))
    assert report.loaded == 3 and "its own shift to WGS84" in report.layers[0].source_crs
    _assert_loaded(city_db)
    report = _load(city_db, path, source_crs=parse_source_crs("EPSG:2426"))
    assert report.layers[0].updated == 3
    assert any("by the ellipsoid alone" in i["reason"] for i in report.issues)
    with pytest.raises(AssertionError):
        _assert_loaded(city_db, 20.0)  # tens of metres off: why it is refused unless asked


def test_geodatabase_coded_value_domains_are_read_as_what_they_mean(city_db, tmp_path):
    """tests/data/部件_domains.gdb.zip (made by make_coded_gdb.py): status stored as codes of the
    domain 部件状态 (1 完好, 2 破损, 3 丢失), owner_dept of 权属单位 (SZ 市政局, GA 公安局). Loaded as
    the codes before ("1" as a component's status); now as what they mean, each field said in a
    warning; a code no domain names (9) is kept as it is."""
    from tests.paths import ROOT

    archive = shutil.copy(ROOT / "tests" / "data" / "部件_domains.gdb.zip", tmp_path / "部件普查.zip")
    report = _load(city_db, archive)
    assert report.loaded == 4
    with db.connect(city_db) as conn:
        rows = conn.execute("SELECT code, status, owner_dept FROM components WHERE code LIKE '65010201010007%' "
                            "ORDER BY code").fetchall()
    assert rows == [("6501020101000701", "完好", "市政局"), ("6501020101000702", "破损", "市政局"),
                    ("6501020101000703", "丢失", "公安局"), ("6501020101000704", "9", None)]
    warnings = [i["reason"] for i in report.issues if i["severity"] == "warning"]
    assert "field status: codes read as what the geodatabase's domain 部件状态 says they mean (1 = 完好, 2 = 破损, " \
           "3 = 丢失)" in warnings, warnings


def test_metres_without_a_crs_name_the_zone_to_give(city_db, fresh_db, tmp_path):
    """A shapefile whose .prj was lost, holding CGCS2000 Gauss-Kruger metres: taken as degrees,
    every row failed as 'outside China'. Now refused at once naming the CRSs that put the first
    rows in the districts the database holds (EPSG:4538 here, and UTM 45N on the same meridian);
    with EPSG:4538, it loads. In a database
    without districts the message still says they are metres and which codes to try."""
    shp = _write(tmp_path / "components.shp", "ESRI Shapefile")
    shp.with_suffix(".prj").unlink()
    # UTM 45N shares the meridian: 1.9 km apart, both inside the city's districts, so both are named
    with pytest.raises(LoadError, match=r"declares no CRS and its coordinates are metres, not degrees \(x 549,9\d\d, "
                                        r"y 4,850,7\d\d in the first 3 rows\): as EPSG:4538 \(CGCS2000 / 3-degree "
                                        r"Gauss-Kruger CM 87E\) or EPSG:32645 \(WGS 84 / UTM zone 45N\), 100% of them "
                                        r"lie in the districts the database holds either way"):
        _load(city_db, shp)
    assert _load(city_db, shp, source_crs=parse_source_crs("EPSG:4538")).loaded == 3
    _assert_loaded(city_db)
    with pytest.raises(LoadError, match=r"metres, not degrees .*; give the CRS with --source-crs .*EPSG:4538, 87E"):
        _load(fresh_db, shp, layer="admin_areas")


def test_surveyors_x_north_y_east_and_zone_numbers(city_db, tmp_path):
    """A survey CSV as Chinese surveying writes it, X the northing and Y the easting: read east
    first (a warning says so), and with the zone number in front of the easting the zone is named
    from it (zone 29: EPSG:4517)."""
    xy = [TO_4538.transform(x, y) for x, y in LONLAT]
    head = "code,name,X,Y\n"
    path = tmp_path / "components.csv"
    rows = "".join(f"{c},{n},{north:.3f},{east:.3f}\n" for c, n, (east, north) in zip(CODES, NAMES, xy))
    path.write_text(head + rows, encoding="utf-8")
    with pytest.raises(LoadError, match=r"as EPSG:4538 .*100% of them lie in the districts"):
        _load(city_db, path)
    report = _load(city_db, path, source_crs=parse_source_crs("EPSG:4538"))
    assert report.loaded == 3
    assert any("the northing first (X north, Y east): read east first" in i["reason"] for i in report.issues)
    _assert_loaded(city_db)
    zoned = tmp_path / "components_zone.csv"
    zoned.write_text(head + "".join(f"{c},{n},{north:.3f},{29e6 + east:.3f}\n"
                                    for c, n, (east, north) in zip(CODES, NAMES, xy)), encoding="utf-8")
    with pytest.raises(LoadError, match=r"zone number says CGCS2000 Gauss-Kruger zone 29; load with --source-crs "
                                        r"EPSG:4517 \(CGCS2000 / 3-degree Gauss-Kruger zone 29\)"):
        _load(city_db, zoned, layer="components")
    assert _load(city_db, zoned, layer="components", source_crs=parse_source_crs("EPSG:4517")).loaded == 3
    _assert_loaded(city_db)  # the same points, to the millimetres the CSV keeps


@pytest.mark.filterwarnings("ignore:'crs' was not provided")  # pyogrio's, on writing the file without .prj
@pytest.mark.parametrize("epsg", [3857, 32645])
def test_web_mercator_or_utm_metres_without_a_crs_are_named_too(city_db, tmp_path, epsg):
    shp = _write(tmp_path / "components.shp", "ESRI Shapefile", crs=f"EPSG:{epsg}")
    shp.unlink(), shp.with_suffix(".shx").unlink(), shp.with_suffix(".dbf").unlink(), shp.with_suffix(".prj").unlink()
    to = Transformer.from_crs(4490, epsg, always_xy=True)
    pyogrio.raw.write(shp, shapely.to_wkb(shapely.points([to.transform(x, y) for x, y in LONLAT])),
                      [np.array(CODES, dtype=object), np.array(NAMES, dtype=object)], fields=["code", "name"],
                      driver="ESRI Shapefile", geometry_type="Point")
    said = rf"as EPSG:{epsg} .*100% of them lie in the districts" if epsg == 3857 else \
        r"as EPSG:4538 \(CGCS2000 .*\) or EPSG:32645 \(WGS 84 / UTM zone 45N\), 100% of them .* up to 1\.9 km apart"
    with pytest.raises(LoadError, match=said):
        _load(city_db, shp)


def test_a_reexport_through_a_projected_crs_is_no_change(city_db, tmp_path):
    """Unit grids exported to a survey office's Gauss-Kruger system and loaded back (~1e-9 degrees
    off after the round trip) are unchanged, not all "updated" (a monthly reload of unchanged
    grids reported and rewrote every one); a grid moved by 2 cm is updated."""
    to_gk = Transformer.from_crs(4490, 4538, always_xy=True)
    with db.connect(city_db) as conn:
        rows = conn.execute("SELECT code, community_code, ST_AsBinary(geom) FROM unit_grids ORDER BY code").fetchall()
    assert len(rows) >= 2

    def write(path, moved_cm: float = 0.0):
        path.parent.mkdir(exist_ok=True)
        geoms = [shapely.transform(shapely.from_wkb(bytes(wkb)), lambda xy: np.column_stack(to_gk.transform(*xy.T)))
                 for _, _, wkb in rows]
        geoms[0] = shapely.affinity.translate(geoms[0], xoff=moved_cm / 100)
        pyogrio.raw.write(path, shapely.to_wkb(geoms), [np.array([r[0] for r in rows], dtype=object),
                                                        np.array([r[1] for r in rows], dtype=object)],
                          fields=["code", "community_code"], driver="GPKG", crs="EPSG:4538",
                          geometry_type="MultiPolygon", layer="unit_grids")
        return path

    before = fingerprint(city_db)
    again = _load(city_db, write(tmp_path / "unit_grids.gpkg"))
    assert again.layers[0].source_crs == "EPSG:4538"
    assert (again.layers[0].unchanged, again.layers[0].updated) == (len(rows), 0)
    assert fingerprint(city_db) == before
    moved = _load(city_db, write(tmp_path / "moved" / "unit_grids.gpkg", moved_cm=2))
    assert (moved.layers[0].unchanged, moved.layers[0].updated) == (len(rows) - 1, 1)
