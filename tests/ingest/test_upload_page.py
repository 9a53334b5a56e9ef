"""The data-loading page (/ingest) in a real headless Chromium: staff without shell access upload a
file, follow the job, read the report, fetch the rejected rows, and see a refused upload's reason."""
from __future__ import annotations

import json

import pytest

from tests.browser import new_page
from tests.conftest import served
from urbangis.api.app import create_app

from .util import count

HOSTILE = "<img src=x onerror=\"window.pwned=1\">"


@pytest.fixture()
def server(city_db):
    with served(create_app(city_db)) as url:
        yield url


@pytest.fixture()
def page(browser, server):
    pg = new_page(browser, server)
    yield pg
    pg.close()


def _wait_ended(page) -> dict:
    page.wait_for_function("window.ingestJob && ['loaded', 'checked', 'rejected', 'failed', 'cancelled']"
                           ".includes(window.ingestJob.state)", timeout=60_000)
    return page.evaluate("window.ingestJob")


def test_upload_follow_and_report(page, server, city_db, tmp_path, output_dir):
    path = tmp_path / "案件2024年5月.csv"
    path.write_text("case_no,kind,major_class,minor_class,status,reported_at,经度,纬度,description\n"
                    "P1,event,01,02,上报,2024-05-01 08:00,87.6191,43.7895,路面破损\n"
                    f"P2,event,01,02,reported,2024-13-01 08:00,87.6192,43.7896,\"{HOSTILE}\"\n"
                    f"P3,event,01,02,{HOSTILE},2024-05-01 08:00,87.6193,43.7894,\n", encoding="utf-8")
    page.goto(f"{server}/ingest")
    assert page.locator("#layer option[value=cases]").inner_text().strip() == "案件 cases"
    page.set_input_files("#file", str(path))
    page.check('input[name="mode"][value="skip-invalid"]')
    page.click("#submit")
    job = _wait_ended(page)
    page.wait_for_selector("#issues-table tbody tr")
    page.screenshot(path=str(output_dir / "ingest-page.png"), full_page=True)

    assert job["state"] == "loaded" and job["options"]["mode"] == "skip-invalid", job
    assert job["report"]["loaded"] == 1 and job["report"]["rejected"] == 2
    assert count(city_db, "cases", "case_no = 'P1'") == 1
    assert count(city_db, "cases", "case_no IN ('P2', 'P3')") == 0
    assert page.inner_text("#job-state") == "loaded"
    # the per-layer counts, as the report has them
    cells = page.locator("#layers-table tbody tr").first.locator("td").all_inner_texts()
    assert cells[:4] == ["案件2024年5月.csv", "cases", "3", "1"] and cells[7] == "2", cells
    # every rejected row's row, field, value and reason; values from the file shown as text
    rows = [r.locator("td").all_inner_texts() for r in page.locator("#issues-table tbody tr").all()]
    assert ["错误 error", "案件2024年5月.csv", "3", "reported_at", "2024-13-01 08:00"] in [r[:5] for r in rows], rows
    assert ["错误 error", "案件2024年5月.csv", "4", "status", HOSTILE] in [r[:5] for r in rows], rows
    assert page.evaluate("window.pwned") is None
    # the rejected rows, to fix and upload again
    href = page.get_attribute('#links a[data-rel="rejected"]', "href")
    rejected = json.loads(page.request.get(href).text())
    assert sorted(f["properties"]["case_no"] for f in rejected["features"]) == ["P2", "P3"]
    assert page.inner_text('#links a[data-rel="rejected-table"]') == "cases 被拒绝的行 rejected rows (CSV for Excel)"
    table = page.request.get(page.get_attribute('#links a[data-rel="rejected-table"]', "href")).text()
    assert table.startswith("\ufeff_row,_reasons,case_no,") and table.count("\n") == 3
    # the job is listed among the recent ones, and a click there shows it again
    page.wait_for_function("window.recentLoaded === true")
    first = page.locator("#jobs-table tbody tr").first
    assert first.get_attribute("data-id") == job["id"]
    assert "案件2024年5月.csv" in first.inner_text() and "loaded" in first.inner_text()
    page.goto(f"{server}/ingest")
    page.locator(f'#jobs-table tbody tr[data-id="{job["id"]}"]').click()
    assert _wait_ended(page)["id"] == job["id"]
    assert page.outside_requests == []


def test_refused_upload_says_why(page, server, city_db, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    page.goto(f"{server}/ingest")
    page.set_input_files("#file", str(path))
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    text = page.inner_text("#error")
    assert text.startswith("415: cases.csv:") and "binary file of an unknown type" in text, text
    assert page.is_hidden("#job")


def test_check_only_writes_nothing(page, server, city_db, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
                    "Q1,event,01,02,reported,2024-05-01 08:00,87.6191,43.7895\n", encoding="utf-8")
    page.goto(f"{server}/ingest")
    page.set_input_files("#file", str(path))
    page.click("#submit")  # "check only" is the page's default mode
    job = _wait_ended(page)
    assert job["state"] == "checked" and job["options"]["mode"] == "check", job
    assert count(city_db, "cases", "case_no = 'Q1'") == 0
    assert page.is_hidden('#links a[data-rel="rejected"]') or page.locator('#links a[data-rel="rejected"]').count() == 0


def test_choosing_a_layer_shows_what_it_needs(page, server):
    page.goto(f"{server}/ingest")
    assert page.is_hidden("#layer-help")
    page.select_option("#layer", "components")
    page.wait_for_selector("#layer-help:not([hidden])")
    page.click("#layer-help summary")
    rows = {r.locator("td").first.inner_text(): r.locator("td").all_inner_texts()
            for r in page.locator("#fields-table tbody tr").all()}
    assert list(rows) == ["code (key)", "name", "status", "owner_dept", "grid_code"], rows
    code = rows["code (key)"]
    assert code[1] == "是 yes" and "16 digits" in code[2] and "部件编码" in code[3]
    assert "an existing unit grid" in rows["grid_code"][4] and "inside its unit grid" in rows["grid_code"][4]
    assert "经度" in page.inner_text("#geometry-help")
    assert "高德经度" in page.inner_text("#geometry-help")  # web-map columns said
    href = page.get_attribute("#template", "href")
    assert page.request.get(href).text().startswith("\ufeffcode,name,status,owner_dept,grid_code,lon,lat")
    page.select_option("#layer", "")
    assert page.is_hidden("#layer-help")


def test_a_server_with_an_ingest_token(browser, city_db, tmp_path):
    """The page sends the token it is given on every jobs request, downloads included."""
    from urbangis.layers.settings import IngestSettings, Settings

    app = create_app(city_db, Settings.from_env(ingest=IngestSettings(token="tok-123")))
    path = tmp_path / "cases.csv"
    path.write_text("case_no,kind,major_class,minor_class,status,reported_at,lon,lat\n"
                    "K1,event,01,02,reported,2024-05-01 08:00,87.6191,43.7895\n"
                    "K2,event,01,02,nonsense,2024-05-01 08:00,87.6191,43.7895\n", encoding="utf-8")
    with served(app) as url:
        page = new_page(browser, url)
        page.goto(f"{url}/ingest")
        page.wait_for_selector("#recent-error:not([hidden])")
        assert page.inner_text("#recent-error").startswith("401:")
        page.set_input_files("#file", str(path))
        page.check('input[name="mode"][value="skip-invalid"]')
        page.click("#submit")
        page.wait_for_selector("#error:not([hidden])")
        assert page.inner_text("#error").startswith("401: the ingest jobs need this server's ingest token")
        page.fill("#token", "tok-123")
        page.dispatch_event("#token", "change")
        page.click("#submit")
        job = _wait_ended(page)
        assert job["state"] == "loaded" and count(city_db, "cases", "case_no = 'K1'") == 1
        with page.expect_download() as download:
            page.click('#links a[data-rel="rejected-table"]')
        saved = tmp_path / "rejected.csv"
        download.value.save_as(saved)
        assert saved.read_text(encoding="utf-8-sig").splitlines()[1].startswith("3,\"status: must be one of")
        page.close()


def test_a_crs_the_list_lacks_is_typed_in(page, server, city_db, tmp_path):
    """A shapefile in Beijing 1954 (refused without its shift to CGCS2000) loads once the clerk
    picks 'other' and types the CRS with the surveying bureau's +towgs84 parameters."""
    import zipfile

    import numpy as np
    import pyogrio.raw
    import shapely
    from pyproj import Transformer

    proj = ("+proj=tmerc +lat_0=0 +lon_0=87 +k=1 +x_0=500000 +y_0=0 +ellps=krass "
            "+towgs84=15.8,-154.4,-82.3,0,0,0,0 +units=m")
    x, y = Transformer.from_crs(4326, proj, always_xy=True).transform(87.6191, 43.7894)
    shp = tmp_path / "components.shp"
    pyogrio.raw.write(shp, shapely.to_wkb(shapely.points([(x, y)])),
                      [np.array(["6501020101000777"], dtype=object), np.array(["井盖"], dtype=object)],
                      fields=["code", "name"], driver="ESRI Shapefile", crs="EPSG:2426", geometry_type="Point")
    archive = tmp_path / "部件.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in tmp_path.glob("components.*"):
            zf.write(part, part.name)
    page.goto(f"{server}/ingest")
    assert page.is_hidden("#source_crs_other")
    page.set_input_files("#file", str(archive))
    page.check('input[name="mode"][value="strict"]')
    page.click("#submit")
    job = _wait_ended(page)
    assert job["state"] == "failed" and "+towgs84=dx,dy,dz,rx,ry,rz,ds" in job["report"]["message"], job
    page.select_option("#source_crs", "other")
    page.fill("#source_crs_other", proj)
    page.click("#submit")
    page.wait_for_function("window.ingestJob && window.ingestJob.options && window.ingestJob.options.source_crs")
    job = _wait_ended(page)
    assert job["state"] == "loaded" and job["report"]["loaded"] == 1, job
    assert count(city_db, "components", "code = '6501020101000777' AND ST_DWithin(geom, "
                                        "ST_SetSRID(ST_MakePoint(87.6191, 43.7894), 4490), 1e-6)") == 1


def test_imagery_registered_from_the_page(page, server, output_dir):
    import morecantile
    import rasterio
    from rasterio.warp import transform

    from tests.heritage.conftest import NAIP

    page.goto(f"{server}/ingest")
    page.set_input_files("#imagery-file", str(NAIP[0]))
    page.fill("#imagery-date", "2999-01-01")
    page.click("#imagery-submit")
    page.wait_for_selector("#imagery-error:not([hidden])")
    assert "400: acquired: 2999-01-01 is in the future" in page.inner_text("#imagery-error")
    page.fill("#imagery-date", "2009-08-18")
    page.fill("#imagery-name", "NAIP 2009")
    page.click("#imagery-submit")
    page.wait_for_function("window.imageryEpoch !== null", timeout=60_000)
    epoch = page.evaluate("window.imageryEpoch")
    assert (epoch["acquired"], epoch["bands"], epoch["name"]) == ("2009-08-18", 4, "NAIP 2009")
    shown = page.inner_text("#imagery-result")
    assert f"epoch {epoch['id']}" in shown and "4 bands" in shown and page.is_hidden("#imagery-error")
    with rasterio.open(NAIP[0]) as src:  # the tile at the image's middle, from the COG registered
        lon, lat = transform(src.crs, "EPSG:4326", [(src.bounds.left + src.bounds.right) / 2],
                             [(src.bounds.bottom + src.bounds.top) / 2])
    t = morecantile.tms.get("WebMercatorQuad").tile(lon[0], lat[0], 15)
    tile = page.request.get(epoch["tiles"].replace("{z}/{y}/{x}", f"15/{t.y}/{t.x}"))
    assert tile.status == 200 and tile.headers["content-type"] == "image/png"
    page.screenshot(path=str(output_dir / "ingest-imagery.png"), full_page=True)
    assert page.outside_requests == []
