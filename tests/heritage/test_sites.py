"""Heritage sites, zones, imagery epochs, stored patches, the rules, the report and the review, on
PostGIS and over HTTP (the detection itself: test_detect.py)."""
from __future__ import annotations

import datetime as dt
import io
import json
import re

import numpy as np
import pytest
import shapely
from PIL import Image
from pyproj import Transformer
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import shape

from urbangis.heritage import store
from urbangis.heritage.detect import Patch
from urbangis.heritage.rules import Zone, building_violations, patch_violations, zone_of
from urbangis.ingest.gazetteer import LoadRejected, load_gazetteer
from urbangis.ingest.imagery import ImageryError, describe, register
from urbangis.layers import database as db
from urbangis.tiles.imagery import ImageryTiles, OutsideImage

from .conftest import NAIP, SAMPLES, imagery_folder

CITIES = {"HC653101": "653101", "HC650402": "650402", "HC654027": "654027", "HC652902": "652902",
          "HC654002": "654002"}


def test_the_five_historic_cities_lie_in_their_real_counties(heritage_db):
    counties = {f["properties"]["district_adcode"]: shape(f["geometry"]) for f in json.loads(
        (SAMPLES / "real" / "heritage_counties_cgcs2000.geojson").read_text("utf-8"))["features"]}
    with db.connect(heritage_db) as conn:
        rows = conn.execute("SELECT id, district_code, kind, level, provenance, ST_AsBinary(geom) FROM heritage_sites "
                            "WHERE id LIKE 'HC%' ORDER BY id").fetchall()
        zones = conn.execute("SELECT site_id, zone_kind, count(*) FROM protection_zones GROUP BY 1, 2").fetchall()
        streets = conn.execute("SELECT count(*) FROM historic_streets").fetchone()[0]
    assert {r[0]: r[1] for r in rows} == CITIES
    for _id, code, kind, level, provenance, wkb in rows:
        outline = shapely.from_wkb(bytes(wkb))
        assert (kind, level) == ("city", "national") and provenance.startswith("synthetic")
        assert counties[code].buffer(1e-6).contains(outline), code
    kinds = {(site, kind) for site, kind, n in zones if n == 1}
    assert all((site, k) in kinds for site in CITIES for k in ("core", "construction_control",
                                                                 "environmental_coordination"))
    assert streets == 15


def test_demonstration_sites_load_only_when_said_to_lie_outside_china(fresh_db):
    with db.connect(fresh_db) as conn, pytest.raises(LoadRejected) as caught:
        load_gazetteer(conn, SAMPLES / "heritage-demo")
    assert "outside China" in str(caught.value)
    assert caught.value.report is not None and caught.value.report.errors == 8


def test_registration_makes_a_valid_cog_once(heritage_db, tmp_path):
    with db.connect(heritage_db) as conn:
        first = register(conn, NAIP[0], dt.date(2009, 8, 18), imagery_folder(), site_id="HD-NAIP")
        again = register(conn, NAIP[0], dt.date(2009, 8, 18), imagery_folder(), site_id="HD-NAIP")
        n = conn.execute("SELECT count(*) FROM imagery_epochs").fetchone()[0]
        footprint = shapely.from_wkb(bytes(conn.execute("SELECT ST_AsBinary(geom) FROM imagery_epochs WHERE id = %s",
                                                        (first.id,)).fetchone()[0]))
    assert first.id == again.id and n == 2
    valid, errors, _ = cog_validate(str(first.path))
    assert valid, errors
    assert first.pixel_m == pytest.approx(5.0) and first.bands == 4
    x0, y0, x1, y1 = footprint.bounds  # the UTM 14N tile, in CGCS2000 degrees
    assert -99.19 < x0 < x1 < -99.12 and 47.0 < y0 < y1 < 47.04
    bad = tmp_path / "not-an-image.tif"
    bad.write_text("hello")
    with db.connect(heritage_db) as conn:
        with pytest.raises(ImageryError, match="not a readable raster"):
            register(conn, bad, dt.date(2020, 1, 1), imagery_folder())
        with pytest.raises(ImageryError, match="no heritage site"):
            register(conn, NAIP[0], dt.date(2009, 8, 18), imagery_folder(), site_id="nowhere")
    assert describe(NAIP[1])["crs"] == "EPSG:26914"


def test_raster_tiles_of_an_epoch(heritage_db):
    import morecantile

    with db.connect(heritage_db) as conn:
        rel = conn.execute("SELECT path FROM imagery_epochs ORDER BY id LIMIT 1").fetchone()[0]
    tiles = ImageryTiles(imagery_folder())
    t = morecantile.tms.get("WebMercatorQuad").tile(-99.155, 47.02, 15)
    img = Image.open(io.BytesIO(tiles.tile(rel, t.z, t.x, t.y)))
    assert img.size == (256, 256) and img.mode == "RGBA"
    assert len(np.unique(np.asarray(img).reshape(-1, 4), axis=0)) > 1000  # imagery, not an empty tile
    with pytest.raises(OutsideImage):
        tiles.tile(rel, 15, 0, 0)
    tiles.close()


def _zone(kind: str, new: str | None = None, height: int | None = None, change: int | None = None) -> Zone:
    return Zone(f"z-{kind}", "s", kind, kind, new, height, change)


def test_rules():
    core, control, env = _zone("core"), _zone("construction_control", height=15, change=10), \
        _zone("environmental_coordination", "forbidden")
    assert patch_violations("new_construction", core) and not patch_violations("new_construction", control)
    assert patch_violations("new_construction", env)  # forbidden there by its own rule
    assert patch_violations("demolition", core) and not patch_violations("demolition", control)
    assert patch_violations("alteration", core) and not patch_violations("alteration", control)
    assert patch_violations("vegetation_loss", env) and not patch_violations("vegetation_gain", env)
    assert patch_violations("new_construction", None) == []
    assert building_violations("altered", control, height_m=18) == [
        "18 m high where the zone allows 15 m (建设控制地带 construction_control)"]
    assert building_violations("altered", control, footprint_change_pct=25)
    assert not building_violations("altered", control, height_m=12, footprint_change_pct=-8)
    square = shapely.box(0, 0, 10, 10)
    zones = [(control, shapely.box(0, 0, 100, 100)), (core, shapely.box(8, 8, 20, 20))]
    assert zone_of(square, zones) is core  # the strictest zone it touches
    assert zone_of(shapely.box(50, 50, 60, 60), zones) is control
    assert zone_of(shapely.box(500, 500, 510, 510), zones) is None


def _patches_in_zones(conn) -> list[Patch]:
    """A square of 30 m at the middle of each zone ring of HD-NAIP, in the imagery's UTM zone."""
    to_utm = Transformer.from_crs("EPSG:4490", "EPSG:26914", always_xy=True)
    out = []
    for kind, cls in (("core", "new construction"), ("construction_control", "new construction"),
                      ("environmental_coordination", "vegetation loss")):
        wkb = conn.execute("SELECT ST_AsBinary(ST_PointOnSurface(geom)) FROM protection_zones WHERE id = %s",
                           (f"HD-NAIP-{kind}",)).fetchone()[0]
        p = shapely.transform(shapely.from_wkb(bytes(wkb)), to_utm.transform, interleaved=False)
        square = shapely.box(p.x - 15, p.y - 15, p.x + 15, p.y + 15)
        out.append(Patch(square, cls, square.area, 0.8, 36, 9.0, "EPSG:26914"))
    return out


def test_a_run_is_stored_once_with_zones_and_violations(heritage_db):
    with db.connect(heritage_db) as conn:
        patches = _patches_in_zones(conn)
        run = store.run_key("HD-NAIP", "a", "b", "test")
        first = store.save_run(conn, "HD-NAIP", patches, dt.date(2009, 8, 18), dt.date(2020, 8, 31), run, 1, 2)
        again = store.save_run(conn, "HD-NAIP", patches, dt.date(2009, 8, 18), dt.date(2020, 8, 31), run, 1, 2)
        rows = conn.execute("SELECT zone_id, class, violations, round(area_m2) FROM change_patches WHERE run = %s "
                            "ORDER BY zone_id", (run,)).fetchall()
        with pytest.raises(Exception, match="not before"):
            store.save_run(conn, "HD-NAIP", patches, dt.date(2020, 8, 31), dt.date(2009, 8, 18), "x")
    assert (first.patches, first.violations, first.already) == (3, 2, False)
    assert (again.patches, again.already) == (3, True)
    assert [(z, c, bool(v), a) for z, c, v, a in rows] == [
        ("HD-NAIP-construction_control", "new_construction", False, 900),
        ("HD-NAIP-core", "new_construction", True, 900),
        ("HD-NAIP-environmental_coordination", "vegetation_loss", True, 900)]


def test_report_review_and_views_over_http(heritage_api, heritage_db):
    with db.connect(heritage_db) as conn:
        run = store.run_key("HD-NAIP", "c", "d", "http")
        store.save_run(conn, "HD-NAIP", _patches_in_zones(conn), dt.date(2009, 8, 18), dt.date(2020, 8, 31), run, 1, 2)
        ids = [r[0] for r in conn.execute("SELECT id FROM change_patches WHERE run = %s ORDER BY id", (run,))]
    r = heritage_api.get("/heritage/sites/HD-NAIP/report", params={"from": "2009-01-01", "to": "2020-12-31"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["totals"]["patches"] == len(doc["patches"]) >= 3
    assert sum(v["count"] for v in doc["by_class"].values()) == doc["totals"]["patches"]
    assert sum(z["count"] for z in doc["by_zone"].values()) == doc["totals"]["patches"]
    assert doc["totals"]["violations"] == len(doc["violations"]) == sum(1 for p in doc["patches"] if p["violations"])
    assert heritage_api.get("/heritage/sites/HD-NAIP/report", params={"to": "2015-01-01"}).json()["totals"][
        "patches"] == 0
    page = heritage_api.get("/heritage/sites/HD-NAIP/report", params={"f": "html"})
    assert page.status_code == 200 and "影像示范区" in page.text and "maplibre-gl.js" in page.text
    assert f"/heritage/patches/{ids[0]}/view.png?when=before" in page.text
    view = heritage_api.get(f"/heritage/patches/{ids[0]}/view.png", params={"when": "after"})
    assert view.status_code == 200 and Image.open(io.BytesIO(view.content)).size[0] > 0

    done = heritage_api.patch(f"/heritage/patches/{ids[0]}", json={"review": "confirmed", "note": "seen"})
    assert done.status_code == 200 and done.json()["review"] == "属实" and done.json()["reviewed_by"]
    assert heritage_api.patch(f"/heritage/patches/{ids[1]}", json={"review": "不属实"}).json()["review"] == "不属实"
    bad = heritage_api.patch(f"/heritage/patches/{ids[0]}", json={"review": "maybe"})
    assert bad.status_code == 400 and "review" in bad.json()["errors"][0]["parameter"]
    assert heritage_api.patch("/heritage/patches/987654321", json={"review": "属实"}).status_code == 404
    reviews = heritage_api.get("/heritage/sites/HD-NAIP/report").json()["reviews"]
    assert reviews["属实"] >= 1 and reviews["不属实"] >= 1


def test_a_later_run_of_the_same_dates_supersedes_the_earlier_one_in_the_report(heritage_api, heritage_db):
    d0, d1, d2 = dt.date(2011, 5, 1), dt.date(2016, 5, 1), dt.date(2018, 5, 1)
    first, second, third = (store.run_key("HD-NAIP", "e", "f", s) for s in ("one", "two", "three"))
    with db.connect(heritage_db) as conn:
        patches = _patches_in_zones(conn)
        store.save_run(conn, "HD-NAIP", patches, d0, d2, first, 1, 2)
        old = [r[0] for r in conn.execute("SELECT id FROM change_patches WHERE run = %s ORDER BY id", (first,))]
        store.review(conn, old[0], "confirmed", "inspector", "seen on site")
        store.review(conn, old[2], "rejected", "inspector")  # a patch the later run does not find again
        moved = [shapely.affinity.translate(p.geometry, 4, 0) for p in patches[:2]]  # 30 m squares 4 m apart
        later = [Patch(g, p.cls, p.area_m2, p.confidence, p.pixels, p.mean_score, p.crs)
                 for g, p in zip(moved, patches)]
        carried = store.save_run(conn, "HD-NAIP", later, d0, d2, second, 1, 2)  # the same dates, other parameters
        again = conn.execute("SELECT review, reviewed_by, review_note FROM change_patches WHERE run = %s AND "
                             "review <> '待核查'", (second,)).fetchall()
        store.save_run(conn, "HD-NAIP", patches[2:], d0, d1, third, 1, 2)  # other dates: not superseded
    url, dates = "/heritage/sites/HD-NAIP/report", {"from": "2011-01-01", "to": "2018-12-31"}
    doc = heritage_api.get(url, params=dates).json()
    assert sorted(p["run"] for p in doc["patches"]) == sorted([second, second, third])
    assert doc["totals"]["patches"] == sum(v["count"] for v in doc["by_class"].values()) == 3
    # the verdict on the superseded run's patch went over to the later run's patch that overlaps it
    # (IoU 0.76); the one whose patch the later run did not find stays with the earlier run
    assert carried.carried == 1 and len(again) == 1
    assert again[0][:2] == ("属实", "inspector")
    assert again[0][2].startswith(f"seen on site (carried over from patch {old[0]} of run {first}")
    assert (doc["reviews"]["属实"], doc["reviews"]["不属实"]) == (1, 0)
    runs = {r["run"]: r for r in doc["runs"]}
    assert set(runs) == {first, second, third}
    assert (runs[first]["shown"], runs[first]["superseded_by"], runs[first]["patches"], runs[first]["reviewed"]) == (
        False, second, 3, 2)
    assert (runs[second]["shown"], runs[second]["superseded_by"]) == (True, None)
    assert (runs[third]["shown"], runs[third]["superseded_by"]) == (True, None)
    alone = heritage_api.get(url, params={**dates, "run": first}).json()
    assert sorted(p["id"] for p in alone["patches"]) == old
    assert alone["reviews"]["属实"] == alone["reviews"]["不属实"] == 1
    missing = heritage_api.get(url, params={**dates, "run": "nosuchrun"})
    assert missing.status_code == 404 and missing.json()["parameter"] == "run"
    everything = heritage_api.get(url).json()  # the site listed with what its report counts
    listed = {s["id"]: s for s in heritage_api.get("/heritage/sites").json()["sites"]}["HD-NAIP"]
    assert (listed["patches"], listed["runs"]) == (everything["totals"]["patches"], len(everything["runs"]))
    assert listed["runs"] > sum(r["shown"] for r in everything["runs"])
    page = heritage_api.get(url, params={**dates, "f": "html"}).text
    assert f"superseded by {second}" in page
    assert f"?from=2011-01-01&amp;to=2018-12-31&amp;run={first}&amp;f=html" in page  # the same period


def _multipart(path, **fields) -> tuple[bytes, str]:
    b = "urbangis-imagery-test"
    parts = [f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
                 f"Content-Type: image/tiff\r\n\r\n".encode() + path.read_bytes() + f"\r\n--{b}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={b}"


def test_imagery_registered_over_http(heritage_api, tmp_path):
    import morecantile
    import rasterio
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    def post(path, **fields):
        body, ctype = _multipart(path, **fields)
        return heritage_api.post("/ingest/imagery", content=body, headers={"content-type": ctype})

    # a crop of the 2009 image in lon/lat (another CRS than the file's), as another date
    crop = tmp_path / "crop_lonlat.tif"
    with rasterio.open(NAIP[0]) as src:
        window = rasterio.windows.Window(100, 100, 300, 200)
        bounds = rasterio.windows.bounds(window, src.transform)
        t, w, h = calculate_default_transform(src.crs, "EPSG:4326", 300, 200, *bounds)
        profile = {**src.profile, "crs": "EPSG:4326", "transform": t, "width": w, "height": h, "tiled": False}
        with rasterio.open(crop, "w", **profile) as dst:
            for b in range(1, src.count + 1):
                reproject(src.read(b, window=window), rasterio.band(dst, b), src_transform=src.window_transform(window),
                          src_crs=src.crs, dst_transform=t, dst_crs="EPSG:4326", resampling=Resampling.bilinear)
    made = post(crop, acquired="2015-06-01", site="HD-NAIP", name="crop 2015")
    assert made.status_code == 201, made.text
    epoch = made.json()
    assert (epoch["created"], epoch["acquired"], epoch["site_id"], epoch["bands"]) == (True, "2015-06-01", "HD-NAIP", 4)
    assert 4 < epoch["pixel_m"] < 6
    again = post(crop, acquired="2015-06-01", site="HD-NAIP", name="crop 2015")
    assert again.status_code == 200 and again.json()["id"] == epoch["id"] and again.json()["created"] is False
    listed = heritage_api.get("/heritage/imagery", params={"site": "HD-NAIP"}).json()["epochs"]
    assert [e["name"] for e in listed if e["id"] == epoch["id"]] == ["crop 2015"]
    with rasterio.open(crop) as src:  # a tile at the crop's middle, from the registered COG
        lon, lat = (src.bounds.left + src.bounds.right) / 2, (src.bounds.bottom + src.bounds.top) / 2
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 16)
    png = heritage_api.get(f"/heritage/imagery/{epoch['id']}/tiles/WebMercatorQuad/16/{tile.y}/{tile.x}.png")
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).size == (256, 256)

    text = tmp_path / "notes.tif"
    text.write_text("not an image")
    bad = post(text, acquired="2015-06-01")
    assert bad.status_code == 400 and "notes.tif" in bad.json()["description"]
    assert str(tmp_path) not in bad.text and "ingest-jobs" not in bad.text  # no path of the server's
    for fields, name in (({}, "acquired"), ({"acquired": "2015-13-01"}, "acquired"), ({"acquired": "2999-01-01"},
                         "acquired"), ({"acquired": "2015-06-01", "colour": "red"}, "colour")):
        r = post(crop, **fields)
        assert r.status_code == 400 and r.json()["parameter"] == name, (fields, r.text)
    r = post(crop, acquired="2016-06-01", site="nowhere")
    assert r.status_code == 404 and r.json()["parameter"] == "site"
    assert heritage_api.post("/ingest/imagery", json={"acquired": "2015-06-01"}).status_code == 415


def test_collections_of_dated_layers_have_their_temporal_extent(heritage_api):
    """Epochs and patches are dated by a day (a date column): /collections answered 500 on them
    (a date has no time zone) once an epoch was registered. A day is the start of it in the
    configured zone (Asia/Shanghai: 16:00 UTC the day before)."""
    r = heritage_api.get("/collections")
    assert r.status_code == 200, r.text
    docs = {c["id"]: c for c in r.json()["collections"]}
    assert docs["imagery_epochs"]["extent"]["temporal"]["interval"] == [["2009-08-17T16:00:00Z",
                                                                          "2020-08-30T16:00:00Z"]]
    assert heritage_api.get("/collections/imagery_epochs").status_code == 200
    found = heritage_api.get("/collections/imagery_epochs/items",
                             params={"datetime": "2009-01-01T00:00:00Z/2010-01-01T00:00:00Z"})
    assert found.status_code == 200
    assert [f["properties"]["acquired"] for f in found.json()["features"]] == ["2009-08-18"]


def test_bad_requests(heritage_api):
    assert heritage_api.get("/heritage/sites/nowhere/report").status_code == 404
    r = heritage_api.get("/heritage/sites/HD-NAIP/report", params={"from": "2020-01-01", "to": "2010-01-01"})
    assert r.status_code == 400 and r.json()["parameter"] == "from"
    assert heritage_api.get("/heritage/sites/HD-NAIP/report", params={"from": "yesterday"}).status_code == 400
    assert heritage_api.get("/heritage/imagery/1/tiles/WebMercatorQuad/3/9/9.png").status_code == 404
    assert heritage_api.get("/heritage/imagery/999/tiles/WebMercatorQuad/15/0/0.png").status_code == 404
    assert heritage_api.get("/heritage/imagery/1/tiles/WebMercatorQuad/15/0/0.gif").status_code in (404, 422, 400)
    listed = heritage_api.get("/heritage/sites").json()["sites"]
    assert {s["id"] for s in listed} >= set(CITIES) | {"HD-NAIP", "HD-LANDSAT"}
    assert heritage_api.get("/heritage/imagery", params={"site": "HD-NAIP"}).json()["epochs"][0]["pixel_m"] == 5.0


def test_the_detect_command_writes_and_stores_once(heritage_db, tmp_path):
    from click.testing import CliRunner

    from urbangis.api.cli import main

    out = tmp_path / "patches.geojson"
    args = ["heritage", "detect", "--before", str(NAIP[0]), "--after", str(NAIP[1]), "--site", "HD-NAIP",
            "--out", str(out), "--no-progress"]
    env = {"URBANGIS_DATABASE_URL": heritage_db}
    first = CliRunner().invoke(main, args, env=env)
    assert first.exit_code == 0, first.output
    features = json.loads(out.read_text("utf-8"))["features"]
    assert features and all({"class", "area_m2", "confidence"} <= set(f["properties"]) for f in features)
    run = re.search(r"run (\w+): ", first.output).group(1)
    with db.connect(heritage_db) as conn:
        n, epochs = conn.execute("SELECT count(*), count(*) FILTER (WHERE before_epoch IS NOT NULL AND after_epoch IS "
                                 "NOT NULL) FROM change_patches WHERE run = %s", (run,)).fetchone()
    assert n == len(features) == epochs
    again = CliRunner().invoke(main, args, env=env)
    assert again.exit_code == 0 and "already stored" in again.output
    wrong = CliRunner().invoke(main, [*args[:6], "--site", "nowhere", "--out", str(out), "--no-progress"], env=env)
    assert wrong.exit_code == 1 and "no heritage site 'nowhere'" in wrong.output


def test_footprints_compared_checked_and_stored(heritage_db, tmp_path):
    import geopandas as gpd
    from click.testing import CliRunner

    from urbangis.api.cli import main

    with db.connect(heritage_db) as conn:
        at = {k: conn.execute("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM protection_zones "
                              "WHERE id = %s) s", (f"HD-NAIP-{k}",)).fetchone()
              for k in ("core", "construction_control", "environmental_coordination")}

    def square(xy, dx=0.0, grow=1.0):  # about 15 m x 22 m at 47 N
        x, y = xy[0] + dx, xy[1]
        return shapely.box(x, y, x + 0.0002 * grow, y + 0.0002 * grow)

    core, control, env = at["core"], at["construction_control"], at["environmental_coordination"]
    before = gpd.GeoDataFrame({"height": [6.0, 10.0, 6.0, 5.0]}, crs="EPSG:4490", geometry=[
        square(core), square(control), square(env), square(core, dx=0.001)])
    after = gpd.GeoDataFrame({"height": [12.0, 10.0, 6.0, 7.0]}, crs="EPSG:4490", geometry=[
        square(core), square(control, grow=1.14), square(env), square(core, dx=-0.001)])
    before.to_file(tmp_path / "b.gpkg")
    after.to_file(tmp_path / "a.gpkg")
    out = tmp_path / "changes.geojson"
    args = ["heritage", "footprints", "--before", str(tmp_path / "b.gpkg"), "--after", str(tmp_path / "a.gpkg"),
            "--site", "HD-NAIP", "--before-date", "2015-06-01", "--after-date", "2024-06-01", "--out", str(out)]
    done = CliRunner().invoke(main, args, env={"URBANGIS_DATABASE_URL": heritage_db})
    assert done.exit_code == 0, done.output
    got = {(f["properties"]["status"], f["properties"]["zone_id"]): f["properties"]
           for f in json.loads(out.read_text("utf-8"))["features"]}
    assert set(got) == {("altered", "HD-NAIP-core"), ("altered", "HD-NAIP-construction_control"),
                        ("unchanged", "HD-NAIP-environmental_coordination"), ("demolished", "HD-NAIP-core"),
                        ("new", "HD-NAIP-core")}
    assert any("12 m high where the zone allows 9 m" in v for v in got[("altered", "HD-NAIP-core")]["violations"])
    grown = got[("altered", "HD-NAIP-construction_control")]
    assert 25 < grown["footprint_change_pct"] < 35 and any("footprint changed" in v for v in grown["violations"])
    assert got[("unchanged", "HD-NAIP-environmental_coordination")]["violations"] == []
    assert got[("demolished", "HD-NAIP-core")]["violations"] and got[("new", "HD-NAIP-core")]["violations"]
    run = re.search(r"run (\w+): ", done.output).group(1)
    with db.connect(heritage_db) as conn:
        stored = conn.execute("SELECT class, cardinality(violations) > 0, attrs->>'source' FROM change_patches "
                              "WHERE run = %s ORDER BY class", (run,)).fetchall()
    assert stored == [("alteration", True, "footprints"), ("alteration", True, "footprints"),
                      ("demolition", True, "footprints"), ("new_construction", True, "footprints")]
    again = CliRunner().invoke(main, args, env={"URBANGIS_DATABASE_URL": heritage_db})
    assert "already stored" in again.output
    other = CliRunner().invoke(main, [*args, "--height-tolerance", "4"], env={"URBANGIS_DATABASE_URL": heritage_db})
    assert other.exit_code == 0, other.output
    assert f"it supersedes run {run} in the report (4 patches, 0 reviewed, kept: ?run={run}); 0 review(s)" \
        in other.output


def test_a_missing_cog_is_said_not_a_500(heritage_api, heritage_db):
    with db.connect(heritage_db) as conn:
        epoch = conn.execute("INSERT INTO imagery_epochs (name, acquired, path, source, source_crs, bands, pixel_m, "
                             "width, height, geom) VALUES ('gone', '2021-01-01', 'gone.tif', 'gone.tif', 'EPSG:4326', "
                             "3, 1, 1, 1, ST_MakeEnvelope(0, 0, 1, 1, 4490)) RETURNING id").fetchone()[0]
        conn.commit()
    r = heritage_api.get(f"/heritage/imagery/{epoch}/tiles/WebMercatorQuad/15/0/0.png")
    assert r.status_code == 503 and "gone.tif is not in the imagery folder" in r.json()["description"]


def test_the_detect_command_refuses_images_of_other_places(tmp_path):
    from click.testing import CliRunner

    from urbangis.api.cli import main

    landsat = SAMPLES / "imagery" / "1985.tif"
    out = tmp_path / "p.geojson"
    apart = CliRunner().invoke(main, ["heritage", "detect", "--before", str(NAIP[0]), "--after", str(landsat),
                                      "--out", str(out), "--no-progress"])
    assert apart.exit_code == 1 and "do not overlap" in apart.output
    zones = CliRunner().invoke(main, ["heritage", "detect", "--before", str(NAIP[0]), "--after", str(NAIP[1]),
                                      "--zones", str(SAMPLES / "heritage" / "protection_zones.geojson"),
                                      "--out", str(out), "--no-progress"])
    assert zones.exit_code == 1 and "zones do not overlap" in zones.output
    assert not out.exists()
