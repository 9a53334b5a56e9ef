"""Landing page, health, version, OpenAPI and the shape of errors."""
from __future__ import annotations

from fastapi.testclient import TestClient

from urbangis.api.app import create_app


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
    assert r.status_code == 503 and r.headers["retry-after"]
    assert r.json()["database"] == "down"


def test_healthz_tells_a_busy_pool_from_a_down_database(client):
    """Every pooled connection taken (requests waiting on a lock, slow queries): 503 still, but
    saying the database answers and the pool is busy, not that the database is down."""
    pool = client.app.state.services.pool
    held = [pool.getconn(timeout=30) for _ in range(pool.max_size)]
    try:
        r = client.get("/healthz")
    finally:
        for conn in held:
            pool.putconn(conn)
    assert r.status_code == 503
    body = r.json()
    assert (body["status"], body["database"]) == ("busy", "up")
    assert f"none of the server's {pool.max_size} pooled connections" in body["description"]
    assert client.get("/healthz").json()["status"] == "ok"


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


def test_openapi_documents_the_errors_the_server_answers(client):
    """Requests the server cannot take are 400 (never FastAPI's 422) and unknown ids 404, in the
    Error shape, and the document says so (schemathesis checks answers against it)."""
    spec = client.get("/openapi.json").json()
    assert "422" not in str(spec) and "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["Error"]["required"] == ["code", "description"]
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if op.get("parameters") or op.get("requestBody"):
                assert op["responses"]["400"]["content"]["application/json"]["schema"] == error, (method, path)
            if "{" in path:
                assert "404" in op["responses"], (method, path)
    upload = spec["paths"]["/ingest/jobs"]["post"]["responses"]
    assert {"202", "400", "413", "415"} <= set(upload)
    assert "404" in spec["paths"]["/geocode"]["get"]["responses"]
    rejected_csv = spec["paths"]["/ingest/jobs/{job_id}/rejected/{layer}.csv"]["get"]
    assert "text/csv" in rejected_csv["responses"]["200"]["content"]
    r = client.get("/ingest/jobs?limit=0")
    assert r.status_code == 400 and r.json()["code"] == "InvalidParameterValue" and "limit" in r.json()["description"]


def test_openapi_says_which_geocoding_parameters_are_required(client):
    """The handlers take q / lon / lat as optional only to word their absence themselves; the
    document tells a client generated from it that they must be sent (found by schemathesis: an
    empty q was "schema-valid" yet answered 400)."""
    spec = client.get("/openapi.json").json()

    def param(path, name):
        return next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name)

    for path in ("/geocode", "/geocode/suggest"):
        q = param(path, "q")
        assert q["required"] is True and q["schema"]["type"] == "string", path
        assert q["schema"]["minLength"] == 1 and q["schema"]["pattern"] == r"\S" and "anyOf" not in q["schema"]
    for name in ("lon", "lat"):
        p = param("/reverse", name)
        assert p["required"] is True and p["schema"]["type"] == "number"
    assert param("/geocode", "crs")["required"] is False
    assert not any("x-urbangis" in str(op) for item in spec["paths"].values() for op in item.values())
    # the server still words a missing one itself
    r = client.get("/geocode")
    assert r.status_code == 400 and r.json()["description"] == "q is required: the address to geocode"
    r = client.get("/reverse", params={"lat": 43.8})
    assert r.status_code == 400 and r.json()["parameter"] == "lon"


def test_openapi_names_the_media_types_the_server_answers_in(client):
    """Every 200 comes in a media type /openapi.json documents for it: GeoJSON items, JSON Schema
    queryables, the HTML page of f=html, the OAS 3.0 document of /api, the MapLibre style (found
    by schemathesis' content-type check)."""
    spec = client.get("/openapi.json").json()
    cid = client.get("/collections").json()["collections"][0]["id"]
    fid = client.get(f"/collections/{cid}/items", params={"limit": 1}).json()["features"][0]["id"]
    urls = {
        "/": ["/", "/?f=html"], "/api": ["/api"], "/conformance": ["/conformance", "/conformance?f=html"],
        "/collections": ["/collections", "/collections?f=html"],
        "/collections/{collectionId}": [f"/collections/{cid}", f"/collections/{cid}?f=html"],
        "/collections/{collectionId}/queryables": [f"/collections/{cid}/queryables",
                                                   f"/collections/{cid}/queryables?f=html"],
        "/collections/{collectionId}/items": [f"/collections/{cid}/items?limit=1",
                                              f"/collections/{cid}/items?limit=1&f=html"],
        "/collections/{collectionId}/items/{featureId}": [f"/collections/{cid}/items/{fid}",
                                                          f"/collections/{cid}/items/{fid}?f=html"],
        "/styles/{styleId}/style.json": ["/styles/city/style.json"],
    }
    for path, gets in urls.items():
        documented = set(spec["paths"][path]["get"]["responses"]["200"]["content"])
        for url in gets:
            r = client.get(url)
            assert r.status_code == 200, url
            assert r.headers["content-type"].split(";")[0] in {m.split(";")[0] for m in documented}, (url, documented)


def test_method_not_allowed_names_every_method_of_the_path(client):
    """Two routes share /ingest/jobs (GET lists, POST uploads): a 405 names both in Allow, not only
    the first route's (Starlette's own answer; found by schemathesis)."""
    r = client.request("PUT", "/ingest/jobs")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST" and r.json()["code"] == "HTTPError"
    assert client.request("PUT", "/ingest/jobs/e3e70682-c209-1cac-a29f-6fbed82c07cd").headers["allow"] == "GET, DELETE"
    assert client.delete("/healthz").headers["allow"] == "GET"


def test_errors_are_json_with_a_message(client):
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    assert r.json() == {"code": "NotFound", "description": "Not Found"}


def test_a_database_that_cannot_be_reached_is_a_prompt_503_not_a_wait_for_the_pool(monkeypatch):
    """Requests that find no pooled connection (the database is down, the pool is reconnecting)
    are told the database is unavailable, with Retry-After, after one probe: not "busy" after
    waiting out the pool's 30 s."""
    monkeypatch.setenv("URBANGIS_POOL_WAIT", "30")
    app = create_app("host=127.0.0.1 port=1 user=nobody dbname=none connect_timeout=1")
    with TestClient(app) as c:
        for path in ("/collections/roads/items?limit=1", "/cases/check?kind=event&major_class=01&minor_class=01"
                                                           "&lon=87.6&lat=43.8"):
            r = c.get(path)
            assert r.status_code == 503 and r.headers["retry-after"], (path, r.status_code)
            body = r.json()
            assert body["code"] == "ServiceUnavailable" and "busy" not in body["description"], body
        assert c.get("/collections/roads/items?limit=1").json()["description"] == "the database is unavailable"


def test_a_statement_over_the_limit_is_stopped_and_answered_503(sample_db, monkeypatch):
    """URBANGIS_STATEMENT_TIMEOUT: a request's statement that runs longer is stopped by PostgreSQL
    and answered 503 saying so; the pooled connection is fine afterwards."""
    from urbangis.layers import scope

    monkeypatch.setenv("URBANGIS_STATEMENT_TIMEOUT", "0.3")
    app = create_app(sample_db)

    def slow() -> dict:
        with scope.connection(app.state.services.pool) as conn:
            return {"slept": conn.execute("SELECT pg_sleep(3)::text").fetchone()[0]}

    app.add_api_route("/test-slow", slow)
    with TestClient(app) as c:
        r = c.get("/test-slow")
        assert r.status_code == 503 and r.headers["retry-after"]
        assert "ran longer than the server allows" in r.json()["description"]
        assert c.get("/collections/roads/items?limit=1").status_code == 200
