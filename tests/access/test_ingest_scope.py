"""Ingest jobs of a caller bound to an area: rows outside it, or updating features outside it,
are set aside with the reason; `replace` is refused; jobs of other areas are invisible."""
from __future__ import annotations

import secrets
import time

from urbangis.access.client import signed_headers

from .conftest import BASE, SAYBAGH, TIANSHAN, Caller


def multipart(name: str, body: str, **data) -> tuple[bytes, str]:
    """A multipart/form-data body (the fields, then the file) and its content type."""
    b = "urbangis-" + secrets.token_hex(8)
    parts = [f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in data.items()]
    parts.append(f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                 f"Content-Type: text/csv\r\n\r\n{body}\r\n--{b}--\r\n")
    return "".join(parts).encode("utf-8"), f"multipart/form-data; boundary={b}"


def _upload(caller: Caller, name: str, body: str, tamper: bool = False, **data):
    """An upload signed over its body's content-digest, as a caller sends one."""
    content, ctype = multipart(name, body, **data)
    url = BASE + "/ingest/jobs"
    k = caller.key
    headers = signed_headers("POST", url, k.keyid, k.alg, k.secret, content)
    if tamper:
        content = content.replace(b"AC1", b"AC9")
    return caller.client.post(url, content=content, headers={**headers, "content-type": ctype})


def _wait(caller: Caller, job_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = caller.get(f"/ingest/jobs/{job_id}").json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(job)


def test_a_load_stays_in_the_callers_area(secured, issue, deep_in, access_db):
    from urbangis.layers import database as db

    mine, theirs = issue("data", SAYBAGH), issue("data", TIANSHAN)
    saybagh, tianshan = Caller(secured, mine), Caller(secured, theirs)
    (sx, sy), (tx, ty) = deep_in[SAYBAGH], deep_in[TIANSHAN]
    with db.connect(access_db) as conn:
        other = conn.execute("SELECT case_no FROM cases WHERE district_code = %s LIMIT 1", (TIANSHAN,)).fetchone()[0]
    body = ("case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
            f"AC1,event,01,02,reported,2024-05-01 08:00,{sx},{sy}\n"
            f"AC2,event,01,02,reported,2024-05-01 08:00,{tx},{ty}\n"
            f"{other},event,01,02,reported,2024-05-01 08:00,{sx},{sy}\n")
    r = _upload(saybagh, "cases.csv", body, mode="skip-invalid")
    assert r.status_code == 202, r.text
    job = _wait(saybagh, r.json()["id"])
    assert job["state"] == "loaded" and job["report"]["rejected"] == 2, job
    reasons = {i["row"]: i["reason"] for i in job["report"]["issues"]}
    assert reasons[3] == f"lies outside the caller's area {SAYBAGH}"  # (row 1 is the heading)
    assert reasons[4] == f"updates a feature outside the caller's area {SAYBAGH}"
    with db.connect(access_db) as conn:
        stored = {r[0]: r[1] for r in conn.execute("SELECT case_no, district_code FROM cases WHERE case_no = ANY(%s)",
                                                   (["AC1", "AC2", other],))}
    assert "AC1" in stored and "AC2" not in stored and stored[other] == TIANSHAN  # the other's case unmoved
    # another district's caller does not see the job, its report, or its rejected rows
    assert tianshan.get(f"/ingest/jobs/{job['id']}").status_code == 404
    assert tianshan.get(f"/ingest/jobs/{job['id']}/report").status_code == 404
    assert job["id"] not in {j["id"] for j in tianshan.get("/ingest/jobs").json()["jobs"]}
    assert job["id"] in {j["id"] for j in saybagh.get("/ingest/jobs").json()["jobs"]}
    r = _upload(saybagh, "cases.csv", body, replace="true")
    assert r.status_code == 400 and "replace empties the whole layer" in r.json()["description"]
    # an analyst may not load at all
    assert _upload(Caller(secured, issue("analyst", SAYBAGH)), "cases.csv", body).status_code == 403


def test_an_upload_is_checked_against_its_signed_digest(secured, issue, deep_in):
    caller = Caller(secured, issue("data", SAYBAGH))
    sx, sy = deep_in[SAYBAGH]
    body = ("case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
            f"AC1,event,01,02,reported,2024-05-01,{sx},{sy}\n")
    r = _upload(caller, "cases.csv", body, tamper=True)
    assert r.status_code == 401 and r.json()["description"] == "content-digest mismatch", r.text
    content, ctype = multipart("cases.csv", body)
    url = BASE + "/ingest/jobs"
    k = caller.key
    unsigned_body = signed_headers("POST", url, k.keyid, k.alg, k.secret)  # no digest covered
    r = secured.post(url, content=content, headers={**unsigned_body, "content-type": ctype})
    assert r.status_code == 401 and r.json()["description"] == "uncovered content-digest", r.text
