"""The sample city's patrol points and the simulated rounds: every supervisor walks the patrol
points of their own grids, the fixes go in through the fixes code, positions follow."""
from __future__ import annotations

import datetime as dt

from urbangis.cases import patrols
from urbangis.layers import database as db
from urbangis.samplecity.rounds import simulate_round


def test_every_grid_has_patrol_points_inside_it(sample_db):
    with db.connect(sample_db) as conn:
        grids, with_points, outside = conn.execute(
            "SELECT (SELECT count(*) FROM responsibility_grids), "
            "(SELECT count(DISTINCT grid_code) FROM patrol_points), "
            "(SELECT count(*) FROM patrol_points p JOIN responsibility_grids g ON g.code = p.grid_code "
            " WHERE NOT ST_Covers(g.geom, p.geom))").fetchone()
    assert grids > 400 and with_points == grids and outside == 0


def test_rounds_walk_the_supervisors_own_grids(sample_db):
    end = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.timezone.utc)
    with db.connect(sample_db) as conn:
        routes = patrols.patrol_routes(conn)
        supervisors = conn.execute("SELECT count(*) FROM supervisors").fetchone()[0]
        assert len(routes) == supervisors and all(len(r) >= 2 for r in routes.values())
        fixes = [patrols.Fix(**f) for sid in sorted(routes)[:40]
                 for f in simulate_round(routes[sid], sid, end, 30, 60, 1)]
        assert len(fixes) == 40 * 30 and max(f.at for f in fixes) == end
        assert min(f.at for f in fixes) == end - dt.timedelta(minutes=29)
        result = patrols.post_fixes(conn, fixes, "Asia/Shanghai", end)
        assert result.accepted == len(fixes) and not result.rejected
        near_own, positions = conn.execute(
            "SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM supervisor_grids sg JOIN responsibility_grids g "
            "  ON g.code = sg.grid_code WHERE sg.supervisor_id = f.supervisor_id "
            "  AND ST_DWithin(g.geom::geography, f.geom::geography, 20))), "
            "(SELECT count(*) FROM supervisor_positions WHERE at = %s) "
            "FROM supervisor_fixes f WHERE f.at BETWEEN %s AND %s",
            (end, end - dt.timedelta(hours=1), end)).fetchone()
        conn.rollback()  # the shared sample database stays as loaded
    assert near_own >= 0.9 * len(fixes) and positions == 40
    # the same seed walks the same round
    sid = sorted(routes)[0]
    assert simulate_round(routes[sid], sid, end, 10, 60, 1) == simulate_round(routes[sid], sid, end, 10, 60, 1)
