"""Fixtures of the tile tests: a small city of their own (a district, a street office, a
community, 10x10 unit grids, a responsibility grid, roads and N_CASES cases around Urumqi's old
town), so that what the tiles must hold is known exactly, whatever the sample city becomes."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import new_database
from urbangis.api.app import create_app
from urbangis.layers import database as db
from urbangis.layers.settings import Settings, TileSettings

CENTRE = (87.617, 43.795)  # 大小十字, Urumqi's old town
N_CASES = 3000
GRID_STEP = 0.0015  # degrees; unit grids of about 120 m x 170 m
GRID_ORIGIN = (CENTRE[0] - 5 * GRID_STEP, CENTRE[1] - 5 * GRID_STEP)
FIRST_GRID = "650102003001001"  # the south-west unit grid, and a point inside it
IN_FIRST_GRID = (GRID_ORIGIN[0] + GRID_STEP / 2, GRID_ORIGIN[1] + GRID_STEP / 2)

CITY_SQL = """
INSERT INTO admin_areas (code, name, level, parent_code, aliases, geom) VALUES
  ('650102', '天山区', 'district', '650100', '{天山}',
   ST_Multi(ST_MakeEnvelope(87.55, 43.74, 87.69, 43.85, 4490))),
  ('650102003', '燕儿窝街道', 'street', '650102', '{}',
   ST_Multi(ST_MakeEnvelope(87.59, 43.77, 87.64, 43.82, 4490))),
  ('650102003001', '南湖社区', 'community', '650102003', '{}',
   ST_Multi(ST_MakeEnvelope(87.60, 43.78, 87.63, 43.81, 4490)));

INSERT INTO unit_grids (code, community_code, geom)
SELECT '650102003001' || lpad((row * 10 + col + 1)::text, 3, '0'), '650102003001',
       ST_Multi(ST_MakeEnvelope(%(x0)s + col * %(step)s, %(y0)s + row * %(step)s,
                                %(x0)s + (col + 1) * %(step)s, %(y0)s + (row + 1) * %(step)s, 4490))
FROM generate_series(0, 9) AS row, generate_series(0, 9) AS col;

INSERT INTO responsibility_grids (code, name, district_code, geom) VALUES
  ('TS-001', '燕儿窝责任网格1', '650102', ST_Multi(ST_MakeEnvelope(87.605, 43.785, 87.63, 43.805, 4490)));

INSERT INTO roads (id, name, kind, district_code, geom) VALUES
  ('R1', '解放南路', 'main', '650102',
   ST_Multi(ST_SetSRID(ST_MakeLine(ST_MakePoint(87.617, 43.74), ST_MakePoint(87.617, 43.85)), 4490))),
  ('R2', '人民路', 'main', '650102',
   ST_Multi(ST_SetSRID(ST_MakeLine(ST_MakePoint(87.56, 43.795), ST_MakePoint(87.68, 43.795)), 4490)));

SELECT setseed(0.25);

INSERT INTO cases (case_no, kind, major_class, minor_class, status, source, description,
                   district_code, reported_at, geom)
SELECT 'T' || lpad(i::text, 7, '0'),
       CASE WHEN mod(i, 3) = 0 THEN 'component' ELSE 'event' END,
       lpad((1 + mod(i, 6))::text, 2, '0'), '01',
       (ARRAY['reported', 'registered', 'handling', 'closed'])[1 + mod(i, 4)],
       'supervisor', '案件描述 ' || i, '650102',
       timestamptz '2026-03-01 08:00+08' + i * interval '7 minutes',
       ST_SetSRID(ST_MakePoint(%(cx)s + (random() - 0.5) * 0.06, %(cy)s + (random() - 0.5) * 0.04), 4490)
FROM generate_series(1, %(n)s) AS i;
"""


def _run(info: str, script: str, params: dict) -> None:
    with db.connect(info) as conn:
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement, params if "%(" in statement else None)
        conn.commit()


def add_cases(info: str, n: int = N_CASES) -> None:
    """Insert ``n`` synthetic cases around the old town (deterministic positions)."""
    cases = CITY_SQL[CITY_SQL.index("SELECT setseed") :]
    _run(info, cases, {"cx": CENTRE[0], "cy": CENTRE[1], "n": n})


@pytest.fixture(scope="session")
def tiles_db():
    """The small city of the tile tests (shared, read-only)."""
    info = new_database()
    _run(info, CITY_SQL, {"x0": GRID_ORIGIN[0], "y0": GRID_ORIGIN[1], "step": GRID_STEP,
                          "cx": CENTRE[0], "cy": CENTRE[1], "n": N_CASES})
    with db.connect(info, autocommit=True) as conn:
        conn.execute("ANALYZE")
    yield info
    db.drop_database(info)


def tile_client(info: str, cache_dir=None) -> TestClient:
    """A client of an app over ``info`` with the tile cache in ``cache_dir`` (None: off)."""
    app = create_app(info, Settings.from_env(tiles=TileSettings(cache=str(cache_dir) if cache_dir else "off")))
    return TestClient(app)


@pytest.fixture(scope="session")
def tiles_client(tiles_db):
    """An HTTP client over tiles_db with the tile cache off."""
    with tile_client(tiles_db) as c:
        yield c


@pytest.fixture(scope="session")
def tiles_server(tiles_db):
    """A real HTTP server (uvicorn, loopback) over tiles_db; its base URL."""
    from tests.conftest import served

    app = create_app(tiles_db, Settings.from_env(tiles=TileSettings(cache="off")))
    with served(app) as url:
        yield url
