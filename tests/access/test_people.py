"""People log in: Argon2id passwords, a lockout after repeated failures, an optional TOTP second
factor, sessions in an HttpOnly cookie that end when idle or on logout; a session is scoped like
a key."""
from __future__ import annotations

import pyotp
import pytest
from fastapi.testclient import TestClient

from urbangis.access.people import People
from urbangis.access.sealing import SecretBox
from urbangis.layers import database as db
from urbangis.layers.settings import Settings

from .conftest import SAYBAGH, TIANSHAN

PASSWORD = "correct horse 电池"


@pytest.fixture(scope="module")
def people(access_db, access_settings):
    p = People(SecretBox(access_settings.auth_key_file), lockout=3)
    with db.connect(access_db, autocommit=True) as conn:
        p.add(conn, "li.ming", "李明", "analyst", TIANSHAN, PASSWORD)
        uri = p.add(conn, "wang.fang", "王芳", "data", SAYBAGH, PASSWORD, totp=True)
        p.add(conn, "zhao.lei", "赵磊", "analyst", TIANSHAN, PASSWORD)
    return {"totp": pyotp.parse_uri(uri)}


def _login(client, login, password=PASSWORD, totp=None):
    return client.post("/login", json={"login": login, "password": password, "totp": totp})


def test_a_person_logs_in_and_sees_their_area(access_db, access_settings, people):
    from urbangis.api.app import create_app

    with TestClient(create_app(access_db, Settings.from_env(access=access_settings))) as c:
        r = _login(c, "li.ming")
        assert r.status_code == 200 and r.json() == {"login": "li.ming", "role": "analyst", "area": TIANSHAN}
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "urbangis_session=" in cookie
        assert c.get("/whoami").json() == {"actor": "li.ming", "role": "analyst", "area": TIANSHAN, "via": "session"}
        roads = c.get("/collections/roads/items?limit=10000").json()["features"]
        assert roads and all(f["properties"].get("district_code") in (TIANSHAN, None) or True for f in roads)
        with db.connect(access_db) as conn:
            outside = conn.execute("SELECT count(*) FROM roads t, admin_areas a WHERE a.code = %s AND t.id = ANY(%s) "
                                   "AND NOT ST_Intersects(t.geom, a.geom)",
                                   (TIANSHAN, [f["id"] for f in roads])).fetchone()[0]
        assert outside == 0
        assert c.post("/logout").status_code == 204
        assert c.get("/whoami").json()["via"] == "none"  # the cookie is gone
        c.cookies.set("urbangis_session", cookie.split("urbangis_session=")[1].split(";")[0])
        r = c.get("/collections/roads/items?limit=1")
        assert r.status_code == 401 and "session ended" in r.json()["description"]


def test_wrong_passwords_lock_the_account(access_db, access_settings, people):
    from urbangis.api.app import create_app

    strict = access_settings.model_copy(update={"auth_lockout": 3})
    with TestClient(create_app(access_db, Settings.from_env(access=strict))) as c:
        for _ in range(3):
            r = _login(c, "zhao.lei", "wrong password!")
            assert r.status_code == 401 and r.json()["description"] == "wrong login or password"
        r = _login(c, "zhao.lei")  # the right password, but locked now
        assert r.status_code == 401 and "locked after 3 failed logins" in r.json()["description"]
        assert _login(c, "nobody", "whatever pass").json()["description"] == "wrong login or password"
        c.app.state.services.access.audit.flush()
    with db.connect(access_db) as conn:
        reasons = [r[0] for r in conn.execute("SELECT detail->>'reason' FROM audit_log WHERE actor = 'zhao.lei' AND "
                                              "action = 'login-failed' ORDER BY seq")]
    assert reasons[-4:] == ["password", "password", "password", "locked"]
    with db.connect(access_db, autocommit=True) as conn:
        People(SecretBox(access_settings.auth_key_file)).unlock(conn, "zhao.lei")
    with TestClient(create_app(access_db, Settings.from_env(access=strict))) as c:
        assert _login(c, "zhao.lei").status_code == 200


def test_logins_from_one_address_are_rate_limited(access_db, access_settings, people):
    from urbangis.api.app import create_app

    slow = access_settings.model_copy(update={"auth_login_rate": 10})  # bursts of 1, then one each 6 s
    with TestClient(create_app(access_db, Settings.from_env(access=slow))) as c:
        first = _login(c, "nobody", "whatever pass")
        second = _login(c, "nobody.else", "whatever pass")
        assert first.status_code == 401 and second.status_code == 429
        assert int(second.headers["retry-after"]) >= 1 and "too many login attempts" in second.json()["description"]


def test_a_second_factor_when_set(access_db, access_settings, people):
    from urbangis.api.app import create_app

    with TestClient(create_app(access_db, Settings.from_env(access=access_settings))) as c:
        r = _login(c, "wang.fang")
        assert r.status_code == 401 and "one-time code" in r.json()["description"]
        assert _login(c, "wang.fang", totp="000000").status_code == 401
        r = _login(c, "wang.fang", totp=people["totp"].now())
        assert r.status_code == 200 and r.json()["area"] == SAYBAGH


def test_an_idle_session_ends(access_db, access_settings, people):
    from urbangis.api.app import create_app

    idle = access_settings.model_copy(update={"auth_idle_minutes": 0.0})
    with TestClient(create_app(access_db, Settings.from_env(access=idle))) as c:
        assert _login(c, "li.ming").status_code == 200
        r = c.get("/collections/roads/items?limit=1")
        assert r.status_code == 401 and "idle" in r.json()["description"]


def test_the_login_page_form_redirects(access_db, access_settings, people):
    from urbangis.api.app import create_app

    with TestClient(create_app(access_db, Settings.from_env(access=access_settings)), follow_redirects=False) as c:
        assert "<form" in c.get("/login").text
        r = c.post("/login", data={"login": "li.ming", "password": PASSWORD, "next": "/map"})
        assert r.status_code == 303 and r.headers["location"] == "/map"
        r = c.post("/login", data={"login": "li.ming", "password": "nope nope nope", "next": "//evil.example"})
        assert r.status_code == 303 and r.headers["location"].startswith("/login?error=")


def test_the_people_command_line(access_db, access_settings, monkeypatch):
    from click.testing import CliRunner

    from urbangis.api.cli import main

    monkeypatch.setenv("URBANGIS_DATABASE_URL", access_db)
    monkeypatch.setenv("URBANGIS_AUTH_KEY_FILE", str(access_settings.auth_key_file))
    run = CliRunner()
    args = ["people", "add", "sun.li", "--name", "孙丽", "--role", "auditor", "--area", "650100", "--password-stdin"]
    r = run.invoke(main, args + ["--totp"], input=PASSWORD + "\n")
    assert r.exit_code == 0 and "otpauth://totp/urbangis:sun.li?secret=" in r.output, r.output
    assert PASSWORD not in r.output
    again = run.invoke(main, args, input=PASSWORD + "\n")
    assert again.exit_code == 1 and "exists already" in again.output
    short = run.invoke(main, ["people", "add", "qian", "--name", "钱", "--role", "analyst", "--area", TIANSHAN,
                              "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    listed = run.invoke(main, ["people", "list"]).output
    assert "sun.li" in listed and "totp" in listed and "qian" not in listed
    assert run.invoke(main, ["people", "disable", "sun.li"]).output.strip() == "disabled sun.li"
    assert "disabled" in run.invoke(main, ["people", "list"]).output
    with db.connect(access_db) as conn:
        stored = conn.execute("SELECT password FROM access_people WHERE login = 'sun.li'").fetchone()[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
