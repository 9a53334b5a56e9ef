"""The embedded, project-local PostGIS cluster (``.urbangis/``).

PostgreSQL refuses to run as root, so when we are root the cluster is owned by the ``postgres``
system user (created by Debian's postgresql package) and every server command runs through
``runuser``. Otherwise it is owned by the calling user. The cluster listens on a unix socket in
``.urbangis/run`` and on 127.0.0.1 only; it never touches the system service.
"""
from __future__ import annotations

import glob
import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("urbangis.cluster")

SUPERUSER = "urbangis"
_CONF_NAME = "urbangis.conf"


class ClusterError(RuntimeError):
    """The embedded cluster could not be set up, started or reached."""


def find_pg_bin() -> Path:
    """The newest PostgreSQL bin directory whose installation has PostGIS."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    for cand in candidates:
        version = Path(cand).parent.name
        if glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control"):
            return Path(cand)
    if shutil.which("pg_ctl"):
        return Path(shutil.which("pg_ctl")).parent  # type: ignore[arg-type]
    raise ClusterError(
        "PostgreSQL with PostGIS is not installed. Run `make serve` (installs postgresql-15-postgis-3 "
        "with apt-get as root) or install it yourself."
    )


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _pick_port(preferred: int) -> int:
    for port in range(preferred, preferred + 200):
        if _port_free(port):
            return port
    raise ClusterError(f"no free loopback port in {preferred}..{preferred + 199}")


@dataclass
class Cluster:
    """A PostgreSQL data directory under ``home`` with its socket, log and chosen port."""

    home: Path
    preferred_port: int = 54329

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.data_dir = self.home / "pgdata"
        self.socket_dir = self.home / "run"
        self.log_file = self.home / "log" / "postgres.log"

    # -- ownership -------------------------------------------------------------------------
    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _owner(self) -> pwd.struct_passwd:
        if self._as_root:
            try:
                return pwd.getpwnam("postgres")
            except KeyError as exc:  # pragma: no cover - Debian's package always creates it
                raise ClusterError("running as root but there is no `postgres` user to own the cluster") from exc
        return pwd.getpwuid(os.geteuid())

    def _run(self, args: list[str], check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        log.debug("run %s", " ".join(cmd))
        proc = subprocess.run(cmd, text=True, capture_output=capture, cwd="/")
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            owner = self._owner()
            os.chown(path, owner.pw_uid, owner.pw_gid)

    # -- state -------------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @property
    def port(self) -> int:
        conf = self.data_dir / _CONF_NAME
        if conf.exists():
            m = re.search(r"^port\s*=\s*(\d+)", conf.read_text(), re.M)
            if m:
                return int(m.group(1))
        return self.preferred_port

    def running(self) -> bool:
        if not self.initialised:
            return False
        pg_ctl = find_pg_bin() / "pg_ctl"
        return self._run([pg_ctl, "status", "-D", self.data_dir], check=False).returncode == 0

    def conninfo(self, dbname: str) -> str:
        return f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname={dbname}"

    # -- commands ----------------------------------------------------------------------------
    def _write_conf(self, port: int) -> None:
        conf = (
            "# written by urbangis: project-local cluster, loopback and unix socket only\n"
            f"port = {port}\n"
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.socket_dir}'\n"
            "max_connections = 200\n"
            "shared_buffers = 512MB\n"
            "work_mem = 32MB\n"
            "maintenance_work_mem = 512MB\n"
            "max_wal_size = 4GB\n"
            "jit = off\n"
            "logging_collector = off\n"
            "timezone = 'Asia/Urumqi'\n"
        )
        path = self.data_dir / _CONF_NAME
        owner = self._owner()
        path.write_text(conf)
        if self._as_root:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def init(self) -> bool:
        """Create the data directory; return False when it already existed."""
        if self.initialised:
            return False
        self.home.mkdir(parents=True, exist_ok=True)
        for d in (self.data_dir, self.socket_dir, self.log_file.parent):
            self._own(d)
        os.chmod(self.data_dir, 0o700)
        initdb = find_pg_bin() / "initdb"
        self._run([initdb, "-D", self.data_dir, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        main_conf = self.data_dir / "postgresql.conf"
        with main_conf.open("a") as fh:
            fh.write(f"\ninclude_if_exists = '{_CONF_NAME}'\n")
        self._write_conf(_pick_port(self.preferred_port))
        log.info("initialised cluster in %s", self.data_dir)
        return True

    def start(self) -> bool:
        """Start the server; return False when it was already running."""
        if not self.initialised:
            raise ClusterError(f"no cluster in {self.data_dir}; run `urbangis db init` first")
        if self.running():
            return False
        for d in (self.socket_dir, self.log_file.parent):
            self._own(d)
        if not _port_free(self.port):
            # Another program (or another checkout's cluster) took our port: move, do not fail.
            new_port = _pick_port(self.port + 1)
            log.warning("port %s is taken; moving the cluster to %s", self.port, new_port)
            self._write_conf(new_port)
        pg_ctl = find_pg_bin() / "pg_ctl"
        self._run([pg_ctl, "start", "-D", self.data_dir, "-l", self.log_file, "-w", "-t", "60"])
        log.info("cluster running on port %s, socket in %s", self.port, self.socket_dir)
        return True

    def stop(self) -> bool:
        if not self.running():
            return False
        pg_ctl = find_pg_bin() / "pg_ctl"
        self._run([pg_ctl, "stop", "-D", self.data_dir, "-m", "fast", "-w", "-t", "60"])
        return True

    def wait_ready(self, timeout: float = 30.0) -> None:
        pg_isready = find_pg_bin() / "pg_isready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = subprocess.run([str(pg_isready), "-h", str(self.socket_dir), "-p", str(self.port)], capture_output=True)
            if proc.returncode == 0:
                return
            time.sleep(0.2)
        raise ClusterError(f"cluster did not become ready within {timeout:.0f}s; see {self.log_file}")
