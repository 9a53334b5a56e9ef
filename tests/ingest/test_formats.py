"""Every common format loads the same rows: GeoJSON, GeoPackage, Shapefile (UTF-8, GBK with and
without .cpg, zipped), CSV and XLSX with coordinate columns, and a whole gazetteer zipped."""
from __future__ import annotations

import zipfile

import numpy as np
import pyogrio
import pyogrio.raw
import pytest
import shapely

from urbangis.ingest.gazetteer import LoadError, LoadOptions, load_gazetteer
from urbangis.layers import database as db

from .util import count, fingerprint

NAMES = ["上水井盖", "雨水井盖", "路灯"]
XY = [(87.6201, 43.7902), (87.6205, 43.7904), (87.6210, 43.7906)]


def _components(tmp_path, driver: str, suffix: str, encoding: str | None = None, crs: str | None = "EPSG:4490",
                name: str = "components", **kw):
    path = tmp_path / f"{name}{suffix}"
    geoms = shapely.to_wkb(shapely.points(np.array(XY)))
    fields = [np.array([f"65010201010000{i:02d}" for i in range(1, 4)], dtype=object),
              np.array(NAMES, dtype=object), np.array(["完好", "破损", "完好"], dtype=object)]
    pyogrio.raw.write(path, geoms, fields, fields=["code", "name", "status"], driver=driver, crs=crs,
                  geometry_type="Point", encoding=encoding, **kw)
    return path


def _names(info: str) -> list[str]:
    with db.connect(info) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM components WHERE code LIKE '65010201010000%' "
                                           "AND code <> '6501020101000001' ORDER BY code")]


@pytest.mark.parametrize("driver,suffix", [("GeoJSON", ".geojson"), ("GPKG", ".gpkg"), ("ESRI Shapefile", ".shp"),
                                           ("FlatGeobuf", ".fgb")])
def test_vector_formats(city_db, tmp_path, driver, suffix):
    path = _components(tmp_path, driver, suffix)
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
    assert report.outcome == "loaded" and report.loaded == 3
    assert _names(city_db) == NAMES[1:] or _names(city_db) == NAMES  # 0000001 already in the sample


def test_gbk_dbf_with_cpg(city_db, tmp_path):
    path = _components(tmp_path, "ESRI Shapefile", ".shp", encoding="GBK")
    assert path.with_suffix(".cpg").exists()
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
    assert report.warnings == 0
    assert "雨水井盖" in _names(city_db)


def test_gbk_dbf_without_cpg_is_detected_and_reported(city_db, tmp_path):
    path = _components(tmp_path, "ESRI Shapefile", ".shp", encoding="GBK")
    path.with_suffix(".cpg").unlink()
    raw = path.with_suffix(".dbf").read_bytes()
    assert "雨水井盖".encode("gbk") in raw  # really GBK on disk
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
    assert "雨水井盖" in _names(city_db) and "路灯" in _names(city_db)
    warning = [i for i in report.issues if i["severity"] == "warning"]
    assert warning and "GBK" in warning[0]["reason"] and "no .cpg" in warning[0]["reason"]


@pytest.mark.parametrize("said", ["UTF-8", "utf8", "65001"])
def test_cpg_saying_utf8_beside_a_gbk_dbf(city_db, tmp_path, said):
    """A .cpg that says UTF-8 beside a .dbf written in GBK: read as GBK, with a warning that names
    the .cpg (GDAL alone cannot read the file at all); a true UTF-8 .cpg is honoured silently."""
    path = _components(tmp_path, "ESRI Shapefile", ".shp", encoding="GBK")
    path.with_suffix(".cpg").write_text(said + "\r\n", encoding="ascii")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
    assert report.loaded == 3 and "雨水井盖" in _names(city_db)
    warning = [i["reason"] for i in report.issues if i["severity"] == "warning"]
    assert warning == ["components.cpg says UTF-8, but the text of components.dbf is not UTF-8; it is valid "
                       "GBK/GB18030 and was read as GBK (correct the .cpg to GBK)"]
    (tmp_path / "utf8").mkdir()
    utf8 = _components(tmp_path / "utf8", "ESRI Shapefile", ".shp", encoding="UTF-8")
    assert utf8.with_suffix(".cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, utf8)
    assert report.warnings == 0 and report.layers[0].rows == 3 and report.rejected == 0
    assert "雨水井盖" in _names(city_db)


def test_zipped_shapefile_with_prj(city_db, tmp_path):
    path = _components(tmp_path, "ESRI Shapefile", ".shp", crs="EPSG:4326")
    assert path.with_suffix(".prj").exists()
    archive = tmp_path / "upload.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in tmp_path.glob("components.*"):
            zf.write(p, f"城市部件/{p.name}")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, archive)
    assert report.layers[0].layer == "components" and report.layers[0].source_crs == "EPSG:4326"
    assert report.loaded == 3


@pytest.mark.parametrize("header", [("lon", "lat"), ("经度", "纬度"), ("X", "Y"), ("lng", "lat"),
                                    ("GPS经度", "GPS纬度"), ("经度(°)", "纬度(°)")])
def test_csv_coordinate_columns(city_db, tmp_path, header):
    lines = [f"code,name,{header[0]},{header[1]},remark"]
    for i, ((x, y), n) in enumerate(zip(XY, NAMES), start=1):
        lines.append(f"65010201010000{i:02d},{n},{x},{y},备注{i}")
    path = tmp_path / "components.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
        row = conn.execute("SELECT ST_X(geom), ST_Y(geom), attrs->>'remark' FROM components "
                           "WHERE code = '6501020101000003'").fetchone()
    assert report.loaded == 3
    assert row == (pytest.approx(XY[2][0]), pytest.approx(XY[2][1]), "备注3")


def _same_point_each(info: str, tmp_path, lines: list[str], codes: str, n: int):
    """Load the CSV ``lines`` as components (--skip-invalid); the components whose code is LIKE
    ``codes`` must be ``n``, each at 87.6201, 43.7902 (87°37′12.36″, 43°47′24.72″). The report."""
    path = tmp_path / "components.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with db.connect(info) as conn:
        report = load_gazetteer(conn, path, strict=False)
        points = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM components WHERE code LIKE %s ORDER BY code",
                              (codes,)).fetchall()
    assert len(points) == n
    assert all(p == (pytest.approx(87.6201, abs=1e-9), pytest.approx(43.7902, abs=1e-9)) for p in points), points
    return report


def test_csv_coordinates_in_degrees_minutes_seconds(city_db, tmp_path):
    """Survey sheets and GPS handsets give 度分秒: read in every common spelling to the same point
    as the decimal degrees; an impossible or swapped one is rejected saying why."""
    forms = [("87°37′12.36″", "43°47′24.72″"), ("87°37'12.36\"", "43°47'24.72\""),
             ("87度37分12.36秒", "43度47分24.72秒"), ("东经87度37分12.36秒", "北纬43度47分24.72秒"),
             ("E87°37.206′", "N43°47.412′"), ("87:37:12.36", "43:47:24.72"),
             ("87°37′12.36″E", "43°47′24.72″N"), ("８７°３７′１２.３６″", "４３°４７′２４.７２″")]
    lines = ["code,name,经度,纬度"]
    lines += [f"65010201010001{i:02d},井盖{i},{lon},{lat}" for i, (lon, lat) in enumerate(forms, start=1)]
    lines += ["6501020101000191,井盖91,87°37′60″,43°47′24.72″", "6501020101000192,井盖92,N43°47′24.72″,E87°37′12.36″"]
    report = _same_point_each(city_db, tmp_path, lines, "650102010100010_", len(forms))
    reasons = {(i["row"], i["field"]): i["reason"] for i in report.issues if i["severity"] == "error"}
    assert reasons[(10, "经度")].startswith("not a coordinate: minutes and seconds run from 0 to 59")
    assert reasons[(11, "经度")] == "N marks a latitude, in the longitude column: are the two columns swapped?"
    assert report.rejected == 2


def test_csv_coordinates_in_one_column(city_db, tmp_path):
    """Both coordinates in one column (经纬度 holds 纬度, yet is no latitude column): the common
    spellings, latitude first put right, one coordinate alone rejected saying what is expected."""
    forms = ['"87.6201,43.7902"', "87.6201 43.7902", '"43.7902,87.6201"', '"87°37′12.36″,43°47′24.72″"',
             "87.6201，43.7902", '"(87.6201, 43.7902)"', "87.6201;43.7902"]
    lines = ["code,name,经纬度"] + [f"65010201010002{i:02d},井盖{i},{v}" for i, v in enumerate(forms, start=1)]
    lines.append("6501020101000291,井盖91,87.6201")
    report = _same_point_each(city_db, tmp_path, lines, "650102010100020_", len(forms))
    errors = [(i["row"], i["field"], i["reason"]) for i in report.issues if i["severity"] == "error"]
    assert (9, "经纬度", "expected two coordinates, longitude and latitude, like 87.6201,43.7902") in errors
    assert report.rejected == 1


@pytest.mark.parametrize("column", ["location", "位置"])
def test_address_column_holding_coordinates(city_db, tmp_path, column):
    """An address-named column whose values are all coordinate pairs (Amap's API answers location
    as "lng,lat") is read as longitude,latitude, with a warning, not sent to the geocoder."""
    lines = [f"code,name,{column}", '6501020101000301,井盖1,"87.6201,43.7902"',
             "6501020101000302,井盖2,87.6201 43.7902"]
    report = _same_point_each(city_db, tmp_path, lines, "650102010100030_", 2)
    assert report.rejected == 0
    assert any(i["reason"] == f"column {column!r} holds coordinates, not addresses: read as longitude,latitude"
               for i in report.issues)


def test_csv_in_gbk_as_excel_saves_it(city_db, tmp_path):
    path = tmp_path / "components.csv"
    path.write_bytes(("code,name,经度,纬度\n6501020101000002,雨水井盖,87.6205,43.7904\n").encode("gbk"))
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
    assert "雨水井盖" in _names(city_db)
    assert any("GBK" in i["reason"] for i in report.issues)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_read_by_arrow_or_python_alike(tmp_path, monkeypatch, caplog, encoding):
    """Arrow reads a regular CSV; at the first irregular record (short, long, a blank line) Python's
    csv module reads on from there. Rows, values and issues are those of Python's reader alone;
    cells guarded for Excel (="0007") are unwrapped by both."""
    import pyarrow as pa

    from urbangis.ingest.formats import tabular

    lines = ["code,name,lon,lat,remark"]
    for i in range(3000):
        name = f'"井盖, {i}\n第二行"' if i == 10 else '"井盖 ""A"" 型"' if i == 11 else f"井盖{i}"
        # ="0007": a cell guarded so that Excel keeps it as text, in Arrow's part and in Python's
        remark = f'="{i:04d}"' if i % 500 == 7 else f" 备注 {i} "
        lines.append(f"65010201010{i:05d},{name},87.62{i % 10},43.79,{remark}")
    lines[1500] = "6501020101099999,短行"  # short: fewer fields than the header
    lines[2200] = ""  # a blank line
    lines[2600] += ",extra"  # long
    lines[:0] = ["井盖普查表,,,,", ""]  # a title and a blank line above the header
    path = tmp_path / "components.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    monkeypatch.setattr(tabular, "ARROW_BLOCK", 1 << 14)  # several blocks before the first irregular one

    def read():
        out = []
        for b in tabular.TableReader(path, "csv").batches(700):
            out.append((b.rows.tolist(), b.columns, b.wkb, [(i.row, i.reason) for i in b.issues]))
        return out

    with caplog.at_level("DEBUG", logger="urbangis.ingest"):
        both = read()
    [switch] = [r.getMessage() for r in caplog.records if "read on with Python's csv" in r.getMessage()]
    assert int(switch.split("from record ")[1].split()[0]) > 700  # Arrow's batches came first

    def python_only(self, size):
        raise pa.ArrowInvalid("not used")
        yield

    monkeypatch.setattr(tabular.TableReader, "_arrow_batches", python_only)
    alone = read()
    assert both == alone
    rows = [r for batch in both for r in batch[0]]
    assert rows == [r for r in range(4, 4 + 3000) if r != 2203]  # the blank line is no record
    assert (2203, "blank row: skipped") in [i for b in both for i in b[3]]
    first = both[0][1]
    assert first["name"][10] == "井盖, 10\n第二行" and first["remark"][0] == "备注 0"  # comma, line break
    assert first["name"][11] == '井盖 "A" 型'  # quotes doubled inside quotes, as Excel writes them
    remarks = [v for b in both for v in b[1]["remark"]]
    assert [v for v in remarks if v and not v.startswith("备注")] == [f"{i:04d}" for i in range(7, 3000, 500)]
    assert (1503, "row has fewer fields than the header (truncated line?)") in [i for b in both for i in b[3]]


def _load_text(info: str, path, text: str, query: str) -> tuple:
    """Write ``text`` to ``path``, load it with --skip-invalid; (report, rows of ``query``)."""
    path.write_text(text, encoding="utf-8")
    with db.connect(info) as conn:
        report = load_gazetteer(conn, path, LoadOptions(strict=False))
        return report, conn.execute(query).fetchall()


def test_repeated_and_empty_column_names_keep_their_values(city_db, tmp_path):
    """Two columns named 备注 (and one with no name) in a CSV: the first 备注's values were silently
    overwritten by the second's; now each keeps its own, the repeat renamed with a warning."""
    report, rows = _load_text(
        city_db, tmp_path / "cases.csv",
        "case_no,kind,major_class,minor_class,status,reported_at,lon,lat,备注,备注,\n"
        "D1,event,01,02,reported,2024-05-01 08:00,87.6191,43.7895,第一,第二,无名\n",
        "SELECT attrs FROM cases WHERE case_no = 'D1'")
    assert rows == [({"备注": "第一", "备注_2": "第二", "column_11": "无名"},)]
    assert any(i["reason"] == "column 10 repeats the name '备注': read as '备注_2'" for i in report.issues)


def test_csv_wkt_column(city_db, tmp_path):
    """Geometry as WKT in a CSV: lines and polygons load; a cut WKT is named with GEOS's words."""
    report, kinds = _load_text(
        city_db, tmp_path / "components.csv",
        "code,name,grid_code,wkt\n"
        "6501020201009002,护栏,650102003001001,\"LINESTRING (87.6187 43.7893, 87.6192 43.7893)\"\n"
        "6501020301009003,绿地,650102003001002,\"POLYGON ((87.6199 43.7892, 87.6202 43.7892, 87.6202 43.7895, "
        "87.6199 43.7895, 87.6199 43.7892))\"\n"
        "6501020101009004,井盖,650102003001001,POINT (87.6190\n",
        "SELECT code, GeometryType(geom) FROM components WHERE code LIKE '650102__01009%' ORDER BY code")
    assert kinds == [("6501020201009002", "LINESTRING"), ("6501020301009003", "POLYGON")]
    [bad] = [i for i in report.issues if i["field"] == "wkt"]
    assert bad["row"] == 4 and bad["value"] == "POINT (87.6190" and bad["reason"].startswith("not WKT (")


def test_cases_as_chinese_spreadsheets_write_them(city_db, tmp_path):
    """Chinese terms for kinds and statuses, any letter case, Excel's zh-CN dates ("2024/5/1 8:30"),
    年月日 and compact times, and classes that lost their leading zero (padded, with a warning)."""
    report, rows = _load_text(
        city_db, tmp_path / "cases.csv",
        "case_no,kind,major_class,minor_class,status,reported_at,closed_at,经度,纬度\n"
        "S1,事件,1,2,结案,2024/5/1 8:30,2024年5月2日 9时15分,87.62,43.79\n"
        "S2,Event,01,02,Reported,20240501083000,,87.62,43.79\n"
        "S3,event,01,02,处置中,2024.05.01 08:30:15.5+08:00,,87.62,43.79\n"
        "S4,event,01,02,已完成,2024/13/1 8:30,,87.62,43.79\n"
        "S5,event,01,02,待派遣,2024-05-01 08:30,,87.62,43.79\n"
        "S6,event,01,02,已办结,2024-05-01 08:30,2024-05-01 10:00,87.62,43.79\n"
        "S7,event,01,02,已撤销,2024-05-01 08:30,,87.62,43.79\n",
        "SELECT case_no, kind, major_class, minor_class, status, "
        "to_char(reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS.MS'), "
        "to_char(closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') FROM cases "
        "WHERE case_no LIKE 'S_' ORDER BY case_no")
    assert rows == [("S1", "event", "01", "02", "closed", "2024-05-01 08:30:00.000", "2024-05-02 09:15"),
                    ("S2", "event", "01", "02", "reported", "2024-05-01 08:30:00.000", None),
                    ("S3", "event", "01", "02", "handling", "2024-05-01 08:30:15.500", None),
                    ("S5", "event", "01", "02", "registered", "2024-05-01 08:30:00.000", None),
                    ("S6", "event", "01", "02", "closed", "2024-05-01 08:30:00.000", "2024-05-01 10:00"),
                    ("S7", "event", "01", "02", "cancelled", "2024-05-01 08:30:00.000", None)]
    issues = {(i["row"], i["field"]): i for i in report.issues if i["row"] is not None}
    assert issues[(2, "major_class")]["severity"] == "warning" and "read as 01" in issues[(2, "major_class")]["reason"]
    assert issues[(2, "minor_class")]["value"] == "2"
    assert issues[(5, "status")]["value"] == "已完成" and issues[(5, "status")]["severity"] == "error"
    assert issues[(5, "status")]["reason"].endswith(
        "closed, cancelled, not_registered (or in Chinese: 上报/立案/派遣/处置/已处置/核查/结案/作废/不予立案)")
    assert "month must be in 1..12" in issues[(5, "reported_at")]["reason"]
    assert report.loaded == 6 and report.rejected == 1


def test_cases_with_chinese_headings(city_db, tmp_path):
    """A 数字城管 export's own headings (案件编号, 大类, 上报时间 ...) are read as the contract's
    fields; a heading no field knows stays in attrs."""
    report, rows = _load_text(
        city_db, tmp_path / "案件导出2024年5月.csv",  # the layer from the file's Chinese name
        "案件编号,案件类型,大类,小类,案件状态,案件来源,问题描述,上报时间,结案时间,处置部门,经度,纬度\n"
        "H1,事件,01,02,结案,12345热线,井盖缺失,2024/5/1 8:30,2024/5/2 9:00,市政局,87.62,43.79\n",
        "SELECT case_no, kind, major_class, minor_class, status, source, description, "
        "to_char(closed_at AT TIME ZONE 'Asia/Shanghai', 'MM-DD HH24:MI'), attrs->>'处置部门' FROM cases "
        "WHERE case_no = 'H1'")
    assert report.loaded == 1
    assert rows == [("H1", "event", "01", "02", "closed", "12345热线", "井盖缺失", "05-02 09:00", "市政局")]


def test_cases_naming_their_classes_by_name(city_db, tmp_path):
    """An export naming classes instead of codes (大类名称 市容环境, 小类名称 暴露垃圾) loads with the
    class dictionary's codes (layers/classes.csv); a name it does not have, or one fitting several
    classes of the kinds given, is that row's error."""
    report, rows = _load_text(
        city_db, tmp_path / "案件名称导出.csv",
        "案件编号,案件类型,大类名称,小类名称,案件状态,上报时间,经度,纬度\n"
        "N1,事件,市容环境,暴露垃圾,上报,2024/5/1 8:30,87.62,43.79\n"
        "N2,部件,公用设施,上水井盖,上报,2024/5/1 8:30,87.62,43.79\n"
        "N3,事件,市容环境,不存在的小类,上报,2024/5/1 8:30,87.62,43.79\n"
        "N4,事件,04,路面塌陷,上报,2024/5/1 8:30,87.62,43.79\n",
        "SELECT case_no, kind, major_class, minor_class FROM cases WHERE case_no LIKE 'N_' ORDER BY 1")
    assert rows == [("N1", "event", "01", "02"), ("N2", "component", "01", "01"), ("N4", "event", "04", "01")]
    [bad] = [i for i in report.issues if i["row"] == 4]
    assert bad["field"] == "小类名称" and bad["value"] == "不存在的小类" and "no class" in bad["reason"]


def test_blank_rows_are_no_records(city_db, tmp_path):
    """Blank lines and the ",,,," rows Excel writes for formatted empty rows do not fail a strict
    load: they are left out with a warning each."""
    report, rows = _load_text(
        city_db, tmp_path / "cases.csv",
        "case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
        "B1,event,01,02,reported,2024-05-01 08:00,87.62,43.79\n"
        ",,,,,,,\n\n"
        "B2,event,01,02,reported,2024-05-01 08:00,87.62,43.79\n"
        ",,,,,,,\n,,,,,,,\n",
        "SELECT case_no FROM cases WHERE case_no LIKE 'B_' ORDER BY 1")
    assert rows == [("B1",), ("B2",)] and report.rejected == 0 and report.rows == 2
    assert sorted(i["row"] for i in report.issues if i["reason"] == "blank row: skipped") == [3, 4, 6, 7]
    with db.connect(city_db) as conn:  # and strictly
        assert load_gazetteer(conn, tmp_path / "cases.csv").loaded == 2


def test_title_rows_above_the_header(city_db, tmp_path):
    """A CSV or XLSX with a title and a blank line above its column names loads, its rows numbered
    as the spreadsheet shows them, the title reported as a warning."""
    report, rows = _load_text(
        city_db, tmp_path / "cases.csv",
        "乌鲁木齐市数字城管案件统计表（2024年5月）,,,,,,,\n\n"
        "case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
        "T1,event,01,02,reported,2024-05-01 08:00,87.62,43.79\n"
        "T2,event,01,02,burning,2024-05-01 08:00,87.62,43.79\n",
        "SELECT case_no FROM cases WHERE case_no LIKE 'T_'")
    assert rows == [("T1",)] and report.rejected == 1
    assert [i["row"] for i in report.issues if i["field"] == "status"] == [5]
    assert any("rows 1-2 hold a title" in i["reason"] for i in report.issues)
    # row 1 the title (GDAL names the other, empty, cells FieldN), row 2 blank, row 3 the names
    xlsx = tmp_path / "cases.xlsx"
    names = ["case_no", "kind", "major_class", "minor_class", "status", "reported_at", "lon", "lat"]
    data = [[None] * 8, names, ["T3", "event", "01", "02", "reported", "2024-05-01 08:00", "87.62", "43.79"],
            ["T4", "event", "01", "02", "burning", "2024-05-01 08:00", "87.62", "43.79"]]
    fields = ["乌鲁木齐市数字城管案件统计表"] + [f"Field{j}" for j in range(2, 9)]
    pyogrio.raw.write(xlsx, None, [np.array([r[j] for r in data], dtype=object) for j in range(8)], fields=fields,
                      driver="XLSX")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, xlsx, LoadOptions(strict=False))
        rows = conn.execute("SELECT case_no FROM cases WHERE case_no IN ('T3', 'T4')").fetchall()
    assert rows == [("T3",)] and report.rejected == 1
    assert [i["row"] for i in report.issues if i["field"] == "status"] == [5]
    assert any("rows 1-2 hold a title" in i["reason"] for i in report.issues)


def test_xlsx_with_coordinates_keeps_leading_zeros(fresh_db, tmp_path):
    """XLSX through GDAL; codes stay text (a 0-leading code must not become a number)."""
    path = tmp_path / "cases.xlsx"
    cols = {"case_no": ["A001", "A002"], "kind": ["event", "event"], "major_class": ["01", "05"],
            "minor_class": ["02", "03"], "status": ["reported", "closed"],
            "reported_at": ["2024-05-01 08:30:00", "2024/05/02 09:00"], "closed_at": [None, "2024-05-03 10:00"],
            "经度": ["87.6201", "87.6210"], "纬度": ["43.7902", "43.7906"]}
    pyogrio.raw.write(path, None, [np.array(v, dtype=object) for v in cols.values()], fields=list(cols), driver="XLSX")
    with db.connect(fresh_db) as conn:
        report = load_gazetteer(conn, path)
        rows = conn.execute("SELECT case_no, major_class, minor_class, ST_X(geom), "
                            "to_char(reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') FROM cases "
                            "ORDER BY case_no").fetchall()
    assert report.loaded == 2
    assert rows[0][:3] == ("A001", "01", "02") and rows[1][4] == "2024-05-02 09:00"


def test_xlsx_as_excel_types_it(fresh_db, tmp_path):
    """A workbook as staff fill it in Excel: date cells (numbers with a date format), coordinates and
    classes as numbers, the heading 类型 for the case kind."""
    import datetime as dt

    import pandas as pd

    frame = pd.DataFrame({"案件编号": ["X1", "X2"], "类型": ["事件", "事件"], "大类": [1, 1], "小类": [2, 2],
                          "状态": ["已上报", "已结案"],
                          "上报时间": [dt.datetime(2024, 5, 1, 8, 30), dt.datetime(2024, 5, 2, 9)],
                          "结案时间": [pd.NaT, dt.datetime(2024, 5, 3, 17, 45)],
                          "经度": [87.6191, 87.62], "纬度": [43.7895, 43.79]})
    path = tmp_path / "案件.xlsx"
    pyogrio.write_dataframe(frame, path, driver="XLSX")
    with db.connect(fresh_db) as conn:
        report = load_gazetteer(conn, path, LoadOptions(layer="cases"))
        rows = conn.execute("SELECT case_no, kind, major_class, minor_class, status, "
                            "to_char(reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), "
                            "to_char(closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), ST_X(geom) "
                            "FROM cases ORDER BY case_no").fetchall()
    assert report.loaded == 2
    assert rows == [("X1", "event", "01", "02", "reported", "2024-05-01 08:30", None, pytest.approx(87.6191)),
                    ("X2", "event", "01", "02", "closed", "2024-05-02 09:00", "2024-05-03 17:45", pytest.approx(87.62))]


@pytest.mark.parametrize("fmt", ["yyyy/m/d h:mm", "yyyy-mm-dd h:mm:ss", 'yyyy"年"m"月"d"日" h"时"mm"分"',
                                 "[$-409]m/d/yyyy h:mm AM/PM"])
def test_xlsx_date_time_cells_keep_their_time(fresh_db, tmp_path, fmt):
    """Date-time cells in a format writing the hour once (Excel's custom yyyy/m/d h:mm, WPS's and
    openpyxl's yyyy-mm-dd h:mm:ss), which GDAL 3.6 reads as dates alone: loaded with their time
    (a case reported at 09:30 was loaded as reported at midnight), in a folder too; the file's
    own formats and cells are not changed."""
    import datetime as dt
    import hashlib
    import shutil

    import xlsxwriter

    path = tmp_path / "案件.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("案件")
    when = book.add_format({"num_format": fmt})
    for c, name in enumerate(["案件编号", "类型", "大类", "小类", "状态", "上报时间", "经度", "纬度"]):
        sheet.write_string(0, c, name)
    reported = [("T1", dt.datetime(2024, 5, 1, 9, 30)), ("T2", dt.datetime(2024, 5, 2, 17, 5, 30))]
    for r, (no, t) in enumerate(reported, 1):
        for c, value in enumerate([no, "事件", "01", "02", "已上报"]):
            sheet.write_string(r, c, value)
        sheet.write_datetime(r, 5, t, when)
        sheet.write_number(r, 6, 87.62)
        sheet.write_number(r, 7, 43.79)
    book.close()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    folder = tmp_path / "五月"
    folder.mkdir()
    shutil.copy(path, folder / path.name)
    for source in (path, folder):
        with db.connect(fresh_db) as conn:
            report = load_gazetteer(conn, source, LoadOptions(layer="cases"))
            rows = conn.execute("SELECT case_no, to_char(reported_at AT TIME ZONE 'Asia/Shanghai', "
                                "'YYYY-MM-DD HH24:MI:SS') FROM cases ORDER BY case_no").fetchall()
            conn.execute("DELETE FROM cases")
        assert report.loaded == 2 and report.layers[0].file == "案件.xlsx", (source, report.layers[0])
        assert rows == [("T1", "2024-05-01 09:30:00"), ("T2", "2024-05-02 17:05:30")], (fmt, source, rows)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_hours_doubled_only_where_gdal_would_drop_them():
    from urbangis.ingest.formats.xlsx import hours_doubled

    assert hours_doubled("yyyy/m/d h:mm") == "yyyy/m/d hh:mm"
    assert hours_doubled('yyyy"年"m"月"d"日" h"时"mm"分"') == 'yyyy"年"m"月"d"日" hh"时"mm"分"'
    assert hours_doubled("[$-409]m/d/yyyy H:mm AM/PM") == "[$-409]m/d/yyyy hh:mm AM/PM"
    assert hours_doubled('yyyy"h"d\\h h') == 'yyyy"h"d\\h hh'  # quoted and escaped text kept
    for same in ("yyyy-mm-dd hh:mm", "h:mm", "[h]:mm", "yyyy/m/d", "0.00", "General"):
        assert hours_doubled(same) == same


def test_excel_97_2003_workbook(city_db, tmp_path):
    """An .xls as 数字城管 systems export it (tests/data/案件2024.xls: a title row, codes and
    coordinates typed as numbers, date cells, an empty sheet) loads like the same .xlsx would:
    every sheet, rows numbered as the sheet shows them, reported under the .xls's own name; also
    inside a folder (where a workbook's later sheets were left out, .xlsx too). Anything else
    starting as an OLE2 file (a Word .doc) is refused saying why."""
    import shutil

    from tests.paths import ROOT

    book = ROOT / "tests" / "data" / "案件2024.xls"
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, book)
        rows = conn.execute("SELECT case_no, kind, major_class, minor_class, component_code, status, "
                            "to_char(reported_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), "
                            "to_char(closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI'), ST_X(geom) "
                            "FROM cases WHERE case_no LIKE 'X0%' ORDER BY case_no").fetchall()
    assert [(r.file, r.layer, r.rows, r.inserted) for r in report.layers] == [
        ("案件2024.xls:五月", "cases", 2, 2), ("案件2024.xls:六月", "cases", 1, 1)]
    assert rows == [
        ("X0501", "component", "01", "01", "6501020101000001", "closed", "2024-05-01 08:30", "2024-05-02 17:05",
         pytest.approx(87.6191)),
        ("X0502", "event", "01", "02", None, "reported", "2024-05-03 09:00", None, pytest.approx(87.6192)),
        ("X0601", "event", "01", "02", None, "reported", "2024-06-01 10:00", None, pytest.approx(87.6193))]
    warnings = {(i["file"], i["row"], i["reason"]) for i in report.issues if i["severity"] == "warning"}
    assert ("案件2024.xls:五月", None, "row 1 holds a title, not column names: skipped, the header is row 3") in {
        (f, r, reason.replace("rows 1-2 hold", "row 1 holds")) for f, r, reason in warnings}
    assert ("案件2024.xls:五月", 5, "read as 01 (a spreadsheet dropped its leading zero)") in warnings
    folder = tmp_path / "数据" / "案件"
    folder.mkdir(parents=True)
    shutil.copy(book, folder / "案件2024.xls")
    with db.connect(city_db) as conn:
        again = load_gazetteer(conn, tmp_path / "数据", LoadOptions(check_only=True))
    assert [(r.file, r.layer, r.rows, r.unchanged) for r in again.layers] == [
        ("案件/案件2024.xls:五月", "cases", 2, 2), ("案件/案件2024.xls:六月", "cases", 1, 1)]  # every sheet here too
    assert not any("is not loaded" in i["reason"] for i in again.issues)
    doc = tmp_path / "cases.xls"
    doc.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(1024))
    with (db.connect(city_db) as conn,
          pytest.raises(LoadError, match="cases.xls: not a readable Excel 97-2003 workbook")):
        load_gazetteer(conn, doc)


def _sheet(path, name: str, rows: list[list], columns: list[str] | None = None) -> None:
    columns = columns or ["case_no", "kind", "major_class", "minor_class", "status", "reported_at", "lon", "lat"]
    pyogrio.raw.write(path, None, [np.array([r[j] for r in rows], dtype=object) for j in range(len(columns))],
                      fields=columns, layer=name, driver="ODS" if path.suffix == ".ods" else "XLSX",
                      append=path.exists())


@pytest.mark.parametrize("suffix", [".xlsx", ".ods"])
def test_every_sheet_of_a_workbook(city_db, tmp_path, suffix):
    """A workbook of monthly sheets (案件2024.xlsx: 五月, 六月) loads every sheet into the layer its
    name says, each sheet's rows numbered as that sheet shows them; Excel's blank Sheet3 is
    skipped with a warning. Only its first sheet was read before: 六月 was silently lost. An
    OpenDocument spreadsheet (LibreOffice; WPS saving as ODF) alike."""
    book = tmp_path / f"案件2024{suffix}"
    _sheet(book, "五月", [["M1", "event", "01", "02", "reported", "2024-05-01 08:00", "87.6191", "43.7895"]])
    _sheet(book, "六月", [["J1", "event", "01", "02", "reported", "2024-06-01 08:00", "87.6192", "43.7896"],
                         ["J2", "event", "01", "02", "burning", "2024-06-02 08:00", "87.6193", "43.7894"]])
    _sheet(book, "Sheet3", [], ["Field1"])
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, book, LoadOptions(strict=False))
        rows = conn.execute("SELECT case_no FROM cases WHERE case_no IN ('M1', 'J1', 'J2') ORDER BY 1").fetchall()
    assert rows == [("J1",), ("M1",)]
    assert [(r.file, r.layer, r.rows, r.inserted, r.rejected) for r in report.layers] == [
        (f"案件2024{suffix}:五月", "cases", 1, 1, 0), (f"案件2024{suffix}:六月", "cases", 2, 1, 1),
        # the empty Sheet3 only in the .xlsx: GDAL writes no empty ODS sheet
        (f"案件2024{suffix}:Sheet3", "cases", 0, 0, 0)][:3 if suffix == ".xlsx" else 2]
    assert [(i["file"], i["row"], i["value"]) for i in report.issues if i["field"] == "status"] == [
        (f"案件2024{suffix}:六月", 3, "burning")]
    assert suffix == ".ods" or any(i["reason"] == f"案件2024{suffix}:Sheet3: empty, skipped" for i in report.issues)
    assert not any("title" in i["reason"] for i in report.issues)
    # sheets named after layers go to theirs; one named for none is said to be left out
    book = tmp_path / f"汇总{suffix}"
    _sheet(book, "案件", [["S1", "event", "01", "02", "reported", "2024-05-01 08:00", "87.6191", "43.7895"]])
    _sheet(book, "说明", [["数据来源：城管委"]], ["Field1"])
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, book, LoadOptions(check_only=True))
    assert [(r.file, r.layer, r.rows) for r in report.layers] == [(f"汇总{suffix}:案件", "cases", 1)]
    assert any(i["reason"].startswith(f"汇总{suffix}: '说明' is not loaded") and i["severity"] == "warning"
               for i in report.issues)


MONTHLY_HEAD = "case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"


def _monthly_exports(tmp_path, prefix: str):
    """A folder holding 案件5月.csv and 案件6月.csv, one case each: {prefix}5 and {prefix}6."""
    folder = tmp_path / "exports"
    folder.mkdir()
    for month in (5, 6):
        (folder / f"案件{month}月.csv").write_text(
            MONTHLY_HEAD
            + f"{prefix}{month},event,01,02,reported,2024-0{month}-01 08:00,87.619{month - 4},43.789{month}\n",
            encoding="utf-8")
    return folder


def test_a_folder_of_monthly_exports(city_db, tmp_path):
    """案件5月.csv and 案件6月.csv in one folder both load into cases (only the first did); a data
    file named for no layer is said to be left out."""
    folder = _monthly_exports(tmp_path, "F")
    (folder / "统计.csv").write_text("月份,件数\n5,1\n", encoding="utf-8")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, folder, LoadOptions(check_only=True))
    assert [(r.file, r.layer, r.rows) for r in report.layers] == [
        ("案件5月.csv", "cases", 1), ("案件6月.csv", "cases", 1)]
    assert any(i["reason"].startswith("exports/统计.csv is not loaded") for i in report.issues)


def _zip_with_raw_names(path, members: dict[bytes, bytes]):
    """A zip whose member names are the given bytes, without the UTF-8 flag: as Windows' compressed
    folders and WinRAR on Chinese Windows write them (GBK), or Info-ZIP on Linux (UTF-8)."""
    placeholders = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, (name, data) in enumerate(members.items()):
            stand_in = chr(ord("A") + i).encode("ascii") * len(name)  # as long as the name, ASCII
            placeholders[stand_in] = name
            zf.writestr(stand_in.decode("ascii"), data)
    raw = path.read_bytes()
    for stand_in, name in placeholders.items():
        raw = raw.replace(stand_in, name)  # in the local header and in the listing
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("encoding", ["gbk", "utf-8"])
def test_zip_of_nested_folders_with_chinese_names(city_db, tmp_path, encoding):
    """数据/案件/案件5月.csv and 数据/案件/2024/案件6月.csv in a zip from Chinese Windows (GBK names)
    or Linux (UTF-8 without the flag): the names are read right (they came out as CP437 mojibake
    and no layer was recognised) and files in subfolders are found (only the top was looked at)."""
    head = "case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
    archive = _zip_with_raw_names(tmp_path / "upload.zip", {
        "数据/案件/案件5月.csv".encode(encoding):
            (head + "Z5,event,01,02,reported,2024-05-01 08:00,87.6191,43.7895\n").encode(),
        "数据/案件/2024/案件6月.csv".encode(encoding):
            (head + "Z6,event,01,02,reported,2024-06-01 08:00,87.62,43.79\n").encode(),
        "数据/说明.txt".encode(encoding): "城管委".encode(encoding)})
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, archive, LoadOptions(check_only=True))
    assert [(r.file, r.layer, r.rows) for r in report.layers] == [
        ("案件/2024/案件6月.csv", "cases", 1), ("案件/案件5月.csv", "cases", 1)]


def test_xlsx_with_a_member_name_not_ascii_is_refused_as_damaged(city_db, tmp_path):
    """A workbook whose sheet's member name was damaged into bytes that read as GBK: the name as
    read is the one the archive is searched by (a KeyError came out of the rejected-table sniff),
    and the damaged workbook is refused with a reason. Found by tests/fuzz_ingest.py, seed 16."""
    from urbangis.ingest.formats.archive import open_zip
    from urbangis.ingest.gazetteer import LoadError

    archive = _zip_with_raw_names(tmp_path / "cases.xlsx", {
        b"[Content_Types].xml": b"<Types/>", "xl/worksheets/she\u8b19.xml".encode("gbk"): b"<worksheet/>"})
    with open_zip(archive) as zf:
        assert zf.namelist()[1] == "xl/worksheets/she\u8b19.xml"
        assert zf.open(zf.namelist()[1]).read() == b"<worksheet/>"
    with db.connect(city_db) as conn, pytest.raises(LoadError, match="cases.xlsx"):
        load_gazetteer(conn, archive)


def test_geopackage_gazetteer_and_zipped_folder(fresh_db, tmp_path, city_dir):
    """The whole sample as one GeoPackage with contract layer names, and as a zip of its folder."""
    gpkg = tmp_path / "city.gpkg"
    for p in sorted(city_dir.glob("*.geojson")):
        meta, _, geom, fields = pyogrio.raw.read(p)
        pyogrio.raw.write(gpkg, geom, fields, fields=meta["fields"], layer=p.stem, driver="GPKG", crs="EPSG:4490",
                      geometry_type="Unknown", append=gpkg.exists(), promote_to_multi=False)
    folder_zip = tmp_path / "city.zip"
    with zipfile.ZipFile(folder_zip, "w") as zf:
        for p in city_dir.iterdir():
            zf.write(p, f"urumqi/{p.name}")
    with db.connect(fresh_db) as conn:
        report = load_gazetteer(conn, gpkg)
    assert report.loaded == report.rows and count(fresh_db, "admin_areas") == 11
    before = fingerprint(fresh_db)
    with db.connect(fresh_db) as conn:
        again = load_gazetteer(conn, folder_zip)
    assert again.layers[0].unchanged == again.layers[0].rows
    assert fingerprint(fresh_db)["admin_areas"] == before["admin_areas"]


def test_address_column_is_geocoded(city_db, tmp_path):
    """A table without coordinates: each address is geocoded on the way in."""
    from urbangis.api.addresses import lazy_address_geocoder
    from urbangis.layers.settings import GeocoderSettings

    path = tmp_path / "cases.csv"
    path.write_text("case_no,kind,major_class,minor_class,status,reported_at,地址\n"
                    "G1,event,01,02,reported,2024-05-01 08:00,天山区解放南路12号\n"
                    "G2,event,01,02,reported,2024-05-01 09:00,不存在的地方999号\n"
                    "G3,event,01,02,reported,2024-05-01 10:00,天山区解放南路999号\n"
                    "G4,event,01,02,reported,2024-05-01 11:00,解放男路12号\n"
                    "G5,event,01,02,reported,2024-05-01 12:00,乌鲁木齐市解放南路１２号\n", encoding="utf-8")
    with db.connect(city_db) as conn:
        geocode = lazy_address_geocoder(city_db, GeocoderSettings())
        report = load_gazetteer(conn, path, LoadOptions(strict=False, geocode=geocode))
        got = conn.execute("SELECT ST_Distance(c.geom::geography, h.geom::geography) FROM cases c, house_numbers h "
                           "WHERE c.case_no = 'G1' AND h.id = 'H0001'").fetchone()
    assert report.loaded == 4 and report.rejected == 1
    assert got[0] < 1.0
    assert any(i["row"] == 3 and "geocoder" in i["reason"] for i in report.issues)
    # placed less precisely than the address asks: loaded, with a warning saying where
    warned = {i["row"]: i for i in report.issues if i["severity"] == "warning" and i["field"] == "地址"}
    assert sorted(warned) == [4, 5], report.issues  # not row 6: the city it names is a code prefix (6501)
    assert warned[4]["value"] == "天山区解放南路999号" and warned[4]["reason"].startswith(
        "placed on the road 解放南路 in 天山区胜利路街道, not at a house number: "
        "no. 999 is not in the gazetteer (confidence ")
    assert "解放男路 read as 解放南路12号" in warned[5]["reason"], warned[5]


def test_shapefile_lacking_dbf_is_a_clear_error(fresh_db, tmp_path):
    from urbangis.ingest.gazetteer import LoadError

    path = _components(tmp_path, "ESRI Shapefile", ".shp")
    path.with_suffix(".dbf").unlink()
    with db.connect(fresh_db) as conn, pytest.raises(LoadError, match=r"\.dbf is missing"):
        load_gazetteer(conn, path)


def _placemark(code: str, name: str, x: float, y: float) -> str:
    """A placemark as Google Earth and 奥维 (Ovital) write one: lon,lat,altitude; fields as Data."""
    return (f"<Placemark><name>{name}</name><styleUrl>#s</styleUrl><ExtendedData>"
            f"<Data name=\"code\"><value>{code}</value></Data><Data name=\"status\"><value>完好</value></Data>"
            f"</ExtendedData><Point><altitudeMode>clampToGround</altitudeMode>"
            f"<coordinates>{x},{y},0</coordinates></Point></Placemark>")


def _kml(folders: dict[str, str]) -> str:
    body = "".join(f"<Folder><name>{name}</name>{marks}</Folder>" for name, marks in folders.items())
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            '<name>部件普查</name><Style id="s"><IconStyle><scale>1</scale></IconStyle></Style>'
            f'{body}</Document></kml>')


def test_kml_folders_and_kmz(city_db, tmp_path):
    """A KML as Google Earth / 奥维 export it: one folder per kind of component (both read as the
    components layer, by their names), a folder of notes that is no layer (left alone), heights
    dropped, the drawing fields not in attrs; the same data as a KMZ then changes nothing."""
    codes = [f"65010201010000{i}" for i in (21, 22, 23)]
    kml = _kml({"部件-井盖": _placemark(codes[0], NAMES[0], *XY[0]) + _placemark(codes[1], NAMES[1], *XY[1]),
                "部件-路灯": _placemark(codes[2], NAMES[2], *XY[2]),
                "标注": _placemark("x", "集合点", *XY[0])})
    path = tmp_path / "普查.kml"
    path.write_text(kml, encoding="utf-8")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
        rows = conn.execute("SELECT code, name, status, ST_NDims(geom), ST_X(geom), ST_Y(geom), attrs FROM components "
                            "WHERE code = ANY(%s) ORDER BY code", (codes,)).fetchall()
    assert report.outcome == "loaded" and report.loaded == 3 and report.rejected == 0
    assert [r.file for r in report.layers] == ["普查.kml:部件-井盖", "普查.kml:部件-路灯"]
    assert [r[:4] for r in rows] == [(c, n, "完好", 2) for c, n in zip(codes, NAMES)]
    assert [(round(r[4], 6), round(r[5], 6)) for r in rows] == XY
    assert not {"tessellate", "altitudeMode", "visibility", "drawOrder"} & set(rows[0][6])
    kmz = tmp_path / "部件.kmz"
    with zipfile.ZipFile(kmz, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", kml)
        zf.writestr("files/icon.png", b"\x89PNG\r\n\x1a\n")
    before = fingerprint(city_db)
    with db.connect(city_db) as conn:
        again = load_gazetteer(conn, kmz)
    assert again.rows == 3 and sum(r.unchanged for r in again.layers) == 3
    assert fingerprint(city_db) == before


@pytest.mark.parametrize("name,content,message", [
    ("roads.kml", b"<html><body>not a map</body></html>", "not KML"),
    ("roads.kmz", b"<kml></kml>", "not a KMZ"),
    ("roads.kmz", None, "without a .kml inside"),
])
def test_kml_that_is_not_is_a_clear_error(fresh_db, tmp_path, name, content, message):
    from urbangis.ingest.gazetteer import LoadError

    path = tmp_path / name
    if content is None:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("roads.geojson", "{}")
    else:
        path.write_bytes(content)
    with db.connect(fresh_db) as conn, pytest.raises(LoadError, match=message):
        load_gazetteer(conn, path)


TWO_ROW = [["案件编号", "案件类型", "案件类别", None, "案件状态", "上报", None, "结案", None, "位置", None],
           [None, None, "大类", "小类", None, "时间", "人", "时间", "人", "经度", "纬度"],
           ["W1", "事件", "01", "02", "结案", "2024/5/1 8:30", "张三", "2024/5/2 9:00", "李四", "87.62", "43.79"],
           ["W2", "事件", "01", "02", "烧毁", "2024/5/1 8:30", "张三", None, None, "87.62", "43.79"]]


def test_two_row_header(city_db, tmp_path):
    """A statistics sheet's two-row header (二级表头: 位置 merged over 经度 | 纬度, 上报 over 时间 |
    人): the column names are read from both rows (上报时间, 上报人: a sub-heading that repeats
    takes its heading), and rows keep the numbers the sheet shows; in CSV as Excel saves it, and in
    a workbook with merged cells."""
    import xlsxwriter

    csv_path = tmp_path / "案件.csv"
    csv_path.write_text("\n".join(",".join(c or "" for c in row) for row in TWO_ROW) + "\n", encoding="utf-8")
    xlsx_path = tmp_path / "案件统计.xlsx"
    book = xlsxwriter.Workbook(xlsx_path)
    sheet = book.add_worksheet("五月")
    for r, row in enumerate(TWO_ROW):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write_string(r, c, value)
    for first, last in ((0, 0), (1, 1), (4, 4)):  # 案件编号, 案件类型, 案件状态 merged down
        sheet.merge_range(0, first, 1, last, TWO_ROW[0][first])
    for first in (2, 5, 7, 9):  # 案件类别, 上报, 结案, 位置 merged across
        sheet.merge_range(0, first, 0, first + 1, TWO_ROW[0][first])
    book.close()
    for path in (csv_path, xlsx_path):
        with db.connect(city_db) as conn:
            report = load_gazetteer(conn, path, LoadOptions(strict=False, layer="cases"))
            rows = conn.execute("SELECT case_no, major_class, minor_class, status, attrs->>'上报人', "
                                "to_char(closed_at AT TIME ZONE 'Asia/Shanghai', 'MM-DD HH24:MI') FROM cases "
                                "WHERE case_no LIKE 'W_'").fetchall()
            conn.execute("DELETE FROM cases WHERE case_no LIKE 'W_'")
        assert rows == [("W1", "01", "02", "closed", "张三", "05-02 09:00")], (path.name, rows)
        errors = [(i["row"], i["field"]) for i in report.issues if i["severity"] == "error"]
        assert report.rejected == 1 and errors == [(4, "案件状态")], report.issues
        assert any(i["reason"].startswith("rows 1-2 hold the column names (a two-row header): read as 案件编号, "
                                          "案件类型, 大类, 小类, 案件状态, 上报时间, 上报人, 结案时间, "
                                          "结案人, 经度, 纬度")
                   for i in report.issues), report.issues


def test_a_record_below_the_header_is_no_second_header_row():
    """What tells a sub-heading row from a record: no digit in it, and a name for every column
    empty above."""
    from urbangis.ingest.formats.tabular import _two_row_header

    assert _two_row_header(["name", "kind", "", "note"], ["解放路", "主干道", "备注", "无"]) is not None  # all text
    assert _two_row_header(["code", "name", ""], ["R01", "解放路", "x"]) is None  # a digit
    assert _two_row_header(["code", "name", "", ""], ["", "", "经度", ""]) is None  # column 4 unnamed
    assert _two_row_header(["code", "", "x"], ["", "a", ""]) is None  # no sub-heading under a heading
    assert _two_row_header(["a", "b"], ["c", "d"]) is None  # nothing empty above: a record


def test_damaged_opendocument_is_a_clear_error(fresh_db, tmp_path):
    """Found by the fuzzer: an .ods whose first member's header is damaged raised BadZipFile."""
    good = tmp_path / "cases.ods"
    _sheet(good, "cases", [["D1", "event", "01", "02", "reported", "2024-05-01 08:00", "87.6191", "43.7895"]])
    data = bytearray(good.read_bytes())
    data[30:38] = b"mimetwpe"  # the local header's name no longer matches the directory's
    bad = tmp_path / "案件.ods"
    bad.write_bytes(bytes(data))
    with db.connect(fresh_db) as conn, pytest.raises(LoadError, match="damaged OpenDocument file"):
        load_gazetteer(conn, bad, LoadOptions(layer="cases"))


def test_wps_et_workbook_is_read_as_the_biff8_it_holds(city_db, tmp_path):
    """WPS Spreadsheets' .et holds the same OLE2/BIFF8 workbook as an .xls: read through the same
    copy, reported under its own name, found in a folder; an .et that is no workbook is refused."""
    import shutil

    from tests.paths import ROOT

    folder = tmp_path / "上报"
    folder.mkdir()
    book = shutil.copy(ROOT / "tests" / "data" / "案件2024.xls", folder / "案件2024.et")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, folder)
    assert [(r.file, r.layer, r.rows, r.inserted) for r in report.layers] == [
        ("案件2024.et:五月", "cases", 2, 2), ("案件2024.et:六月", "cases", 1, 1)]
    (tmp_path / "cases.et").write_text("case_no\n", encoding="utf-8")
    with db.connect(city_db) as conn, pytest.raises(LoadError, match="cases.et: not an Excel 97-2003 workbook"):
        load_gazetteer(conn, tmp_path / "cases.et")
    assert book.exists()


def test_two_row_header_with_a_generic_sub_heading(city_db, tmp_path):
    """Found trying it as a clerk would: 上报 over 时间 | 人 with no second 时间 was read as 时间 (no
    field), and the load failed lacking reported_at; a sub-heading that says little takes its heading."""
    from urbangis.ingest.formats.tabular import _two_row_header

    assert _two_row_header(["案件编号", "上报", "", "位置", ""], ["", "时间", "人", "经度", "纬度"]) == [
        "案件编号", "上报时间", "上报人", "经度", "纬度"]
    path = tmp_path / "案件统计表.csv"
    path.write_text("案件编号,案件类型,案件类别,,案件状态,上报,,位置,\n,,大类,小类,,时间,人,经度,纬度\n"
                    "G1,事件,01,02,立案,2024/5/1 8:30,张三,87.6191,43.7895\n", encoding="gbk")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path, LoadOptions(layer="cases"))
        row = conn.execute("SELECT status, attrs->>'上报人' FROM cases WHERE case_no = 'G1'").fetchone()
    assert report.loaded == 1 and row == ("registered", "张三")


def test_replace_with_a_layer_in_several_files_keeps_them_all(city_db, tmp_path):
    """--replace empties a layer once per load: 案件5月.csv then 案件6月.csv (a workbook's sheets, a
    File Geodatabase's 部件_点 and 部件_线 alike) add up. Found loading a .gdb of points and lines
    with --replace: each file emptied the layer again, only the last one's rows were left, and the
    report said every row was loaded."""
    folder = _monthly_exports(tmp_path, "R")
    old = tmp_path / "cases.csv"
    old.write_text(MONTHLY_HEAD + "R0,event,01,02,reported,2024-04-01 08:00,87.6191,43.7895\n", encoding="utf-8")
    with db.connect(city_db) as conn:
        load_gazetteer(conn, old)
        before = count(city_db, "cases")
        report = load_gazetteer(conn, folder, LoadOptions(replace=True))
    with db.connect(city_db) as conn:
        assert conn.execute("SELECT array_agg(case_no ORDER BY case_no) FROM cases").fetchone()[0] == ["R5", "R6"]
    assert [(r.file, r.inserted, r.deleted) for r in report.layers] == [
        ("案件5月.csv", 1, before), ("案件6月.csv", 1, 0)]


def test_replace_with_feature_classes_of_one_layer_in_the_direct_lane(fresh_db, tmp_path, city_dir):
    """The same through the bulk lane: 12,000 component points and 11,000 lines in two feature
    classes of a File Geodatabase, loaded with --replace into a layer holding rows: all 23,000 stay."""
    with db.connect(fresh_db) as conn:
        load_gazetteer(conn, city_dir)
    rng = np.random.default_rng(3)
    gdb = tmp_path / "城管.gdb"
    for name, n, start, line in (("部件_点", 12_000, 0, False), ("部件_线", 11_000, 500_000, True)):
        x = rng.uniform(87.6186, 87.6196, n)
        y = rng.uniform(43.7891, 43.7898, n)
        geoms = shapely.linestrings(np.stack([np.stack([x, y], 1), np.stack([x + 1e-5, y], 1)], 1)) if line \
            else shapely.points(x, y)
        codes = np.array([f"6501020101{start + k:06d}" for k in range(n)], dtype=object)
        pyogrio.raw.write(gdb, shapely.to_wkb(geoms), [codes, np.full(n, "井盖", dtype=object)],
                          fields=["code", "name"], layer=name, driver="OpenFileGDB", crs="EPSG:4490",
                          geometry_type="LineString" if line else "Point", append=gdb.exists())
    with db.connect(fresh_db) as conn:
        report = load_gazetteer(conn, gdb, LoadOptions(replace=True))
    assert [(r.file, r.inserted) for r in report.layers] == [("城管.gdb:部件_点", 12_000), ("城管.gdb:部件_线", 11_000)]
    assert count(fresh_db, "components") == 23_000


def test_a_file_named_for_no_layer_is_known_by_its_columns(city_db, tmp_path):
    """A 数字城管 export named as the system names it (数字城管案件导出.csv, GBK): taken as cases
    from its columns (案件编号, 问题类型, 大类编码, 小类编码, 当前状态, 上报时间), with a warning
    saying so; X坐标 / Y坐标 are its coordinates, 发生地址 its address. A file whose columns fit no
    layer is still refused, saying so."""
    path = tmp_path / "数字城管案件导出.csv"
    path.write_bytes("案件编号,问题类型,大类编码,小类编码,当前状态,上报时间,发生地址,X坐标,Y坐标\n"
                     "SZ1,事件,01,02,已结案,2026-11-20 09:30,解放南路12号,87.6201,43.7902\n".encode("gbk"))
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
        row = conn.execute("SELECT kind, status, address, ST_X(geom) FROM cases WHERE case_no = 'SZ1'").fetchone()
    assert report.loaded == 1 and report.layers[0].layer == "cases"
    assert row == ("event", "closed", "解放南路12号", pytest.approx(87.6201))
    assert any(i["reason"].startswith("数字城管案件导出.csv: its name says no layer; taken as cases from its columns "
                                      "(案件编号 as case_no, 问题类型 as kind") for i in report.issues), report.issues
    other = tmp_path / "导出.csv"
    other.write_text("编号,备注\n1,x\n", encoding="utf-8")
    with db.connect(city_db) as conn, pytest.raises(LoadError, match=r"cannot tell which layer this file is \(its "
                                                                     r"columns fit no layer's required fields\)"):
        load_gazetteer(conn, other)


def test_an_address_column_named_otherwise_is_geocoded(city_db, tmp_path):
    """The one column whose name holds 地址 (案发地址) is the address to geocode."""
    from urbangis.api.addresses import lazy_address_geocoder
    from urbangis.layers.settings import GeocoderSettings

    path = tmp_path / "cases.csv"
    path.write_text("case_no,kind,major_class,minor_class,status,reported_at,案发地址\n"
                    "A1,event,01,02,reported,2024-05-01 08:00,天山区解放南路12号\n", encoding="utf-8")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path, LoadOptions(geocode=lazy_address_geocoder(city_db, GeocoderSettings())))
        metres = conn.execute("SELECT ST_Distance(c.geom::geography, h.geom::geography) FROM cases c, "
                              "house_numbers h WHERE c.case_no = 'A1' AND h.id = 'H0001'").fetchone()[0]
    assert report.loaded == 1 and metres < 1.0
