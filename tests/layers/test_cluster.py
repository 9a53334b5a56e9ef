"""The embedded cluster: init, start, stop, restart, on its own data directory."""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg

from tests.paths import ROOT
from urbangis.layers.cluster import CLUSTERS_ROOT, Cluster


def test_cluster_lifecycle():
    # Under the project's state folder, as `make test` runs it (when we are root and postgres
    # cannot reach the checkout, its files are kept under /var/lib/urbangis/clusters).
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
        cluster.remove()
        shutil.rmtree(home, ignore_errors=True)


def _private_folder() -> Path:
    """A fresh 0700 folder of the current user; as root one under /root (0700 on Debian), the
    place a root clone lives in and the ``postgres`` user cannot enter."""
    folder = Path(tempfile.mkdtemp(prefix="ugclu", dir="/root" if os.geteuid() == 0 else None))
    assert folder.stat().st_mode & 0o777 == 0o700
    return folder


def test_cluster_in_a_private_folder():
    # A clone under a folder only its user may enter. As root, PostgreSQL runs as `postgres`, which
    # cannot reach it: the cluster's files are kept under /var/lib/urbangis/clusters and linked from
    # the state folder. Not root, nothing changes: the cluster is in the state folder.
    folder = _private_folder()
    home = folder / "clone" / ".urbangis"  # does not exist yet, as in a fresh clone
    cluster = Cluster(home, preferred_port=55820)
    try:
        if os.geteuid() == 0:
            kept = cluster.kept_in
            assert kept is not None and kept.parent == CLUSTERS_ROOT and kept.name.startswith("clone-")
            assert cluster.data_dir == kept / "pgdata" and cluster.socket_dir == kept / "run"
            assert cluster.log_file == kept / "log" / "postgres.log"
        else:
            kept = None
            assert cluster.kept_in is None and cluster.data_dir == home.resolve() / "pgdata"
        # the socket file's path fits a unix socket address (107 bytes)
        assert len(str(cluster.socket_dir / f".s.PGSQL.{cluster.port}")) <= 107

        assert cluster.init() is True
        assert cluster.init() is False  # idempotent
        if kept is not None:
            for name in ("pgdata", "run", "log"):
                assert (home / name).is_symlink() and os.readlink(home / name) == str(kept / name)
            assert (kept / "pgdata").stat().st_mode & 0o777 == 0o700
            assert (kept / "pgdata").stat().st_uid == pwd.getpwnam("postgres").pw_uid
            assert folder.stat().st_mode & 0o777 == 0o700  # nobody's permissions were loosened
        assert cluster.start() is True
        cluster.wait_ready()
        assert cluster.start() is False  # already running: no work twice
        with psycopg.connect(cluster.conninfo("postgres")) as conn:
            assert conn.execute("SHOW data_directory").fetchone()[0] == str(cluster.data_dir)

        # Another process of the same checkout finds the same cluster, running.
        again = Cluster(home, preferred_port=55820)
        assert (again.data_dir, again.socket_dir, again.port) == (cluster.data_dir, cluster.socket_dir, cluster.port)
        assert again.running() and again.init() is False and again.start() is False

        assert cluster.stop() is True
        assert not cluster.running()
        assert cluster.remove() is True  # what `make clean` does before removing .urbangis
        assert not cluster.data_dir.exists() and not (home / "pgdata").exists()
        if kept is not None:
            assert not kept.exists() and not (home / "pgdata").is_symlink()
        assert cluster.remove() is False
    finally:
        cluster.stop()
        cluster.remove()
        shutil.rmtree(folder, ignore_errors=True)


def test_cluster_in_a_private_folder_after_a_failed_run():
    # What the code before this fix left behind as root in /root: empty pgdata, run and log
    # folders of postgres's in the state folder (initdb then failed). The next run must get on.
    folder = _private_folder()
    home = folder / "clone" / ".urbangis"
    owner = pwd.getpwuid(os.geteuid()) if os.geteuid() else pwd.getpwnam("postgres")
    for name in ("pgdata", "run", "log"):
        (home / name).mkdir(parents=True)
        os.chown(home / name, owner.pw_uid, owner.pw_gid)
    cluster = Cluster(home, preferred_port=55840)
    try:
        assert cluster.init() is True
        assert cluster.initialised and (home / "pgdata" / "PG_VERSION").exists()
        if os.geteuid() == 0:
            assert (home / "pgdata").is_symlink()
            kept = cluster.kept_in
            assert kept is not None and (kept / "checkout").read_text().strip() == str(home)
            # A copy of the checkout copies the links: removing the copy's cluster leaves the
            # original's data alone.
            copy = folder / "copy" / ".urbangis"
            copy.mkdir(parents=True)
            for name in ("pgdata", "run", "log"):
                (copy / name).symlink_to(os.readlink(home / name))
            assert Cluster(copy).kept_in == kept
            assert Cluster(copy).remove() is True
            assert not (copy / "pgdata").is_symlink() and (kept / "pgdata" / "PG_VERSION").exists()
        # `make clean`'s way: the file alone, with the system python and no venv.
        done = subprocess.run([sys.executable, "-I", str(ROOT / "layers" / "cluster.py"), "remove", str(home)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "cluster removed" in done.stdout
        assert not cluster.data_dir.exists()
        if os.geteuid() == 0:
            assert not cluster.kept_in.exists()
    finally:
        cluster.stop()
        cluster.remove()
        shutil.rmtree(folder, ignore_errors=True)
