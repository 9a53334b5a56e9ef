"""Reads on a streaming standby (layers/replicas.py, api/read_after.py), tested with a primary and
a standby the test starts (clusters of their own, so the base backup is small) and stops: reads
go to the standby, writes to the primary, a caller reads their own writes, a standby that lags
more than the bound or is down is skipped, and tiles made while it lags are not of older data."""
from __future__ import annotations

import time

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from tests.tiles.conftest import CENTRE, CITY_SQL, GRID_ORIGIN, GRID_STEP, _run
from urbangis.api.app import create_app
from urbangis.layers import database as db
from urbangis.layers.cluster import Cluster
from urbangis.layers.migrate import migrate
from urbangis.layers.replicas import lsn_text, lsn_value
from urbangis.layers.settings import DatabaseSettings, Settings, TileSettings

MAX_LAG = 3.0


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(primary conninfo, standby conninfo, the standby's Cluster) of the small tile city."""
    base = tmp_path_factory.mktemp("replicas")
    primary, standby = Cluster(base / "primary", preferred_port=55400), Cluster(base / "standby", preferred_port=55420)
    try:
        primary.init()
        primary.start()
        info = primary.conninfo("replicated")
        db.create_database(info)
        with db.connect(info, autocommit=True) as conn:
            migrate(conn)
        _run(info, CITY_SQL, {"x0": GRID_ORIGIN[0], "y0": GRID_ORIGIN[1], "step": GRID_STEP,
                              "cx": CENTRE[0], "cy": CENTRE[1], "n": 200})
        standby.init_standby(primary)
        standby.start()
        standby.wait_ready()
        yield info, standby.conninfo("replicated"), standby
    finally:
        for cluster in (standby, primary):
            try:
                cluster.stop("immediate")
            finally:
                cluster.remove()


def _until(check, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def _stage(client: TestClient, case_no: str, **kw) -> str:
    r = client.get(f"/cases/{case_no}", **kw)
    assert r.status_code == 200, r.text
    return r.json()["case"]["status"]


def test_lsn_text_round_trip():
    assert lsn_value("16/B374D848") == (0x16 << 32) | 0xB374D848 and lsn_text(lsn_value("16/B374D848")) == "16/B374D848"
    for bad in ("", "16", "x/1", "1/", "123456789/0"):
        with pytest.raises(ValueError):
            lsn_value(bad)


def test_reads_on_the_standby_own_writes_on_the_primary(pair, tmp_path):
    primary_info, standby_info, standby = pair
    settings = Settings.from_env(
        database=DatabaseSettings(database_url=primary_info, database_url_read=standby_info, read_max_lag=MAX_LAG),
        tiles=TileSettings(cache=str(tmp_path / "tiles")))
    with TestClient(create_app(primary_info, settings)) as client:
        reads = client.app.state.services.reads
        with db.connect(primary_info) as conn:
            first, second = (r[0] for r in conn.execute(
                "SELECT case_no FROM cases WHERE status = 'reported' ORDER BY case_no LIMIT 2").fetchall())
            conn.execute("UPDATE cases SET description = 'fresh' WHERE case_no = %s", (second,))
            conn.commit()
            at = lsn_value(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
        _until(lambda: reads.state.usable and reads.state.replayed >= at, what="the standby replays")
        assert reads.chosen() is reads.standby

        with db.connect(standby_info, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            # a write through the API: the primary's; its answer says how far the primary was
            moved = client.post(f"/cases/{first}/events", json={"to": "registered", "actor": "replica test"})
            assert moved.status_code == 201, moved.text
            written = lsn_value(moved.headers["urbangis-written"])
            mine = client.cookies.get("urbangis_written")
            assert mine == moved.headers["urbangis-written"]
            # the writer reads it back (their cookie): from the primary, the standby being behind
            assert _stage(client, first) == "registered"
            # another caller (no cookie) reads the standby, which has not replayed the move yet
            assert reads.state.lag <= MAX_LAG and reads.state.replayed < written
            client.cookies.clear()
            assert _stage(client, first) == "reported"
            assert _stage(client, first, headers={"Urbangis-Read-After": lsn_text(written)}) == "registered"
            # the standby falls more than MAX_LAG behind: skipped, every read is the primary's
            _until(lambda: reads.state.lag > MAX_LAG, timeout=MAX_LAG + 5, what="the lag passes the bound")
            assert _stage(client, first) == "registered"
            # a tile made now is made on the primary: the standby has not replayed the state it is of
            tile = client.get("/collections/cases/tiles/WebMercatorQuad/10/373/761")
            shown = {f["properties"]["case_no"]: f["properties"]["status"]
                     for f in mapbox_vector_tile.decode(tile.content)["cases"]["features"]}
            assert shown[first] == "registered"
            conn.execute("SELECT pg_wal_replay_resume()")
        _until(lambda: reads.state.usable and reads.state.lag <= MAX_LAG and reads.state.replayed >= written,
               what="the standby catches up")
        assert reads.chosen() is reads.standby and _stage(client, first) == "registered"

        # the standby stops: reads go to the primary within a probe, no error on the way
        standby.stop("fast")
        try:
            _until(lambda: not reads.state.usable, what="the probe sees the standby down")
            assert reads.chosen() is reads.primary and _stage(client, second) == "reported"
            items = client.get("/collections/cases/items?limit=5")
            assert items.status_code == 200 and len(items.json()["features"]) == 5
        finally:
            standby.start()
        _until(lambda: reads.state.usable, what="the standby is back")
        assert _stage(client, second) == "reported"
