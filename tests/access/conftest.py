"""An app with access control on, over its own copy of the sample city, and keys of two
districts: 天山区 (650102) and 沙依巴克区 (650103)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.conftest import sample_database
from urbangis.access.client import signed_headers
from urbangis.access.keys import KeyStore
from urbangis.access.sealing import SecretBox
from urbangis.layers import database as db
from urbangis.layers.settings import AccessSettings, Settings

BASE = "http://testserver"
TIANSHAN, SAYBAGH = "650102", "650103"


@dataclass
class Key:
    keyid: str
    alg: str
    secret: str
    area: str
    role: str


class Caller:
    """Signs each request with one key, as another subsystem would."""

    def __init__(self, client: TestClient, key: Key | None):
        self.client, self.key = client, key

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None, **kw):
        url = BASE + path
        h = dict(headers or {})
        if self.key is not None:
            h.update(signed_headers(method, url, self.key.keyid, self.key.alg, self.key.secret, body, **kw))
        return self.client.request(method, url, content=body, headers=h)

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path: str, doc) -> object:
        body = json.dumps(doc).encode()
        return self.request("POST", path, body, {"content-type": "application/json"})


@pytest.fixture(scope="session")
def access_db():
    info = sample_database("urbangis_access")
    yield info
    db.drop_database(info)


@pytest.fixture(scope="session")
def deep_in(access_db):
    """Per district: a building's point 3 km from the other district (lon, lat)."""
    out = {}
    for code, other in ((TIANSHAN, SAYBAGH), (SAYBAGH, TIANSHAN)):
        out[code] = _first(access_db, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(b.geom) p "
                                     "FROM buildings b, admin_areas a, admin_areas o WHERE a.code = %s AND "
                                     "o.code = %s AND ST_Within(b.geom, a.geom) AND NOT ST_DWithin(b.geom::geography, "
                                     "o.geom::geography, 3000) ORDER BY b.id LIMIT 1) s", code, other)
    return out


def _first(info, q, *params):
    with db.connect(info) as conn:
        return conn.execute(q, params).fetchone()


@pytest.fixture(scope="session")
def access_settings(tmp_path_factory):
    return AccessSettings(auth="on", auth_key_cache=0, auth_key_file=tmp_path_factory.mktemp("access") / "access.key",
                          auth_rate=100_000, auth_login_rate=100_000)


@pytest.fixture(scope="session")
def store(access_settings):
    return KeyStore(SecretBox(access_settings.auth_key_file))


@pytest.fixture(scope="session")
def issue(access_db, store):
    def make(role: str, area: str, alg: str = "hmac-sha256", name: str = "test") -> Key:
        with db.connect(access_db, autocommit=True) as conn:
            k = store.create(conn, name, role, area, alg)
        return Key(k.keyid, alg, k.secret or k.private_key or "", area, role)
    return make


@pytest.fixture(scope="session")
def secured(access_db, access_settings):
    from urbangis.api.app import create_app

    with TestClient(create_app(access_db, Settings.from_env(access=access_settings))) as c:
        yield c


@pytest.fixture(scope="session")
def callers(secured, issue):
    """Signed callers by name: analysts and subsystems of the two districts, an auditor, and the
    anonymous public."""
    return {
        "tianshan": Caller(secured, issue("analyst", TIANSHAN)),
        "saybagh": Caller(secured, issue("analyst", SAYBAGH)),
        "tianshan_sub": Caller(secured, issue("subsystem", TIANSHAN)),
        "saybagh_sub": Caller(secured, issue("subsystem", SAYBAGH)),
        "auditor": Caller(secured, issue("auditor", "650100")),
        "public": Caller(secured, None),
    }
