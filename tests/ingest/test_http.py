"""Loading over HTTP: POST /ingest/jobs (multipart), GET /ingest/jobs/{id}; unsafe or wrong uploads
are refused with a 4xx before any job exists."""
from __future__ import annotations

import io
import time
import zipfile

import pytest
from fastapi.testclient import TestClient

from urbangis.api.app import create_app
from urbangis.layers.settings import IngestSettings, Settings

from .city import grid_box
from .util import box, count, feature, fingerprint, write_geojson


@pytest.fixture()
def http(city_db):
    with TestClient(create_app(city_db)) as c:
        yield c


def _wait(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/ingest/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def _grids_file(tmp_path, bad: bool = False):
    feats = [feature({"code": f"650102003001{i + 1:03d}", "community_code": "650102003001"}, box(*grid_box(i)))
             for i in range(3, 5)]
    if bad:
        feats.append(feature({"code": "650102003001X", "community_code": "650102003001"}, box(*grid_box(5))))
    return write_geojson(tmp_path / "unit_grids.geojson", feats)


def test_upload_loads_and_reports(http, city_db, tmp_path):
    path = _grids_file(tmp_path)
    r = http.post("/ingest/jobs", files={"file": (path.name, path.read_bytes(), "application/geo+json")})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert r.headers["location"].endswith(f"/ingest/jobs/{job_id}")
    job = _wait(http, job_id)
    assert job["state"] == "loaded" and job["report"]["loaded"] == 2
    assert job["progress"]["phase"] == "done" and job["progress"]["rows_done"] == 2
    assert count(city_db, "unit_grids") == 5
    assert any(link["rel"] == "report" for link in job["links"])
    assert http.get(f"/ingest/jobs/{job_id}/report").json()["outcome"] == "loaded"
    assert "/ingest/jobs" in {link["href"].split("testserver")[-1] for link in http.get("/").json()["links"]}


def test_skip_invalid_over_http_offers_the_rejected_rows(http, city_db, tmp_path):
    path = _grids_file(tmp_path, bad=True)
    r = http.post("/ingest/jobs", data={"mode": "skip-invalid"},
                  files={"file": (path.name, path.read_bytes(), "application/json")})
    job = _wait(http, r.json()["id"])
    assert job["state"] == "loaded" and job["report"]["rejected"] == 1
    issue = job["report"]["issues"][0]
    assert (issue["row"], issue["field"], issue["value"]) == (3, "code", "650102003001X")
    rejected = http.get(f"/ingest/jobs/{job['id']}/rejected").json()
    assert rejected["features"][0]["properties"]["_row"] == 3
    assert "650102003001X" in http.get(f"/ingest/jobs/{job['id']}/report.txt").text
    # the report names the upload and its files, never where the server keeps them
    full = http.get(f"/ingest/jobs/{job['id']}/report").json()
    for report in (job["report"], full):
        assert report["source"] == path.name
        assert report["files"] == {"json": "report.json", "table": "report.txt",
                                   "rejected": "report.rejected.geojson"}
    assert http.get(f"/ingest/jobs/{job['id']}/report.txt").text.startswith(f"urbangis load of {path.name}:")


def test_rejected_rows_of_a_table_over_http_as_csv(http, city_db):
    body = ("case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
            "HT1,event,01,02,reported,2024-05-01 08:00,87.6191,43.7895\n"
            "HT2,event,01,02,nonsense,2024-05-01 08:00,87.6192,43.7896\n")
    job = _wait(http, http.post("/ingest/jobs", data={"mode": "skip-invalid"},
                                files={"file": ("cases.csv", body.encode("utf-8"), "text/csv")}).json()["id"])
    assert job["state"] == "loaded" and job["report"]["rejected"] == 1
    assert job["report"]["files"]["rejected_csv:cases"] == "report.rejected.cases.csv"
    [link] = [link for link in job["links"] if link["rel"] == "rejected-table"]
    assert link["title"] == "cases" and link["href"].endswith(f"/ingest/jobs/{job['id']}/rejected/cases.csv")
    r = http.get(link["href"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("_row,_reasons,case_no,") and lines[1].startswith("3,\"status: must be one of")
    assert http.get(f"/ingest/jobs/{job['id']}/rejected/roads.csv").status_code == 404  # no rejected roads
    assert http.get(f"/ingest/jobs/{job['id']}/rejected/nope.csv").status_code == 404


def test_strict_rejection_over_http_leaves_database_unchanged(http, city_db, tmp_path):
    before = fingerprint(city_db)
    path = _grids_file(tmp_path, bad=True)
    job = _wait(http, http.post("/ingest/jobs", files={"file": (path.name, path.read_bytes())}).json()["id"])
    assert job["state"] == "rejected" and "650102003001X" in job["message"]
    assert fingerprint(city_db) == before


def test_check_job_reports_and_writes_nothing(http, city_db, tmp_path):
    before = fingerprint(city_db)
    path = _grids_file(tmp_path, bad=True)
    r = http.post("/ingest/jobs", data={"mode": "check"}, files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 202 and r.json()["options"]["mode"] == "check"
    job = _wait(http, r.json()["id"])
    assert job["state"] == "checked" and job["message"] == "nothing written: 2 rows would load, 1 would be rejected"
    assert (job["report"]["loaded"], job["report"]["rejected"]) == (2, 1)
    assert job["report"]["issues"][0]["value"] == "650102003001X"
    assert fingerprint(city_db) == before


def test_wrong_file_type_is_415(http, city_db):
    before = fingerprint(city_db)
    r = http.post("/ingest/jobs", files={"file": ("roads.geojson", b"\x89PNG\r\n\x1a\n" + bytes(100), "image/png")})
    assert r.status_code == 415 and "unknown type" in r.json()["description"]
    r = http.post("/ingest/jobs", files={"file": ("roads.exe", b"MZ\x90\x00" + bytes(100))})
    assert r.status_code == 415
    # binary content under a .csv name, no NUL byte in its head: refused at upload, not queued
    r = http.post("/ingest/jobs", files={"file": ("cases.csv", b"\x7fELF\x02\x01\x01garbage\x03\x1b" * 20)})
    assert r.status_code == 415 and "unknown type" in r.json()["description"]
    r = http.post("/ingest/jobs", content=b"{}", headers={"content-type": "application/json"})
    assert r.status_code == 415 and "multipart" in r.json()["description"]
    assert fingerprint(city_db) == before


def test_zip_with_path_traversal_is_refused(http):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../etc/cron.d/roads.geojson", "{}")
    r = http.post("/ingest/jobs", files={"file": ("evil.zip", buf.getvalue(), "application/zip")})
    assert r.status_code == 400 and "path traversal" in r.json()["description"]


@pytest.mark.parametrize("name,member", [("bomb.zip", "roads.geojson"), ("道路.kmz", "doc.kml")])
def test_zip_bomb_is_refused(http, name, member):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, b"0" * (200 << 20))
    assert len(buf.getvalue()) < 1 << 20
    r = http.post("/ingest/jobs", files={"file": (name, buf.getvalue(), "application/zip")})
    assert r.status_code == 400 and "zip bomb" in r.json()["description"]


def test_upload_over_the_size_limit_is_413(city_db):
    with TestClient(create_app(city_db, Settings.from_env(ingest=IngestSettings(max_upload_mb=1)))) as small:
        r = small.post("/ingest/jobs", files={"file": ("roads.geojson", b" " * (3 << 20))})
    assert r.status_code == 413 and "limit of 1 MiB" in r.json()["description"]


def test_bad_options_and_unknown_job(http, tmp_path):
    path = _grids_file(tmp_path)
    for data, field in (({"mode": "sloppy"}, "mode"), ({"layer": "rivers"}, "layer"),
                        ({"source_crs": "EPSG:999999"}, "source_crs"), ({"replace": "maybe"}, "replace")):
        r = http.post("/ingest/jobs", data=data, files={"file": (path.name, path.read_bytes())})
        assert r.status_code == 400 and r.json()["description"].startswith(field), r.text
    r = http.post("/ingest/jobs", data={"mode": "strict"}, files={"attachment": ("a.txt", b"1")})
    assert r.status_code == 400 and "no file" in r.json()["description"]
    assert http.get("/ingest/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
    assert http.get("/ingest/jobs/not-a-uuid").status_code == 400
    r = http.post("/ingest/jobs", files={"file": ("components.shp", b"\x00\x00\x27\x0a" + bytes(96))})
    assert r.status_code == 400 and "zip" in r.json()["description"]


def _state(client: TestClient, job_id: str) -> str:
    return client.get(f"/ingest/jobs/{job_id}").json()["state"]


def _until(client: TestClient, job_id: str, state: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _state(client, job_id) != state:
        assert time.monotonic() < deadline, f"job {job_id} never reached {state}"
        time.sleep(0.05)


def test_cancel_running_and_queued_jobs(http, city_db, tmp_path):
    """A running job is stopped where it is (here: waiting for a lock another session holds on the
    grids) and rolled back; a queued one never starts; an ended one cannot be cancelled."""
    from urbangis.layers import database as db

    before = fingerprint(city_db)
    path = _grids_file(tmp_path)
    with db.connect(city_db) as blocker:
        blocker.execute("LOCK TABLE unit_grids IN ACCESS EXCLUSIVE MODE")
        first = http.post("/ingest/jobs", files={"file": (path.name, path.read_bytes())}).json()["id"]
        second = http.post("/ingest/jobs", files={"file": (path.name, path.read_bytes())}).json()["id"]
        _until(http, first, "running")
        # its files are asked for too early: 409, saying so (a 404 would read as "there is none")
        for job_id, state in ((first, "running"), (second, "queued")):
            for name in ("report", "report.txt", "rejected", "rejected/unit_grids.csv"):
                r = http.get(f"/ingest/jobs/{job_id}/{name}")
                assert r.status_code == 409 and f"is {state} (" in r.json()["description"], (name, r.text)
                assert "written when it ends" in r.json()["description"]
        r = http.delete(f"/ingest/jobs/{second}")  # queued behind the first
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        assert "before it started" in r.json()["message"]
        r = http.delete(f"/ingest/jobs/{first}")
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["state"] == "cancelled" and "rolled back" in job["message"]
        blocker.rollback()
    _until(http, second, "cancelled")
    assert fingerprint(city_db) == before
    r = http.get(f"/ingest/jobs/{second}/report.txt")  # cancelled before it started
    assert r.status_code == 404 and "(cancelled) has no report: it was cancelled" in r.json()["description"]
    r = http.delete(f"/ingest/jobs/{first}")  # again: still cancelled (DELETE is idempotent)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert http.delete("/ingest/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
    # the worker goes on with the next job
    done = _wait(http, http.post("/ingest/jobs", files={"file": (path.name, path.read_bytes())}).json()["id"])
    assert done["state"] == "loaded"
    r = http.delete(f"/ingest/jobs/{done['id']}")
    assert r.status_code == 409 and "already ended (loaded)" in r.json()["description"]
    assert http.get(f"/ingest/jobs/{done['id']}/report").status_code == 200
    r = http.get(f"/ingest/jobs/{done['id']}/rejected")  # it set none aside: none
    assert r.status_code == 200 and r.json() == {"type": "FeatureCollection", "features": []}


def test_cancel_seen_at_the_next_progress_write(city_db, tmp_path):
    """The request reaches a load between two statements too: the job's server reads it at its
    next progress write and the load stops there, rolled back."""
    from urbangis.ingest.jobs import JobRunner
    from urbangis.layers import database as db

    before = fingerprint(city_db)
    runner = JobRunner(city_db, tmp_path / "jobs")
    job_id = runner.create("unit_grids.geojson", {"mode": "strict"})
    upload = runner.job_dir(job_id) / "upload"
    upload.mkdir()
    path = _grids_file(upload)
    with db.connect(city_db, autocommit=True) as conn:
        conn.execute("UPDATE ingest_jobs SET cancel_requested = true WHERE id = %s", (job_id,))
    assert runner.run(job_id, path) == "cancelled"
    assert runner.get(job_id)["state"] == "cancelled" and fingerprint(city_db) == before
    assert not upload.exists()


def test_layers_say_what_the_checks_check(http, city_db):
    """GET /ingest/layers describes each layer from the checks' own tables; a value it lists as
    accepted is accepted, and a filled-in template loads."""
    layers = {entry["name"]: entry for entry in http.get("/ingest/layers").json()["layers"]}
    from urbangis.layers.contract import BY_NAME

    assert list(layers) == list(BY_NAME)  # load order, parents first
    cases = {f["name"]: f for f in layers["cases"]["fields"]}
    assert layers["cases"]["title_zh"] == "案件" and layers["cases"]["key"] == "case_no"
    assert cases["status"]["required"] and cases["status"]["value_aliases"]["处置中"] == "handling"
    assert "案件编号" in cases["case_no"]["headings"] and cases["reported_at"]["type"] == "time"
    assert cases["grid_code"]["must_exist"] == "unit grid" and cases["grid_code"]["when_empty"]
    assert {f["name"]: f for f in layers["house_numbers"]["fields"]}["parent_id"]["must_exist"] == \
        "road or place or courtyard (the kind parent_kind names)"
    assert "经度" in layers["cases"]["coordinates"]["longitude_columns"]
    assert "高德经度" in layers["cases"]["coordinates"]["web_map_columns"]
    assert layers["supervisors"]["geometry"] is None and "coordinates" not in layers["supervisors"]
    # the template, filled in with Chinese spellings the description lists, loads
    r = http.get(layers["cases"]["template"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeffcase_no,kind,major_class,") and text.rstrip().endswith(",lon,lat")
    columns = text.lstrip("\ufeff").strip().split(",")
    row = dict.fromkeys(columns, "")
    row.update(case_no="T-1", kind="事件", major_class="01", minor_class="02", status="处置中",
               reported_at="2024年5月1日 8时30分", lon="87.6191", lat="43.7895")
    body = text + ",".join(row[c] for c in columns) + "\r\n"
    job = _wait(http, http.post("/ingest/jobs", files={"file": ("cases.csv", body.encode("utf-8"), "text/csv")},
                                data={"mode": "strict"}).json()["id"])
    assert job["state"] == "loaded" and job["report"]["loaded"] == 1, job
    assert count(city_db, "cases", "case_no = 'T-1' AND status = 'handling' AND grid_code IS NOT NULL") == 1
    assert http.get("/ingest/layers/nope/template.csv").status_code == 404
    assert http.get("/ingest/layers/unit_grids/template.csv").content.decode("utf-8") == \
        "\ufeffcode,community_code,wkt\r\n"


def test_ingest_token_when_the_server_sets_one(city_db, tmp_path):
    """With URBANGIS_INGEST_TOKEN set, every jobs request needs it (401 with WWW-Authenticate
    otherwise, before an upload is read); the page and the layers' description stay open."""
    with TestClient(create_app(city_db, Settings.from_env(ingest=IngestSettings(token="s3cret-T0ken")))) as client:
        path = _grids_file(tmp_path)
        files = {"file": (path.name, path.read_bytes(), "application/geo+json")}
        before = fingerprint(city_db)
        r = client.post("/ingest/jobs", files=files)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer <token>" in r.json()["description"]
        r = client.post("/ingest/jobs", files=files, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["description"] == "the ingest token sent is not this server's"
        assert fingerprint(city_db) == before
        assert client.get("/ingest/jobs").status_code == 401
        assert client.get("/ingest").status_code == 200 and client.get("/ingest/layers").status_code == 200
        good = {"Authorization": "Bearer s3cret-T0ken"}
        r = client.post("/ingest/jobs", files=files, headers=good)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert client.get(f"/ingest/jobs/{job_id}").status_code == 401
        deadline = time.monotonic() + 60
        while client.get(f"/ingest/jobs/{job_id}", headers=good).json()["state"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert client.get(f"/ingest/jobs/{job_id}/report", headers=good).status_code == 200
        assert client.get(f"/ingest/jobs/{job_id}/report").status_code == 401
        assert client.delete(f"/ingest/jobs/{job_id}").status_code == 401
        assert [j["id"] for j in client.get("/ingest/jobs", headers=good).json()["jobs"]] == [job_id]
