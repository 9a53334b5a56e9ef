"""HEAD answers what GET answers, without the body, on every GET route; a path without GET still
refuses it. Through a real uvicorn (which must not send a body after a HEAD) and GDAL's /vsicurl/,
which asks HEAD before it reads a file."""
from __future__ import annotations

import subprocess

import httpx


def test_head_is_get_without_the_body(live_server):
    tile = "/collections/roads/tiles/WebMercatorQuad/14/5970/12179"  # 解放北路
    for path in ("/collections", "/collections/roads/items?limit=3", tile, "/styles/city/style.json", "/openapi.json"):
        got = httpx.get(live_server + path, headers={"Accept-Encoding": "identity"})
        head = httpx.head(live_server + path, headers={"Accept-Encoding": "identity"})
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        assert int(head.headers["content-length"]) == len(got.content), path
    # a path with no GET route is refused for HEAD as for GET
    assert httpx.head(live_server + "/supervisors/fixes").status_code == 405
    assert httpx.head(live_server + "/collections/nowhere").status_code == 404


def test_gdal_vsicurl_reads_a_tile(live_server):
    # GDAL's MVT driver knows a tile by its name: .pbf, .mvt or "mvt" in it (f=mvt; the server ignores f on a tile)
    url = f"{live_server}/collections/roads/tiles/WebMercatorQuad/14/5970/12179?f=mvt"
    # /vsicurl/ asks HEAD for the size (a 405 made it give up), then reads; Debian's ogrinfo opens
    # the tile it read as MVT
    info = subprocess.run(["ogrinfo", "-ro", "-so", "-al", f"/vsicurl/{url}"], capture_output=True, text=True,
                          timeout=60)
    assert info.returncode == 0, info.stderr
    assert "Layer name: roads" in info.stdout
