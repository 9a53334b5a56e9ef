"""Cached tiles answered before the framework (api/tile_hits.py): the route's very answer, no
database work, and never a tile of an older state once PostgreSQL's notification is in."""
from __future__ import annotations

import time

import mapbox_vector_tile
import morecantile
from fastapi.testclient import TestClient

from tests.conftest import new_database
from tests.tiles.conftest import CENTRE, add_cases
from urbangis.api.app import create_app
from urbangis.layers import database as db
from urbangis.layers.settings import Settings, TileSettings

WEB = morecantile.tms.get("WebMercatorQuad")
GZIP = {"Accept-Encoding": "gzip"}


def _client(info: str, cache, **settings) -> TestClient:
    return TestClient(create_app(info, Settings.from_env(tiles=TileSettings(cache=str(cache)), **settings)))


def known(client: TestClient) -> None:
    """Until the app listens for changes (a state read from then on is kept)."""
    states = client.app.state.services.tiles.states
    deadline = time.monotonic() + 10
    while not states.listening and time.monotonic() < deadline:
        time.sleep(0.05)
    assert states.listening


def _tile(z: int, collection: str | None = None) -> str:
    t = WEB.tile(CENTRE[0], CENTRE[1], z)
    prefix = f"/collections/{collection}" if collection else ""
    return f"{prefix}/tiles/WebMercatorQuad/{t.z}/{t.y}/{t.x}"


def _requests(client: TestClient) -> int:
    """Connections handed out by the tile service's pool so far."""
    return client.app.state.services.tiles.pool.get_stats().get("requests_num", 0)


def _same_but_source(a, b) -> None:
    def kept(r) -> dict:
        return {k: v for k, v in r.headers.items() if k not in ("date", "x-tile-cache")}

    assert kept(a) == kept(b)


def test_a_hit_is_the_routes_answer_without_the_database(sample_db, tmp_path):
    with _client(sample_db, tmp_path / "cache") as client:
        known(client)
        for url in (_tile(15), _tile(14, "roads"), "/tiles/WebMercatorQuad/12/0/0"):
            miss = client.get(url, headers=GZIP)
            assert miss.headers["x-tile-cache"] == "miss", url
            before = _requests(client)
            hit = client.get(url, headers=GZIP)
            assert hit.headers["x-tile-cache"] == "hit" and _requests(client) == before, url
            assert (hit.status_code, hit.content) == (miss.status_code, miss.content)
            _same_but_source(miss, hit)
            head = client.head(url, headers=GZIP)
            assert head.status_code == miss.status_code and head.content == b"" and _requests(client) == before
            _same_but_source(miss, head)
            again = client.get(url, headers={**GZIP, "If-None-Match": miss.headers["etag"]})
            assert (again.status_code, again.headers["x-tile-cache"]) == (304, "revalidated")
            assert again.headers["etag"] == miss.headers["etag"] and _requests(client) == before
        assert miss.status_code == 204  # the empty tile of the list's end is cached as one too
        # what the fast path leaves to the route: a range, a client without gzip, a query string
        url = _tile(15)
        whole = client.get(url, headers=GZIP)
        part = client.get(url, headers={"Accept-Encoding": "identity", "Range": "bytes=0-9"})
        assert part.status_code == 206 and part.headers["content-range"].startswith("bytes 0-9/")
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert plain.headers.get("content-encoding") is None and plain.headers["x-tile-cache"] == "hit"
        assert mapbox_vector_tile.decode(plain.content) == mapbox_vector_tile.decode(whole.content)
        assert client.get(url + "?collections=roads", headers=GZIP).status_code == 200
        # a tile the route refuses is refused as before (nothing of it is cached)
        for bad in ("/tiles/WebMercatorQuad/31/0/0", "/tiles/WebMercatorQuad/2/9/0", "/tiles/Nope/1/0/0"):
            refused = [client.get(bad, headers=GZIP) for _ in range(2)]
            assert refused[0].status_code in (400, 404) and refused[1].status_code == refused[0].status_code, bad


def _statuses(response) -> dict[str, str]:
    return {f["properties"]["case_no"]: f["properties"]["status"]
            for f in mapbox_vector_tile.decode(response.content)["cases"]["features"]}


def test_a_change_is_never_served_stale_once_notified(tmp_path):
    info = new_database()
    try:
        add_cases(info, 20)
        with _client(info, tmp_path / "cache") as client:
            known(client)
            states = client.app.state.services.tiles.states
            url = _tile(10, "cases")  # holds every case
            before = client.get(url, headers=GZIP)
            assert client.get(url, headers=GZIP).headers["x-tile-cache"] == "hit"
            first, last = sorted(_statuses(before))[0], sorted(_statuses(before))[-1]
            with db.connect(info) as conn:
                conn.execute("UPDATE cases SET status = 'not_registered' WHERE case_no = %s", (first,))
                conn.commit()
            assert states.barrier()
            after = client.get(url, headers=GZIP)
            assert after.headers["x-tile-cache"] == "miss" and after.headers["etag"] != before.headers["etag"]
            assert _statuses(after)[first] == "not_registered"

            # the listener's connection drops: nothing kept is trusted until it is back, and a
            # change made meanwhile (its notification lost) is not missed
            with db.connect(info, autocommit=True) as conn:
                ended = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = current_database() AND query LIKE 'LISTEN urbangis%'").fetchall()
                assert ended == [(True,)]
                deadline = time.monotonic() + 5
                while states.listening and time.monotonic() < deadline:
                    time.sleep(0.01)
                conn.execute("UPDATE cases SET status = 'not_registered' WHERE case_no = %s", (last,))
            known(client)
            latest = client.get(url, headers=GZIP)
            assert latest.headers["etag"] not in (before.headers["etag"], after.headers["etag"])
            assert _statuses(latest)[first] == _statuses(latest)[last] == "not_registered"
            assert client.get(url, headers=GZIP).headers["x-tile-cache"] == "hit"
    finally:
        db.drop_database(info)
