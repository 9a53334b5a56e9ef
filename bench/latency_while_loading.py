"""Geocoding latency while the server runs an ingest job: does a big load over HTTP leave the
geocoder usable for the dispatchers working at the same time?

    .venv/bin/python bench/latency_while_loading.py FILE [--server URL] [--mode check] [--layer cases]

Against a running server (`urbangis serve`, default http://127.0.0.1:8000, the sample city
loaded): asks `GET /geocode` one request every 50 ms for --idle seconds, then uploads FILE as a job
and asks the same while the job runs (at most --loaded seconds), and prints the latency quantiles
of both, side by side, with the job's outcome. The peer is the same server, idle. With
`--mode check` (the default) nothing is written.
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

QUERY = "乌鲁木齐市温宿南街44号"


def sample(url: str, seconds: float, until: threading.Event | None = None) -> list[float]:
    """Latencies (ms) of GET ``url``, one request every 50 ms, for ``seconds`` or until ``until``."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and not (until is not None and until.is_set()):
        t = time.perf_counter()
        with urllib.request.urlopen(url) as r:
            r.read()
        out.append((time.perf_counter() - t) * 1000)
        time.sleep(0.05)
    return out


def upload(server: str, path: Path, fields: dict[str, str]) -> str:
    """POST ``path`` as a multipart upload; the job's id."""
    boundary = uuid.uuid4().hex
    head = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n".encode()
                    for k, v in fields.items())
    head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{server}/ingest/jobs", data=body, method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)["id"]


def quantiles(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
    return f"{len(ms):5d} requests  p50 {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms  max {ms[-1]:7.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    ap.add_argument("file", type=Path)
    ap.add_argument("--server", default="http://127.0.0.1:8000")
    ap.add_argument("--mode", default="check", choices=["check", "strict", "skip-invalid"])
    ap.add_argument("--layer", default=None)
    ap.add_argument("--idle", type=float, default=5.0, help="seconds of the idle sample [default: 5]")
    ap.add_argument("--loaded", type=float, default=60.0, help="at most this many seconds while loading [60]")
    args = ap.parse_args()
    url = f"{args.server}/geocode?" + urllib.parse.urlencode({"q": QUERY})
    idle = sample(url, args.idle)
    fields = {"mode": args.mode, **({"layer": args.layer} if args.layer else {})}
    done = threading.Event()
    job: dict = {}

    def run() -> None:
        job_id = upload(args.server, args.file, fields)
        while True:
            with urllib.request.urlopen(f"{args.server}/ingest/jobs/{job_id}") as r:
                job.update(json.load(r))
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        done.set()

    t0 = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    loaded = sample(url, args.loaded, until=done)
    print(f"geocode latency, {args.server}, one request every 50 ms")
    print(f"idle                  {quantiles(idle)}")
    print(f"while the job runs    {quantiles(loaded)}")
    p95_loaded = sorted(loaded)[int(len(loaded) * 0.95) - 1]
    p95_idle = sorted(idle)[int(len(idle) * 0.95) - 1]
    print(f"ratio of p95 (loaded / idle): {p95_loaded / p95_idle:.1f}x")
    worker.join()
    print(f"job: {job.get('state')} in {time.monotonic() - t0:.0f} s: {job.get('message')}")


if __name__ == "__main__":
    main()
