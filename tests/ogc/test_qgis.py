"""QGIS 3.22 (Debian's ``python3-qgis``, headless) on the OGC API, as a GIS analyst adds layers:
a collection opens with its title and every feature, a mixed collection's parts each hold all of
their kind, and an array field reads as a string list."""
from __future__ import annotations

from tests.qgis_client import run

READ = """
from qgis.core import QgsVectorLayer, QgsWkbTypes
base = sys.argv[1]
out = {}
for cid in ("roads", "components", "components_points", "components_lines", "components_polygons"):
    layer = QgsVectorLayer(f"url='{base}' typename='{cid}' pagingEnabled='true'", cid, "OAPIF")
    feats = list(layer.getFeatures()) if layer.isValid() else []
    title = layer.dataProvider().layerMetadata().title() if layer.isValid() else None
    out[cid] = {"valid": layer.isValid(), "title": title,
                "count": layer.featureCount(), "read": len(feats),
                "layer_type": QgsWkbTypes.geometryDisplayString(layer.geometryType()),
                "kinds": sorted({QgsWkbTypes.geometryDisplayString(f.geometry().type()) for f in feats})}
# an array field: through the GDAL source (OGR provider, GDAL's OAPIF driver), which reads the
# collection's describedBy schema
roads = QgsVectorLayer(f"OAPIF:{base}|layername=roads", "roads", "ogr")
field = roads.fields().field("aliases")
out["aliases"] = {"valid": roads.isValid(), "type": field.typeName(),
                  "values": {f["id"]: f["aliases"] for f in roads.getFeatures()}}
print(json.dumps(out, ensure_ascii=False))
"""


def test_qgis_opens_collections_parts_and_string_lists(ogc_server, dbconn):
    got = run(READ, ogc_server)
    roads = got["roads"]
    assert roads["valid"] and roads["count"] == roads["read"] == 3 and roads["kinds"] == ["Line"]
    # the mixed collection: QGIS types the layer from its first feature (a point), so its lines and
    # polygons are read but never drawn by a point layer's symbols; which is why the parts exist
    mixed = got["components"]
    assert mixed["layer_type"] == "Point" and mixed["kinds"] == ["Line", "Point", "Polygon"]
    expected = {"components_points": (2, "Point"), "components_lines": (1, "Line"),
                "components_polygons": (1, "Polygon")}
    for cid, (n, kind) in expected.items():
        part = got[cid]
        assert part["valid"] and part["count"] == part["read"] == n, (cid, part)
        assert part["kinds"] == [kind] and part["layer_type"] == kind, (cid, part)
    assert got["components_lines"]["title"].startswith("部件 City components")
    aliases = got["aliases"]
    assert aliases["valid"] and aliases["type"] == "StringList"
    stored = {r[0]: list(r[1]) for r in dbconn.execute("SELECT id, aliases FROM roads")}
    assert aliases["values"] == stored and stored["R2"] == ["人民路东段", "人民东路"]
