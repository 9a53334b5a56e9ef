"""What the side-by-side benchmarks share: the project root on sys.path, logging to stderr (stdout
carries the figures), preparation steps that fail loudly, and the bench database reached over
TCP on loopback (both servers of a comparison connect the same way).

Imported by the scripts of this folder as ``common`` (a script's own folder is first on sys.path)."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: E402


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(cmd: list[str], env: dict | None = None) -> None:
    """Run a preparation step to its end; its stderr tail is the error if it fails."""
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr[-3000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _loopback(info: str) -> dict:
    d = conninfo_to_dict(info)
    host = d.get("host", "127.0.0.1")
    return {"host": "127.0.0.1" if host.startswith("/") else host, "port": d.get("port", "5432"),
            "dbname": d["dbname"], "user": d.get("user", "urbangis")}


def tcp_conninfo(info: str) -> str:
    """The database of ``info`` over TCP on loopback, as a libpq conninfo string."""
    return make_conninfo("", **_loopback(info))


def tcp_url(info: str) -> str:
    """The database of ``info`` over TCP on loopback, as a postgresql:// URL."""
    d = _loopback(info)
    return f"postgresql://{d['user']}@{d['host']}:{d['port']}/{d['dbname']}"
