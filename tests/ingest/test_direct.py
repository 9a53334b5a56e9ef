"""The direct lane (ingest/direct.py): a big load into an empty layer COPYs the rows that pass every
check straight into the table. It must load and report exactly what the staging lane would, fall
back to staging for what it cannot settle, and leave nothing behind when the load fails."""
from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import time

import numpy as np
import pytest

from tests.conftest import new_database
from urbangis.ingest import direct
from urbangis.ingest.formats.base import Batch, RowIssue
from urbangis.ingest.gazetteer import LoadError, LoadOptions, load_gazetteer
from urbangis.layers import database as db

from .city import grid_box
from .util import box, feature, fingerprint, point, write_geojson


def _lane(monkeypatch, lane: str) -> None:
    monkeypatch.setattr(direct, "DIRECT_ROWS", 1 if lane == "direct" else 10 ** 12)
    monkeypatch.setattr(direct, "FIRST_PIECE", 2)  # the test files' first batch in pieces of 2, 4, 8 ... rows


def test_first_batch_pieces_keep_every_row_and_issue():
    """The pieces of a batch hold its rows, values, geometries and issues, each once, in order."""
    rows = np.arange(5, 16)
    issues = [RowIssue(None, None, None, "whole file"), RowIssue(5, "a", 1, "x"), RowIssue(7, "a", 1, "y"),
              RowIssue(15, None, None, "z")]
    batch = Batch(rows, {"a": list(range(11))}, wkb=[bytes([i]) for i in range(11)], issues=issues)
    pieces = list(batch.pieces(2))
    assert [len(p) for p in pieces] == [2, 4, 5]
    assert np.concatenate([p.rows for p in pieces]).tolist() == rows.tolist()
    assert sum((p.columns["a"] for p in pieces), []) == list(range(11))
    assert sum((p.wkb for p in pieces), []) == batch.wkb
    assert [[i.reason for i in p.issues] for p in pieces] == [["whole file", "x"], ["y"], ["z"]]


def _issues(report_path) -> list[tuple]:
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return sorted(((i["layer"], i["row"], i["field"], str(i["value"]), i["reason"], i["severity"])
                   for i in report["issues"]), key=lambda t: tuple("" if v is None else str(v) for v in t))


def _both_lanes(info: str, path, monkeypatch, caplog):
    """Load ``path`` with --replace --skip-invalid through staging, then through the direct lane:
    yields (lane, report, report path) after each, the log of that load in ``caplog``."""
    for lane in ("staging", "direct"):
        _lane(monkeypatch, lane)
        caplog.clear()
        report_path = path.parent / f"{lane}.json"
        with caplog.at_level(logging.INFO, logger="urbangis.ingest"), db.connect(info) as conn:
            report = load_gazetteer(conn, path, LoadOptions(strict=False, replace=True, report_path=report_path))
        yield lane, report, report_path


def _direct_layers(caplog) -> set[str]:
    return {r.getMessage().split(":")[0] for r in caplog.records if "inserted (direct)" in r.getMessage()}


def _constraints(info: str) -> list[tuple]:
    """Every constraint of the schema as declared: the direct lane drops keys and foreign keys for
    its COPY and must put them back exactly (deferrable, deferred, validated)."""
    with db.connect(info) as conn:
        return conn.execute("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), condeferrable, "
                            "condeferred, convalidated FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
                            "ORDER BY 1, 2").fetchall()


def test_whole_city_direct_equals_staging(city_dir, monkeypatch, caplog):
    """Every layer with a direct lane loads into an empty database exactly as through staging."""
    results = {}
    for lane in ("staging", "direct"):
        _lane(monkeypatch, lane)
        info = new_database()
        try:
            caplog.clear()
            with caplog.at_level(logging.INFO, logger="urbangis.ingest"), db.connect(info) as conn:
                report = load_gazetteer(conn, city_dir)
            results[lane] = (fingerprint(info), [(r.layer, r.rows, r.inserted, r.rejected) for r in report.layers],
                             _constraints(info))
            if lane == "direct":
                assert {"unit_grids", "components", "roads", "courtyards", "storefronts", "house_numbers",
                        "buildings"} <= _direct_layers(caplog)
        finally:
            db.drop_database(info)
    assert results["direct"] == results["staging"]


def _components(bad: bool) -> list[dict]:
    """Good components in the test grids, and (``bad``) one of each problem the checks find."""
    feats = []
    for i in range(3):
        x0, y0, x1, y1 = grid_box(i)
        for k in range(4):
            props = {"code": f"650102010100{i}{k:03d}", "name": "井盖", "grid_code": f"650102003001{i + 1:03d}"}
            feats.append(feature(props, point(x0 + 0.0002 * (k + 1), y0 + 0.0004)))
    # no grid code: derived from the location by the merge
    feats.append(feature({"code": "6501020101009001", "name": "井盖"}, point(87.6190, 43.7894)))
    # a line and a polygon component
    feats.append(feature({"code": "6501020201009002", "name": "护栏", "grid_code": "650102003001001"},
                         {"type": "LineString", "coordinates": [[87.6187, 43.7893], [87.6192, 43.7893]]}))
    feats.append(feature({"code": "6501020301009003", "name": "绿地", "grid_code": "650102003001002"},
                         box(87.6199, 43.7892, 87.6202, 43.7895)))
    if bad:
        feats += [
            feature({"code": "65010201010X9004", "name": "井盖"}, point(87.6190, 43.7894)),  # code format
            feature({"code": "6501020101009005", "name": "井盖", "grid_code": "650102003001099"},
                    point(87.6190, 43.7894)),  # unknown grid
            feature({"code": "6501020101009006", "name": "井盖", "grid_code": "650102003001003"},
                    point(87.6190, 43.7894)),  # in grid 001, says 003
            feature({"code": "6501020101009007", "name": "井盖"}, point(87.45395, 43.68067)),  # other district
            feature({"code": "6501020301009008", "name": "绿地", "grid_code": "650102003001002"},
                    {"type": "Polygon", "coordinates": [[[87.6199, 43.7892], [87.6202, 43.7895], [87.6202, 43.7892],
                                                         [87.6199, 43.7895], [87.6199, 43.7892]]]}),  # bow-tie
            feature({"code": "6501020101009009", "name": "井盖"}, None),  # no geometry
            feature({"code": "6501020101009010", "name": "井盖"}, point(43.7894, 87.6190)),  # swapped
            feature({"code": "6501020101009011", "name": ""}, point(87.6190, 43.7894)),  # no name
            feature({"code": "6508020101009012", "name": "井盖"}, point(87.6190, 43.7894)),  # unknown district
        ]
    return feats


@pytest.mark.parametrize("duplicate", [False, True])
def test_bad_rows_reported_as_through_staging(city_db, tmp_path, monkeypatch, caplog, duplicate):
    """--replace --skip-invalid of components with one of each problem: the same rows loaded, the
    same issues reported, whichever lane; a duplicated code sends the direct lane back to staging."""
    feats = _components(bad=True)
    if duplicate:
        feats.append(feature({"code": "6501020101000001", "name": "井盖", "grid_code": "650102003001001"},
                             point(87.6187, 43.7894)))
    path = write_geojson(tmp_path / "components.geojson", feats)
    out = {}
    for lane, report, report_path in _both_lanes(city_db, path, monkeypatch, caplog):
        layer = report.layers[0]
        out[lane] = (fingerprint(city_db), _issues(report_path), layer.inserted, layer.rejected, layer.warnings)
        rejected = json.loads((tmp_path / f"{lane}.rejected.geojson").read_text(encoding="utf-8"))
        out[lane] += (sorted(f["properties"]["_row"] for f in rejected["features"]),)
        if lane == "direct":
            fell_back = any("loading through staging instead" in r.getMessage() for r in caplog.records)
            assert fell_back == duplicate and (_direct_layers(caplog) == set()) == duplicate
    assert out["direct"] == out["staging"]
    assert out["direct"][3] == 8 + duplicate and out["direct"][4] == 1  # the bow-tie is repaired, with a warning
    assert out["direct"][2] == 15 + 1


@pytest.mark.parametrize("twice", [False, True])
def test_house_numbers_direct_equals_staging(city_db, tmp_path, monkeypatch, caplog, twice):
    """House numbers: the parent each names is looked up among the roads, places or courtyards, as
    its parent_kind says; the same house number under two ids (its natural key) sends the direct
    lane back to staging, which alone words that issue. Either way, the same rows and issues."""
    def hn(i, kind, parent, number, x=87.62198, y=43.79018):
        return feature({"id": f"H{i:04d}", "parent_kind": kind, "parent_id": parent, "number": number}, point(x, y))

    feats = [hn(1, "road", "R0001", "12"), hn(2, "road", "R0001", "13"), hn(3, "place", "P0001", "5"),
             hn(4, "courtyard", "C0001", "2"), hn(5, "road", "R0001", "12-1"),
             hn(6, "place", "R0001", "7"),  # a road's id where a place's is named: no such place
             hn(7, "courtyard", "P0001", "1"),  # a place's id as a courtyard
             hn(8, "road", "R9999", "1"),  # no such road
             hn(9, "road", "R0001", "14", x=200.0)]  # not lon/lat
    if twice:
        feats.append(hn(10, "road", "R0001", "13"))  # H0002 again under another id
    path = write_geojson(tmp_path / "house_numbers.geojson", feats)
    out = {}
    for lane, report, report_path in _both_lanes(city_db, path, monkeypatch, caplog):
        layer = report.layers[0]
        out[lane] = (fingerprint(city_db), _issues(report_path), layer.inserted, layer.rejected)
        if lane == "direct":
            fell_back = any("loading through staging instead" in r.getMessage() for r in caplog.records)
            assert fell_back == twice and ("house_numbers" in _direct_layers(caplog)) != twice
    assert out["direct"] == out["staging"]
    assert (out["direct"][2], out["direct"][3]) == (5, 4 + twice)
    reasons = {i[1]: i[4] for i in out["direct"][1]}
    assert reasons[6] == "place R0001 does not exist (neither in the database nor among the rows accepted so far)"
    assert reasons[7].startswith("courtyard P0001 does not exist")
    if twice:
        assert reasons[10].startswith("the same parent_kind + parent_id + number as row 2")


def _cases(bad: bool) -> list[dict]:
    """Cases in the test city: good ones (some leaving grid and district to be derived from their
    location), and (``bad``) one of each problem the checks find."""
    g1, g3 = grid_box(0), grid_box(2)
    at1 = point(g1[0] + 0.0003, g1[1] + 0.0003)

    def case(no, geom, **kw):
        props = {"case_no": no, "kind": "event", "major_class": "01", "minor_class": "02", "status": "reported",
                 "reported_at": "2025-03-01T09:00:00+08:00", "supervisor_id": "SV01",
                 "grid_code": "650102003001001", "district_code": "650102", **kw}
        return feature({k: v for k, v in props.items() if v is not None}, geom)

    feats = [
        case("K0001", at1),
        case("K0002", at1, kind="component", major_class="01", minor_class="01", component_code="6501020101000001"),
        case("K0003", point(g3[0] + 0.0004, g3[1] + 0.0004), grid_code=None),  # grid derived: 003
        case("K0004", at1, district_code=None),  # district derived: 650102
        case("K0005", point(87.6240, 43.7920), grid_code=None, district_code=None),  # in no grid
        case("K0006", at1, status="closed", closed_at="2025-03-02T10:00:00+08:00"),
    ]
    if bad:
        feats += [
            case("K0101", at1, kind="component", major_class="01", minor_class="01",
                 component_code="6501020101009999"),  # unknown component
            case("K0102", at1, supervisor_id="SV99"),  # unknown supervisor
            case("K0103", at1, grid_code="650102003001003"),  # in grid 001, says 003
            case("K0104", at1, grid_code=None, district_code="650103"),  # in 650102, says 650103
            case("K0105", at1, status="closed", closed_at="2025-02-01T10:00:00+08:00"),  # closed before reported
            case("K0106", at1, status="lost"),  # unknown status
            case("K0107", None),  # no geometry
            case("K0108", at1, grid_code="650102003001099"),  # unknown grid
        ]
    return feats


def _cases_csv(path, feats: list[dict]) -> None:
    """The features as a CSV with lon/lat columns, and two rows only a CSV can get wrong."""
    names = ["case_no", "kind", "major_class", "minor_class", "component_code", "status", "supervisor_id",
             "grid_code", "district_code", "reported_at", "closed_at"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(names + ["lon", "lat"])
        for f in feats:
            xy = f["geometry"]["coordinates"] if f["geometry"] else ["", ""]
            w.writerow([f["properties"].get(n, "") for n in names] + xy)
        w.writerow(["K0201", "event", "01", "02", "", "reported", "SV01", "650102003001001", "650102",
                    "2025-03-01 09:00", "", "87.6l", "43.79"])  # a letter l for a 1
        w.writerow(["K0202", "event", "01"])  # cut short


@pytest.mark.parametrize("kind", ["geojson", "csv"])
def test_cases_direct_equals_staging(city_db, tmp_path, monkeypatch, caplog, kind):
    """Cases (references to components, supervisors, grids and districts; grid and district derived
    from the location when left empty) load and report the same through either lane, from GeoJSON
    or from a CSV with coordinate columns (which takes the direct lane on its line count)."""
    if kind == "geojson":
        path = write_geojson(tmp_path / "cases.geojson", _cases(bad=True))
    else:
        path = tmp_path / "cases.csv"
        _cases_csv(path, _cases(bad=True))
    out = {}
    for lane, report, report_path in _both_lanes(city_db, path, monkeypatch, caplog):
        with db.connect(city_db) as conn:
            rows = conn.execute("SELECT case_no, grid_code, district_code FROM cases ORDER BY case_no").fetchall()
        layer = report.layers[0]
        out[lane] = (fingerprint(city_db), _issues(report_path), layer.inserted, layer.rejected, rows)
        if lane == "direct":
            assert "cases" in _direct_layers(caplog)
    assert out["direct"] == out["staging"]
    assert out["direct"][3] == 8 + 2 * (kind == "csv") and out["direct"][2] == 6
    if kind == "csv":
        issues = {(i[1], i[2]): i for i in out["direct"][1]}
        assert issues[(16, "lon")][3] == "87.6l" and issues[(16, "lon")][4].startswith("not a coordinate (decimal")
        assert "fewer fields" in issues[(17, None)][4]
    derived = {no: (grid, district) for no, grid, district in out["direct"][4]}
    assert derived["K0003"] == ("650102003001003", "650102")
    assert derived["K0004"] == ("650102003001001", "650102")
    assert derived["K0005"] == (None, "650102")


def test_staging_derives_missing_columns_as_postgis_would(city_db, tmp_path, monkeypatch):
    """A staging load of cases whose file has no grid_code or district_code column: the reading
    process derives them (STRtree) exactly as the merge's SQL would."""
    from urbangis.ingest import gazetteer
    from urbangis.ingest.validate import prechecks

    feats = _cases(bad=True)
    for f in feats:
        f["properties"].pop("grid_code", None)
        f["properties"].pop("district_code", None)
    path = write_geojson(tmp_path / "cases.geojson", feats)
    _lane(monkeypatch, "staging")
    calls = []
    fill = prechecks.Deriver.fill
    monkeypatch.setattr(prechecks.Deriver, "fill", lambda self, *a: calls.append(1) or fill(self, *a))
    out = {}
    for where, rows in (("postgis", 10 ** 12), ("python", 1)):
        monkeypatch.setattr(gazetteer, "DERIVE_ROWS", rows)
        report_path = tmp_path / f"{where}.json"
        with db.connect(city_db) as conn:
            report = load_gazetteer(conn, path, LoadOptions(strict=False, replace=True, report_path=report_path))
            codes = conn.execute("SELECT case_no, grid_code, district_code FROM cases ORDER BY 1").fetchall()
        out[where] = (fingerprint(city_db), _issues(report_path), report.loaded, report.rejected, codes)
    assert out["python"] == out["postgis"] and calls  # the reading process did derive them
    derived = {no: (grid, district) for no, grid, district in out["python"][4]}
    assert derived["K0003"] == ("650102003001003", "650102") and derived["K0005"] == (None, "650102")


def _component_indexes(info: str) -> dict[str, str]:
    """The components table's indexes (its key among them): name -> definition."""
    with db.connect(info) as conn:
        return dict(conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'components'"))


def test_failed_direct_load_leaves_keys_and_indexes(city_db, tmp_path, monkeypatch):
    """The primary key and indexes dropped for the direct lane come back with the rollback."""
    _lane(monkeypatch, "direct")

    def stop(layer, done, total, phase):
        if phase == "done":
            raise LoadError("stop after the load")

    before, data = _component_indexes(city_db), fingerprint(city_db)
    assert "components_pkey" in before and "components_geom" in before
    path = write_geojson(tmp_path / "components.geojson", _components(bad=False))
    with db.connect(city_db) as conn, pytest.raises(LoadError):
        load_gazetteer(conn, path, LoadOptions(replace=True, progress=stop))
    assert _component_indexes(city_db) == before and fingerprint(city_db) == data
    with db.connect(city_db) as conn:  # and a load that goes through is keyed and indexed as before
        load_gazetteer(conn, path, LoadOptions(replace=True))
        assert conn.execute("SELECT count(*) FROM components").fetchone()[0] == 15
    assert _component_indexes(city_db) == before


@pytest.mark.parametrize("lane", ["staging", "direct"])
def test_check_only_reports_what_would_load_and_writes_nothing(city_db, tmp_path, monkeypatch, lane):
    """A check (--check, mode=check) runs the whole load, reports it exactly as the load itself
    would, and rolls back: data, keys and indexes as before."""
    _lane(monkeypatch, lane)

    before, data = _component_indexes(city_db), fingerprint(city_db)
    path = write_geojson(tmp_path / "components.geojson", _components(bad=True))
    with db.connect(city_db) as conn:
        checked = load_gazetteer(conn, path, LoadOptions(check_only=True, replace=True,
                                                         report_path=tmp_path / "check.json"))
    assert _component_indexes(city_db) == before and fingerprint(city_db) == data
    assert checked.outcome == "checked" and checked.mode == "check"
    assert (checked.loaded, checked.rejected) == (16, 8) and "nothing written" in checked.message
    with db.connect(city_db) as conn:
        loaded = load_gazetteer(conn, path, LoadOptions(strict=False, replace=True,
                                                        report_path=tmp_path / "load.json"))
    assert (loaded.loaded, loaded.rejected, loaded.layers[0].inserted, loaded.layers[0].deleted) == (
        checked.loaded, checked.rejected, checked.layers[0].inserted, checked.layers[0].deleted)
    assert _issues(tmp_path / "load.json") == _issues(tmp_path / "check.json")
    assert fingerprint(city_db) != data


def test_killed_direct_load_leaves_database_unchanged(city_db, tmp_path):
    """A --replace load of many components, killed while it COPYs straight into the table."""
    import signal

    from .test_transactions import _start_cli_load, _wait_for_no_sessions

    feats = []
    for i in range(200_000):
        x0, y0, x1, y1 = grid_box(i % 3)
        props = {"code": f"65010201010{i:05d}", "name": "井盖", "grid_code": f"650102003001{i % 3 + 1:03d}"}
        feats.append(feature(props, point(x0 + 0.0001 + (i % 97) * 0.00001, y0 + 0.0001 + (i % 89) * 0.000008)))
    path = write_geojson(tmp_path / "components.geojson", feats)
    before = fingerprint(city_db)
    proc = _start_cli_load(city_db, path, "--replace")
    with db.connect(city_db, autocommit=True) as conn:  # wait for the COPY straight into the table
        deadline = time.monotonic() + 60
        while not conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY \"components%%' "
                               "AND pid <> pg_backend_pid()").fetchone()[0]:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
            time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    _wait_for_no_sessions(city_db)
    assert fingerprint(city_db) == before


def test_arrays_integers_and_times_direct_equals_staging(city_db, tmp_path, monkeypatch, caplog):
    """The direct lane writes its COPY as CSV from whole columns: text arrays (aliases with quotes,
    backslashes, commas, braces, spaces), integers, and times with an offset, without one (placed
    in the load's time zone, Asia/Shanghai) or mixed in one column are stored as the staging lane
    stores them."""
    line = {"type": "LineString", "coordinates": [[87.6219, 43.786], [87.6219, 43.796]]}
    roads = [feature({"id": "R0001", "name": "解放南路", "kind": "main", "district_code": "650102",
                      "left_from": 1, "left_to": 99, "right_from": 2, "right_to": 100,
                      "left_parity": "odd", "right_parity": "even"}, line),
             feature({"id": "R0002", "name": "和平路", "aliases": 'say "hi"|back\\slash|a,b|{braced}| spaced out ',
                      "historic_names": "老街|", "left_from": 0, "right_to": 2147483}, line),
             feature({"id": "R0003", "name": "团结路", "aliases": "", "historic_names": None}, line)]
    path = write_geojson(tmp_path / "roads.geojson", roads)
    out = {}
    for lane in ("staging", "direct"):
        with db.connect(city_db) as conn:  # the direct lane takes an empty table (see the next test)
            conn.execute("DELETE FROM storefronts")
            conn.execute("DELETE FROM roads")
            conn.commit()
        _lane(monkeypatch, lane)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="urbangis.ingest"), db.connect(city_db) as conn:
            report = load_gazetteer(conn, path, LoadOptions(strict=False))
            rows = conn.execute(
                "SELECT id, aliases, historic_names, left_from, right_to FROM roads ORDER BY id").fetchall()
        out[lane] = (fingerprint(city_db), report.layers[0].inserted, rows)
        assert ("roads" in _direct_layers(caplog)) == (lane == "direct")
    assert out["direct"] == out["staging"]
    assert out["direct"][2][1] == ("R0002", ['say "hi"', "back\\slash", "a,b", "{braced}", "spaced out"], ["老街"], 0,
                                   2147483)

    naive, aware = "2025-03-01 09:00:00", "2025-03-01T09:00:00+06:00"
    for times in ((naive, naive), (aware, "2025-03-01T03:00:00Z"), (naive, aware)):
        feats = _cases(bad=False)
        for i, f in enumerate(feats):
            f["properties"]["reported_at"] = times[i % 2]
            f["properties"].pop("closed_at", None)
            f["properties"]["status"] = "reported"
        path = write_geojson(tmp_path / "cases.geojson", feats)
        out = {}
        for lane, report, _ in _both_lanes(city_db, path, monkeypatch, caplog):
            with db.connect(city_db) as conn:
                stamps = conn.execute("SELECT case_no, reported_at FROM cases ORDER BY case_no").fetchall()
            out[lane] = (fingerprint(city_db), report.layers[0].inserted, stamps)
            if lane == "direct":
                assert "cases" in _direct_layers(caplog)
        assert out["direct"] == out["staging"], times
        utc = {no: t.astimezone(dt.timezone.utc).strftime("%H:%M") for no, t in out["direct"][2]}
        expected = {naive: "01:00", aware: "03:00", "2025-03-01T03:00:00Z": "03:00"}
        assert utc == {no: expected[times[i % 2]] for i, no in enumerate(sorted(utc))}, times


@pytest.mark.parametrize("lane", ["staging", "direct"])
def test_replace_of_referenced_layer_keeps_indexes(city_db, city_dir, monkeypatch, caplog, lane):
    """Roads deleted by --replace leave the storefronts' deferred foreign key check pending until the
    commit, and PostgreSQL refuses CREATE INDEX on the table meanwhile: a bulk --replace of roads
    (either lane) loads with the indexes kept instead of failing."""
    from urbangis.ingest import gazetteer

    _lane(monkeypatch, lane)
    monkeypatch.setattr(gazetteer, "BULK_ROWS", 1)
    before = fingerprint(city_db)
    with caplog.at_level(logging.INFO, logger="urbangis.ingest"), db.connect(city_db) as conn:
        report = load_gazetteer(conn, city_dir / "roads.geojson", LoadOptions(replace=True))
    assert report.layers[0].inserted == 1 and report.layers[0].rejected == 0
    assert _direct_layers(caplog) == set()  # the direct lane would rebuild the indexes: not taken
    assert not any("staging instead" in r.getMessage() for r in caplog.records)
    assert fingerprint(city_db) == before


def test_bulk_replace_leaves_no_dead_rows(city_db, tmp_path, monkeypatch):
    """A --replace taking the direct lane fills a new table swapped in for the old one (nothing
    points at the components by foreign key; else the lane TRUNCATEs): the new rows fill it from its
    first slot instead of following the old ones left dead (which every index build would read, and
    VACUUM reclaim)."""
    _lane(monkeypatch, "direct")
    path = write_geojson(tmp_path / "components.geojson", _components(bad=False))
    for _ in range(2):
        with db.connect(city_db) as conn:
            report = load_gazetteer(conn, path, LoadOptions(replace=True))
    assert (report.layers[0].deleted, report.layers[0].inserted) == (15, 15)
    with db.connect(city_db) as conn:
        slots = sorted(conn.execute("SELECT (ctid::text::point)[0]::int, (ctid::text::point)[1]::int "
                                    "FROM components").fetchall())
    assert slots == [(0, n) for n in range(1, 16)]


def test_replace_of_a_small_load_deletes(city_db, tmp_path):
    """A --replace through staging (a small file) DELETEs: readers keep the old rows until the
    commit instead of waiting on the table's exclusive lock."""
    path = write_geojson(tmp_path / "components.geojson", _components(bad=False))
    with db.connect(city_db) as conn:
        load_gazetteer(conn, path, LoadOptions(replace=True))
        before = conn.execute("SELECT pg_relation_filenode('components')").fetchone()[0]
        conn.commit()
        report = load_gazetteer(conn, path, LoadOptions(replace=True))
        after = conn.execute("SELECT pg_relation_filenode('components')").fetchone()[0]
    assert report.layers[0].deleted == 15 and before == after


@pytest.mark.parametrize("lane", ["staging", "direct"])
def test_blank_and_totals_rows_in_batches_of_their_own(city_db, tmp_path, monkeypatch, lane):
    """A statistics sheet's totals row (合计) is no record: left out with a warning, as blank rows
    are, so a strict load goes through; a batch holding nothing but such rows still reports them."""
    _lane(monkeypatch, lane)
    lines = ["code,name,status,lon,lat"]
    for i in range(3):
        x0, y0, x1, y1 = grid_box(i)
        lines.append(f"650102010100{i + 1:04d},井盖{i},完好,{(x0 + x1) / 2},{(y0 + y1) / 2}")
    lines += ["", ",,,,", "合计,3,,,"]  # rows 5, 6, 7: the batches of 2 rows are [2, 3], [4, 5], [6, 7]
    path = tmp_path / "components.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, path, LoadOptions(replace=True, batch_size=2))
    assert report.outcome == "loaded" and report.loaded == 3 and report.rejected == 0
    assert sorted((i["row"], i["reason"]) for i in report.issues if i["row"] is not None) == [
        (5, "blank row: skipped"), (6, "blank row: skipped"),
        (7, "a totals row (its first cell says 合计/总计/小计), not a record: skipped")]


def _layer_version(conn, layer: str) -> int:
    return conn.execute("SELECT version FROM layer_state WHERE layer = %s", (layer,)).fetchone()[0]


def test_big_replace_is_built_aside_and_readers_keep_the_old_rows(city_db, tmp_path, monkeypatch, caplog):
    """A big --replace is loaded into a new table swapped in for the layer's at the end (swap.py):
    while it loads, another session reads the old rows without waiting for a lock (it would give
    up after a second); afterwards the table has the new rows only, its key, indexes, constraints,
    triggers, grants and comment under their own names, no twin left behind, and layer_state moved
    on, so caches see the new rows."""
    _lane(monkeypatch, "direct")
    old = _components(bad=False)
    with db.connect(city_db) as conn:
        load_gazetteer(conn, write_geojson(tmp_path / "components.geojson", old), LoadOptions(replace=True))
        conn.execute("GRANT SELECT ON components TO PUBLIC")
        conn.execute("COMMENT ON TABLE components IS '城市部件 (GB/T 30428.2)'")
        conn.commit()
        version = _layer_version(conn, "components")
    indexes, constraints = _component_indexes(city_db), _constraints(city_db)
    new = [f for f in old if f["properties"]["code"].startswith("6501020101000")]  # grid 1's four
    for f in new:
        f["properties"]["name"] = "雨水井盖"
    seen, phases = [], []
    (tmp_path / "new").mkdir()

    def peek(layer, done, total, phase):
        phases.append(phase)
        if phase == "merging":  # rows all COPYed, the indexes about to be built
            with db.connect(city_db, autocommit=True) as other:
                other.execute("SET lock_timeout = '1s'")
                seen.append(other.execute("SELECT count(*), min(name) FROM components").fetchone())

    with caplog.at_level(logging.DEBUG, logger="urbangis.ingest"), db.connect(city_db) as conn:
        report = load_gazetteer(conn, write_geojson(tmp_path / "new" / "components.geojson", new),
                                LoadOptions(replace=True, progress=peek))
        rows = conn.execute("SELECT code, name FROM components ORDER BY code").fetchall()
        assert _layer_version(conn, "components") > version
        trig = conn.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'components'::regclass "
                            "AND NOT tgisinternal").fetchall()
        acl, comment, twins = conn.execute(
            "SELECT has_table_privilege('public', 'components', 'SELECT'), obj_description('components'::regclass), "
            "(SELECT count(*) FROM pg_class WHERE relname LIKE 'components\\_\\_load%%')").fetchone()
        # access control's row-level security and its policy (migration 0013) came back with it
        rls = conn.execute("SELECT relrowsecurity, (SELECT array_agg(polname) FROM pg_policy WHERE polrelid = c.oid) "
                           "FROM pg_class c WHERE c.oid = 'components'::regclass").fetchone()
    assert seen == [(15, "井盖")]
    assert [p for p in phases if p in ("merging", "indexing", "swapping", "done")] == [
        "merging", "indexing", "swapping", "done"]
    assert any("components__load swapped in for components" in r.getMessage() for r in caplog.records)
    assert (report.layers[0].deleted, report.layers[0].inserted) == (15, 4)
    assert rows == [(f["properties"]["code"], "雨水井盖") for f in new]
    assert _component_indexes(city_db) == indexes and _constraints(city_db) == constraints
    assert trig == [("components_touch",)]
    assert (acl, comment, twins) == (True, "城市部件 (GB/T 30428.2)", 0)
    assert rls == (True, ["in_area"])


def test_table_a_view_depends_on_loads_in_place(city_db, tmp_path, monkeypatch, caplog):
    """A table the swap could not put back as it was (here a view reads it; also another table's
    foreign key, a row trigger) is loaded in place as before, and the view reads the new rows."""
    from urbangis.ingest import swap
    from urbangis.layers.contract import BY_NAME

    _lane(monkeypatch, "direct")
    with db.connect(city_db) as conn:
        assert swap.possible(conn, BY_NAME["components"]) and swap.possible(conn, BY_NAME["unit_grids"])
        assert not swap.possible(conn, BY_NAME["roads"])  # storefronts' foreign key points at it
        assert not swap.possible(conn, BY_NAME["admin_areas"])  # its parent check is a row trigger
        conn.execute("CREATE VIEW manholes AS SELECT code FROM components WHERE major_class = '01'")
        conn.commit()
        assert not swap.possible(conn, BY_NAME["components"])
    path = write_geojson(tmp_path / "components.geojson", _components(bad=False))
    with caplog.at_level(logging.DEBUG, logger="urbangis.ingest"), db.connect(city_db) as conn:
        report = load_gazetteer(conn, path, LoadOptions(replace=True))
        assert conn.execute("SELECT count(*) FROM manholes").fetchone()[0] == 13
    assert report.layers[0].inserted == 15 and "components" in _direct_layers(caplog)
    assert not any("swapped in" in r.getMessage() for r in caplog.records)


def test_swap_lets_readers_through_while_a_session_holds_the_old_table(city_db, tmp_path, monkeypatch):
    """A session that read the table and stays in its transaction (a desktop SQL client left open)
    holds the swap's exclusive lock off. The swap asks for it a short while at a time, so a query
    that comes meanwhile runs between tries instead of queueing behind it; if the session never
    lets go, the load fails naming it and nothing is loaded; if it ends, the load goes through."""
    import threading

    import psycopg

    from urbangis.ingest import locks

    _lane(monkeypatch, "direct")
    monkeypatch.setattr(locks, "LOCK_WAIT", 0.3)
    monkeypatch.setattr(locks, "LOCK_TRIES", 8)
    monkeypatch.setattr(locks, "LOCK_PAUSE", 0.05)
    path = write_geojson(tmp_path / "components.geojson", _components(bad=False)[:12])
    before = fingerprint(city_db)
    with db.connect(city_db) as conn:
        held = conn.execute("SELECT count(*) FROM components").fetchone()[0]
    holder = psycopg.connect(city_db, application_name="DBeaver 23.1")
    holder.execute("SELECT count(*) FROM components")  # and then idle in its transaction
    read = []

    def reader():
        with psycopg.connect(city_db, autocommit=True) as other:
            other.execute("SET lock_timeout = '2s'")  # far longer than one try, far shorter than all
            try:
                read.append(other.execute("SELECT count(*) FROM components").fetchone()[0])
            except psycopg.errors.LockNotAvailable as exc:
                read.append(str(exc))

    def start_reader(layer, done, total, phase):
        if phase == "swapping":
            threading.Timer(0.1, reader).start()

    try:
        with (db.connect(city_db) as conn,
              pytest.raises(LoadError, match=r"pid \d+ \(DBeaver 23.1, idle in transaction")):
            load_gazetteer(conn, path, LoadOptions(replace=True, progress=start_reader))
        deadline = time.monotonic() + 10
        while not read and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read == [held]  # the old rows, read between two tries of the swap
        assert fingerprint(city_db) == before

        def let_go(layer, done, total, phase):
            if phase == "swapping":
                threading.Timer(0.4, holder.rollback).start()

        with db.connect(city_db) as conn:
            report = load_gazetteer(conn, path, LoadOptions(replace=True, progress=let_go))
            assert conn.execute("SELECT count(*) FROM components").fetchone()[0] == 12
        assert (report.layers[0].deleted, report.layers[0].inserted) == (held, 12)
    finally:
        holder.close()


@pytest.mark.parametrize("replace", [False, True])
def test_in_place_load_waits_for_the_table_the_same_way(city_db, tmp_path, monkeypatch, replace):
    """A big load in place (here the components, which a view reads) takes the table exclusively
    from the start, a short while at a time too: a session holding it makes the load fail naming
    it, with nothing loaded, instead of stalling every reader behind the load's lock request."""
    import psycopg

    from urbangis.ingest import locks

    _lane(monkeypatch, "direct")
    monkeypatch.setattr(locks, "LOCK_WAIT", 0.2)
    monkeypatch.setattr(locks, "LOCK_TRIES", 3)
    monkeypatch.setattr(locks, "LOCK_PAUSE", 0.05)
    with db.connect(city_db) as conn:
        conn.execute("CREATE VIEW manholes AS SELECT code FROM components")
        if not replace:
            conn.execute("DELETE FROM components")
        conn.commit()
    before = fingerprint(city_db)
    path = write_geojson(tmp_path / "components.geojson", _components(bad=False))
    with psycopg.connect(city_db, application_name="QGIS 3.34") as holder:
        holder.execute("SELECT count(*) FROM manholes")
        with db.connect(city_db) as conn, pytest.raises(
                LoadError, match=r"components: could not take it to (load it|replace its rows): .*pid \d+ \(QGIS 3.34, "
                                 r"idle in transaction"):
            load_gazetteer(conn, path, LoadOptions(replace=replace))
    assert fingerprint(city_db) == before


def test_check_builds_no_indexes_for_its_last_layer_and_waits_for_no_reader(city_db, tmp_path, monkeypatch, caplog):
    """A check (--check) judges every row and rolls back: its last layer's table is read by
    nothing after it, so its indexes are not built nor is it swapped in, and a session holding the
    layer does not hold the check up. A layer before the last is swapped in as in a load: the
    cases after it are checked against the components of the same file (a new component code)."""
    import psycopg

    from urbangis.ingest import locks

    _lane(monkeypatch, "direct")
    monkeypatch.setattr(locks, "LOCK_TRIES", 1)
    monkeypatch.setattr(locks, "LOCK_WAIT", 0.2)
    folder = tmp_path / "survey"
    folder.mkdir()
    components = _components(bad=False)
    x0, y0, _, _ = grid_box(0)
    components.append(feature({"code": "6501020101000777", "name": "井盖", "grid_code": "650102003001001"},
                              point(x0 + 0.0011, y0 + 0.0004)))
    write_geojson(folder / "components.geojson", components)
    case = next(f for f in _cases(bad=False) if f["properties"]["case_no"] == "K0002")
    case["properties"]["component_code"] = "6501020101000777"  # only in this folder's components
    write_geojson(folder / "cases.geojson", [case])
    before = fingerprint(city_db)
    with caplog.at_level(logging.DEBUG, logger="urbangis.ingest"), db.connect(city_db) as conn:
        checked = load_gazetteer(conn, folder, LoadOptions(check_only=True, replace=True))
    assert checked.outcome == "checked" and checked.rejected == 0
    assert [(r.layer, r.inserted) for r in checked.layers] == [("components", 16), ("cases", 1)]
    swapped = [r.getMessage() for r in caplog.records if "swapped in" in r.getMessage()]
    assert swapped == ["components__load swapped in for components"]  # not the cases: the last layer
    assert not any("CREATE INDEX" in r.getMessage() and "cases" in r.getMessage() for r in caplog.records)
    with psycopg.connect(city_db, application_name="QGIS 3.34") as holder:
        holder.execute("SELECT count(*) FROM components")  # idle in transaction from here
        with db.connect(city_db) as conn:
            checked = load_gazetteer(conn, folder / "components.geojson", LoadOptions(check_only=True, replace=True))
    assert checked.outcome == "checked" and checked.loaded == 16
    assert fingerprint(city_db) == before
