"""The map page in a real headless Chromium (Debian's, driven by Playwright): MapLibre draws the
city's vector tiles, the layer switcher hides a group, a click shows a feature's properties.
Only the local server is reachable; nothing is loaded from the internet."""
from __future__ import annotations

import pytest

from tests.browser import new_page

from .conftest import FIRST_GRID, IN_FIRST_GRID


@pytest.fixture()
def page(browser, tiles_server):
    """A new tab that records every request leaving the local server."""
    pg = new_page(browser, tiles_server)
    yield pg
    pg.close()


def wait_idle(page) -> None:
    """Until the map has drawn everything asked of it, the command screen's case layers included."""
    page.wait_for_function("window.mapIdle === true && window.caseState && window.caseState.ready === true "
                           "&& window.urbangisMap.loaded()", timeout=60_000)


def test_map_renders_features(page, tiles_server, output_dir):
    page.goto(f"{tiles_server}/map")
    wait_idle(page)
    page.screenshot(path=str(output_dir / "map.png"))
    count = page.evaluate("window.renderedFeatureCount")
    by_layer = page.evaluate("window.renderedByLayer")
    assert count > 0, by_layer
    assert {"admin_areas", "unit_grids"} <= set(by_layer), by_layer
    assert page.evaluate("window.mapErrors") == []
    assert page.outside_requests == []


def test_layer_switcher_hides_a_group(page, tiles_server):
    page.goto(f"{tiles_server}/map")
    wait_idle(page)
    assert page.evaluate("window.renderedByLayer").get("unit_grids", 0) > 0
    page.uncheck('input[data-group="grids"]')  # the style changes at once; the next idle has drawn it
    page.evaluate("window.mapIdle = false; window.urbangisMap.triggerRepaint()")
    wait_idle(page)
    by_layer = page.evaluate("window.renderedByLayer")
    assert "unit_grids" not in by_layer and "responsibility_grids" not in by_layer and "admin_areas" in by_layer


def test_click_shows_the_feature(page, tiles_server, output_dir):
    lon, lat = IN_FIRST_GRID
    page.goto(f"{tiles_server}/map#17/{lat}/{lon}")
    wait_idle(page)
    point = page.evaluate(f"window.urbangisMap.project([{lon}, {lat}])")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_selector(".maplibregl-popup-content table")
    page.screenshot(path=str(output_dir / "map-inspect.png"))
    popup = page.inner_text(".maplibregl-popup-content")
    inspected = page.evaluate("window.lastInspected")
    here = page.evaluate(
        f"window.urbangisMap.queryRenderedFeatures([{point['x']}, {point['y']}])"
        ".map(f => ({layer: f.sourceLayer, properties: f.properties}))"
    )
    # the topmost feature is shown with every property, the others are counted
    assert inspected == here[0], (inspected, here)
    assert all(str(v) in popup for v in inspected["properties"].values()), popup
    assert f"+ {len(here) - 1} more feature(s) here" in popup, popup
    assert {"layer": "unit_grids", "properties": {"code": FIRST_GRID, "community_code": FIRST_GRID[:12]}} in here
    assert {f["layer"] for f in here} >= {"unit_grids", "responsibility_grids", "admin_areas"}
