"""The embedded, project-local PostGIS cluster (``.urbangis/``).

PostgreSQL refuses to run as root, so when we are root the cluster is owned by the ``postgres``
system user (created by Debian's postgresql package) and every server command runs through
``runuser``. Otherwise it is owned by the calling user. The cluster listens on a unix socket in
``.urbangis/run`` and on 127.0.0.1 only; it never touches the system service.

Root, and a checkout the ``postgres`` user cannot reach
--------------------------------------------------------
As root, ``postgres`` has to walk down to the cluster's files. A clone under ``/root`` (0700 on
Debian) or under any other private folder does not let it: initdb fails with "could not access
directory .../.urbangis/pgdata: Permission denied". We do not loosen the user's folders (no chmod
of ``/root``, no ACL): a private home stays private. Instead, when we are root and ``postgres``
cannot enter the state folder (asked of the system itself: ``runuser -u postgres -- test -x``),
the cluster's files — data directory, socket directory, log — are kept in a folder of their own,
``/var/lib/urbangis/clusters/<checkout>-<12 hex of sha256(home)>/`` (root's, 0755; ``pgdata``,
``run`` and ``log`` in it are postgres's, ``pgdata`` 0700), and ``<home>/pgdata``, ``run`` and
``log`` are symbolic links to them. ``data_dir``, ``socket_dir`` and ``log_file`` are the real
paths, because every path handed to postgres (``initdb -D``, ``pg_ctl -D``/``-l``, the socket
directory) must be one postgres can walk; the links are the record that ties the cluster to this
checkout (the next run follows them, also after the checkout moved) and show where the data is.
The path stays short (at most 83 bytes to the socket file, the limit is 107) and the name of the
checkout folder in it says whose cluster it is. A file ``checkout`` in that folder names the state
folder it belongs to, so that removing a copy of a checkout (whose links were copied too) never
deletes the cluster the original still uses.

``Cluster.remove()`` stops the cluster and deletes its files wherever they are; ``make clean``
runs it (``python3 -I layers/cluster.py remove .urbangis``: this file needs only the standard library)
before removing ``.urbangis``. It never deletes anything outside the state folder except one
folder directly under ``/var/lib/urbangis/clusters``.

Not root, or root in a folder ``postgres`` can reach (``/work``, ``/srv``, ``/opt``): everything is
in the state folder, as it always was; an existing cluster there is never moved.
"""
from __future__ import annotations

import glob
import hashlib
import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("urbangis.cluster")

SUPERUSER = "urbangis"
_CONF_NAME = "urbangis.conf"
# Where the cluster's files are kept when we are root and postgres cannot reach the checkout.
CLUSTERS_ROOT = Path("/var/lib/urbangis/clusters")
_KEPT_NAME = re.compile(r"^[A-Za-z0-9._-]{1,24}-[0-9a-f]{12}$")
_LINKS = ("pgdata", "run", "log")
_CHECKOUT_FILE = "checkout"


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


def _postgres_can_enter(path: Path) -> bool:
    """Whether the ``postgres`` user can walk into ``path`` (its nearest existing ancestor while
    it does not exist yet). Asked of the system, so ACLs and group memberships count."""
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        proc = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)],
                              capture_output=True, cwd="/")
    except FileNotFoundError:  # no runuser: the server commands will say so, in the state folder
        return True
    return proc.returncode == 0


def kept_dir_for(home: Path) -> Path:
    """The folder under CLUSTERS_ROOT that keeps the files of the cluster of state folder ``home``:
    the checkout's folder name (a hint for people) and a hash of the full path (the identity)."""
    label = home.parent.name if home.name.startswith(".") else home.name
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._-")[:24] or "urbangis"
    return CLUSTERS_ROOT / f"{label}-{hashlib.sha256(str(home).encode()).hexdigest()[:12]}"


def _links_to(home: Path, kept: Path) -> bool:
    """Whether state folder ``home`` links its data directory to ``kept``."""
    link = home / "pgdata"
    try:
        return link.is_symlink() and os.readlink(link) == str(kept / "pgdata")
    except OSError:
        return False


@dataclass
class Cluster:
    """A PostgreSQL data directory under ``home`` with its socket, log and chosen port."""

    home: Path
    preferred_port: int = 54329
    timezone: str = "Asia/Shanghai"  # the server's default; urbangis' own sessions set theirs (layers.database)

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self._locate()

    def _locate(self) -> None:
        """Where the cluster's files are: in ``home``, or (root, unreachable home) ``kept_in``."""
        self.kept_in: Path | None = None
        if self._as_root:
            self.kept_in = self._linked_kept_dir()
            if (
                self.kept_in is None
                and not (self.home / "pgdata" / "PG_VERSION").exists()  # a cluster here stays here
                and not _postgres_can_enter(self.home)
            ):
                self.kept_in = kept_dir_for(self.home)
        base = self.kept_in or self.home
        self.data_dir = base / "pgdata"
        self.socket_dir = base / "run"
        self.log_file = base / "log" / "postgres.log"

    def _linked_kept_dir(self) -> Path | None:
        """The folder under CLUSTERS_ROOT that ``home/pgdata`` links to, if it does."""
        link = self.home / "pgdata"
        if not link.is_symlink():
            return None
        target = Path(os.readlink(link))
        kept = target.parent
        if target.name == "pgdata" and kept.parent == CLUSTERS_ROOT and _KEPT_NAME.match(kept.name):
            return kept
        return None

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

    def _run(self, args: list[str | Path], check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(a) for a in args]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        log.debug("run %s", " ".join(cmd))
        proc = subprocess.run(cmd, text=True, capture_output=capture, cwd="/")
        if check and proc.returncode != 0:
            output = proc.stderr.strip() or proc.stdout.strip()
            raise ClusterError(f"{' '.join(cmd)} failed ({proc.returncode}): {output}")
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
            f"timezone = '{self.timezone}'\n"
        )
        path = self.data_dir / _CONF_NAME
        owner = self._owner()
        path.write_text(conf)
        if self._as_root:
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def init(self) -> bool:
        """Create the data directory; return False when it already existed."""
        if self._as_root:
            self._prepare_as_root()
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

    def _prepare_as_root(self) -> None:
        """Decide again once the state folder exists (a umask of 077 makes a new one private too);
        when postgres cannot reach it, keep the cluster's files outside and link them (idempotent)."""
        if self.kept_in is None and not (self.home / "pgdata" / "PG_VERSION").exists():
            self.home.mkdir(parents=True, exist_ok=True)
            self._locate()
        if self.kept_in is not None:
            self._keep_outside()

    def _keep_outside(self) -> None:
        kept = self.kept_in
        assert kept is not None
        self.home.mkdir(parents=True, exist_ok=True)
        for d in (CLUSTERS_ROOT.parent, CLUSTERS_ROOT, kept):
            try:
                d.mkdir(mode=0o755)
            except FileExistsError:
                continue
            os.chmod(d, 0o755)  # whatever the umask: postgres walks through these
        record = kept / _CHECKOUT_FILE
        recorded = record.read_text().strip() if record.exists() else ""
        if recorded != str(self.home) and not (recorded and _links_to(Path(recorded), kept)):
            record.write_text(f"{self.home}\n")  # new, or the checkout moved here
        linked = False
        for name in _LINKS:
            link, target = self.home / name, kept / name
            if link.is_symlink():
                if os.readlink(link) == str(target):
                    continue
                link.unlink()
            elif link.is_dir():
                # Left by a run that tried the state folder itself and failed (before this code):
                # an empty data directory, the socket folder, the log folder.
                if name == "pgdata" and any(link.iterdir()):
                    raise ClusterError(f"{link} holds files but no cluster; remove it and run again")
                shutil.rmtree(link)
            elif link.exists():
                raise ClusterError(f"{link} is in the way of the link to {target}; remove it and run again")
            link.symlink_to(target, target_is_directory=True)
            linked = True
        if linked:
            log.info(
                "the postgres user cannot enter %s (a folder above it is private, as /root is) and "
                "PostgreSQL does not run as root: the cluster's data, socket and log are kept in %s, "
                "linked from %s/pgdata, run and log", self.home, kept, self.home,
            )

    def _shared_with(self) -> str | None:
        """The other state folder that links to our kept folder too (a copy of a checkout
        copies its links), or None."""
        if self.kept_in is None:
            return None
        record = self.kept_in / _CHECKOUT_FILE
        recorded = record.read_text().strip() if record.exists() else ""
        if recorded and recorded != str(self.home) and _links_to(Path(recorded), self.kept_in):
            return recorded
        return None

    def remove(self) -> bool:
        """Stop the cluster and delete its files (data, socket folder, log) wherever they are kept;
        the rest of the state folder stays. Return False when there was nothing to remove."""
        removed = False
        kept = self.kept_in
        if kept is not None:
            other = self._shared_with()
            if other is None:
                self.stop()
            for name in _LINKS:
                link = self.home / name
                if link.is_symlink():
                    link.unlink()
                    removed = True
            if other is not None:
                log.warning("left %s in place: it is the cluster of %s (this checkout only linked to it)", kept, other)
            elif (kept.parent == CLUSTERS_ROOT and _KEPT_NAME.match(kept.name)
                  and kept.is_dir() and not kept.is_symlink()):
                shutil.rmtree(kept)
                log.info("removed the cluster kept in %s", kept)
                removed = True
            return removed
        self.stop()
        for d in (self.data_dir, self.socket_dir, self.log_file.parent):
            if d.is_symlink():  # someone's link to a bigger disk: the link goes, not the data
                d.unlink()
                removed = True
            elif d.is_dir():
                shutil.rmtree(d)
                removed = True
        return removed

    def init_standby(self, primary: "Cluster") -> None:
        """Make this (not yet initialised) cluster a streaming standby of the running ``primary``:
        a base backup over its socket (``pg_basebackup -R``: standby.signal and the primary's
        conninfo written), then this cluster's own port and socket. ``start`` starts it
        replaying. For trying replicas on one machine (tests/layers/test_replicas.py)."""
        if self._as_root:
            self._prepare_as_root()
        if self.initialised:
            raise ClusterError(f"{self.data_dir} holds a cluster already")
        self.home.mkdir(parents=True, exist_ok=True)
        for d in (self.data_dir, self.socket_dir, self.log_file.parent):
            self._own(d)
        os.chmod(self.data_dir, 0o700)
        self._run([find_pg_bin() / "pg_basebackup", "-h", primary.socket_dir, "-p", str(primary.port),
                   "-U", SUPERUSER, "-D", self.data_dir, "-R", "-X", "stream", "-c", "fast"])
        self._write_conf(_pick_port(self.preferred_port))

    def stop(self, mode: str = "fast") -> bool:
        """Stop the server (pg_ctl's ``mode``: smart, fast, or immediate: no checkpoint, the next
        start recovers from the WAL); return False when it was not running."""
        if not self.running():
            return False
        pg_ctl = find_pg_bin() / "pg_ctl"
        self._run([pg_ctl, "stop", "-D", self.data_dir, "-m", mode, "-w", "-t", "60"])
        return True

    def wait_ready(self, timeout: float = 30.0) -> None:
        pg_isready = find_pg_bin() / "pg_isready"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = subprocess.run([str(pg_isready), "-h", str(self.socket_dir), "-p", str(self.port)],
                                  capture_output=True)
            if proc.returncode == 0:
                return
            time.sleep(0.2)
        raise ClusterError(f"cluster did not become ready within {timeout:.0f}s; see {self.log_file}")


def main(argv: list[str] | None = None) -> int:
    """``python3 -I layers/cluster.py remove HOME``: stop the cluster of state folder HOME and delete
    its files wherever they are kept. ``make clean`` runs it with the system python, so this file
    imports nothing but the standard library."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "remove":
        print("usage: cluster.py remove HOME", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        removed = Cluster(Path(args[1])).remove()
    except ClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("cluster removed" if removed else "no cluster to remove")
    return 0


if __name__ == "__main__":
    sys.exit(main())
