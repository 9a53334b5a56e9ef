"""OGC API - Tiles over HTTP: tile matrix sets, tilesets, tiles (gzip, ETag, 304), TileJSON,
the MapLibre style (checked by MapLibre's own validator) and the errors."""
from __future__ import annotations

import json
import subprocess

import mapbox_vector_tile
import morecantile
import pytest

from tests.paths import ROOT
from urbangis.layers.registry import registry

from .conftest import CENTRE, N_CASES

MVT = "application/vnd.mapbox-vector-tile"
WEB = morecantile.tms.get("WebMercatorQuad")
STYLE_VALIDATOR = (ROOT / "web" / "node_modules" / "@maplibre" / "maplibre-gl-style-spec" / "dist"
                   / "gl-style-validate.mjs")


def tile_path(z: int, lon: float = CENTRE[0], lat: float = CENTRE[1]) -> str:
    t = WEB.tile(lon, lat, z)
    return f"{t.z}/{t.y}/{t.x}"


def decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body)


def test_tile_matrix_sets(tiles_client):
    body = tiles_client.get("/tileMatrixSets").json()
    assert [t["id"] for t in body["tileMatrixSets"]] == ["WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"]
    web = tiles_client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert web["crs"].endswith("EPSG/0/3857") and len(web["tileMatrices"]) == 25
    missing = tiles_client.get("/tileMatrixSets/GoogleMapsCompatible")
    assert missing.status_code == 404 and "available: WebMercatorQuad" in missing.json()["description"]


def test_collection_tilesets_and_tileset(tiles_client):
    sets = tiles_client.get("/collections/cases/tiles").json()["tilesets"]
    assert len(sets) == 3 and all(s["dataType"] == "vector" for s in sets)
    item = next(link for link in sets[0]["links"] if link["rel"] == "item")
    assert item["templated"]
    assert item["href"].endswith("/collections/cases/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}")
    doc = tiles_client.get("/collections/cases/tiles/WebMercatorQuad").json()
    assert doc["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    assert doc["layers"] == [
        {**doc["layers"][0], "id": "cases", "geometryDimension": 0, "minTileMatrix": "10", "maxTileMatrix": "22"}
    ]


def test_city_tileset_lists_every_collection(tiles_client):
    doc = tiles_client.get("/tiles/WebMercatorQuad").json()
    # a mixed collection comes as its parts, a layer per geometry kind
    assert [layer["id"] for layer in doc["layers"]] == [c.id for c in registry().values() if not c.parts]
    assert {"components_points", "components_lines", "components_polygons"} <= {layer["id"] for layer in doc["layers"]}
    assert len(tiles_client.get("/tiles").json()["tilesets"]) == 3


def test_tile_gzip_and_identity_are_the_same_tile(tiles_client):
    url = f"/collections/cases/tiles/WebMercatorQuad/{tile_path(10)}"
    zipped = tiles_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.status_code == 200 and zipped.headers["content-type"] == MVT
    assert zipped.headers["content-encoding"] == "gzip"
    plain = tiles_client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    # httpx decodes the gzipped body, so both are the raw tile
    assert zipped.content == plain.content
    assert int(zipped.headers["content-length"]) < len(plain.content)  # it was compressed on the wire
    assert len(decode(plain.content)["cases"]["features"]) == N_CASES
    assert zipped.headers["cache-control"].startswith("public, max-age=")
    assert zipped.headers["vary"] == "Accept-Encoding"


def test_city_tile_and_collection_selection(tiles_client):
    city = decode(tiles_client.get(f"/tiles/WebMercatorQuad/{tile_path(12)}").content)
    assert {"admin_areas", "cases", "roads"} <= set(city)
    some = decode(tiles_client.get(f"/tiles/WebMercatorQuad/{tile_path(12)}?collections=cases,roads").content)
    assert set(some) == {"cases", "roads"}
    bad = tiles_client.get(f"/tiles/WebMercatorQuad/{tile_path(12)}?collections=cases,nope")
    assert bad.status_code == 400 and "unknown collection(s) nope" in bad.json()["description"]


def test_other_tile_matrix_sets_serve_tiles(tiles_client):
    for tms_id in ("WorldCRS84Quad", "CGCS2000Quad"):
        t = morecantile.tms.get("WorldCRS84Quad").tile(CENTRE[0], CENTRE[1], 12)
        r = tiles_client.get(f"/tiles/{tms_id}/{t.z}/{t.y}/{t.x}")
        assert r.status_code == 200, r.text
        assert len(decode(r.content)["cases"]["features"]) > 0


def test_empty_tile_is_204(tiles_client):
    r = tiles_client.get("/tiles/WebMercatorQuad/12/0/0")  # the Arctic Ocean off Alaska
    assert r.status_code == 204 and r.content == b""


def test_etag_and_not_modified(tiles_client):
    url = f"/tiles/WebMercatorQuad/{tile_path(13)}"
    first = tiles_client.get(url)
    etag = first.headers["etag"]
    again = tiles_client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert tiles_client.get(url, headers={"If-None-Match": 'W/"stale"'}).status_code == 200
    other = tiles_client.get(f"/tiles/WebMercatorQuad/{tile_path(14)}")
    assert other.headers["etag"] != etag


@pytest.mark.parametrize(
    "path, status, words",
    [
        ("/tiles/WebMercatorQuad/25/0/0", 404, "zoom 25 is outside WebMercatorQuad"),
        ("/tiles/WebMercatorQuad/3/0/8", 404, "column (x) 8 is outside WebMercatorQuad zoom 3 (0..7)"),
        ("/tiles/WebMercatorQuad/3/-1/0", 404, "row (y) -1 is outside"),
        ("/tiles/WebMercatorQuad/99999999999999999999/0/0", 404, "outside WebMercatorQuad"),
        ("/tiles/Mercator/3/0/0", 404, "unknown tile matrix set 'Mercator'"),
        ("/collections/nope/tiles/WebMercatorQuad/3/0/0", 404, "unknown collection 'nope'"),
        ("/collections/nope/tiles", 404, "unknown collection 'nope'"),
        ("/collections/cases/tiles/Mercator", 404, "unknown tile matrix set"),
        ("/tiles/WebMercatorQuad/3/zero/0", 400, "tileRow"),
        ("/tiles/WorldCRS84Quad/tilejson.json", 400, "TileJSON describes Web Mercator tiles only"),
        ("/styles/night/style.json", 404, "unknown style 'night'"),
    ],
)
def test_bad_requests_get_a_clear_4xx(tiles_client, path, status, words):
    r = tiles_client.get(path)
    assert r.status_code == status, r.text
    assert words in r.json()["description"]


def test_tilejson(tiles_client):
    doc = tiles_client.get("/tiles/WebMercatorQuad/tilejson.json").json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"][0].endswith("/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert [v["id"] for v in doc["vector_layers"]] == [c.id for c in registry().values() if not c.parts]
    w, s, e, n = doc["bounds"]
    assert w <= CENTRE[0] <= e and s <= CENTRE[1] <= n
    lon, lat, zoom = doc["center"]
    assert abs(lon - CENTRE[0]) < 0.01 and abs(lat - CENTRE[1]) < 0.01  # the configured old town
    assert zoom == 13
    cases = tiles_client.get("/collections/cases/tiles/WebMercatorQuad/tilejson.json").json()
    assert cases["minzoom"] == 10 and [v["id"] for v in cases["vector_layers"]] == ["cases"]
    # the tile URL template of the TileJSON serves the tile
    url = cases["tiles"][0].replace("{z}/{y}/{x}", tile_path(10)).split("/collections/", 1)[1]
    assert tiles_client.get("/collections/" + url).status_code == 200


def test_style_is_valid_for_maplibre(tiles_client, tmp_path):
    r = tiles_client.get("/styles/city/style.json")
    assert r.headers["content-type"] == "application/vnd.mapbox.style+json"
    style = r.json()
    assert style["sources"]["city"]["url"].endswith("/tiles/WebMercatorQuad/tilejson.json")
    drawn = {layer["source-layer"] for layer in style["layers"] if "source-layer" in layer}
    assert drawn == {c.id for c in registry().values() if not c.parts}
    # no filter on the geometry type (QGIS' style converter makes it a filter that never matches):
    # a mixed collection is drawn from its parts, each by one kind of style layer
    assert not any("filter" in layer for layer in style["layers"])
    kinds = {"components_points": "circle", "components_lines": "line", "components_polygons": "fill"}
    for layer in style["layers"]:
        if layer.get("source-layer") in kinds:
            assert layer["type"] in (kinds[layer["source-layer"]], "line")  # (a fill's outline is a line)
            assert layer["metadata"]["urbangis:collection"] == "components"  # switched with the mixed one
    assert set(style["metadata"]["urbangis:groups"]) == {c.group for c in registry().values()}
    groups = style["metadata"]["urbangis:groups"]
    assert groups["components"] == ["components"] and "place_names" in groups["addresses"]
    assert style["metadata"]["urbangis:titles"]["components"] == registry()["components"].title
    # admin areas stop at z16 in tiles: their own source, which MapLibre overzooms past 16
    admin = next(layer for layer in style["layers"] if layer.get("source-layer") == "admin_areas")
    url = style["sources"][admin["source"]]["url"]
    assert admin["source"] != "city" and url.endswith("/tiles/WebMercatorQuad/tilejson.json?collections=admin_areas")
    tj = tiles_client.get(url.split("://", 1)[1].split("/", 1)[1]).json()
    assert tj["maxzoom"] == 16 and tj["tiles"][0].endswith("{z}/{y}/{x}?collections=admin_areas")
    path = tmp_path / "style.json"
    path.write_text(json.dumps(style))
    # MapLibre's own style validator (from web/node_modules, installed by `make web`)
    check = subprocess.run(["node", str(STYLE_VALIDATOR), str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_conformance_and_landing_page(tiles_client):
    conformance = tiles_client.app.state.services.doors.conformance
    for cls in ("core", "tileset", "tilesets-list", "geodata-tilesets", "dataset-tilesets", "mvt"):
        assert f"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{cls}" in conformance
    hrefs = {link["href"].split("://", 1)[1].split("/", 1)[1] for link in tiles_client.get("/").json()["links"]}
    assert {"tileMatrixSets", "tiles", "styles", "map"} <= hrefs


def test_gzip_of_a_gzipped_tile_is_not_doubled(tiles_client):
    raw = tiles_client.get(f"/tiles/WebMercatorQuad/{tile_path(10)}", headers={"Accept-Encoding": "gzip"})
    # httpx undid exactly one layer of gzip: what is left is an MVT, not another gzip stream
    assert raw.content[:2] != b"\x1f\x8b" and decode(raw.content)


def test_tile_connections_plan_for_limited_index_probes(tiles_client):
    tiles_client.get(f"/tiles/WebMercatorQuad/{tile_path(12)}")
    with tiles_client.app.state.services.tiles.pool.connection() as conn:
        assert conn.execute("SHOW enable_bitmapscan").fetchone()[0] == "off"
    with tiles_client.app.state.services.pool.connection() as conn:  # the app's own pool is untouched
        assert conn.execute("SHOW enable_bitmapscan").fetchone()[0] == "on"


def test_opening_view_configured_or_from_the_data():
    from urbangis.layers.registry import MapView
    from urbangis.tiles import tilejson as tjlib
    from urbangis.tiles.tilesets import city_tileset

    ts = city_tileset()
    extents = {"a": [87.0, 43.0, 88.0, 44.0], "b": [87.4, 43.6, 87.8, 44.0], "c": [80.0, 35.0, 96.0, 49.0]}
    assert tjlib.opening(ts, extents, MapView()) == ([87.6, 43.5], tjlib.default_zoom(ts))  # median of centres
    assert tjlib.opening(ts, extents, MapView(center=(87.617, 43.795), zoom=13)) == ([87.617, 43.795], 13)
    assert tjlib.opening(ts, extents, MapView(zoom=30))[1] == ts.maxzoom  # clamped into the tileset


def test_style_fill_opacity_from_the_registry(tiles_client):
    layers = {layer["id"]: layer for layer in tiles_client.get("/styles/city/style.json").json()["layers"]}
    assert layers["admin_areas-fill"]["paint"]["fill-opacity"] == registry()["admin_areas"].fill_opacity == 0
    assert layers["unit_grids-fill"]["paint"]["fill-opacity"] == registry()["unit_grids"].fill_opacity > 0


def test_a_byte_range_of_a_tile(tiles_client):
    url = f"/collections/cases/tiles/WebMercatorQuad/{tile_path(10)}"
    plain = {"Accept-Encoding": "identity"}
    whole = tiles_client.get(url, headers=plain)
    assert whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    part = tiles_client.get(url, headers={**plain, "Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == whole.content[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{size}"
    tail = tiles_client.get(url, headers={**plain, "Range": "bytes=-20"})
    assert tail.status_code == 206 and tail.content == whole.content[-20:]
    past = tiles_client.get(url, headers={**plain, "Range": f"bytes={size}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    # several ranges, or an If-Range our weak ETag cannot satisfy: the whole tile
    assert tiles_client.get(url, headers={**plain, "Range": "bytes=0-1,5-6"}).content == whole.content
    stale = tiles_client.get(url, headers={**plain, "Range": "bytes=0-9", "If-Range": whole.headers["etag"]})
    assert stale.status_code == 200 and stale.content == whole.content
    # the range of the gzipped tile is of its gzip bytes (the representation sent)
    zipped = tiles_client.get(url, headers={"Accept-Encoding": "gzip", "Range": "bytes=0-1"})
    assert zipped.status_code == 206 and zipped.headers["content-encoding"] == "gzip"
    assert "vary" in zipped.headers and zipped.headers["vary"] == "Accept-Encoding"


def test_plain_tile_says_vary_once(tiles_client):
    r = tiles_client.get(f"/tiles/WebMercatorQuad/{tile_path(10)}", headers={"Accept-Encoding": "identity"})
    assert r.headers.get_list("vary") == ["Accept-Encoding"]


def test_tile_matrix_set_in_both_encodings(tiles_client):
    import morecantile

    for tms_id in ("WebMercatorQuad", "WorldCRS84Quad", "CGCS2000Quad"):
        v2 = tiles_client.get(f"/tileMatrixSets/{tms_id}").json()
        assert morecantile.TileMatrixSet.model_validate({k: v for k, v in v2.items() if k != "links"})
        v1 = tiles_client.get(f"/tileMatrixSets/{tms_id}", params={"encoding": "1.0"}).json()
        assert v1["type"] == "TileMatrixSetType" and v1["identifier"] == tms_id
        assert v1["supportedCRS"] == v2["crs"]
        assert [(m["identifier"], m["topLeftCorner"], m["matrixWidth"]) for m in v1["tileMatrix"]] == [
            (m["id"], m["pointOfOrigin"], m["matrixWidth"]) for m in v2["tileMatrices"]]
    bad = tiles_client.get("/tileMatrixSets/WebMercatorQuad", params={"encoding": "3.0"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["parameter"] == "encoding"
    # a tileset links both; GDAL takes the last tiling-scheme link
    links = tiles_client.get("/collections/cases/tiles/WebMercatorQuad").json()["links"]
    schemes = [link["href"] for link in links if link["rel"].endswith("/tiling-scheme")]
    assert schemes[0].endswith("/tileMatrixSets/WebMercatorQuad") and schemes[-1].endswith("?encoding=1.0")


def test_debian_gdal_reads_the_tile_matrix_set(tiles_server, tmp_path):
    """Debian's GDAL 3.6 parses the 1.0 encoding (the 2.0 one: 'Invalid tiling matrix set name'):
    a COG cut on our CGCS2000Quad grid, longitude first, as data staff would make imagery for it."""
    import re

    src, out = tmp_path / "src.tif", tmp_path / "cog.tif"
    made = subprocess.run(["gdal_create", "-of", "GTiff", "-outsize", "10", "10", "-bands", "1", "-a_srs",
                           "EPSG:4490", "-a_ullr", "87.5", "43.9", "87.7", "43.7", str(src)],
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    for encoding, ok in (("1.0", True), ("2.0", False)):
        url = f"{tiles_server}/tileMatrixSets/CGCS2000Quad?encoding={encoding}"
        target = out if ok else tmp_path / "refused.tif"
        done = subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", f"TILING_SCHEME={url}", str(src),
                               str(target)], capture_output=True, text=True, timeout=60)
        assert (done.returncode == 0) == ok, done.stderr
    info = subprocess.run(["gdalinfo", str(out)], capture_output=True, text=True, timeout=60).stdout
    west, north = (float(v) for v in re.search(r"Origin = \(([-\d.]+),([-\d.]+)\)", info).groups())
    pixel = float(re.search(r"Pixel Size = \(([-\d.]+),", info).group(1))
    tile = pixel * 256  # CGCS2000Quad: 180 / 2**z degrees a tile, counted from -180 east and 90 south
    assert abs(180 / tile - round(180 / tile)) < 1e-9
    # the image's corner lies in the first tile, counted from longitude -180 (not latitude 90)
    k, m = (west + 180) / tile, (90 - north) / tile
    assert abs(k - round(k)) < 1e-6 and abs(m - round(m)) < 1e-6, (west, north, tile)
    assert west <= 87.5 < west + tile and north - tile < 43.9 <= north, (west, north, tile)
