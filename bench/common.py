"""What the side-by-side benchmarks share: the project root on sys.path, logging to stderr (stdout
carries the figures), preparation steps that fail loudly, and the bench database reached over
TCP on loopback (both servers of a comparison connect the same way).

Imported by the scripts of this folder as ``common`` (a script's own folder is first on sys.path)."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
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


def wait_idle(pid: int, busy: float = 0.05, most: float = 600.0) -> float:
    """Wait until process ``pid`` uses under ``busy`` of a core over a second (a server that
    answers may still be warming up in a thread: the case service reads the areas and their
    contiguity after its index is up); the seconds waited."""
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    t0 = time.monotonic()
    while time.monotonic() - t0 < most:
        before = cpu()
        time.sleep(1.0)
        if cpu() - before < busy:
            break
    return time.monotonic() - t0


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


async def http_load(port: int, requests: Iterable[tuple], clients: int, seconds: float | None = None,
                    per_tag: dict | None = None) -> tuple[list[float], float, Counter]:
    """``clients`` keep-alive HTTP/1.1 connections to 127.0.0.1:``port`` sending ``requests``
    ((method, path, JSON body or None), shared among them) as fast as answers come, until they run
    out or ``seconds`` pass: the latencies (s), the wall time (s) and the count of each status.

    A minimal client written here on purpose: a general one (httpx) spends ~1-3 ms of CPU per
    request, so on one core it, not the server, would set the figure. Answers must carry a
    Content-Length (no Accept-Encoding is sent, so none is compressed). With ``per_tag``, a
    request's 5th element is its tag: ``per_tag[tag]`` collects (latency, status) of each."""
    lat: list[float] = []
    statuses: Counter = Counter()
    it = iter(requests)
    stop = time.perf_counter() + seconds if seconds else float("inf")

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for method, path, body, *extra in it:  # (a 4th element: headers to send, e.g. a signature)
                if time.perf_counter() >= stop:
                    break
                t = time.perf_counter()
                head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                for name, value in (extra[0] if extra else {}).items():
                    head += f"{name}: {value}\r\n"
                if body is not None:
                    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                writer.write(head.encode() + b"\r\n" + (body or b""))
                answer = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in answer.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                took, status = time.perf_counter() - t, int(answer[9:12])
                lat.append(took)
                statuses[status] += 1
                if per_tag is not None and len(extra) > 1:
                    per_tag.setdefault(extra[1], []).append((took, status))
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return lat, time.perf_counter() - t0, statuses
