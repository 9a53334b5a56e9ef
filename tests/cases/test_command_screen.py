"""The command screen (the map page's case panel) in Debian's headless Chromium: a cluster map by
default whose clusters list their cases when clicked, heat, glow, hexagons, points and flows, the
filters, the ranking coloured on the map, the address search. Screenshots are kept in
test-output/; no request leaves the server."""
from __future__ import annotations

import httpx
import pytest

from tests.browser import new_page

CENTRE = "13/43.80/87.60"


@pytest.fixture()
def page(browser, live_server):
    pg = new_page(browser, live_server)
    yield pg
    pg.close()


def open_screen(page, server: str, where: str = CENTRE) -> None:
    page.goto(f"{server}/map#{where}")
    page.wait_for_function("window.caseState && window.caseState.ready === true", timeout=60_000)
    idle(page)


def idle(page) -> None:
    page.evaluate("window.mapIdle = false; window.urbangisMap.triggerRepaint()")
    page.wait_for_function("window.mapIdle === true && window.urbangisMap.loaded()", timeout=60_000)


def rendered(page, layer: str) -> list[dict]:
    return page.evaluate(f"window.urbangisMap.getLayer('{layer}') ? window.urbangisMap.queryRenderedFeatures("
                         f"{{layers: ['{layer}']}}).map(f => f.properties) : []")


def mode(page, name: str) -> None:
    page.check(f'input[name="mode"][value="{name}"]')
    idle(page)


def test_clusters_by_default_and_a_click_lists_their_cases(page, live_server, output_dir):
    open_screen(page, live_server)
    clusters = rendered(page, "cases-clusters")
    assert clusters and page.evaluate("window.caseState.labels") > 0
    page.screenshot(path=str(output_dir / "command-clusters.png"))
    # click the biggest cluster not under a panel: its cases are listed, as many as it counts
    big, point = page.evaluate("""(() => {
        const m = window.urbangisMap;
        const free = m.queryRenderedFeatures({layers: ['cases-clusters']}).map(f => [f.properties,
            m.project(f.geometry.coordinates)]).filter(([p, xy]) =>
            document.elementFromPoint(xy.x, xy.y) === m.getCanvas());
        free.sort((a, b) => b[0].count - a[0].count);
        return [free[0][0], {x: free[0][1].x, y: free[0][1].y}];
    })()""")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function("window.caseState.listed !== null", timeout=30_000)
    listed = page.evaluate("window.caseState.listed")
    assert listed["matched"] == big["count"] and listed["shown"] == min(50, big["count"])
    assert page.locator("#case-list table tr").count() == listed["shown"] + 1
    page.screenshot(path=str(output_dir / "command-list.png"))
    assert page.evaluate("window.caseState.errors") == [] and page.evaluate("window.mapErrors") == []
    assert page.outside_requests == []


@pytest.mark.parametrize("name,layer", [("heat", "cases-heat"), ("glow", "cases-heat"), ("hex", "cases-bins"),
                                        ("square", "cases-bins"), ("flows", "cases-flows")])
def test_each_map_mode_draws(page, live_server, output_dir, name, layer):
    open_screen(page, live_server, "11/43.82/87.60" if name == "flows" else CENTRE)
    mode(page, name)
    if layer == "cases-heat":  # a raster: its tiles loaded, opaque pixels on the canvas
        assert page.evaluate("window.urbangisMap.getSource('cases-raster').loaded()")
    else:
        assert rendered(page, layer)
    page.screenshot(path=str(output_dir / f"command-{name}.png"))
    assert page.evaluate("window.caseState.errors") == [] and page.outside_requests == []


def test_points_at_a_close_zoom(page, live_server):
    open_screen(page, live_server, "15/43.80/87.60")
    mode(page, "points")
    page.wait_for_function("window.urbangisMap.querySourceFeatures('cases-geo').length > 0", timeout=30_000)
    idle(page)
    assert rendered(page, "cases-points")


def test_filters_change_what_is_counted(page, live_server):
    open_screen(page, live_server)
    everything = page.evaluate("window.caseState.total")
    page.select_option("#f-status", "closed")
    page.wait_for_function(f"window.caseState.total !== {everything}", timeout=30_000)
    closed = httpx.get(f"{live_server}/cases/stats", params={"by": "district", "status": "closed",
                                                             "geometry": "false"}).json()["total"]
    assert page.evaluate("window.caseState.total") == closed < everything
    idle(page)
    # the tiles now ask for closed cases only
    tiles = page.evaluate("window.urbangisMap.getSource('cases-agg').tiles[0]")
    assert "status=closed" in tiles and "bins=cluster" in tiles


def test_the_ranking_colours_the_areas(page, live_server, output_dir):
    open_screen(page, live_server, "10/43.85/87.60")
    page.select_option("#rank-by", "district")
    page.click("#rank-go")
    page.wait_for_function("window.caseState.ranking !== null", timeout=30_000)
    idle(page)
    ranking = page.evaluate("window.caseState.ranking")
    truth = httpx.get(f"{live_server}/cases/stats", params={"by": "district", "geometry": "false"}).json()
    assert ranking["top"] == [[f["id"], f["properties"]["total"]] for f in truth["features"][:10]]
    assert rendered(page, "cases-rank") and page.locator("#rank-list li").count() == len(ranking["top"])
    page.screenshot(path=str(output_dir / "command-ranking.png"))


def test_the_address_search_flies_there(page, live_server):
    open_screen(page, live_server)
    page.fill("#address", "天山区")
    page.wait_for_function("document.querySelectorAll('#address-list option').length > 0", timeout=30_000)
    page.press("#address", "Enter")
    page.wait_for_function("window.caseState.flownTo !== undefined", timeout=30_000)
    centre = page.evaluate("window.urbangisMap.getCenter().toArray()")
    suggestion = httpx.get(f"{live_server}/geocode/suggest", params={"q": "天山区"}).json()["suggestions"]
    target = next(s for s in suggestion if s["text"] == page.evaluate("window.caseState.flownTo"))
    assert abs(centre[0] - target["coordinates"][0]) < 1e-4 and abs(centre[1] - target["coordinates"][1]) < 1e-4
