"""Fixtures of the tile tests: the sample city plus synthetic cases (the sample has none)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from layers import database as db
from tests.conftest import new_database
from tests.paths import SAMPLE
from tiles.settings import TileSettings

# Urumqi's old town (大小十字); the synthetic cases fall within ~3 km of it.
CENTRE = (87.617, 43.795)
N_CASES = 3000

CASES_SQL = """
SELECT setseed(0.25);
INSERT INTO cases (case_no, kind, major_class, minor_class, status, source, description,
                   district_code, reported_at, geom)
SELECT 'T' || lpad(i::text, 7, '0'),
       CASE WHEN mod(i, 3) = 0 THEN 'component' ELSE 'event' END,
       lpad((1 + mod(i, 6))::text, 2, '0'), '01',
       (ARRAY['reported', 'registered', 'handling', 'closed'])[1 + mod(i, 4)],
       'supervisor', '案件描述 ' || i, '650102',
       timestamptz '2026-03-01 08:00+08' + i * interval '7 minutes',
       ST_SetSRID(ST_MakePoint(%(x)s + (random() - 0.5) * 0.06, %(y)s + (random() - 0.5) * 0.04), 4490)
FROM generate_series(1, %(n)s) AS i;
"""


def add_cases(info: str, n: int = N_CASES) -> None:
    """Insert ``n`` synthetic cases around the old town (deterministic positions)."""
    with db.connect(info) as conn:
        for statement in filter(str.strip, CASES_SQL.split(";")):
            conn.execute(statement, {"x": CENTRE[0], "y": CENTRE[1], "n": n} if "%(" in statement else None)
        conn.commit()


@pytest.fixture(scope="session")
def tiles_db():
    """The sample city with N_CASES synthetic cases (shared, read-only)."""
    from ingest.gazetteer import load_gazetteer

    info = new_database()
    with db.connect(info) as conn:
        load_gazetteer(conn, SAMPLE)
        conn.commit()
    add_cases(info)
    with db.connect(info, autocommit=True) as conn:
        conn.execute("ANALYZE")
    yield info
    db.drop_database(info)


def tile_client(info: str, cache_dir=None) -> TestClient:
    """A client of an app over ``info`` with the tile cache in ``cache_dir`` (None: off)."""
    app = create_app(info)
    app.state.tile_settings = TileSettings(cache=str(cache_dir) if cache_dir else "off")
    return TestClient(app)


@pytest.fixture(scope="session")
def tiles_client(tiles_db):
    """An HTTP client over tiles_db with the tile cache off."""
    with tile_client(tiles_db) as c:
        yield c
