"""The case maps: aggregate tiles whose counts add up (bins to the tile, children to their parent,
the tile to one SQL count of the same filter), on both tile grids; a new case in every aggregate at
once; heat tiles; statistics, flows and hot spots against SQL and PySAL's esda; each bad parameter
a 400 naming it."""
from __future__ import annotations

import datetime as dt
import io
import json
import random

import mapbox_vector_tile
import numpy as np
import pytest
import shapely.geometry
from PIL import Image

from urbangis.layers import database as db

BEIJING = dt.timezone(dt.timedelta(hours=8))
WEB = "WebMercatorQuad"
PLATE = "CGCS2000Quad"


@pytest.fixture(scope="module")
def conn(cases_db):
    with db.connect(cases_db, autocommit=True) as c:
        yield c


@pytest.fixture(scope="module")
def centre(conn) -> tuple[float, float]:
    """The median case position (the city's busy middle)."""
    row = conn.execute("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ST_X(geom)), "
                       "percentile_disc(0.5) WITHIN GROUP (ORDER BY ST_Y(geom)) FROM cases").fetchone()
    return float(row[0]), float(row[1])


def web_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.log(np.tan(np.radians(lat)) + 1 / np.cos(np.radians(lat))) / np.pi) / 2 * n)
    return x, y


def plate_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    return int((lon + 180) / 360 * 2 ** (z + 1)), int((90 - lat) / 180 * 2 ** z)


def envelope(tms: str, z: int, x: int, y: int) -> str:
    """The tile's bounds as SQL on geom (EPSG:4490): between its meridians and parallels, west and
    north edges in, east and south edges out (a case on an edge is in one tile only)."""
    if tms == WEB:
        n = 2 ** z
        lon0, lon1 = -180 + x * 360 / n, -180 + (x + 1) * 360 / n
        lat1, lat0 = (float(np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * k / n))))) for k in (y, y + 1))
    else:
        step = 180 / 2 ** z
        lon0, lon1, lat0, lat1 = -180 + x * step, -180 + (x + 1) * step, 90 - (y + 1) * step, 90 - y * step
    return (f"ST_X(geom) >= {lon0!r} AND ST_X(geom) < {lon1!r} AND ST_Y(geom) > {lat0!r} "
            f"AND ST_Y(geom) <= {lat1!r}")


def layers(api, path: str, **params) -> dict:
    r = api.get(path, params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(r.content)


def counts(api, tms: str, z: int, x: int, y: int, bins: str = "square", **params) -> tuple[int, list[int]]:
    """The tile's meta total and its features' counts."""
    tile = layers(api, f"/cases/tiles/{tms}/{z}/{y}/{x}", bins=bins, **params)
    [meta] = tile["meta"]["features"]
    layer = "clusters" if bins == "cluster" else "bins"
    return meta["properties"]["count"], [f["properties"]["count"] for f in tile.get(layer, {}).get("features", [])]


def sql_count(conn, where: str, args: tuple = ()) -> int:
    return conn.execute(f"SELECT count(*) FROM cases WHERE {where}", args).fetchone()[0]


# filters as the map sends them, and the same filter written in SQL by hand
FILTERS = [
    ({}, "true", ()),
    ({"major_class": "01"}, "major_class = '01'", ()),
    ({"kind": "event", "minor_class": "0102,0501"}, "kind = 'event' AND major_class || minor_class IN ('0102', '0501')",
     ()),
    ({"status": "closed"}, "status = 'closed'", ()),
    ({"datetime": "2024-03-01/2024-05-31"}, "reported_at >= %s AND reported_at < %s",
     (dt.datetime(2024, 3, 1, tzinfo=BEIJING), dt.datetime(2024, 6, 1, tzinfo=BEIJING))),
    ({"area": "650102"}, "district_code = '650102'", ()),
    ({"source": "12345热线,公众举报", "status": "closed,verified"},
     "source IN ('12345热线', '公众举报') AND status IN ('closed', 'verified')", ()),
]


@pytest.mark.parametrize("params,where,args", FILTERS, ids=[json.dumps(f[0], ensure_ascii=False) for f in FILTERS])
@pytest.mark.parametrize("tms", [WEB, PLATE])
def test_square_bins_add_up_to_the_tile_and_the_tile_to_sql(api, conn, centre, tms, params, where, args):
    to_tile = web_tile if tms == WEB else plate_tile
    for z in (9, 12, 14):
        x, y = to_tile(*centre, z)
        total, bins = counts(api, tms, z, x, y, **params)
        truth = sql_count(conn, f"{envelope(tms, z, x, y)} AND {where}", args)
        assert total == truth == sum(bins), (z, total, truth, sum(bins))
        # the four children add up to their parent, bin by bin and in total
        children = [counts(api, tms, z + 1, 2 * x + dx, 2 * y + dy, **params)[0] for dx in (0, 1) for dy in (0, 1)]
        assert sum(children) == total
    assert truth > 0 or params.get("status") or params.get("area")  # the z14 tile at the centre has cases


@pytest.mark.parametrize("bins", ["cluster", "hex"])
def test_clusters_and_hexagons_count_the_tile_s_cases(api, centre, bins):
    for z in (10, 13, 16):
        x, y = web_tile(*centre, z)
        total, features = counts(api, WEB, z, x, y, bins=bins)
        assert sum(features) == total and (total == 0 or features)
        square, _ = counts(api, WEB, z, x, y, bins="square")
        assert total == square


@pytest.mark.parametrize("bins", ["square", "hex"])
def test_bins_are_drawn_as_exterior_rings(api, centre, bins):
    """The encoder is told not to check the winding (cases/aggregate.py ENCODING): every bin's ring
    must be an exterior ring as MVT defines it (clockwise on the screen, y down), or MapLibre
    draws it as a hole; and exactly the bins of the tile."""
    for z in (9, 12, 15):
        x, y = web_tile(*centre, z)
        r = api.get(f"/cases/tiles/{WEB}/{z}/{y}/{x}", params={"bins": bins})
        tile = mapbox_vector_tile.decode(r.content, default_options={"y_coord_down": True})
        polygons = [shapely.geometry.shape(f["geometry"]) for f in tile["bins"]["features"]]
        assert polygons and all(p.geom_type == "Polygon" and p.is_valid for p in polygons)
        # y down: clockwise on the screen is counter-clockwise in the plane's own terms
        assert all(p.exterior.is_ccw and not p.interiors for p in polygons), (z, bins)


def test_a_cluster_carries_its_class_mix_and_splits_as_one_zooms_in(api, centre):
    x, y = web_tile(*centre, 12)
    tile = layers(api, f"/cases/tiles/{WEB}/12/{y}/{x}", bins="cluster")
    features = tile["clusters"]["features"]
    big = max(features, key=lambda f: f["properties"]["count"])
    mix = json.loads(big["properties"]["mix"])
    assert sum(mix.values()) == big["properties"]["count"] and big["properties"]["top"] in mix
    children = sum(len(layers(api, f"/cases/tiles/{WEB}/13/{2 * y + dy}/{2 * x + dx}",
                              bins="cluster").get("clusters", {}).get("features", []))
                   for dx in (0, 1) for dy in (0, 1))
    assert children > len(features)  # zooming in splits the clusters


def test_random_filters_and_tiles_match_sql(api, conn):
    """Random tiles over random cases' places, random filters: every total equals SQL's count."""
    rnd = random.Random(20)
    places = conn.execute("SELECT ST_X(geom), ST_Y(geom) FROM cases ORDER BY case_no LIMIT 2000").fetchall()
    majors = [r[0] for r in conn.execute("SELECT DISTINCT major_class FROM cases ORDER BY 1")]
    for _ in range(25):
        lon, lat = rnd.choice(places)
        z = rnd.randint(8, 17)
        tms = rnd.choice([WEB, PLATE])
        x, y = (web_tile if tms == WEB else plate_tile)(lon, lat, z)
        chosen = rnd.sample(majors, rnd.randint(1, 3))
        start = dt.datetime(2024, 1, 1, tzinfo=BEIJING) + dt.timedelta(days=rnd.randint(0, 300))
        end = start + dt.timedelta(days=rnd.randint(1, 90))
        params = {"major_class": ",".join(chosen), "datetime": f"{start.isoformat()}/{end.isoformat()}"}
        total, bins = counts(api, tms, z, x, y, **params)
        truth = sql_count(conn, f"{envelope(tms, z, x, y)} AND major_class = ANY(%s) "
                                "AND reported_at BETWEEN %s AND %s", (chosen, start, end))
        assert total == truth == sum(bins), (tms, z, x, y, params)


def test_a_new_case_is_in_every_aggregate_at_once(api, beat):
    lon, lat = beat.inside
    x, y = web_tile(lon, lat, 15)
    before = {bins: counts(api, WEB, 15, x, y, bins=bins)[0] for bins in ("square", "hex", "cluster")}
    heat_before = api.get(f"/cases/heat/{WEB}/15/{y}/{x}.png").content
    stats_before = {f["id"]: f["properties"]["total"] for f in api.get("/cases/stats", params={
        "by": "responsibility_grid", "geometry": "false"}).json()["features"]}
    r = api.post("/cases", json={"lon": lon, "lat": lat, "kind": "event", "major_class": "01", "minor_class": "02",
                                 "reporter": beat.supervisor})
    assert r.status_code == 201, r.text
    for bins, n in before.items():
        assert counts(api, WEB, 15, x, y, bins=bins)[0] == n + 1, bins
    assert api.get(f"/cases/heat/{WEB}/15/{y}/{x}.png").content != heat_before
    after = {f["id"]: f["properties"]["total"] for f in api.get("/cases/stats", params={
        "by": "responsibility_grid", "geometry": "false"}).json()["features"]}
    assert after[beat.grid] == stats_before[beat.grid] + 1
    # moved on: a status filter sees it move
    case_no = r.json()["case"]["case_no"]
    registered = counts(api, WEB, 15, x, y, status="registered")[0]
    assert api.post(f"/cases/{case_no}/events", json={"to": "registered"}).status_code == 201
    assert counts(api, WEB, 15, x, y, status="registered")[0] == registered + 1


def test_a_case_read_at_start_moves_on_the_map(api, conn):
    """A case the index read from the table (not one stored since): moved on, the maps see its stage."""
    case_no, lon, lat = conn.execute("SELECT case_no, ST_X(geom), ST_Y(geom) FROM cases WHERE status = 'reported' "
                                     "AND source <> 'bench' ORDER BY case_no LIMIT 1").fetchone()
    x, y = web_tile(lon, lat, 15)
    before = {s: counts(api, WEB, 15, x, y, status=s)[0] for s in ("reported", "registered")}
    assert api.post(f"/cases/{case_no}/events", json={"to": "registered"}).status_code == 201
    assert counts(api, WEB, 15, x, y, status="reported")[0] == before["reported"] - 1
    assert counts(api, WEB, 15, x, y, status="registered")[0] == before["registered"] + 1


def test_a_case_stored_by_another_server_process_is_caught_up_from_the_log(cases_db, api, beat):
    """Two apps on one database (two worker processes): a case stored through one is in the other's
    maps after its watch loop's next look (a second), without reading the table again."""
    import time

    from fastapi.testclient import TestClient

    from urbangis.api.app import create_app

    lon, lat = beat.inside
    x, y = web_tile(lon, lat, 16)
    with TestClient(create_app(cases_db)) as other:
        # its first look done (the index, then the areas and their contiguity, seconds on a slow
        # machine: its next look waits for them), so that what follows is a catch-up
        assert other.app.state.services.cases.wait_ready(120)
        before = counts(other, WEB, 16, x, y)[0]
        built = other.app.state.services.cases.maps
        r = api.post("/cases", json={"lon": lon, "lat": lat, "kind": "event", "major_class": "01",
                                     "minor_class": "02"})
        assert r.status_code == 201, r.text
        deadline = time.monotonic() + 60  # a liveness bound, not a speed target (one look a second)
        while counts(other, WEB, 16, x, y)[0] != before + 1:
            assert time.monotonic() < deadline, "not seen by the other process within 60 s"
            time.sleep(0.1)
        assert other.app.state.services.cases.maps is built  # caught up, not rebuilt


def test_heat_tiles_are_png_hot_where_the_cases_are_and_meet_at_edges(api, centre):
    x, y = web_tile(*centre, 13)
    images = {}
    for dx in (0, 1):
        for ramp in ("heat", "glow"):
            r = api.get(f"/cases/heat/{WEB}/13/{y}/{x + dx}.png", params={"ramp": ramp})
            assert r.status_code == 200 and r.headers["content-type"] == "image/png"
            images[dx, ramp] = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA")).astype(int)
    left, right = images[0, "heat"], images[1, "heat"]
    assert left.shape == (256, 256, 4) and left[..., 3].max() > 100  # cases: opaque heat
    # the last column of one tile and the first of the next differ as little as neighbouring columns
    seam = np.abs(left[:, -1] - right[:, 0]).mean()
    inner = np.abs(left[:, -2] - left[:, -1]).mean()
    assert seam <= 3 * inner + 1
    empty = api.get(f"/cases/heat/{WEB}/13/0/0.png")  # the Arctic: nothing
    assert np.asarray(Image.open(io.BytesIO(empty.content)).convert("RGBA"))[..., 3].max() == 0


@pytest.mark.parametrize("by,key", [("district", "district_code"), ("street", "left(grid_code, 9)"),
                                    ("responsibility_grid", "responsibility_grid")])
def test_stats_per_area_count_what_sql_counts(api, conn, by, key):
    params = {"by": by, "datetime": "2024-01-01/2024-12-31", "geometry": "false"}
    body = api.get("/cases/stats", params=params).json()
    rows = conn.execute(f"SELECT {key}, status, count(*) FROM cases WHERE reported_at >= %s AND reported_at < %s "
                        "GROUP BY 1, 2", (dt.datetime(2024, 1, 1, tzinfo=BEIJING),
                                          dt.datetime(2025, 1, 1, tzinfo=BEIJING))).fetchall()
    truth: dict[str, dict[str, int]] = {}
    for code, status, n in rows:
        if code is not None:
            truth.setdefault(code, {})[status] = n
    got = {f["id"]: f["properties"] for f in body["features"]}
    for code, stages in truth.items():
        assert {k: v for k, v in got[code]["stages"].items() if v} == stages, code
        closed, valid = stages.get("closed", 0), sum(stages.values()) - stages.get("cancelled", 0) - \
            stages.get("not_registered", 0)
        assert got[code]["closure_rate"] == (round(closed / valid, 4) if valid else None)
    totals = [f["properties"]["total"] for f in body["features"]]
    assert totals == sorted(totals, reverse=True)  # a ranking
    assert [f["properties"]["rank"] for f in body["features"]] == list(range(1, len(totals) + 1))


def test_stats_compare_with_the_previous_period_and_the_same_period_last_year(api, conn):
    body = api.get("/cases/stats", params={"by": "district", "datetime": "2024-07-01/2024-09-30",
                                           "compare": "previous", "geometry": "false"}).json()
    # the previous period is as long as this one (92 days) and ends where it starts
    start = dt.datetime.fromisoformat(body["compare"]["start"])
    assert dt.datetime(2024, 7, 1, tzinfo=BEIJING) - start == dt.timedelta(days=92)
    earlier = dict(conn.execute("SELECT district_code, count(*) FROM cases WHERE reported_at >= %s "
                                "AND reported_at < %s GROUP BY 1",
                                (start, dt.datetime(2024, 7, 1, tzinfo=BEIJING))).fetchall())
    for f in body["features"]:
        p = f["properties"]
        assert p["previous"]["total"] == earlier.get(f["id"], 0)
        if p["previous"]["total"]:
            assert p["change"] == round((p["total"] - p["previous"]["total"]) / p["previous"]["total"], 4)
    yoy = api.get("/cases/stats", params={"by": "district", "datetime": "2025-07-01/2025-09-30",
                                          "compare": "same_period_last_year", "geometry": "false"}).json()
    assert yoy["compare"]["start"].startswith("2024-07-01")


def test_component_density_per_area(api, conn):
    body = api.get("/cases/stats", params={"by": "district"}).json()
    rows = dict((code, (n, km2)) for code, n, km2 in conn.execute(
        "SELECT a.code, (SELECT count(*) FROM components c WHERE c.district_code = a.code), "
        "ST_Area(a.geom::geography) / 1e6 FROM admin_areas a WHERE a.level = 'district'").fetchall())
    for f in body["features"]:
        n, km2 = rows[f["id"]]
        assert f["properties"]["components_per_km2"] == pytest.approx(n / km2, abs=1e-3)
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_flows_count_cases_reported_from_one_s_own_grid_into_another(api, conn):
    body = api.get("/cases/flows").json()
    truth = dict(((a, b), n) for a, b, n in conn.execute("""
        WITH own AS (SELECT supervisor_id, min(grid_code) AS grid FROM supervisor_grids GROUP BY 1)
        SELECT own.grid, c.responsibility_grid, count(*) FROM cases c JOIN own USING (supervisor_id)
        WHERE c.responsibility_grid IS NOT NULL AND own.grid <> c.responsibility_grid GROUP BY 1, 2""").fetchall())
    got = {(f["properties"]["from"], f["properties"]["to"]): f["properties"]["count"] for f in body["features"]}
    assert got and got == dict(sorted(truth.items(), key=lambda kv: -kv[1])[:500])
    counts_ = [f["properties"]["count"] for f in body["features"]]
    assert counts_ == sorted(counts_, reverse=True)
    assert all(f["geometry"]["type"] == "LineString" for f in body["features"])


def test_hot_spots_are_esda_s_gi_star(api, cases_db):
    """Gi* z-scores equal PySAL esda's G_Local (star=True, binary weights) within 1e-6, on weights
    libpysal builds itself: contiguity of the same unit grids, geometric (outlines that intersect,
    a shared corner is enough). libpysal's vertex-matching Queen misses neighbours whose outlines
    cross without a common vertex (slivers, T-junctions): 525 of the sample's 58,338 grids."""
    import geopandas as gpd
    from esda.getisord import G_Local
    from libpysal.weights import fuzzy_contiguity

    params = {"datetime": "2024-01-01/2024-06-30", "major_class": "01", "adjust": "true", "geometry": "false"}
    body = api.get("/cases/hotspots", params=params).json()
    with db.connect(cases_db) as c:
        grids = gpd.read_postgis("SELECT code, geom FROM unit_grids ORDER BY code", c, geom_col="geom")
        n = dict(c.execute("SELECT grid_code, count(*) FROM cases WHERE major_class = '01' AND reported_at >= %s "
                           "AND reported_at < %s GROUP BY 1", (dt.datetime(2024, 1, 1, tzinfo=BEIJING),
                                                              dt.datetime(2024, 7, 1, tzinfo=BEIJING))).fetchall())
    y = np.array([n.get(code, 0) for code in grids["code"]], dtype=float)
    w = fuzzy_contiguity(grids, tolerance=0, buffering=False, predicate="intersects")
    g = G_Local(y, w, transform="B", star=True, permutations=0)
    got = {f["properties"]["code"]: f["properties"] for f in body["features"]}
    assert [got[code]["count"] for code in grids["code"]] == y.astype(int).tolist()
    z = np.array([got[code]["z"] for code in grids["code"]], dtype=float)
    assert np.nanmax(np.abs(z - g.Zs)) < 1e-6
    p = np.array([got[code]["p"] for code in grids["code"]], dtype=float)
    assert np.allclose(p, 2 * g.p_norm, atol=1e-9)  # two-sided
    adjusted = np.array([got[code]["p_adjusted"] for code in grids["code"]], dtype=float)
    assert (adjusted >= p - 1e-12).all() and (z > 3).any()


def test_search_lists_the_cases_of_a_clicked_bin(api, conn, centre):
    lon, lat = centre
    box = f"{lon - 0.005},{lat - 0.005},{lon + 0.005},{lat + 0.005}"
    body = api.get("/cases/search", params={"bbox": box, "status": "closed", "limit": 5}).json()
    # inside as a bin counts: west and north edges in, east and south out
    truth = sql_count(conn, "ST_X(geom) >= %s AND ST_X(geom) < %s AND ST_Y(geom) > %s AND ST_Y(geom) <= %s "
                      "AND status = 'closed'", (lon - 0.005, lon + 0.005, lat - 0.005, lat + 0.005))
    assert body["numberMatched"] == truth > 5 and body["numberReturned"] == 5
    assert all(f["properties"]["status"] == "closed" for f in body["features"])
    # every cluster and square bin of a tile: its bbox lists as many cases as it counts
    x, y = web_tile(lon, lat, 13)
    for bins, layer in (("cluster", "clusters"), ("square", "bins")):
        tile = layers(api, f"/cases/tiles/{WEB}/13/{y}/{x}", bins=bins, status="closed")
        for f in tile[layer]["features"][:20]:
            found = api.get("/cases/search", params={"bbox": f["properties"]["bbox"], "status": "closed",
                                                     "limit": 1}).json()
            assert found["numberMatched"] == f["properties"]["count"], (bins, f["properties"])


@pytest.mark.parametrize("path,params,parameter", [
    ("/cases/tiles/WebMercatorQuad/12/1500/2900", {"minor_class": "不存在的小类"}, "minor_class"),
    ("/cases/tiles/WebMercatorQuad/12/1500/2900", {"major_class": "99"}, "major_class"),
    ("/cases/tiles/WebMercatorQuad/12/1500/2900", {"datetime": "2024-13-01/2024-14-01"}, "datetime"),
    ("/cases/tiles/WebMercatorQuad/12/1500/2900", {"datetime": "2024-05-01/2024-04-01"}, "datetime"),
    ("/cases/tiles/WebMercatorQuad/12/1500/2900", {"area": "659999"}, "area"),
    ("/cases/tiles/WebMercatorQuad/12/1500/2900", {"responsibility_grid": "NOPE"}, "responsibility_grid"),
    ("/cases/tiles/WebMercatorQuad/12/1500/2900", {"status": "lost"}, "status"),
    ("/cases/tiles/WebMercatorQuad/12/1500/2900", {"kind": "thing"}, "kind"),
    ("/cases/tiles/WebMercatorQuad/12/1500/2900", {"bins": "triangle"}, "bins"),
    ("/cases/heat/WebMercatorQuad/12/1500/2900.png", {"ramp": "rainbow"}, "ramp"),
    ("/cases/heat/WebMercatorQuad/12/1500/2900.png", {"scale": "-1"}, "scale"),
    ("/cases/stats", {"by": "planet"}, "by"),
    ("/cases/stats", {"compare": "previous"}, "compare"),
    ("/cases/stats", {"compare": "tomorrow", "datetime": "2024-01-01/2024-02-01"}, "compare"),
    ("/cases/flows", {"by": "street"}, "by"),
    ("/cases/search", {"bbox": "1,2,3"}, "bbox"),
    ("/cases/search", {"bbox": "90,40,80,45"}, "bbox"),
])
def test_each_bad_parameter_is_a_400_naming_it(api, path, params, parameter):
    r = api.get(path, params=params)
    assert r.status_code == 400, (r.status_code, r.text)
    body = r.json()
    assert body.get("parameter") == parameter, body
    assert parameter in body["description"]


def test_a_tile_outside_its_matrix_set_is_a_404(api):
    r = api.get("/cases/tiles/WebMercatorQuad/3/9/9")
    assert r.status_code == 404, r.text
