"""Fixtures of the case tests: the sample city in a database of their own (they store cases), an
app over it, and places of one supervisor's responsibility grid worked out by PostGIS."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.conftest import sample_database
from urbangis.api.app import create_app
from urbangis.layers import database as db


@pytest.fixture(scope="session")
def cases_db():
    """The sample city in a database of its own, which the case tests may write to."""
    info = sample_database("urbangis_cases")
    yield info
    db.drop_database(info)


@pytest.fixture(scope="session")
def api(cases_db):
    with TestClient(create_app(cases_db)) as c:
        yield c


@dataclass(frozen=True)
class Beat:
    """A supervisor with exactly one responsibility grid, and points: inside it, 5 m outside its
    edge, and inside a neighbouring grid of another supervisor."""

    supervisor: str
    grid: str
    inside: tuple[float, float]
    boundary: tuple[float, float]
    neighbour_grid: str
    neighbour_supervisor: str
    across: tuple[float, float]


BEAT_SQL = """
WITH one AS (
    SELECT sg.supervisor_id, sg.grid_code, g.geom FROM supervisor_grids sg JOIN responsibility_grids g
    ON g.code = sg.grid_code
    WHERE sg.supervisor_id IN (SELECT supervisor_id FROM supervisor_grids GROUP BY 1 HAVING count(*) = 1)
    ORDER BY sg.grid_code LIMIT 1 OFFSET %(nth)s),
nb AS (
    SELECT g.code, g.geom, sg.supervisor_id
    FROM one, responsibility_grids g JOIN supervisor_grids sg ON sg.grid_code = g.code
    WHERE ST_Intersects(g.geom, one.geom) AND g.code <> one.grid_code AND sg.supervisor_id <> one.supervisor_id
    ORDER BY ST_Length(ST_Intersection(ST_Boundary(g.geom), ST_Boundary(one.geom))) DESC LIMIT 1),
edge AS (  -- the middle of the border they share, and a unit step across it into the neighbour
    SELECT ST_LineInterpolatePoint(ST_GeometryN(ST_LineMerge(
               ST_Intersection(ST_Boundary(one.geom), ST_Boundary(nb.geom))), 1), 0.5) AS m,
           ST_PointOnSurface(nb.geom) AS far
    FROM one, nb)
SELECT one.supervisor_id, one.grid_code, ST_X(ST_PointOnSurface(one.geom)), ST_Y(ST_PointOnSurface(one.geom)),
       nb.code, nb.supervisor_id, ST_X(edge.m), ST_Y(edge.m), ST_X(edge.far), ST_Y(edge.far)
FROM one, nb, edge
"""


def find_beat(info: str, nth: int = 0) -> Beat:
    """A supervisor's beat, its points worked out in PostGIS (the boundary point 5 m across the
    shared edge, towards the neighbour's inner point)."""
    from pyproj import Geod

    with db.connect(info) as conn:
        row = conn.execute(BEAT_SQL, {"nth": nth}).fetchone()
        assert row is not None, "no supervisor with one grid next to another supervisor's"
        sup, grid, ix, iy, nb_grid, nb_sup, mx, my, fx, fy = row
        geod = Geod(ellps="GRS80")
        azimuth = geod.inv(mx, my, fx, fy)[0]
        bx, by, _ = geod.fwd(mx, my, azimuth, 5.0)
        d, covered = conn.execute(
            "SELECT ST_Distance(g.geom::geography, p::geography), ST_Covers(g.geom, p) FROM responsibility_grids g, "
            "(SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4490) p) q WHERE g.code = %s", (bx, by, grid)).fetchone()
        assert not covered and 2.0 < d < 8.0, (d, covered)
    return Beat(sup, grid, (ix, iy), (bx, by), nb_grid, nb_sup, (fx, fy))


@pytest.fixture(scope="session")
def beat(cases_db) -> Beat:
    return find_beat(cases_db)
