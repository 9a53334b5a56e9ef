"""The embedded cluster: init, start, stop, restart, on its own data directory."""
from __future__ import annotations

import shutil
import uuid

import psycopg

from urbangis.layers.cluster import Cluster
from tests.paths import ROOT



def test_cluster_lifecycle():
    # Under the project's state folder: the cluster's owner (postgres when we are root) must be
    # able to reach it, which pytest's private tmp_path does not allow.
    home = ROOT / ".urbangis" / "test-clusters" / uuid.uuid4().hex[:8]
    cluster = Cluster(home, preferred_port=55800)
    try:
        assert cluster.init() is True
        assert cluster.init() is False  # idempotent
        assert cluster.start() is True
        cluster.wait_ready()
        assert cluster.start() is False  # already running: no work twice
        with psycopg.connect(cluster.conninfo("postgres")) as conn:
            assert conn.execute("SELECT current_setting('listen_addresses')").fetchone()[0] == "127.0.0.1"
        # the loopback port answers too
        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=urbangis dbname=postgres") as conn:
            assert conn.execute("SELECT 1").fetchone()[0] == 1
        assert cluster.stop() is True
        assert not cluster.running()
        assert cluster.stop() is False
        assert cluster.start() is True  # restarts on the same data
        assert cluster.running()
    finally:
        cluster.stop()
        shutil.rmtree(home, ignore_errors=True)
