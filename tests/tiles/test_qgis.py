"""QGIS 3.22 (Debian's ``python3-qgis``, headless) draws the city's vector tiles with the
server's MapLibre style, converted by QGIS' own converter: every layer that has features in view
puts pixels on the map (the style's geometry-type filters once made five layers draw nothing).
The whole map is kept as test-output/qgis-city.png."""
from __future__ import annotations

import httpx

from tests.qgis_client import run
from urbangis.layers.registry import registry

RENDER = """
import urllib.request
from qgis.core import (QgsVectorTileLayer, QgsMapSettings, QgsMapRendererSequentialJob, QgsRectangle,
                       QgsCoordinateReferenceSystem, QgsMapBoxGlStyleConverter, QgsCoordinateTransform,
                       QgsProject, QgsPointXY)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
base, out, lon, lat = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
style = json.load(urllib.request.urlopen(base + "/styles/city/style.json"))
conv = QgsMapBoxGlStyleConverter()
conv.convert(style)
renderer = conv.renderer()
layer = QgsVectorTileLayer(f"type=xyz&url={base}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}&zmin=0&zmax=22", "city")
merc, wgs = QgsCoordinateReferenceSystem("EPSG:3857"), QgsCoordinateReferenceSystem("EPSG:4326")
to_merc = QgsCoordinateTransform(wgs, merc, QgsProject.instance())
c = to_merc.transform(QgsPointXY(lon, lat))
size, res = (1024, 768), 2.3887  # metres a pixel at zoom 16
ext = QgsRectangle(c.x() - size[0] / 2 * res, c.y() - size[1] / 2 * res, c.x() + size[0] / 2 * res,
                   c.y() + size[1] / 2 * res)
box = to_merc.transformBoundingBox(ext, QgsCoordinateTransform.ReverseTransform)
WHITE = QColor(255, 255, 255).rgb()

def drawn(styles, path=None):
    r = renderer.clone()
    r.setStyles(styles)
    layer.setRenderer(r)
    ms = QgsMapSettings()
    ms.setLayers([layer]); ms.setDestinationCrs(merc); ms.setExtent(ext)
    ms.setOutputSize(QSize(*size)); ms.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(ms)
    job.start(); job.waitForFinished()
    img = job.renderedImage()
    if path:
        img.save(path)
    return sum(img.pixel(x, y) != WHITE for y in range(0, img.height(), 2) for x in range(0, img.width(), 2))

styles = renderer.styles()
pixels = {name: drawn([s for s in styles if s.layerName() == name]) for name in {s.layerName() for s in styles}}
print(json.dumps({"valid": layer.isValid(), "warnings": conv.warnings(), "all": drawn(styles, out),
                  "filters": [s.filterExpression() for s in styles if s.filterExpression()],
                  "pixels": pixels, "bbox": [box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum()]}))
"""


def test_qgis_draws_every_layer_of_the_style(live_server, output_dir):
    out = output_dir / "qgis-city.png"
    got = run(RENDER, live_server, str(out), "87.617", "43.795")
    assert got["valid"] and got["warnings"] == [] and got["filters"] == []
    assert out.stat().st_size > 10_000 and got["all"] > 0
    bbox = ",".join(f"{v:.6f}" for v in got["bbox"])
    layers = [c for c in registry().values() if not c.parts]  # the city tileset's layers
    in_view = [c.id for c in layers
               if httpx.get(f"{live_server}/collections/{c.id}/items", params={"bbox": bbox, "limit": 1},
                            timeout=60).json()["numberReturned"] > 0]
    # the sample city has features in view in most layers, parts of mixed collections among them
    assert len(in_view) >= 15 and {"components_lines", "components_polygons", "place_names_polygons"} <= set(in_view)
    blank = [cid for cid in in_view if got["pixels"].get(cid, 0) == 0]
    assert blank == [], (blank, got["pixels"])
    assert got["pixels"]["background"] > 0  # QGIS 3.22 draws the style's background layer too
