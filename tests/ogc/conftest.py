"""Fixtures of the OGC API tests: a database of their own with a few admin areas and roads and
240 synthetic cases, written here so the expected answers do not move when the sample city does.
(GDAL and OWSLib are also pointed at the sample city itself, through ``live_server``.)"""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import new_database, served
from urbangis.layers import database as db

N_CASES = 240
STATUSES = ["reported", "registered", "dispatched", "handling", "handled", "verified", "closed", "cancelled"]

ADMIN_SQL = """
INSERT INTO admin_areas (code, name, level, parent_code, aliases, geom) VALUES
 ('650000', '新疆维吾尔自治区', 'province', NULL, '{}', NULL),
 ('650100', '乌鲁木齐市', 'city', '650000', '{乌市}',
  ST_Multi(ST_MakeEnvelope(87.40, 43.60, 87.90, 44.00, 4490))),
 ('650102', '天山区', 'district', '650100', '{}', ST_Multi(ST_MakeEnvelope(87.55, 43.75, 87.65, 43.85, 4490))),
 ('650103', '沙依巴克区', 'district', '650100', '{沙区}', ST_Multi(ST_MakeEnvelope(87.45, 43.75, 87.55, 43.85, 4490))),
 ('650102001', '燕儿窝街道', 'street', '650102', '{}', ST_Multi(ST_MakeEnvelope(87.60, 43.75, 87.65, 43.80, 4490)));
INSERT INTO roads (id, name, kind, district_code, left_from, left_to, right_from, right_to,
                   left_parity, right_parity, geom) VALUES
 ('R1', '解放南路', 'main', '650102', 1, 99, 2, 98, 'odd', 'even',
  ST_Multi(ST_GeomFromText('LINESTRING(87.60 43.77, 87.61 43.79)', 4490))),
 ('R2', '人民路', 'main', '650102', 10, 50, 20, 60, 'even', 'even',
  ST_Multi(ST_GeomFromText('LINESTRING(87.58 43.78, 87.63 43.78)', 4490))),
 ('R3', '和平路', 'branch', '650103', 5, 25, 6, 26, 'odd', 'even',
  ST_Multi(ST_GeomFromText('LINESTRING(87.50 43.80, 87.52 43.81)', 4490)));
UPDATE roads SET aliases = '{人民路东段,人民东路}' WHERE id = 'R2';
-- components of every geometry kind, a point first (as a client reading the first page sees them)
INSERT INTO components (code, name, geom) VALUES
 ('6501020101000001', '井盖', ST_SetSRID(ST_MakePoint(87.600, 43.780), 4490)),
 ('6501020101000002', '井盖', ST_SetSRID(ST_MakePoint(87.610, 43.780), 4490)),
 ('6501020201000001', '护栏', ST_GeomFromText('LINESTRING(87.60 43.77, 87.61 43.77)', 4490)),
 ('6501020301000001', '绿地',
  ST_GeomFromText('POLYGON((87.60 43.79, 87.61 43.79, 87.61 43.795, 87.60 43.795, 87.60 43.79))', 4490));
"""

# One case every 7 hours from 2024-01-01T00:00Z, on a 20 x 12 grid over central Urumqi.
CASES_SQL = """
INSERT INTO cases (case_no, kind, major_class, minor_class, status, source, description, address,
                   district_code, reported_at, closed_at, geom)
SELECT format('C%%s', lpad(i::text, 5, '0')),
       CASE WHEN i %% 3 = 0 THEN 'component' ELSE 'event' END,
       lpad((1 + i %% 6)::text, 2, '0'), lpad((i %% 10)::text, 2, '0'),
       (%(statuses)s::text[])[1 + i %% 8],
       CASE WHEN i %% 2 = 0 THEN 'supervisor' ELSE 'hotline' END,
       CASE WHEN i %% 5 = 0 THEN NULL ELSE format('问题 %%s', i) END,
       format('天山区 路 %%s 号', i),
       CASE WHEN i %% 4 = 0 THEN '650102' ELSE '650103' END,
       timestamptz '2024-01-01 00:00:00+00' + make_interval(hours => 7 * i),
       CASE WHEN i %% 8 = 6 THEN timestamptz '2024-01-01 00:00:00+00' + make_interval(hours => 7 * i + 30) END,
       ST_SetSRID(ST_MakePoint(87.55 + 0.0075 * (i %% 20), 43.76 + 0.0075 * (i / 20)), 4490)
FROM generate_series(0, %(n)s - 1) AS i
"""


@pytest.fixture(scope="session")
def ogc_db():
    """Admin areas, roads and N_CASES synthetic cases."""
    info = new_database()
    with db.connect(info) as conn:
        conn.execute(ADMIN_SQL)
        conn.execute(CASES_SQL, {"statuses": STATUSES, "n": N_CASES})
        conn.commit()
    with db.connect(info, autocommit=True) as conn:
        conn.execute("ANALYZE")
    yield info
    db.drop_database(info)


@pytest.fixture(scope="session")
def ogc(ogc_db):
    """A test client of the real app over ``ogc_db``."""
    from urbangis.api.app import create_app

    with TestClient(create_app(ogc_db)) as c:
        yield c


@pytest.fixture(scope="session")
def ogc_server(ogc_db):
    """A real HTTP server over ``ogc_db`` (for GDAL and OWSLib); its base URL."""
    from urbangis.api.app import create_app

    with served(create_app(ogc_db)) as url:
        yield url


@pytest.fixture()
def dbconn(ogc_db):
    """A plain connection to ``ogc_db``, to compute expected answers independently of the API."""
    with db.connect(ogc_db, autocommit=True) as conn:
        yield conn
