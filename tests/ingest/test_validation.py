"""Broken files, loaded on purpose: each is refused (strict) with a report naming file, row, field,
value and reason, and the database is left exactly as it was."""
from __future__ import annotations

import json
import zipfile

import pytest

from urbangis.ingest.gazetteer import LoadError, LoadOptions, LoadRejected, load_gazetteer
from urbangis.layers import database as db

from .city import grid_box
from .util import box, feature, fingerprint, point, write_geojson


def _grid(code: str, geometry: dict | None, community: str = "650102003001") -> dict:
    return feature({"code": code, "community_code": community}, geometry)


def _reject(info: str, path, tmp_path, **kw) -> tuple[LoadError, dict]:
    """Load ``path`` expecting a refusal; returns the error and the JSON report, checking that the
    database did not change."""
    before = fingerprint(info)
    report_path = tmp_path / "report.json"
    with db.connect(info) as conn, pytest.raises(LoadError) as caught:
        load_gazetteer(conn, path, LoadOptions(report_path=report_path, **kw))
    assert fingerprint(info) == before
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["outcome"] in ("rejected", "failed") and report["loaded"] == 0
    assert (tmp_path / "report.txt").exists()
    return caught.value, report


def _issue(report: dict, **match) -> dict:
    hits = [i for i in report["issues"] if all(str(v) in str(i.get(k)) for k, v in match.items())]
    assert hits, f"no issue like {match} in {report['issues']}"
    return hits[0]


def test_duplicated_codes(city_db, tmp_path):
    path = write_geojson(tmp_path / "unit_grids.geojson", [
        _grid("650102003001004", box(*grid_box(3))), _grid("650102003001005", box(*grid_box(4))),
        _grid("650102003001004", box(*grid_box(5)))])
    err, report = _reject(city_db, path, tmp_path)
    assert isinstance(err, LoadRejected)
    it = _issue(report, reason="duplicate code")
    assert (it["file"], it["layer"], it["row"], it["field"], it["value"]) == (
        "unit_grids.geojson", "unit_grids", 3, "code", "650102003001004")
    assert "first at row 1" in it["reason"]
    table = (tmp_path / "report.txt").read_text(encoding="utf-8")
    assert "650102003001004" in table and "duplicate code" in table


def test_missing_parent_and_bad_code_formats(city_db, tmp_path):
    path = write_geojson(tmp_path / "admin_areas.geojson", [
        feature({"code": "650102099", "name": "无名街道", "level": "street", "parent_code": "650102"}, None),
        feature({"code": "650102098001", "name": "孤儿社区", "level": "community", "parent_code": "650102098"}, None),
        feature({"code": "65010", "name": "短码区", "level": "district", "parent_code": "650100"}, None),
        feature({"code": "650102097", "name": "错层街道", "level": "town", "parent_code": "650102"}, None)])
    _, report = _reject(city_db, path, tmp_path)
    assert _issue(report, row=2, field="parent_code")["value"] == "650102098"
    assert _issue(report, row=2, field="parent_code")["key"] == "650102098001"  # the row's own code
    assert "does not exist" in _issue(report, row=2)["reason"]
    assert "6 digits" in _issue(report, row=3, field="code")["reason"]
    assert "must be one of" in _issue(report, row=4, field="level")["reason"]
    assert not [i for i in report["issues"] if i["row"] == 1]  # the good row has no issue


def test_missing_reference_across_layers(city_db, tmp_path):
    path = write_geojson(tmp_path / "house_numbers.geojson", [
        feature({"id": "H0100", "parent_kind": "road", "parent_id": "R9999", "number": "5"}, point(87.622, 43.79))])
    _, report = _reject(city_db, path, tmp_path)
    it = _issue(report, field="parent_id")
    assert it["value"] == "R9999" and "road R9999 does not exist" in it["reason"]


def test_bad_geometry_unambiguous_repair_is_a_warning(city_db, tmp_path):
    """A bow-tie grid is repaired (both repair methods agree), with a warning, and loaded."""
    x0, y0, x1, y1 = grid_box(3)
    bowtie = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}
    path = write_geojson(tmp_path / "unit_grids.geojson", [_grid("650102003001007", bowtie)])
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
        valid, parts = conn.execute("SELECT ST_IsValid(geom), ST_NumGeometries(geom) FROM unit_grids "
                                    "WHERE code = '650102003001007'").fetchone()
    assert report.loaded == 1 and valid and parts == 2
    it = next(i for i in report.issues if i["field"] == "geometry")
    assert it["severity"] == "warning" and "Self-intersection" in it["value"] and "repaired" in it["reason"]


def test_bad_geometry_ambiguous_is_rejected(city_db, tmp_path):
    """A hole poking out of its shell: the two repairs disagree, so the row is refused."""
    x0, y0, x1, y1 = grid_box(4)
    w, h = x1 - x0, y1 - y0
    hole = [[x0 + w / 2, y0 + h / 3], [x1 + w / 2, y0 + h / 3], [x1 + w / 2, y0 + h / 2], [x0 + w / 2, y0 + h / 2],
            [x0 + w / 2, y0 + h / 3]]
    poly = {"type": "Polygon", "coordinates": [box(x0, y0, x1, y1)["coordinates"][0], hole]}
    path = write_geojson(tmp_path / "unit_grids.geojson", [_grid("650102003001008", poly)])
    _, report = _reject(city_db, path, tmp_path)
    it = _issue(report, field="geometry", row=1)
    assert it["severity"] == "error" and "cannot be repaired safely" in it["reason"]


def test_wrong_crs_projected_coordinates_without_prj(city_db, tmp_path):
    """Web-mercator metres in a file that declares nothing: not degrees, and the report says so."""
    path = write_geojson(tmp_path / "components.geojson", [
        feature({"code": "6501020101000009", "name": "井盖"}, point(9754012.0, 5434017.0))])
    _, report = _reject(city_db, path, tmp_path)
    it = _issue(report, field="geometry")
    assert "not longitude/latitude" in it["reason"] and "--source-crs" in it["reason"]
    assert report["layers"][0]["source_crs"] == "EPSG:4326"  # GeoJSON is WGS84 by definition (RFC 7946)


def test_csv_without_crs_is_taken_as_cgcs2000_with_a_warning(city_db, tmp_path):
    """Taken as CGCS2000 lon/lat with a warning; and metres so taken are refused as the file's
    fault, saying so (validate/gauss_kruger.py), instead of each row as not longitude/latitude."""
    path = tmp_path / "components.csv"
    path.write_text("code,name,x,y\n6501020101000009,井盖,500123.5,4849012.0\n", encoding="utf-8")
    _, report = _reject(city_db, path, tmp_path)
    assert _issue(report, reason="declares no CRS")["severity"] == "warning"
    assert _issue(report, reason="its coordinates are metres, not degrees")["severity"] == "error"


def test_wrong_crs_lon_lat_swapped(city_db, tmp_path):
    path = write_geojson(tmp_path / "components.geojson", [
        feature({"code": "6501020101000009", "name": "井盖"}, point(43.79, 87.62))])
    _, report = _reject(city_db, path, tmp_path)
    assert "outside China" in _issue(report, field="geometry")["reason"]


def test_geometry_outside_declared_district(city_db, tmp_path):
    """A component whose code says 天山区 (650102) placed in 沙依巴克区."""
    path = write_geojson(tmp_path / "components.geojson", [
        feature({"code": "6501020101000010", "name": "井盖"}, point(87.45395, 43.68067))])
    _, report = _reject(city_db, path, tmp_path)
    issue = _issue(report, field="code")
    assert issue["reason"] == "lies outside its district (first 6 digits of the code) 650102"
    assert issue["value"] == issue["key"] == "6501020101000010"  # the code as given, not its first six digits


def test_component_and_event_classes(city_db, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text(
        "case_no,kind,major_class,minor_class,component_code,status,reported_at,lon,lat\n"
        "E1,event,01,02,,reported,2024-05-01 08:00,87.62,43.79\n"
        "E2,event,123,02,,reported,2024-05-01 08:00,87.62,43.79\n"
        "E3,event,09,00,,reported,2024-05-01 08:00,87.62,43.79\n"
        "C1,component,01,01,6501020102000001,reported,2024-05-01 08:00,87.62,43.79\n"
        "C2,component,01,01,6501020101000099,reported,2024-05-01 08:00,87.62,43.79\n"
        "C3,component,01,01,6.50102E+15,reported,2024-05-01 08:00,87.62,43.79\n"
        "E4,fire,01,02,,burning,yesterday,87.62,43.79\n", encoding="utf-8")
    _, report = _reject(city_db, path, tmp_path)
    assert not [i for i in report["issues"] if i["row"] == 2 and i["severity"] == "error"]
    assert "2-digit major class" in _issue(report, row=3, field="major_class")["reason"]
    assert "local extension" in _issue(report, row=4, field="major_class")["reason"]
    assert "minor class 00" in _issue(report, row=4, field="minor_class")["reason"]
    assert "differs from the case's 01/01" in _issue(report, row=5, field="component_code")["reason"]
    assert "component 6501020101000099 does not exist" in _issue(report, row=6, field="component_code")["reason"]
    assert "scientific notation" in _issue(report, row=7, field="component_code")["reason"]
    assert _issue(report, row=8, field="kind")["value"] == "fire"
    assert _issue(report, row=8, field="status")["value"] == "burning"
    assert "not a date/time" in _issue(report, row=8, field="reported_at")["reason"]


def test_truncated_geojson(city_db, tmp_path):
    full = json.dumps({"type": "FeatureCollection", "features": [
        _grid(f"650102003001{i:03d}", box(*grid_box(i))) for i in range(10, 30)]})
    path = tmp_path / "unit_grids.geojson"
    path.write_text(full[: len(full) // 2], encoding="utf-8")
    err, report = _reject(city_db, path, tmp_path)
    assert "unit_grids.geojson" in str(err)
    assert report["issues"][0]["row"] is None and report["outcome"] == "failed"


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_truncated_csv_cut_inside_a_character(city_db, tmp_path, encoding):
    """An interrupted download stops mid-character: the lines before are good text, the last one is
    not; a clear error, not a crash."""
    text = ("case_no,kind,major_class,minor_class,status,reported_at,lon,lat,description\n"
            "T1,event,01,02,reported,2024-05-01 08:00,87.6191,43.7895,路面破损\n"
            "T2,event,01,02,reported,2024-05-01 09:00,87.6192,43.7896,井盖").encode(encoding)
    path = tmp_path / "cases.csv"
    path.write_bytes(text[:-1])  # the last character's last byte lost
    err, report = _reject(city_db, path, tmp_path)
    assert "truncated or damaged" in str(err) and report["outcome"] == "failed"


def test_truncated_shapefile(city_db, tmp_path):
    import numpy as np
    import pyogrio.raw
    import shapely

    path = tmp_path / "components.shp"
    n = 50
    geoms = shapely.to_wkb(shapely.points(np.full(n, 87.62), np.full(n, 43.79)))
    pyogrio.raw.write(path, geoms, [np.array([f"6501020101{i:06d}" for i in range(n)], dtype=object),
                                    np.array(["井盖"] * n, dtype=object)],
                      fields=["code", "name"], driver="ESRI Shapefile", crs="EPSG:4490", geometry_type="Point",
                      encoding="UTF-8")
    dbf = path.with_suffix(".dbf")
    dbf.write_bytes(dbf.read_bytes()[: dbf.stat().st_size // 2])
    err, report = _reject(city_db, path, tmp_path)
    assert report["outcome"] == "failed" and "holds 50 rows but only 24" in str(err)


def test_empty_file_and_empty_layer(city_db, tmp_path):
    empty = tmp_path / "roads.geojson"
    empty.write_bytes(b"")
    err, _ = _reject(city_db, empty, tmp_path)
    assert "empty" in str(err)
    (tmp_path / "roads2").mkdir()
    no_rows = write_geojson(tmp_path / "roads2" / "roads.geojson", [])
    err, _ = _reject(city_db, no_rows, tmp_path, replace=True)
    assert "no rows" in str(err)


def test_wrong_file_type(city_db, tmp_path):
    path = tmp_path / "roads.geojson"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    err, _ = _reject(city_db, path, tmp_path)
    assert "binary file of an unknown type" in str(err)
    path = tmp_path / "roads.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + bytes(200))
    err, _ = _reject(city_db, path, tmp_path)
    assert ".xlsx" in str(err)


def test_zip_with_path_traversal(city_db, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped/roads.geojson", "{}")
    err, _ = _reject(city_db, archive, tmp_path)
    assert "path traversal" in str(err)
    assert not (tmp_path.parent / "escaped").exists()


def test_zip_bomb(city_db, tmp_path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("roads.geojson", b" " * (64 << 20))  # 64 MiB of spaces compress ~1000x
    err, _ = _reject(city_db, archive, tmp_path)
    assert "zip bomb" in str(err)


def _zip_of(archive, name: str, data: bytes):
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return archive


def test_zip_with_a_damaged_member(city_db, tmp_path, city_dir):
    """A zip whose listing is whole but whose data was corrupted in transit (found by fuzzing: a
    BadZipFile or zlib error escaped as a crash)."""
    data = (city_dir / "roads.geojson").read_bytes()
    archive = _zip_of(tmp_path / "roads.zip", "roads.geojson", data)
    raw = bytearray(archive.read_bytes())
    raw[60] ^= 0xFF  # inside the compressed data of the only member (its local header is 30 + 13 bytes)
    archive.write_bytes(bytes(raw))
    err, _ = _reject(city_db, archive, tmp_path)
    assert "member 'roads.geojson' is damaged" in str(err) and "Send it again" in str(err)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("说明.txt", "道路")
        zf.writestr("roads.geojson", data)
    raw = bytearray(archive.read_bytes())
    second = raw.index(b"PK\x03\x04", 4)
    raw[second:second + 4] = b"XXXX"  # the second member's local header signature
    archive.write_bytes(bytes(raw))
    err, _ = _reject(city_db, archive, tmp_path)
    assert "member 'roads.geojson' is damaged" in str(err)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("roads.geojson", data)
        zf.writestr(zipfile.ZipInfo(""), b"{}")  # a member without a name
    err, _ = _reject(city_db, archive, tmp_path)
    assert "a member without a name" in str(err)


def test_zip_compressed_with_deflate64(city_db, tmp_path, city_dir):
    """Windows' own compressed folders write Deflate64 for large files, which Python cannot unpack:
    said so, with what to do instead."""
    archive = tmp_path / "roads.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("roads.geojson", (city_dir / "roads.geojson").read_bytes())
    raw = bytearray(archive.read_bytes())
    raw[8:10] = (9).to_bytes(2, "little")  # the local header's method
    central = raw.index(b"PK\x01\x02")
    raw[central + 10:central + 12] = (9).to_bytes(2, "little")  # the central directory's
    archive.write_bytes(bytes(raw))
    err, _ = _reject(city_db, archive, tmp_path)
    assert "compressed with Deflate64" in str(err) and "standard Deflate" in str(err)
    raw[8:10] = bytes(2)  # stored again
    raw[central + 10:central + 12] = bytes(2)
    raw[central + 8] |= 0x20  # the listing's flag bit 5, "compressed patched data"
    archive.write_bytes(bytes(raw))
    err, _ = _reject(city_db, archive, tmp_path)
    assert "uses a zip feature this server cannot read (compressed patched data" in str(err)
    raw[central + 6] = 79  # "version needed to extract" 7.9: a zip Python's zipfile will not open
    archive.write_bytes(bytes(raw))
    err, _ = _reject(city_db, archive, tmp_path)
    assert "zip archive this server cannot read (zip file version 7.9)" in str(err)


def test_missing_required_field(city_db, tmp_path):
    line = {"type": "LineString", "coordinates": [[87.62, 43.79], [87.63, 43.79]]}
    path = write_geojson(tmp_path / "roads.geojson", [feature({"id": "R7"}, line)])
    err, _ = _reject(city_db, path, tmp_path)
    assert "lacks required field(s) name" in str(err)


def test_house_number_range_beyond_an_integer(city_db, tmp_path):
    """A 23-digit number where a house-number range goes (GDAL reads it as a float) is that row's
    error, not an overflow crash of the whole load (found by fuzzing)."""
    line = {"type": "LineString", "coordinates": [[87.62, 43.79], [87.621, 43.791]]}
    path = write_geojson(tmp_path / "roads.geojson", [
        feature({"id": "RX1", "name": "测试路", "district_code": "650102", "left_from": 29999999999999999999999}, line),
        feature({"id": "RX2", "name": "测试二路", "district_code": "650102", "left_from": 1}, line)])
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path, LoadOptions(strict=False))
    assert (report.loaded, report.rejected) == (1, 1)
    [issue] = [i for i in report.issues if i["severity"] == "error"]
    assert (issue["row"], issue["field"], issue["reason"]) == (1, "left_from", "out of range (at most 2,147,483,647)")


def _damage_member(book, member: str, count: int) -> None:
    """Flip ``count`` bytes of ``member``'s compressed data inside the zip ``book``."""
    with zipfile.ZipFile(book) as zf:
        offset = zf.getinfo(member).header_offset
    raw = bytearray(book.read_bytes())
    start = offset + 30 + int.from_bytes(raw[offset + 26:offset + 28], "little") + \
        int.from_bytes(raw[offset + 28:offset + 30], "little")
    for k in range(start + 2, start + 2 + count):
        raw[k] ^= 0x55
    book.write_bytes(bytes(raw))


def test_damaged_workbook(city_db, tmp_path):
    """An XLSX whose shared strings are corrupt (found by fuzzing: a zlib error escaped)."""
    import numpy as np
    import pyogrio.raw

    book = tmp_path / "cases.xlsx"
    pyogrio.raw.write(book, None, [np.array(["C1"], dtype=object), np.array(["event"], dtype=object)],
                      fields=["case_no", "kind"], driver="XLSX")
    _damage_member(book, "xl/sharedStrings.xml", 10)
    err, _ = _reject(city_db, book, tmp_path)
    assert "cases.xlsx" in str(err)


@pytest.mark.filterwarnings("ignore:Non closed ring detected:RuntimeWarning")  # GDAL's, for the ring it passes on
def test_a_ring_left_open_updating_a_grid_is_repaired(city_db, tmp_path):
    """A grid the database holds, sent again with its ring left open (found by fuzzing: the
    update's same-shape comparison handed it to GEOS, which failed the whole statement): closed,
    with a warning, and the grid updated."""
    x0, y0, x1, y1 = grid_box(0)
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0 + 0.0001, y0]]  # not back where it began
    path = write_geojson(tmp_path / "unit_grids.geojson", [_grid("650102003001001", {"type": "Polygon",
                                                                                      "coordinates": [ring]})])
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
        valid, points = conn.execute("SELECT ST_IsValid(geom), ST_NPoints(geom) FROM unit_grids "
                                     "WHERE code = '650102003001001'").fetchone()
    assert (report.layers[0].updated, report.layers[0].warnings) == (1, 1)
    assert "repaired" in report.issues[0]["reason"] and valid and points == 5


def test_damaged_workbook_read_through_its_copy(city_db, tmp_path):
    """A workbook whose date-time format sends it through a copy (ingest/formats/xlsx.py), with a
    damaged sheet (found by fuzzing: the copy's zlib error escaped): refused as damaged."""
    import xlsxwriter

    book = tmp_path / "cases.xlsx"
    wb = xlsxwriter.Workbook(book)
    sheet = wb.add_worksheet("cases")
    when = wb.add_format({"num_format": "yyyy/m/d h:mm"})
    sheet.write_row(0, 0, ["case_no", "kind", "reported_at"])
    for r in range(1, 200):
        sheet.write_row(r, 0, [f"C{r}", "event"])
        sheet.write_number(r, 2, 45000 + r / 7, when)
    wb.close()
    _damage_member(book, "xl/worksheets/sheet1.xml", 38)
    err, _ = _reject(city_db, book, tmp_path)
    assert "cases.xlsx" in str(err)


@pytest.mark.parametrize("cut", [False, True], ids=["unknown-type", "cut-short"])
def test_a_damaged_geometry_blob_is_refused_naming_its_row(city_db, tmp_path, cut):
    """GeoPackage geometry blobs GDAL hands over untouched and PostGIS cannot read (found by
    fuzzing: the load failed with PostGIS's internal error 'Unknown WKB type'): the file is
    refused as damaged, naming the row, and nothing is loaded."""
    import sqlite3

    import geopandas
    import pyogrio

    path = tmp_path / "unit_grids.gpkg"
    feats = [_grid(f"650102003001{i + 4:03d}", box(*grid_box(i + 3))) for i in range(3)]
    pyogrio.write_dataframe(geopandas.GeoDataFrame.from_features(feats, crs="EPSG:4490"), path,
                            layer="unit_grids", driver="GPKG")
    with sqlite3.connect(path) as con:
        for name in ("ST_IsEmpty", "ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY"):  # the R-tree's triggers
            con.create_function(name, 1, lambda g: 0)
        fid, blob = con.execute("SELECT fid, geom FROM unit_grids ORDER BY fid LIMIT 1 OFFSET 1").fetchone()
        wkb = 8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[(blob[3] >> 1) & 7]
        damaged = blob[:wkb + 20] if cut else blob[:wkb + 1] + bytes([0x03, 0x00, 0xCB, 0x00]) + blob[wkb + 5:]
        con.execute("UPDATE unit_grids SET geom = ? WHERE fid = ?", (damaged, fid))
    err, _ = _reject(city_db, path, tmp_path, strict=False)
    assert str(err).startswith("unit_grids.gpkg: row 2: its geometry cannot be read, the file is damaged ("), err
