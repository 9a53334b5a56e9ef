"""Bad requests get a 4xx JSON body that says what was wrong; none of them is a 500."""
from __future__ import annotations

import pytest

BAD = [
    ("/collections/nosuch", {}, 404, "no collection 'nosuch'"),
    ("/collections/nosuch/items", {}, 404, "no collection 'nosuch'"),
    ("/collections/nosuch/queryables", {}, 404, "no collection 'nosuch'"),
    ("/collections/cases/items/C99999", {}, 404, "no feature 'C99999'"),
    ("/collections/cases/items", {"limit": str(10**9)}, 400, "limit: must be between 1 and 10000"),
    ("/collections/cases/items", {"limit": "0"}, 400, "limit"),
    ("/collections/cases/items", {"limit": "many"}, 400, "expected an integer"),
    ("/collections/cases/items", {"offset": "-1"}, 400, "offset"),
    ("/collections/cases/items", {"bbox": "87,43,88"}, 400, "4 or 6"),
    ("/collections/cases/items", {"bbox": "87,43,88,95"}, 400, "within [-90, 90]"),
    ("/collections/cases/items", {"bbox": "200,43,201,44"}, 400, "within [-180, 180]"),
    ("/collections/cases/items", {"bbox": "87,43,88,44", "bbox-crs": "EPSG:27700"}, 400, "bbox-crs: unsupported CRS"),
    ("/collections/cases/items", {"crs": "EPSG:9999"}, 400, "crs: unsupported CRS 'EPSG:9999'"),
    ("/collections/cases/items/C00001", {"crs": "urn:nope"}, 400, "crs: unsupported CRS"),
    ("/collections/cases/items", {"filter": "status = "}, 400, "CQL2 syntax error"),
    ("/collections/cases/items", {"filter": "secret = 1"}, 400, "unknown property 'secret'"),
    ("/collections/cases/items", {"filter": "status = 'a'", "filter-lang": "sql"}, 400, "filter-lang"),
    ("/collections/cases/items", {"filter-crs": "EPSG:1"}, 400, "filter-crs"),
    ("/collections/cases/items", {"datetime": "last week"}, 400, "RFC 3339"),
    ("/collections/cases/items", {"datetime": "2024-05-01/2024-01-01"}, 400, "starts after it ends"),
    ("/collections/admin_areas/items", {"datetime": "2024-01-01"}, 400, "has no time field"),
    ("/collections/cases/items", {"colour": "red"}, 400, "unknown parameter 'colour'"),
    ("/collections/cases/items", {"reported_at": "soon"}, 400, "not a valid value for property 'reported_at'"),
    ("/collections/cases/items", {"cursor": "%%%"}, 400, "cursor"),
    ("/collections/cases/items", {"f": "xml"}, 400, "f: unsupported format"),
    ("/collections/cases/items/C00001", {"limit": "5"}, 400, "unknown parameter 'limit'"),
    ("/collections", {"bbox": "1,2,3,4"}, 400, "unknown parameter 'bbox'"),
    ("/collections", {"f": "xml"}, 400, "f: unsupported format 'xml'; use one of json, html"),
    ("/conformance", {"f": "xml"}, 400, "f: unsupported format"),
    ("/", {"f": "xml"}, 400, "f: unsupported format 'xml'; use one of json, html"),
]


@pytest.mark.parametrize("path, params, status, words", BAD, ids=[f"{p}?{q}" for p, q, _, _ in BAD])
def test_bad_request(ogc, path, params, status, words):
    r = ogc.get(path, params=params)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] in ("InvalidParameterValue", "NotFound") and words in body["description"], body


def test_the_api_document_names_the_400_of_every_operation_with_parameters(ogc):
    """What the server answers a wrong parameter with (an f of neither json nor html on the landing
    page, /conformance, /collections) is in /api, which GDAL, QGIS and OWSLib read (found by
    schemathesis: those three documented a 200 only)."""
    doc = ogc.get("/api").json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op.get("parameters"):
                assert op["responses"]["400"] == {"$ref": "#/components/responses/Error400"}, (method, path)
    assert ogc.get("/?f=HTML").headers["content-type"].startswith("text/html")
    assert ogc.get("/?f=json").headers["content-type"].startswith("application/json")


def test_a_parameter_given_twice_is_refused(ogc):
    r = ogc.get("/collections/cases/items?limit=5&limit=6")
    assert r.status_code == 400 and "more than once" in r.json()["description"]


def test_garbage_never_makes_a_500(ogc):
    """Seeded random garbage in every parameter: each answer is 200 or a 4xx, never a 5xx."""
    import json
    import random

    rnd = random.Random(20261125)
    words = ["(", ")", "'", "''", '"', ",", " AND ", " OR ", "NOT ", "=", "<", ">=", "LIKE", "IN", "BETWEEN",
             "IS NULL", "S_INTERSECTS", "S_DWITHIN", "T_AFTER", "T_DURING", "T_INTERSECTS", "INTERVAL", "TIMESTAMP",
             "DATE", "BBOX", "POINT", "POLYGON", "geometry", "reported_at", "status", "case_no", "A_CONTAINS",
             "CASEI", "1", "-1", "1e400", "87.6", "43.8", "..", "'2024-01-01'", "'x'", "%", "_", "\\", "+", "*",
             "NaN", "中文", "{", "}", "[", "]", ":"]

    def garbage(n: int) -> str:
        return "".join(rnd.choice(words) + rnd.choice(["", " "]) for _ in range(rnd.randint(1, n)))

    for _ in range(400):
        key = rnd.choice(["filter", "json", "bbox", "datetime", "crs", "limit", "offset", "cursor", "bbox-crs",
                          "filter-crs", "status", "reported_at"])
        if key == "json":
            args = [rnd.choice([{"property": "status"}, {"property": "geometry"}, {"property": "reported_at"}, 1,
                                "x", None, [], {}, {"interval": ["..", "x"]}, {"bbox": [1, 2]}])
                    for _ in range(rnd.randint(0, 3))]
            op = rnd.choice(["=", "s_intersects", "t_after", "t_intersects", "in", "between", "like", "a_contains",
                             "isNull", "not", "and", "s_dwithin", "casei"])
            params = {"filter-lang": "cql2-json", "filter": json.dumps({"op": op, "args": args})}
        elif key == "bbox":
            params = {"bbox": ",".join(rnd.choice(["1", "-200", "1e400", "nan", "x", "", "87.6", "43"])
                                       for _ in range(rnd.randint(1, 7)))}
        elif key == "datetime":
            params = {"datetime": rnd.choice(["", "/", "../..", "2024-02-30", "2024-01-01T25:00:00Z", garbage(3),
                                              "2024-01-01/x", "99999-01-01"])}
        else:
            params = {key: garbage(3)}
        path = rnd.choice(["/collections/cases/items", "/collections/admin_areas/items",
                           "/collections/cases/items/C00001"])
        r = ogc.get(path, params=params)
        assert r.status_code < 500, (path, params, r.text)
