"""Heritage doors under access control: a district's caller sees and reviews its own sites and
patches only (row-level security), and only the roles that inspect may review."""
from __future__ import annotations

import json

import pytest

from urbangis.layers import database as db

from .conftest import SAYBAGH, TIANSHAN, Caller


@pytest.fixture(scope="module")
def two_sites(access_db):
    """A site with one patch in each of two districts (each a small square inside its district)."""
    ids = {}
    with db.connect(access_db) as conn:
        for code in (TIANSHAN, SAYBAGH):
            site = f"T{code}"
            conn.execute(
                "INSERT INTO heritage_sites (id, name, kind, level, district_code, provenance, geom) "
                "SELECT %s, %s, 'historic_district', 'regional', %s, 'synthetic: test', "
                "ST_Multi(ST_Expand(ST_PointOnSurface(geom), 0.002)) FROM admin_areas WHERE code = %s "
                "ON CONFLICT (id) DO NOTHING", (site, f"街区 {code}", code, code))
            ids[code] = conn.execute(
                "INSERT INTO change_patches (site_id, before_date, after_date, class, area_m2, confidence, run, geom) "
                "SELECT id, '2019-01-01', '2024-01-01', 'new_construction', 100, 0.9, %s, "
                "ST_Multi(ST_Expand(ST_PointOnSurface(geom), 0.0002)) FROM heritage_sites WHERE id = %s RETURNING id",
                (f"test-{code}", site)).fetchone()[0]
        conn.commit()
    return ids


def test_a_district_sees_and_reviews_only_its_own(secured, issue, two_sites):
    mine = Caller(secured, issue("analyst", TIANSHAN))
    listed = {s["id"] for s in mine.get("/heritage/sites").json()["sites"]}
    assert f"T{TIANSHAN}" in listed and f"T{SAYBAGH}" not in listed
    assert mine.get(f"/heritage/sites/T{SAYBAGH}/report").status_code == 404
    report = mine.get(f"/heritage/sites/T{TIANSHAN}/report").json()
    assert [p["id"] for p in report["patches"]] == [two_sites[TIANSHAN]]

    def review(caller, patch):
        body = json.dumps({"review": "属实"}).encode()
        return caller.request("PATCH", f"/heritage/patches/{patch}", body, {"content-type": "application/json"})

    assert review(mine, two_sites[SAYBAGH]).status_code == 404  # invisible, so not found
    done = review(mine, two_sites[TIANSHAN])
    assert done.status_code == 200 and done.json()["reviewed_by"].startswith("test")
    subsystem = Caller(secured, issue("subsystem", TIANSHAN))
    assert review(subsystem, two_sites[TIANSHAN]).status_code == 403
    assert Caller(secured, None).get("/heritage/sites").status_code == 401


def test_data_staff_register_imagery_of_their_own_area_only(secured, issue, deep_in, tmp_path):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    from urbangis.access.client import signed_headers

    from .conftest import BASE

    def image(code: str):
        """A 200 x 200 px, 3-band GeoTIFF (CGCS2000 degrees, ~10 m pixels) around a point deep in ``code``."""
        lon, lat = deep_in[code]
        path = tmp_path / f"ortho_{code}.tif"
        data = np.random.default_rng(int(code)).integers(0, 255, (3, 200, 200), dtype=np.uint8)
        with rasterio.open(path, "w", driver="GTiff", width=200, height=200, count=3, dtype="uint8",
                           crs="EPSG:4490", transform=from_origin(lon - 0.01, lat + 0.01, 0.0001, 0.0001)) as dst:
            dst.write(data)
        return path

    def upload(caller, path):
        b = "urbangis-scope"
        body = (f'--{b}\r\nContent-Disposition: form-data; name="acquired"\r\n\r\n2024-05-01\r\n'
                f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
                f"Content-Type: image/tiff\r\n\r\n").encode() + path.read_bytes() + f"\r\n--{b}--\r\n".encode()
        url, k = BASE + "/ingest/imagery", caller.key
        headers = signed_headers("POST", url, k.keyid, k.alg, k.secret, body)
        ctype = f"multipart/form-data; boundary={b}"
        return secured.post(url, content=body, headers={**headers, "content-type": ctype})

    staff = Caller(secured, issue("data", TIANSHAN))
    mine = upload(staff, image(TIANSHAN))
    assert mine.status_code == 201, mine.text
    theirs = upload(staff, image(SAYBAGH))
    assert theirs.status_code == 403 and TIANSHAN in theirs.json()["description"]
    assert upload(Caller(secured, issue("analyst", TIANSHAN)), image(TIANSHAN)).status_code == 403  # not data staff
    seen = {e["id"] for e in Caller(secured, issue("analyst", SAYBAGH)).get("/heritage/imagery").json()["epochs"]}
    assert mine.json()["id"] not in seen  # the other district does not see it
