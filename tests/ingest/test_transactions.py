"""Nothing lost, nothing half-done: strict loads all or nothing, --skip-invalid loads the good rows
and writes the rejected ones, re-running changes nothing, --replace replaces, and a killed process,
Ctrl-C or a database failure midway leave the database exactly as before."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.paths import ROOT
from urbangis.ingest.gazetteer import LoadError, LoadOptions, LoadRejected, load_gazetteer
from urbangis.layers import database as db

from .city import grid_box
from .util import box, count, feature, fingerprint, versions, write_geojson


def _grids(tmp_path, bad_row: bool = True):
    feats = [feature({"code": f"650102003001{i + 1:03d}", "community_code": "650102003001"}, box(*grid_box(i)))
             for i in range(3, 5)]
    if bad_row:
        feats.append(feature({"code": "650102003001X", "community_code": "650102003001"}, box(*grid_box(5))))
    return write_geojson(tmp_path / "unit_grids.geojson", feats)


def test_strict_loads_nothing_when_one_row_is_bad(city_db, tmp_path):
    before = fingerprint(city_db)
    with db.connect(city_db) as conn, pytest.raises(LoadRejected, match="row 3, code = '650102003001X'"):
        load_gazetteer(conn, _grids(tmp_path))
    assert fingerprint(city_db) == before


def test_skip_invalid_loads_good_rows_and_writes_rejected(city_db, tmp_path):
    report_path = tmp_path / "out" / "grids-report.json"
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, _grids(tmp_path), LoadOptions(strict=False, report_path=report_path))
    assert (report.loaded, report.rejected) == (2, 1)
    assert count(city_db, "unit_grids") == 5
    rejected = json.loads((tmp_path / "out" / "grids-report.rejected.geojson").read_text(encoding="utf-8"))
    [f] = rejected["features"]
    assert f["properties"]["code"] == "650102003001X" and f["properties"]["_row"] == 3
    assert "must be a unit grid code" in f["properties"]["_reasons"] and f["geometry"]["type"] == "Polygon"
    saved = json.loads(report_path.read_text(encoding="utf-8"))
    assert saved["outcome"] == "loaded" and saved["rejected"] == 1 and saved["files"]["rejected"]


def test_rerun_changes_nothing_and_replace_replaces(city_db, tmp_path):
    path = _grids(tmp_path, bad_row=False)
    with db.connect(city_db) as conn:
        first = load_gazetteer(conn, path)
    after_first = fingerprint(city_db)
    with db.connect(city_db) as conn:
        second = load_gazetteer(conn, path)
    assert (first.layers[0].inserted, second.layers[0].inserted, second.layers[0].updated) == (2, 0, 0)
    assert second.layers[0].unchanged == 2
    assert fingerprint(city_db) == after_first
    # the components' grid references would dangle: replacing the grids with two others is refused
    with db.connect(city_db) as conn:
        comps = conn.execute("SELECT count(*) FROM components WHERE grid_code IS NOT NULL").fetchone()[0]
    assert comps == 1
    with db.connect(city_db) as conn:
        conn.execute("UPDATE components SET grid_code = NULL")
        conn.commit()
        replaced = load_gazetteer(conn, path, replace=True)
    assert replaced.layers[0].deleted == 5
    with db.connect(city_db) as conn:
        codes = [r[0] for r in conn.execute("SELECT code FROM unit_grids ORDER BY code")]
    assert codes == ["650102003001004", "650102003001005"]


def test_replace_that_would_orphan_children_is_refused(city_db, tmp_path):
    """Replacing the roads with others leaves the storefront's road missing: rolled back."""
    path = write_geojson(tmp_path / "roads.geojson", [feature(
        {"id": "R0002", "name": "人民路"}, {"type": "LineString", "coordinates": [[87.62, 43.79], [87.625, 43.79]]})])
    before = fingerprint(city_db)
    with db.connect(city_db) as conn, pytest.raises(LoadError, match="storefronts"):
        load_gazetteer(conn, path, replace=True)
    assert fingerprint(city_db) == before


def test_layer_state_moves_so_caches_refresh(city_db, tmp_path):
    before = versions(city_db)
    with db.connect(city_db) as conn:
        load_gazetteer(conn, _grids(tmp_path, bad_row=False))
    after = versions(city_db)
    assert after["unit_grids"] > before["unit_grids"]
    assert after["roads"] == before["roads"]


def test_database_failure_midway_leaves_nothing(city_db, tmp_path):
    """The load's connection is killed by the server while it validates: nothing is written."""
    before = fingerprint(city_db)
    with db.connect(city_db) as conn:
        pid = conn.info.backend_pid

        def progress(layer, done, total, phase):
            if phase == "validating":
                with db.connect(city_db, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        with pytest.raises(LoadError, match="database failure"):
            load_gazetteer(conn, _grids(tmp_path, bad_row=False), LoadOptions(progress=progress))
    assert fingerprint(city_db) == before


def _big_cases_csv(path, n: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["case_no", "kind", "major_class", "minor_class", "status", "reported_at", "lon", "lat"])
        for i in range(n):
            w.writerow([f"K{i:08d}", "event", "01", "02", "reported", "2024-05-01 08:00:00",
                        f"{87.6186 + (i % 1000) * 0.0000005:.7f}", f"{43.7891 + (i // 1000 % 100) * 0.000005:.7f}"])


# `python -m api.cli`, with Ctrl-C raising KeyboardInterrupt as in a terminal even when the test run
# itself was started in the background (a non-interactive shell starts background jobs with SIGINT
# ignored, and a child inherits that: the load would never see the Ctrl-C this test sends).
_CLI_WITH_CTRL_C = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                    "runpy.run_module('urbangis.api.cli', run_name='__main__', alter_sys=True)")


def _start_cli_load(info: str, path, *extra) -> subprocess.Popen:
    env = dict(os.environ, URBANGIS_DATABASE_URL=info)
    return subprocess.Popen([sys.executable, "-c", _CLI_WITH_CTRL_C, "load", str(path), "--batch-size", "20000",
                             "--report", str(path.with_suffix(".report.json")), *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_copy(info: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    name = db.database_name(info)
    with db.connect(info, autocommit=True) as conn:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            busy = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query ILIKE 'COPY%%' "
                                "AND pid <> pg_backend_pid()", (name,)).fetchone()[0]
            if busy:
                return
            time.sleep(0.05)
    raise AssertionError("the load never reached COPY")


def _wait_for_no_sessions(info: str) -> None:
    name = db.database_name(info)
    with db.connect(info, autocommit=True) as conn:
        for _ in range(200):
            if not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                (name,)).fetchone()[0]:
                return
            time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_or_interrupted_load_leaves_database_unchanged(city_db, tmp_path, sig):
    """A load in another process is killed (SIGKILL) or interrupted (Ctrl-C) mid-COPY."""
    path = tmp_path / "cases.csv"
    _big_cases_csv(path, 300_000)
    before = fingerprint(city_db)
    proc = _start_cli_load(city_db, path)
    _wait_for_copy(city_db, proc)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    said = err.decode(errors="replace")[-3000:]  # what the load printed, should this ever fail
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and "rolled back" in said, (proc.returncode, said)
    else:
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, said)
    _wait_for_no_sessions(city_db)
    assert fingerprint(city_db) == before
    assert count(city_db, "cases") == 0


def test_cli_load_end_to_end_and_rerun(city_db, tmp_path):
    path = tmp_path / "cases.csv"
    _big_cases_csv(path, 2_000)
    proc = _start_cli_load(city_db, path, "--skip-invalid")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert b"loaded 2000 rows" in out and b"rows/s" in err
    after = fingerprint(city_db)
    proc = _start_cli_load(city_db, path)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and fingerprint(city_db) == after


def test_cli_check_writes_nothing_and_fails_on_rejected_rows(city_db, tmp_path):
    path = tmp_path / "cases.csv"
    _big_cases_csv(path, 200)
    before = fingerprint(city_db)
    proc = _start_cli_load(city_db, path, "--check")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert b"checked 200 rows" in out and b"nothing written: 200 would load" in out
    assert fingerprint(city_db) == before
    with path.open("a", encoding="utf-8") as fh:  # one bad row: the check fails, still writing nothing
        fh.write("BAD1,event,01,02,burning,2024-05-01 08:00,87.62,43.79\n")
    proc = _start_cli_load(city_db, path, "--check")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and b"200 would load" in out and b"1 would be rejected" in out
    assert fingerprint(city_db) == before


def test_changed_rows_are_updated(city_db, tmp_path):
    path = write_geojson(tmp_path / "roads.geojson", [feature(
        {"id": "R0001", "name": "解放南路", "kind": "main", "district_code": "650102", "aliases": "解放路|南门路"},
        {"type": "LineString", "coordinates": [[87.6219, 43.786], [87.6219, 43.797]]})])
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path)
        aliases, length = conn.execute("SELECT aliases, ST_NPoints(geom) FROM roads WHERE id = 'R0001'").fetchone()
    assert (report.layers[0].inserted, report.layers[0].updated) == (0, 1)
    assert aliases == ["解放路", "南门路"] and length == 2



def test_an_update_keeps_the_fields_its_file_has_no_column_for(city_db, tmp_path):
    """A survey file of code, name and status only updates those: each component keeps its owner
    department and extra attributes (they were emptied), its grid is derived again; a column the
    file has, empty in a row, empties the field; a new component gets none of them."""
    full = tmp_path / "full" / "components.csv"
    full.parent.mkdir()
    full.write_text("code,name,status,owner_dept,备注,lon,lat\n"
                    "6501020101000001,上水井盖,完好,市政局,铸铁,87.6190,43.7894\n"
                    "6501020101000009,雨水井盖,完好,水务局,,87.6191,43.7895\n", encoding="utf-8")
    survey = tmp_path / "survey" / "components.csv"
    survey.parent.mkdir()
    survey.write_text("code,name,status,lon,lat\n"
                      "6501020101000001,上水井盖,破损,87.6190,43.7894\n"
                      "6501020101000010,路灯,完好,87.6192,43.7896\n", encoding="utf-8")
    emptied = tmp_path / "emptied" / "components.csv"
    emptied.parent.mkdir()
    emptied.write_text("code,name,owner_dept,lon,lat\n6501020101000009,雨水井盖,,87.6191,43.7895\n", encoding="utf-8")

    def rows():
        with db.connect(city_db) as conn:
            return conn.execute("SELECT code, name, status, owner_dept, grid_code, attrs FROM components "
                                "ORDER BY code").fetchall()

    with db.connect(city_db) as conn:
        load_gazetteer(conn, full)
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, survey)
    assert (report.layers[0].inserted, report.layers[0].updated, report.layers[0].unchanged) == (1, 1, 0)
    assert rows() == [("6501020101000001", "上水井盖", "破损", "市政局", "650102003001001", {"备注": "铸铁"}),
                      ("6501020101000009", "雨水井盖", "完好", "水务局", "650102003001001", {}),
                      ("6501020101000010", "路灯", "完好", None, "650102003001001", {})]
    with db.connect(city_db) as conn:
        again = load_gazetteer(conn, survey)
    assert again.layers[0].unchanged == 2
    with db.connect(city_db) as conn:
        load_gazetteer(conn, emptied)
    assert rows()[1] == ("6501020101000009", "雨水井盖", "完好", None, "650102003001001", {})

def test_bulk_load_into_empty_layer_rebuilds_indexes(fresh_db, tmp_path, monkeypatch):
    """Big loads into an empty table drop and rebuild its secondary indexes inside the transaction;
    after a refused load they are all still there."""
    from urbangis.ingest import gazetteer

    monkeypatch.setattr(gazetteer, "BULK_ROWS", 1)

    def indexes():
        with db.connect(fresh_db) as conn:
            return sorted(r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'cases'"))

    before = indexes()
    assert "cases_geom" in before
    good = tmp_path / "cases.csv"
    _big_cases_csv(good, 500)
    with db.connect(fresh_db) as conn:
        assert load_gazetteer(conn, good).loaded == 500
    assert indexes() == before
    with db.connect(fresh_db) as conn:
        conn.execute("DELETE FROM cases")
        conn.commit()
        with pytest.raises(LoadError):
            load_gazetteer(conn, good, LoadOptions(progress=_fail_on_merge))
    assert indexes() == before and count(fresh_db, "cases") == 0


def _fail_on_merge(layer, done, total, phase):
    if phase == "done":
        raise LoadError("stop after the merge")


def test_rejected_rows_fixed_and_loaded_again(city_db, tmp_path):
    """The rejected-rows file is what staff fix and send back: loaded again, each row goes to the
    layer it came from, the bookkeeping (_layer, _file, _row, _reasons) stays out of attrs, and a
    row still wrong is rejected again, into a new rejected-rows file."""
    folder = tmp_path / "in"
    folder.mkdir()
    _grids(folder)  # row 3: code 650102003001X
    write_geojson(folder / "components.geojson", [
        feature({"code": "6501020101000031", "name": "路灯", "status": "完好", "owner_dept": "市政"},
                {"type": "Point", "coordinates": [87.6195, 43.7895]}),
        feature({"code": "65010201010032", "name": "路灯", "status": "完好"},  # 14 digits
                {"type": "Point", "coordinates": [87.6196, 43.7895]}),
        feature({"code": "6501020101000033", "name": "", "status": "完好"},  # no name
                {"type": "Point", "coordinates": [87.6197, 43.7895]})])
    with (folder / "cases.csv").open("w", encoding="utf-8") as fh:
        fh.write("case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
                 "RJ1,event,01,02,reported,2024-13-45 09:00,87.6193,43.7897\n")  # no such month
    first = tmp_path / "first" / "report.json"
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, folder, LoadOptions(strict=False, report_path=first))
    assert (report.loaded, report.rejected) == (3, 4)
    rejected_file = first.with_name("report.rejected.geojson")
    fixed = json.loads(rejected_file.read_text(encoding="utf-8"))
    assert [f["properties"]["_layer"] for f in fixed["features"]] == ["unit_grids", "components", "components",
                                                                        "cases"]
    grid, short, unnamed, case = (f["properties"] for f in fixed["features"])
    assert case["reported_at"] == "2024-13-45 09:00"  # the value as given, not lost with its conversion
    grid["code"] = "650102003001006"  # fixed
    short["code"] = "6501020101000032"  # fixed
    case["reported_at"] = "2024-12-15 09:00"  # fixed
    # the unnamed one left as it was: still rejected
    fixed_path = tmp_path / "rejected-fixed.geojson"
    fixed_path.write_text(json.dumps(fixed, ensure_ascii=False), encoding="utf-8")
    second = tmp_path / "second" / "report.json"
    with db.connect(city_db) as conn:
        again = load_gazetteer(conn, fixed_path, LoadOptions(strict=False, report_path=second))
        attrs = conn.execute("SELECT attrs FROM components WHERE code = '6501020101000032'").fetchone()[0]
    assert [(r.layer, r.file, r.inserted, r.rejected) for r in again.layers] == [
        ("unit_grids", "rejected-fixed.geojson:unit_grids", 1, 0),
        ("components", "rejected-fixed.geojson:components", 1, 1),
        ("cases", "rejected-fixed.geojson:cases", 1, 0)]
    assert count(city_db, "unit_grids", "code = '650102003001006'") == 1
    assert not {"_layer", "_file", "_row", "_reasons"} & set(attrs)
    [still] = json.loads(second.with_name("report.rejected.geojson").read_text(encoding="utf-8"))["features"]
    assert still["properties"]["code"] == "6501020101000033" and "name" in still["properties"]["_reasons"]
    # only one layer's rows, when --layer says so
    with db.connect(city_db) as conn:
        only = load_gazetteer(conn, fixed_path, LoadOptions(strict=False, layer="unit_grids"))
    assert [(r.layer, r.rows, r.unchanged) for r in only.layers] == [("unit_grids", 1, 1)]


def _write_rows(path, rows: list[dict], encoding: str):
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_rejected_rows_of_a_table_come_back_as_csv_for_excel(city_db, tmp_path):
    """Rows read from a CSV or XLSX are also set aside as a CSV of their layer (the reasons beside
    each row, UTF-8 with a byte-order mark), which staff fix in Excel and send back: saved by
    Excel as GBK CSV or as XLSX, under any name, each row goes back to its layer."""
    source = tmp_path / "五月案件导出.csv"  # a name that does not say the layer: --layer cases
    source.write_text("案件编号,案件类型,大类编码,小类编码,案件状态,上报时间,经度,纬度,处理人\n"
                      "XL1,事件,01,02,上报,2024-05-01 08:00,87.6191,43.7895,张三\n"
                      "XL2,事件,01,02,已结案,2024-13-01 08:00,87.6192,43.7896,李四\n"  # no month 13
                      "XL3,事件,1,02,bogus,2024-05-01 08:00,87.6193,43.7894,\"王五,赵六\"\n", encoding="utf-8")
    first = tmp_path / "first" / "report.json"
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, source, LoadOptions(strict=False, layer="cases", report_path=first))
    assert (report.loaded, report.rejected) == (1, 2)
    table = first.with_name("report.rejected.cases.csv")
    assert report.files["rejected_csv:cases"] == str(table)
    raw = table.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert list(rows[0])[:3] == ["_row", "_reasons", "case_no"]
    assert list(rows[0])[-4:] == ["lon", "lat", "_layer", "_file"]
    assert [(r["_row"], r["case_no"], r["_layer"], r["_file"]) for r in rows] == [
        ("3", "XL2", "cases", "五月案件导出.csv"), ("4", "XL3", "cases", "五月案件导出.csv")]
    assert rows[0]["reported_at"] == "2024-13-01 08:00" and "month must be in 1..12" in rows[0]["_reasons"]
    assert rows[1]["处理人"] == "王五,赵六" and rows[1]["status"] == "bogus" and rows[1]["major_class"] == "01"
    assert (rows[1]["lon"], rows[1]["lat"]) == ("87.6193", "43.7894")
    # fixed in Excel, saved as plain "CSV" (GBK) under another name, and loaded without --layer
    rows[0]["reported_at"] = "2024-12-01 08:00"
    rows[1]["status"] = "处置中"
    fixed = _write_rows(tmp_path / "改好的.csv", rows, "gbk")
    with db.connect(city_db) as conn:
        again = load_gazetteer(conn, fixed, LoadOptions(strict=True))
        attrs = conn.execute("SELECT attrs FROM cases WHERE case_no = 'XL3'").fetchone()[0]
    assert [(r.layer, r.inserted, r.rejected) for r in again.layers] == [("cases", 2, 0)]
    assert attrs == {"处理人": "王五,赵六"}  # the bookkeeping columns are not data
    assert count(city_db, "cases", "case_no IN ('XL2', 'XL3') AND status IN ('closed', 'handling')") == 2
    # saved by Excel as XLSX: the same
    xlsx = tmp_path / "改好的.xlsx"
    subprocess.run(["ogr2ogr", "-f", "XLSX", str(xlsx), str(table), "-oo", "AUTODETECT_TYPE=NO"], check=True)
    with db.connect(city_db) as conn:
        as_xlsx = load_gazetteer(conn, xlsx, LoadOptions(strict=False, check_only=True))
    assert [(r.layer, r.rows) for r in as_xlsx.layers] == [("cases", 2)]
    # a table whose rows name two layers is refused: it holds one layer's rows
    rows[1]["_layer"] = "components"
    mixed = _write_rows(tmp_path / "mixed.csv", rows, "utf-8")
    with db.connect(city_db) as conn, pytest.raises(LoadError, match="a table holds one layer's rows"):
        load_gazetteer(conn, mixed, LoadOptions(strict=False))


def test_rejected_rows_of_a_gis_file_are_geojson_only(city_db, tmp_path):
    report_path = tmp_path / "report.json"
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, _grids(tmp_path), LoadOptions(strict=False, report_path=report_path))
    assert report.rejected == 1 and "rejected" in report.files
    assert not [k for k in report.files if k.startswith("rejected_csv:")]
    assert not list(tmp_path.glob("report.rejected.*.csv"))
