"""The gazetteer loader's happy path, idempotence and all-or-nothing behaviour."""
from __future__ import annotations

import csv
import shutil

import pyogrio
import pytest

from tests.paths import SAMPLE
from urbangis.ingest.gazetteer import LoadError, LoadOptions, load_gazetteer
from urbangis.layers import database as db
from urbangis.layers.settings import Settings

from .util import fingerprint


def _count(info: str, table: str) -> int:
    with db.connect(info) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _features(name: str) -> int:
    return pyogrio.read_info(SAMPLE / f"{name}.gpkg")["features"]


@pytest.mark.parametrize("layer", ["admin_areas", "unit_grids", "roads", "house_numbers", "components"])
def test_sample_loaded_whole(sample_db, layer):
    assert _count(sample_db, layer) == _features(layer)


def test_sample_geometry_in_cgcs2000_inside_urumqi(sample_db):
    with db.connect(sample_db) as conn:
        outside = conn.execute(
            "SELECT count(*) FROM roads r WHERE ST_SRID(r.geom) <> 4490 OR NOT ST_Within(r.geom, "
            "(SELECT geom FROM admin_areas WHERE code = '650100'))"
        ).fetchone()[0]
    assert outside == 0


def test_supervisor_bound_to_grid(sample_db):
    with (SAMPLE / "supervisors.csv").open(encoding="utf-8") as fh:
        first = next(csv.DictReader(fh))
    with db.connect(sample_db) as conn:
        rows = conn.execute("SELECT supervisor_id, grid_code FROM supervisor_grids WHERE supervisor_id = %s "
                            "ORDER BY grid_code", (first["id"],)).fetchall()
        phone = conn.execute("SELECT attrs->>'phone' FROM supervisors WHERE id = %s", (first["id"],)).fetchone()[0]
        unbound = conn.execute("SELECT count(*) FROM responsibility_grids g WHERE NOT EXISTS "
                               "(SELECT 1 FROM supervisor_grids s WHERE s.grid_code = g.code)").fetchone()[0]
    assert rows == [(first["id"], code) for code in sorted(first["grid_codes"].split("|"))]
    assert phone == first["phone"]  # extra fields are kept as attributes
    assert unbound == 0  # every responsibility grid has its supervisor


def test_reload_changes_nothing(fresh_db):
    with db.connect(fresh_db) as conn:
        load_gazetteer(conn, SAMPLE)
        conn.commit()
        load_gazetteer(conn, SAMPLE)
        conn.commit()
    assert _count(fresh_db, "house_numbers") == _features("house_numbers")
    assert _count(fresh_db, "admin_areas") == _features("admin_areas")


def test_bad_row_loads_nothing(fresh_db, tmp_path):
    src = tmp_path / "city"
    shutil.copytree(SAMPLE, src)
    grids = pyogrio.read_dataframe(src / "unit_grids.gpkg")
    grids.loc[1, "code"] = grids.loc[1, "code"][:-1] + "X"
    (src / "unit_grids.gpkg").unlink()
    pyogrio.write_dataframe(grids, src / "unit_grids.gpkg", layer="unit_grids")
    with db.connect(fresh_db) as conn:
        with pytest.raises(LoadError, match="unit_grids|check constraint"):
            load_gazetteer(conn, src)
    for table in ("admin_areas", "unit_grids", "roads"):
        assert _count(fresh_db, table) == 0


def test_report_to_a_pipe_or_device_is_written_to_it_not_renamed_over_it(city_db, city_dir, tmp_path):
    """--report /dev/null (or a named pipe): the JSON is written into it as it is, never renamed
    over it (which once put a plain file where the machine's /dev/null was), and no table or
    rejected rows are put beside it. Tested on a pipe: a regression must not break /dev/null."""
    import json
    import os
    import stat
    import threading

    fifo = tmp_path / "report.pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    with db.connect(city_db) as conn:
        report = load_gazetteer(conn, city_dir / "components.geojson", LoadOptions(report_path=fifo, strict=False))
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(received[0].decode("utf-8"))["loaded"] == report.loaded > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.pipe"]
    assert report.files == {"json": str(fifo)}


def test_empty_folder_is_an_error(fresh_db, tmp_path):
    with db.connect(fresh_db) as conn:
        with pytest.raises(LoadError, match="no layer of the gazetteer contract"):
            load_gazetteer(conn, tmp_path)


def test_load_into_an_unmigrated_database_says_migrate_first(tmp_path):
    """A database created by hand, without the schema: a clear error naming the fix, no traceback."""
    import os
    import subprocess
    import sys
    import uuid

    from psycopg.conninfo import make_conninfo

    from tests.paths import ROOT

    info = make_conninfo(db.conninfo(Settings.from_env().database), dbname=f"urbangis_test_bare_{uuid.uuid4().hex[:8]}")
    db.create_database(info)
    try:
        with db.connect(info) as conn:
            with pytest.raises(LoadError, match=r"schema migration\(s\) not applied .*urbangis db migrate"):
                load_gazetteer(conn, SAMPLE)
        env = dict(os.environ, URBANGIS_DATABASE_URL=info)
        proc = subprocess.run([sys.executable, "-m", "urbangis.api.cli", "load", str(SAMPLE / "admin_areas.gpkg"),
                               "--report", str(tmp_path / "report.json")],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1
        assert "urbangis db migrate" in proc.stderr and "Traceback" not in proc.stderr
        with db.connect(info) as conn:  # nothing created by the attempt
            assert conn.execute("SELECT to_regclass('admin_areas')").fetchone()[0] is None
    finally:
        db.drop_database(info)


def test_statistics_bureau_code_lists_update_names_and_keep_outlines(city_db):
    """The real street and community code lists (code, name and a parent under another name; no
    geometry) load as admin areas: level and parent read from the code, names updated, the outlines
    the database holds kept, new codes added without one. --replace with them is refused: it would
    drop every outline."""
    real = SAMPLE.parent / "real"

    def street(code):
        with db.connect(city_db) as conn:
            return conn.execute("SELECT name, level, parent_code, ST_AsBinary(geom) FROM admin_areas WHERE code = %s",
                                (code,)).fetchone()

    outline = street("650102003")[3]
    assert outline is not None
    with db.connect(city_db) as conn:
        streets = load_gazetteer(conn, real / "urumqi_streets.csv", LoadOptions(layer="admin_areas"))
        communities = load_gazetteer(conn, real / "urumqi_communities.csv", LoadOptions(layer="admin_areas"))
        levels = dict(conn.execute("SELECT level, count(*) FILTER (WHERE geom IS NULL) FROM admin_areas "
                                   "WHERE level IN ('street', 'community') GROUP BY level").fetchall())
    assert (streets.rows, streets.rejected, communities.rows, communities.rejected) == (130, 0, 1107, 0)
    assert street("650102003") == ("胜利路街道", "street", "650102", outline)  # kept its outline
    assert street("650102002")[:3] == ("燕儿窝街道", "street", "650102") and street("650102002")[3] is None
    assert street("650102002002")[:3] == ("燕儿窝南社区居委会", "community", "650102002")
    assert levels == {"street": 129, "community": 1106}  # all but the test city's own have no outline
    assert any("no geometry; the outlines the database holds for these codes are kept" in i["reason"]
               for i in streets.issues)
    before = fingerprint(city_db)
    with db.connect(city_db) as conn, pytest.raises(LoadError, match="would drop every outline"):
        load_gazetteer(conn, real / "urumqi_streets.csv", LoadOptions(layer="admin_areas", replace=True))
    assert fingerprint(city_db) == before
