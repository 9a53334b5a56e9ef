"""OGC API - Features Part 1 (core) and Part 2 (CRS) through the real app on a real PostGIS.
Expected answers are computed with plain SQL on the same database, independently of ogc/."""
from __future__ import annotations

import re
from datetime import timezone

import pyproj
import pytest
from openapi_spec_validator import validate

from urbangis.layers.registry import registry
from urbangis.ogc import crs as crsmod

from .conftest import N_CASES

GEOJSON = "application/geo+json"
EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
EPSG4538 = "http://www.opengis.net/def/crs/EPSG/0/4538"


def ids(fc: dict) -> list:
    return [f["id"] for f in fc["features"]]


def sql_ids(conn, where: str, params=()) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT case_no FROM cases WHERE {where} ORDER BY case_no", params)]


def all_items(client, path: str, params: dict) -> tuple[list, int]:
    """Follow next links to the end; returns the ids and the number of pages."""
    url, out, pages = path, [], 0
    r = client.get(url, params=params)
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        out += ids(body)
        pages += 1
        nxt = [link for link in body["links"] if link["rel"] == "next" and link["type"] == GEOJSON]
        if not nxt:
            return out, pages
        r = client.get(nxt[0]["href"])


def test_landing_page_is_an_ogc_landing_page(ogc):
    body = ogc.get("/").json()
    links = {(link["rel"], link.get("type")): link["href"] for link in body["links"]}
    assert links[("service-desc", "application/vnd.oai.openapi+json;version=3.0")].endswith("/api")
    assert ("service-doc", "text/html") in links
    assert links[("conformance", "application/json")].endswith("/conformance")
    assert links[("data", "application/json")].endswith("/collections")
    assert body["title"] and any(r == "status" for r, _ in links)  # what it listed before is kept


def test_api_is_a_valid_openapi_30_document(ogc):
    r = ogc.get("/api")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    doc = r.json()
    assert doc["openapi"].startswith("3.0.")
    validate(doc)  # raises on any violation of the OpenAPI 3.0 schema
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert limit["maximum"] == 10000 and limit["default"] == 1000
    # the parameters as Part 1's abstract tests define them (ogctests checks these)
    datetime = doc["components"]["parameters"]["datetime"]
    assert (datetime["in"], datetime["required"], datetime["schema"]["type"], datetime["style"],
            datetime["explode"]) == ("query", False, "string", "form", False)
    for cid in registry():
        if f"/collections/{cid}/items" not in doc["paths"]:
            assert registry()[cid].part_of not in (None, "components")  # only an empty part is not listed
            continue
        params = doc["paths"][f"/collections/{cid}/items"]["get"]["parameters"]
        names = {p.get("name") for p in params}
        assert set(registry()[cid].fields) - {"f", "limit"} <= names


def test_conformance_declares_parts_1_2_3(ogc):
    classes = set(ogc.get("/conformance").json()["conformsTo"])
    for uri in ("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
                "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
                "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
                "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
                "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
                "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
                "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json"):
        assert uri in classes


def test_every_registry_entry_is_a_collection(ogc, dbconn):
    body = ogc.get("/collections").json()
    # (a part of a mixed collection is listed once it holds features: here only components has any)
    shown = [cid for cid, c in registry().items() if c.part_of in (None, "components")]
    assert [c["id"] for c in body["collections"]] == shown
    for c in body["collections"]:
        assert c["storageCrs"] == EPSG4490 and set(crsmod.uris()) == set(c["crs"])
        rels = {link["rel"]: link for link in c["links"]}
        assert rels["http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"]["href"].endswith(f"/collections/{c['id']}/tiles")
        assert rels["http://www.opengis.net/def/rel/ogc/1.0/queryables"]["type"] == "application/schema+json"
        spec = registry()[c["id"]]
        kind = f"ST_Dimension(geom) = {spec.dimension}" if spec.dimension is not None else "TRUE"  # a part
        n = dbconn.execute(f"SELECT count(*) FROM {spec.table} WHERE {kind}").fetchone()[0]
        assert c["itemCount"] == n


def test_collection_extent_comes_from_the_data(ogc, dbconn):
    doc = ogc.get("/collections/cases").json()
    lo, hi, x0, y0, x1, y1 = dbconn.execute(
        "SELECT min(reported_at), max(reported_at), ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), "
        "ST_XMax(ST_Extent(geom)), ST_YMax(ST_Extent(geom)) FROM cases").fetchone()
    assert doc["extent"]["spatial"]["bbox"][0] == pytest.approx([x0, y0, x1, y1], abs=1e-6)
    start, end = doc["extent"]["temporal"]["interval"][0]
    utc = [t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for t in (lo, hi)]
    assert [start, end] == utc


def test_items_and_item_carry_their_links_as_a_link_header(ogc):
    """The body's links again in an RFC 8288 Link header (ogctests' filtering part reads the formats
    offered from it), and the collection's queryables."""
    r = ogc.get("/collections/cases/items", params={"limit": 2})
    header = {}
    for href, rel, typ in re.findall(r'<([^>]*)>; rel="([^"]*)"; type="([^"]*)"', r.headers["link"]):
        header.setdefault((rel, typ), href)
    body = {(link["rel"], link["type"]): link["href"] for link in r.json()["links"]}
    assert header[("self", GEOJSON)] == body[("self", GEOJSON)] and len(body) >= 4
    assert all(header[key] == href for key, href in body.items())
    assert header[("http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json")].endswith(
        "/collections/cases/queryables")
    fid = r.json()["features"][0]["id"]
    one = ogc.get(f"/collections/cases/items/{fid}")
    assert f'/collections/cases/items/{fid}>; rel="self"; type="{GEOJSON}"' in one.headers["link"]


def test_items_default_page(ogc, dbconn, monkeypatch):
    from urbangis.layers.settings import OgcSettings

    r = ogc.get("/collections/cases/items")
    assert r.status_code == 200 and r.headers["content-type"] == GEOJSON
    assert r.headers["content-crs"] == f"<{crsmod.CRS84}>"
    fc = r.json()
    # a whole page for programs: all 240 cases
    assert fc["type"] == "FeatureCollection" and fc["numberReturned"] == N_CASES == len(fc["features"])
    assert fc["numberMatched"] == N_CASES and fc["timeStamp"].endswith("Z")
    assert ids(fc) == sql_ids(dbconn, "TRUE")
    spec = ogc.get("/api").json()
    assert spec["components"]["parameters"]["limit"]["schema"]["default"] == 1000
    # a shorter one for people; the configured defaults apply
    monkeypatch.setattr(ogc.app.state.services.catalog, "settings", OgcSettings(default_limit=10, html_limit=25))
    assert ogc.get("/collections/cases/items").json()["numberReturned"] == 10
    page = ogc.get("/collections/cases/items", params={"f": "html"}).text
    assert sum(f"/collections/cases/items/{i}" in page for i in sql_ids(dbconn, "TRUE")[:30]) == 25
    f = fc["features"][0]
    assert f["geometry"]["type"] == "Point" and set(f["properties"]) == set(registry()["cases"].fields)


def test_paging_by_next_links_visits_every_feature_once(ogc, dbconn):
    got, pages = all_items(ogc, "/collections/cases/items", {"limit": 50})
    assert got == sql_ids(dbconn, "TRUE") and pages == 5


def test_offset_and_prev_links(ogc, dbconn):
    every = sql_ids(dbconn, "TRUE")
    fc = ogc.get("/collections/cases/items", params={"limit": 10, "offset": 100}).json()
    assert ids(fc) == every[100:110]
    prev = next(link for link in fc["links"] if link["rel"] == "prev" and link["type"] == GEOJSON)
    assert ids(ogc.get(prev["href"]).json()) == every[90:100]
    last = ogc.get("/collections/cases/items", params={"limit": 10, "offset": N_CASES - 5}).json()
    assert last["numberReturned"] == 5 and not [link for link in last["links"] if link["rel"] == "next"]


def test_bbox_in_crs84_and_in_lat_lon_epsg_4326(ogc, dbconn):
    expected = sql_ids(dbconn, "ST_Intersects(geom, ST_MakeEnvelope(87.56, 43.77, 87.60, 43.80, 4490))")
    assert 0 < len(expected) < N_CASES
    a = ogc.get("/collections/cases/items", params={"bbox": "87.56,43.77,87.60,43.80", "limit": 1000}).json()
    b = ogc.get("/collections/cases/items", params={"bbox": "43.77,87.56,43.80,87.60", "bbox-crs": EPSG4326,
                                                    "limit": 1000}).json()
    assert ids(a) == ids(b) == expected and a["numberMatched"] == len(expected)


def test_bbox_in_projected_crs(ogc, dbconn):
    to4538 = pyproj.Transformer.from_crs(4490, 4538)  # authority order: (lat, lon) -> (northing, easting)
    n0, e0 = to4538.transform(43.77, 87.56)
    n1, e1 = to4538.transform(43.80, 87.60)
    bbox = f"{min(n0, n1)},{min(e0, e1)},{max(n0, n1)},{max(e0, e1)}"
    got = ids(ogc.get("/collections/cases/items", params={"bbox": bbox, "bbox-crs": EPSG4538, "limit": 1000}).json())
    inner = set(sql_ids(dbconn, "ST_Intersects(geom, ST_MakeEnvelope(87.561, 43.771, 87.599, 43.799, 4490))"))
    outer = set(sql_ids(dbconn, "ST_Intersects(geom, ST_MakeEnvelope(87.555, 43.765, 87.605, 43.805, 4490))"))
    assert inner <= set(got) <= outer  # a projected box is not a lon/lat box; it lies between these


@pytest.mark.parametrize("uri, epsg", [(EPSG4326, 4326), (EPSG4490, 4490), (EPSG3857, 3857), (EPSG4538, 4538)])
def test_crs_of_the_output_follows_the_authority_axis_order(ogc, dbconn, uri, epsg):
    lon, lat = dbconn.execute("SELECT ST_X(geom), ST_Y(geom) FROM cases WHERE case_no = 'C00021'").fetchone()
    r = ogc.get("/collections/cases/items/C00021", params={"crs": uri})
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{uri}>"
    got = r.json()["geometry"]["coordinates"]
    source = 4326 if epsg in (4326, 4490) else 4490
    want = pyproj.Transformer.from_crs(source, epsg).transform(lat, lon)  # authority order in and out
    tol = 1e-7 if epsg in (4326, 4490) else 0.01
    assert got == pytest.approx(list(want), abs=tol)
    fc = ogc.get("/collections/cases/items", params={"crs": uri, "filter": "case_no = 'C00021'"})
    assert fc.headers["content-crs"] == f"<{uri}>" and fc.json()["features"][0]["geometry"]["coordinates"] == got


@pytest.mark.parametrize("value, where", [
    ("2024-01-02T04:00:00Z", "reported_at = '2024-01-02T04:00:00Z'"),
    ("2024-01-02", "reported_at >= '2024-01-02 00:00+08' AND reported_at < '2024-01-03 00:00+08'"),
    ("2024-01-10T00:00:00Z/2024-01-20T00:00:00Z",
     "reported_at BETWEEN '2024-01-10T00:00:00Z' AND '2024-01-20T00:00:00Z'"),
    ("../2024-01-05T00:00:00Z", "reported_at <= '2024-01-05T00:00:00Z'"),
    ("2024-03-01T00:00:00Z/..", "reported_at >= '2024-03-01T00:00:00Z'"),
    ("2024-02-01/", "reported_at >= '2024-02-01 00:00+08'"),
    ("2024-01-03/2024-01-04", "reported_at >= '2024-01-03 00:00+08' AND reported_at < '2024-01-05 00:00+08'"),
])
def test_datetime(ogc, dbconn, value, where):
    expected = sql_ids(dbconn, where)
    assert expected
    fc = ogc.get("/collections/cases/items", params={"datetime": value, "limit": 1000}).json()
    assert ids(fc) == expected and fc["numberMatched"] == len(expected)


def test_property_filters(ogc, dbconn):
    fc = ogc.get("/collections/cases/items",
                 params={"status": "closed", "district_code": "650103", "limit": 1000}).json()
    assert ids(fc) == sql_ids(dbconn, "status = 'closed' AND district_code = '650103'")
    # arrays match when one element equals the value
    fc = ogc.get("/collections/admin_areas/items", params={"aliases": "乌市"}).json()
    assert [f["properties"]["name"] for f in fc["features"]] == ["乌鲁木齐市"]


def test_single_feature_and_its_links(ogc):
    r = ogc.get("/collections/admin_areas/items/650102")
    assert r.status_code == 200 and r.headers["content-type"] == GEOJSON
    f = r.json()
    assert f["id"] == "650102" and f["properties"]["level"] == "district"
    assert {link["rel"] for link in f["links"]} >= {"self", "alternate", "collection"}


def test_queryables_is_a_json_schema_of_the_exposed_fields(ogc):
    r = ogc.get("/collections/cases/queryables")
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    q = r.json()
    assert q["type"] == "object" and q["$schema"].startswith("https://json-schema.org/")
    assert set(q["properties"]) == set(registry()["cases"].fields) | {"geometry"}
    assert q["properties"]["reported_at"]["format"] == "date-time"
    assert q["properties"]["geometry"]["x-ogc-role"] == "primary-geometry"
    assert q["properties"]["geometry"]["format"] == "geometry-point"
    admin = ogc.get("/collections/admin_areas/queryables").json()["properties"]
    assert admin["aliases"] == {"title": "aliases", "type": "array", "items": {"type": "string"}}


def test_number_matched_is_left_out_when_counting_would_be_expensive(ogc, monkeypatch):
    from urbangis.layers.settings import OgcSettings

    monkeypatch.setattr(ogc.app.state.services.catalog, "settings", OgcSettings(exact_count_max=10, default_limit=10))
    fc = ogc.get("/collections/cases/items", params={"filter": "status <> 'closed'"}).json()
    assert "numberMatched" not in fc and fc["numberReturned"] == 10
    small = ogc.get("/collections/cases/items", params={"filter": "case_no = 'C00001'"}).json()
    assert small["numberMatched"] == 1  # an estimate below the threshold is still counted exactly
    assert ogc.get("/collections/cases/items").json()["numberMatched"] == N_CASES  # unfiltered: cached count


@pytest.mark.parametrize("path", ["/conformance", "/collections", "/collections/cases", "/collections/cases/items",
                                  "/collections/cases/items/C00003", "/collections/cases/queryables"])
def test_html_encoding(ogc, path):
    r = ogc.get(path, params={"f": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text
    assert "<html" in r.text
    browser = ogc.get(path, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert browser.headers["content-type"].startswith("text/html")


def test_html_items_draw_the_features(ogc):
    page = ogc.get("/collections/cases/items", params={"f": "html", "limit": 25}).text
    assert page.count("<circle") == 25 and "C00000" in page and 'rel' not in page.split("<svg")[0][-5:]


@pytest.mark.parametrize("list_max", [50_000, 0], ids=["match-list", "keyset"])
def test_paging_a_filter_by_next_links(ogc, dbconn, monkeypatch, list_max):
    from urbangis.ogc import items

    monkeypatch.setattr(items, "MATCH_LIST_MAX", list_max)
    params = {"limit": 7, "bbox": "87.55,43.76,87.62,43.80", "filter": "kind = 'event' AND status <> 'closed'"}
    want = sql_ids(dbconn, "kind = 'event' AND status <> 'closed' AND "
                           "ST_Intersects(geom, ST_MakeEnvelope(87.55, 43.76, 87.62, 43.80, 4490))")
    got, pages = all_items(ogc, "/collections/cases/items", params)
    assert got == want and pages == -(-len(want) // 7)
    fc = ogc.get("/collections/cases/items", params={**params, "offset": 10}).json()
    assert ids(fc) == want[10:17] and fc["numberMatched"] == len(want)


def test_a_cursor_from_another_list_still_continues(ogc, dbconn):
    """A next link followed after the cached list is gone (or from the keyset path) goes on by id."""
    from urbangis.ogc.params import encode_cursor

    params = {"limit": 5, "filter": "source = 'hotline'"}
    want = sql_ids(dbconn, "source = 'hotline'")
    for cursor in (encode_cursor(want[9]), encode_cursor(want[9], 3), encode_cursor(want[9], 10**6)):
        fc = ogc.get("/collections/cases/items", params={**params, "cursor": cursor}).json()
        assert ids(fc) == want[10:15]
