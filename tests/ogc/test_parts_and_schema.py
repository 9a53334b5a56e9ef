"""What real clients need beside the features: a collection per geometry kind of a mixed one (QGIS
and GDAL type a layer from its first features and drop the other kinds), and the schema of the
features (OGC API - Features Part 5 ``/schema``; the ``describedBy`` feature schema Debian's GDAL
types its fields from, so an array of strings is a string list even when the first features hold
empty arrays)."""
from __future__ import annotations

import re
import subprocess

import pytest

from urbangis.layers.registry import RegistryError, load_registry, registry

GEOJSON = "application/geo+json"
PART_FORMATS = {"components_points": "geometry-point-or-multipoint",
                "components_lines": "geometry-linestring-or-multilinestring",
                "components_polygons": "geometry-polygon-or-multipolygon"}


def codes(fc: dict) -> list[str]:
    return [f["id"] for f in fc["features"]]


def sql_codes(dbconn, where: str = "TRUE") -> list[str]:
    return [r[0] for r in dbconn.execute(f"SELECT code FROM components WHERE {where} ORDER BY code")]


def test_the_registry_declares_parts_of_mixed_collections(tmp_path):
    reg = registry()
    assert reg["components"].parts == ("point", "line", "polygon")  # the contract's rule: any geometry
    assert reg["place_names"].parts == ("point", "polygon")  # areal or point
    part = reg["components_lines"]
    assert (part.part_of, part.geometry, part.dimension, part.table) == ("components", "line", 1, "components")
    assert part.fields == reg["components"].fields and part.family == "components"
    assert reg["roads"].parts == () and "roads_lines" not in reg
    # the parts follow their mixed collection, in registry order
    ids = list(reg)
    assert ids[ids.index("components") + 1:ids.index("components") + 4] == list(PART_FORMATS)

    def written(text: str) -> dict:
        path = tmp_path / "collections.yaml"
        path.write_text(text, encoding="utf-8")
        return load_registry(path)

    head = "collections:\n  components:\n    geometry: mixed\n"
    assert list(written(head + "    parts: []\n")) == ["components"]
    assert list(written(head + "    parts: [polygon]\n")) == ["components", "components_polygons"]
    with pytest.raises(RegistryError, match="parts must be a list of point, line, polygon"):
        written(head + "    parts: [surface]\n")
    with pytest.raises(RegistryError, match="parts are for a collection of geometry: mixed"):
        written("collections:\n  roads:\n    geometry: line\n    parts: [line]\n")
    with pytest.raises(RegistryError, match="'components_points' is declared twice"):
        written(head + "  components_points:\n    table: components\n    geometry: point\n")


def test_a_part_serves_its_kind_only(ogc, dbconn):
    listed = {c["id"]: c for c in ogc.get("/collections").json()["collections"]}
    assert set(PART_FORMATS) <= set(listed)
    everything = ogc.get("/collections/components/items").json()
    assert everything["numberMatched"] == 4 and codes(everything) == sql_codes(dbconn)
    for cid, dimension, kinds in (("components_points", 0, {"Point"}), ("components_lines", 1, {"LineString"}),
                                  ("components_polygons", 2, {"Polygon"})):
        fc = ogc.get(f"/collections/{cid}/items").json()
        assert codes(fc) == sql_codes(dbconn, f"ST_Dimension(geom) = {dimension}") != []
        assert {f["geometry"]["type"] for f in fc["features"]} == kinds
        assert fc["numberMatched"] == len(fc["features"]) == listed[cid]["itemCount"]
        # its extent is its own features'
        box = dbconn.execute(f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e "
                             f"FROM components WHERE ST_Dimension(geom) = {dimension}) s").fetchone()
        assert listed[cid]["extent"]["spatial"]["bbox"] == [[round(v, 7) for v in box]]
        queryables = ogc.get(f"/collections/{cid}/queryables").json()
        assert queryables["properties"]["geometry"]["format"] == PART_FORMATS[cid]
    # a feature of another kind is not in the part; filters combine with the kind
    assert ogc.get("/collections/components_lines/items/6501020101000001").status_code == 404
    assert ogc.get("/collections/components_points/items/6501020101000001").json()["id"] == "6501020101000001"
    some = ogc.get("/collections/components_points/items", params={"bbox": "87.605,43.775,87.615,43.785"}).json()
    assert codes(some) == ["6501020101000002"]
    filtered = ogc.get("/collections/components_polygons/items", params={"filter": "name = '井盖'"}).json()
    assert filtered["numberMatched"] == 0
    # a part without features is not listed (no empty layer to open in QGIS), yet it is served
    assert "place_names_points" not in listed and "place_names" in listed
    empty = ogc.get("/collections/place_names_points/items")
    assert empty.status_code == 200 and empty.json()["numberReturned"] == 0


def test_part_tiles_hold_their_kind(ogc):
    import mapbox_vector_tile
    import morecantile

    web = morecantile.tms.get("WebMercatorQuad")
    for cid, kind, (lon, lat) in (("components_points", "Point", (87.605, 43.78)),
                                  ("components_lines", "LineString", (87.605, 43.77)),
                                  ("components_polygons", "Polygon", (87.605, 43.7925))):
        t = web.tile(lon, lat, 14)
        tile = ogc.get(f"/collections/{cid}/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}")
        layer = mapbox_vector_tile.decode(tile.content)
        assert list(layer) == [cid] and {f["geometry"]["type"] for f in layer[cid]["features"]} == {kind}
        city = mapbox_vector_tile.decode(ogc.get(f"/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}").content)
        assert cid in city and "components" not in city  # the city tileset carries parts, not the mixed layer
        assert {f["geometry"]["type"] for f in city[cid]["features"]} == {kind}
    selected = ogc.get("/tiles/WebMercatorQuad/tilejson.json", params={"collections": "components"}).json()
    assert [v["id"] for v in selected["vector_layers"]] == list(PART_FORMATS)


def test_schema_and_feature_schema(ogc):
    doc = ogc.get("/collections/roads").json()
    rels = {link["rel"]: link for link in doc["links"]}
    part5 = rels["http://www.opengis.net/def/rel/ogc/1.0/schema"]
    described = rels["describedBy"]  # GDAL 3.6 looks for this spelling (RFC 8288: case-insensitive)
    assert part5["type"] == described["type"] == "application/schema+json"
    r = ogc.get("/collections/roads/schema")
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    schema = r.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema" and schema["type"] == "object"
    props = schema["properties"]
    assert props["aliases"] == {"title": "aliases", "type": "array", "items": {"type": "string"}}
    assert props["id"]["x-ogc-role"] == "id" and props["geometry"]["x-ogc-role"] == "primary-geometry"
    assert props["left_from"]["type"] == "integer"
    assert "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas" in ogc.get("/conformance").json()[
        "conformsTo"]
    feature = ogc.get(described["href"].split("://", 1)[1].split("/", 1)[1]).json()
    assert feature["properties"]["type"]["enum"] == ["Feature"]
    assert feature["properties"]["properties"]["properties"]["aliases"]["items"] == {"type": "string"}
    assert "geometry" not in feature["properties"]["properties"]["properties"]
    cases = ogc.get("/collections/cases/schema").json()["properties"]
    assert cases["reported_at"] == {"title": "reported_at", "type": "string", "format": "date-time",
                                    "x-ogc-role": "primary-instant"}
    html = ogc.get("/collections/roads/schema", params={"f": "html"})
    assert html.status_code == 200 and "aliases" in html.text
    assert ogc.get("/collections/nowhere/schema").status_code == 404


def ogrinfo(*args: str, quiet: bool = True) -> str:
    out = subprocess.run(["ogrinfo", "-ro", *(["-q"] if quiet else []), *args], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_debian_gdal_reads_string_lists_and_parts(ogc_server):
    # pages of 1: the first page holds R1 alone, whose aliases are [] (GDAL would type them JSON)
    text = ogrinfo("-oo", "PAGE_SIZE=1", f"OAPIF:{ogc_server}", "roads", "-where", "id = 'R2'")
    assert "aliases (StringList) = (2:人民路东段,人民东路)" in text, text
    first = ogrinfo("-oo", "PAGE_SIZE=1", f"OAPIF:{ogc_server}", "roads", "-where", "id = 'R1'")
    assert "aliases (StringList) = (0:)" in first or "aliases (StringList) = (null)" in first, first
    # without the schema, what GDAL makes of the same pages
    guessed = ogrinfo("-oo", "PAGE_SIZE=1", "-oo", "IGNORE_SCHEMA=YES", f"OAPIF:{ogc_server}", "roads",
                      "-where", "id = 'R2'")
    assert "aliases (String(JSON))" in guessed
    for cid, kind, n in (("components_points", "Point", 2), ("components_lines", "Line String", 1),
                         ("components_polygons", "Polygon", 1)):
        summary = ogrinfo("-so", f"OAPIF:{ogc_server}", cid, quiet=False)
        assert f"Geometry: {kind}" in summary and f"Feature Count: {n}" in summary, summary
        features = ogrinfo(f"OAPIF:{ogc_server}", cid)
        assert len(re.findall(r"^OGRFeature", features, re.M)) == n


def test_a_thinned_mixed_tile_keeps_its_points(ogc_db):
    """A tile over the size budget drops lines and polygons smaller than a few pixels; the points of
    a mixed layer, which have no size, stay (thinned by the feature limit alone)."""
    import mapbox_vector_tile
    import morecantile

    from urbangis.layers import database as db
    from urbangis.layers.registry import registry
    from urbangis.tiles.tilesets import TileService, collection_tileset, tile_conninfo

    web = morecantile.tms.get("WebMercatorQuad")
    pool = db.make_pool(tile_conninfo(ogc_db), max_size=1)
    try:
        pool.wait()

        def kinds(lat: float, budget: int) -> list[str]:  # budget 1 byte: every thinning level is tried
            t = web.tile(87.61, lat, 14)
            service = TileService(pool, None, db.database_name(ogc_db), max_bytes=budget)
            tile = service.render(collection_tileset(registry()["components"]), "WebMercatorQuad", t.z, t.x, t.y)
            layer = mapbox_vector_tile.decode(tile).get("components", {"features": []})
            return sorted(f["geometry"]["type"] for f in layer["features"])

        assert kinds(43.78, 0) == kinds(43.78, 1) == ["Point"]  # the point stays
        assert kinds(43.77, 0) == ["LineString"] and kinds(43.77, 1) == []  # an 800 m line: under 128 px at z14
    finally:
        pool.close()
