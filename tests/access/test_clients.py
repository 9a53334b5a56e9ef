"""Real callers over HTTP: the curl + openssl script of docs/examples and a Python caller with
httpx, against the server under uvicorn with access control on."""
from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest

from tests.conftest import served
from tests.paths import ROOT
from urbangis.access.client import signed_headers
from urbangis.layers.settings import Settings

from .conftest import TIANSHAN

SCRIPT = ROOT / "docs" / "examples" / "signed-curl.sh"


@pytest.fixture(scope="module")
def server(access_db, access_settings):
    from urbangis.api.app import create_app

    with served(create_app(access_db, Settings.from_env(access=access_settings))) as url:
        yield url


def _curl(key, *args) -> str:
    env = {**os.environ, "KEYID": key.keyid, "SECRET": key.secret}
    done = subprocess.run(["sh", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_curl_and_openssl_sign_a_read_and_a_write(server, issue, access_db, tmp_path):
    analyst = issue("analyst", TIANSHAN)
    got = json.loads(_curl(analyst, "GET", f"{server}/collections/roads/items?limit=2"))
    assert len(got["features"]) == 2, got
    sub = issue("subsystem", TIANSHAN)
    from urbangis.layers import database as db

    with db.connect(access_db) as conn:
        lon, lat = conn.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_areas "
                                "WHERE code = %s) s", (TIANSHAN,)).fetchone()
    body = tmp_path / "case.json"
    body.write_text(json.dumps({"lon": lon, "lat": lat, "kind": "event", "major_class": "01", "minor_class": "02",
                                "description": "curl 上报"}, ensure_ascii=False), encoding="utf-8")
    made = json.loads(_curl(sub, "POST", f"{server}/cases", str(body)))
    assert made["case"]["district_code"] == TIANSHAN and made["case"]["description"] == "curl 上报", made


def test_a_python_caller_with_httpx(server, issue):
    key = issue("subsystem", TIANSHAN, "hmac-sm3")
    url = f"{server}/geocode/status"
    r = httpx.get(url, headers=signed_headers("GET", url, key.keyid, key.alg, key.secret))
    assert r.status_code == 200, r.text
    r = httpx.get(url)
    assert r.status_code == 401
