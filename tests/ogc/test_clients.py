"""Real OGC clients against a real HTTP server: GDAL's OAPIF driver (the ``ogrinfo`` of gdal-bin
and pyogrio's bundled GDAL) and OWSLib. They list the collections of the sample city
(``live_server``) and read features with a bbox, a CRS and a CQL2 filter from ``ogc_server``,
whose contents the expected answers are computed from."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pyproj
import pytest
import shapely
from owslib.ogcapi.features import Features

from urbangis.layers.registry import registry

from .conftest import N_CASES

BBOX = (87.56, 43.77, 87.60, 43.80)


def sql_ids(conn, where: str) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT case_no FROM cases WHERE {where} ORDER BY case_no")]


def listed(conninfo: str) -> list[str]:
    """The collections /collections lists: the registry's, less the parts of mixed collections
    that hold no feature (counted here in the database)."""
    from urbangis.layers import database as db

    out = []
    with db.connect(conninfo, autocommit=True) as conn:
        for cid, c in registry().items():
            if c.dimension is None or conn.execute(
                    f"SELECT EXISTS (SELECT 1 FROM {c.table} WHERE ST_Dimension(geom) = {c.dimension})").fetchone()[0]:
                out.append(cid)
    return out


def ogrinfo(*args: str) -> str:
    out = subprocess.run(["ogrinfo", "-ro", "-q", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


# pyogrio's GDAL calls hold the GIL, and the test servers are threads of this process: GDAL runs
# in a child process so the server can answer it.
_PYOGRIO = """
import json, sys
import pyogrio
from pyogrio import raw
args = json.loads(sys.argv[1])
if args["op"] == "layers":
    print(json.dumps([str(name) for name, _ in pyogrio.list_layers(args["url"])]))
else:
    info = pyogrio.read_info(args["url"], layer=args["layer"])
    kw = args["kw"]
    if "bbox" in kw:
        kw["bbox"] = tuple(kw["bbox"])
    meta, _, geoms, fields = raw.read(args["url"], layer=args["layer"], **kw)
    names = list(meta["fields"])
    print(json.dumps({"info_crs": info["crs"], "crs": meta["crs"], "wkb": [g.hex() for g in geoms],
                      "case_no": [str(v) for v in fields[names.index("case_no")]]}))
"""


def pyogrio_call(**args):
    out = subprocess.run([sys.executable, "-c", _PYOGRIO, json.dumps(args)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def read(url: str, layer: str, **kw) -> dict:
    r = pyogrio_call(op="read", url=url, layer=layer, kw=kw)
    r["geoms"] = shapely.from_wkb([bytes.fromhex(h) for h in r["wkb"]])
    return r


# -- GDAL: ogrinfo (gdal-bin) ------------------------------------------------------------------

def test_ogrinfo_lists_the_sample_city_collections(live_server, sample_db):
    listing = ogrinfo(f"OAPIF:{live_server}/")
    names = re.findall(r"^\d+: (\S+)", listing, re.M)
    assert names == listed(sample_db) and "components_lines" in names


def test_ogrinfo_reads_with_bbox_and_a_cql2_filter(ogc_server, dbconn):
    out = ogrinfo(f"OAPIF:{ogc_server}/", "cases", "-spat", *map(str, BBOX), "-where", "status = 'closed'")
    got = sorted(re.findall(r"case_no \(String\) = (\S+)", out))
    want = sql_ids(dbconn, "status = 'closed' "
                           "AND ST_Intersects(geom, ST_MakeEnvelope(87.56, 43.77, 87.60, 43.80, 4490))")
    assert got == want and want


# -- GDAL: pyogrio's bundled GDAL (newer: reads storageCrs, CRS option, DATETIME) ------------------

def test_pyogrio_lists_the_sample_city_collections(live_server, sample_db):
    assert pyogrio_call(op="layers", url=f"OAPIF:{live_server}/") == listed(sample_db)


def test_pyogrio_reads_bbox_filter_in_the_storage_crs(ogc_server, dbconn):
    r = read(f"OAPIF:{ogc_server}/", "cases", bbox=BBOX, where="kind = 'event' AND status <> 'closed'")
    assert r["info_crs"] == r["crs"] == "EPSG:4490"  # from storageCrs
    got = sorted(r["case_no"])
    want = sql_ids(dbconn, "kind = 'event' AND status <> 'closed' AND "
                           "ST_Intersects(geom, ST_MakeEnvelope(87.56, 43.77, 87.60, 43.80, 4490))")
    assert got == want and want
    # GDAL asked for EPSG:4490 (latitude first) and turned it back to x = longitude: both ends agree
    points = r["geoms"]
    x, y = shapely.get_x(points), shapely.get_y(points)
    assert ((x >= BBOX[0]) & (x <= BBOX[2]) & (y >= BBOX[1]) & (y <= BBOX[3])).all()


def test_pyogrio_reads_in_a_projected_crs(ogc_server, dbconn):
    r = read(f"OAPIF:{ogc_server}/", "cases", CRS="EPSG:4538", where="case_no = 'C00021'")
    assert r["crs"] == "EPSG:4538" and len(r["geoms"]) == 1
    lon, lat = dbconn.execute("SELECT ST_X(geom), ST_Y(geom) FROM cases WHERE case_no = 'C00021'").fetchone()
    northing, easting = pyproj.Transformer.from_crs(4490, 4538).transform(lat, lon)
    p = r["geoms"][0]
    assert (p.x, p.y) == pytest.approx((easting, northing), abs=0.01)


def test_pyogrio_datetime_option(ogc_server, dbconn):
    r = read(f"OAPIF:{ogc_server}/", "cases", DATETIME="2024-01-10T00:00:00Z/2024-01-20T00:00:00Z")
    want = sql_ids(dbconn, "reported_at BETWEEN '2024-01-10T00:00:00Z' AND '2024-01-20T00:00:00Z'")
    assert sorted(r["case_no"]) == want


def test_pyogrio_pages_through_everything(ogc_server):
    r = read(f"OAPIF:{ogc_server}/", "cases", PAGE_SIZE="50")
    assert len(set(r["case_no"])) == len(r["geoms"]) == N_CASES


# -- OWSLib ---------------------------------------------------------------------------------------

def test_owslib_reads_the_sample_city(live_server, sample_db):
    api = Features(live_server)
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    assert api.feature_collections() == listed(sample_db)
    assert api.api()["openapi"].startswith("3.0")


def test_owslib_conformance_collections_queryables_items(ogc_server, dbconn):
    api = Features(ogc_server)
    classes = api.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in classes
    assert api.collection("cases")["id"] == "cases"
    q = api.collection_queryables("cases")
    assert set(q["properties"]) == set(registry()["cases"].fields) | {"geometry"}
    items = api.collection_items("cases", bbox=list(BBOX), limit=500, filter="status = 'closed'")
    want = sql_ids(dbconn, "status = 'closed' "
                           "AND ST_Intersects(geom, ST_MakeEnvelope(87.56, 43.77, 87.60, 43.80, 4490))")
    assert [f["id"] for f in items["features"]] == want and items["numberMatched"] == len(want)
    one = api.collection_item("cases", want[0])
    assert one["id"] == want[0] and one["geometry"]["type"] == "Point"
