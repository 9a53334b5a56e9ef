"""Landing page, health, version, OpenAPI and the shape of errors."""
from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app


def test_healthz_checks_the_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["database"] == "up" and body["schema_version"] >= 1
    assert body["postgis"].startswith("3.")


def test_healthz_reports_a_down_database():
    app = create_app("host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=1")
    with TestClient(app) as c:
        r = c.get("/healthz")
    assert r.status_code == 503
    assert r.json()["database"] == "down"


def test_version(client):
    body = client.get("/version").json()
    assert body["urbangis"] and "POSTGIS" in body["postgis"] and body["postgresql"].startswith("15")


def test_landing_lists_offers(client):
    body = client.get("/").json()
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "service-desc", "service-doc", "status"} <= rels
    html = client.get("/", headers={"Accept": "text/html"})
    assert html.headers["content-type"].startswith("text/html") and "/openapi.json" in html.text


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.") and "/healthz" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_errors_are_json_with_a_message(client):
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json() == {"code": "NotFound", "description": "Not Found"}
