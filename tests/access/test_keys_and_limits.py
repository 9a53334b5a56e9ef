"""`urbangis keys` (create, list, rotate, revoke), the limits every request meets, the roles on
each route in the OpenAPI document, and `serve` refusing to run open without access control."""
from __future__ import annotations

import base64
import json
import os
import stat
import urllib.parse

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from urbangis.api.cli import main
from urbangis.layers.settings import AccessSettings, Settings

from .conftest import BASE, TIANSHAN, Caller


@pytest.fixture()
def cli_env(access_db, access_settings, monkeypatch):
    monkeypatch.setenv("URBANGIS_DATABASE_URL", access_db)
    monkeypatch.setenv("URBANGIS_AUTH_KEY_FILE", str(access_settings.auth_key_file))
    return CliRunner()


def test_keys_create_list_rotate_revoke(cli_env, secured, access_settings):
    r = cli_env.invoke(main, ["keys", "create", "--name", "12345 热线", "--role", "subsystem", "--area", TIANSHAN,
                              "--alg", "hmac-sha256", "--json"])
    assert r.exit_code == 0, r.output
    issued = json.loads(r.output.strip().splitlines()[-1])
    assert {"keyid", "alg", "secret"} <= issued.keys() and len(base64.b64decode(issued["secret"])) == 32
    assert stat.S_IMODE(os.stat(access_settings.auth_key_file).st_mode) == 0o600
    listed = cli_env.invoke(main, ["keys", "list"])
    assert issued["keyid"] in listed.output and issued["secret"] not in listed.output and "active" in listed.output
    sub = Caller(secured, type("K", (), {"keyid": issued["keyid"], "alg": "hmac-sha256", "secret": issued["secret"]}))
    assert sub.get("/geocode/status").status_code == 200
    rotated = cli_env.invoke(main, ["keys", "rotate", issued["keyid"], "--grace-hours", "1", "--json"])
    new = json.loads(rotated.output.strip().splitlines()[-1])
    assert new["replaces"] == issued["keyid"] and new["keyid"] != issued["keyid"]
    assert "rotating" in cli_env.invoke(main, ["keys", "list"]).output
    assert cli_env.invoke(main, ["keys", "revoke", issued["keyid"]]).exit_code == 0
    again = cli_env.invoke(main, ["keys", "revoke", issued["keyid"]])
    assert again.exit_code == 1 and "revoked already" in again.output
    r = sub.get("/geocode/status")
    assert r.status_code == 401 and r.json()["description"] == "revoked key"


def test_keys_refuse_bad_input(cli_env, tmp_path):
    bad_area = cli_env.invoke(main, ["keys", "create", "--name", "x", "--role", "analyst", "--area", "999999"])
    assert bad_area.exit_code == 1 and "no admin area has the code '999999'" in bad_area.output
    bad_role = cli_env.invoke(main, ["keys", "create", "--name", "x", "--role", "boss", "--area", TIANSHAN])
    assert bad_role.exit_code == 2 and "boss" in bad_role.output
    pub = tmp_path / "k.pub"
    pub.write_text("not a key")
    bad_pub = cli_env.invoke(main, ["keys", "create", "--name", "x", "--role", "analyst", "--area", TIANSHAN,
                                    "--alg", "ed25519", "--public-key", str(pub)])
    assert bad_pub.exit_code == 1 and "ed25519 public key" in bad_pub.output
    made = cli_env.invoke(main, ["keys", "create", "--name", "x", "--role", "analyst", "--area", TIANSHAN,
                                 "--alg", "ed25519", "--json"])
    shown = json.loads(made.output.strip().splitlines()[-1])
    assert "BEGIN PRIVATE KEY" in shown["private_key"] and "secret" not in shown


def test_roles_are_enforced(callers):
    assert callers["auditor"].get("/collections/roads/items").status_code == 403
    assert callers["tianshan"].get("/ingest/jobs").status_code == 403
    r = callers["tianshan"].post_json("/cases", {"lon": 87.6, "lat": 43.8})
    assert r.status_code == 403 and "analyst role may not use POST /cases" in r.json()["description"]


def test_limits(access_db, access_settings, issue):
    from urbangis.api.app import create_app

    tight = access_settings.model_copy(update={"auth_rate": 60, "auth_max_body_kb": 1, "auth_max_url": 512})
    with TestClient(create_app(access_db, Settings.from_env(access=tight))) as c:
        caller = Caller(c, issue("subsystem", TIANSHAN))
        r = caller.get("/geocode?q=" + urllib.parse.quote("解放北路" * 200))
        assert r.status_code == 414 and "the most is 512" in r.json()["description"]
        r = caller.post_json("/cases", {"description": "垃圾" * 1000, "lon": 87.6, "lat": 43.8})
        assert r.status_code == 413 and "the most is 1024" in r.json()["description"]
        codes = [caller.get("/geocode/status").status_code for _ in range(12)]  # bursts of 6, then 1 a second
        assert codes[:6] == [200] * 6 and 429 in codes and set(codes) == {200, 429}
        r = caller.get("/geocode/status")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "over the rate of 60 requests a minute" in r.json()["description"]
        assert c.get(BASE + "/collections/admin_areas/items?limit=1").status_code == 200  # another caller


def test_openapi_shows_the_scheme_and_each_routes_roles(secured):
    doc = secured.get("/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]["httpSignature"]
    assert scheme["type"] == "apiKey" and scheme["name"] == "Signature" and "RFC 9421" in scheme["description"]
    ops = {(m.upper(), p): op for p, item in doc["paths"].items() for m, op in item.items()}

    def roles(method, path):
        return {r for s in ops[(method, path)]["security"] for r in s.get("httpSignature", ())}

    assert roles("POST", "/cases") == {"admin", "subsystem"}
    assert roles("GET", "/cases/{case_no}") == {"admin", "analyst", "subsystem"}
    assert roles("GET", "/collections/{collectionId}/items") == {"admin", "data", "analyst", "subsystem", "public"}
    assert roles("POST", "/ingest/jobs") == {"admin", "data"}
    assert "security" not in ops[("GET", "/")]


def test_serve_refuses_to_run_open_without_access_control(monkeypatch):
    monkeypatch.setenv("URBANGIS_AUTH", "off")
    r = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert r.exit_code == 1 and "URBANGIS_AUTH=off with the bind address 0.0.0.0" in r.output


def test_access_control_is_on_unless_turned_off(monkeypatch):
    monkeypatch.delenv("URBANGIS_AUTH", raising=False)
    assert AccessSettings().enabled
    monkeypatch.setenv("URBANGIS_AUTH", "off")
    assert not AccessSettings().enabled
