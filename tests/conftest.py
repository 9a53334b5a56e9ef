"""Fixtures that build real PostGIS databases on the project's cluster. No mocks, no skips:
if PostGIS cannot be reached, every test that needs it fails with the reason."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.paths import OUTPUT, SAMPLE
from urbangis.layers import database as db
from urbangis.layers.settings import Settings

# The suite tests what each door answers with access control off (as `make serve` runs on
# 127.0.0.1); tests/access builds its apps with access control on and tests the doors' guards.
os.environ.setdefault("URBANGIS_AUTH", "off")


def new_database(prefix: str = "urbangis_test") -> str:
    """A fresh, migrated database beside the configured one; returns its conninfo."""
    return db.new_database(Settings.from_env().database, prefix)


@pytest.fixture(scope="session")
def empty_db():
    """A migrated database with no data, shared by tests that only read the schema."""
    info = new_database()
    yield info
    db.drop_database(info)


@pytest.fixture()
def fresh_db():
    """A migrated, empty database for one test (dropped afterwards)."""
    info = new_database()
    yield info
    db.drop_database(info)


def sample_database(prefix: str = "urbangis_test") -> str:
    """A new database holding the sample city, loaded through the loader data staff use."""
    from urbangis.ingest.gazetteer import load_gazetteer

    info = new_database(prefix)
    with db.connect(info) as conn:
        load_gazetteer(conn, SAMPLE)
        conn.commit()
    return info


@pytest.fixture(scope="session")
def sample_db():
    """A database holding the sample city, shared by tests that only read it."""
    info = sample_database()
    yield info
    db.drop_database(info)


@pytest.fixture(scope="session")
def client(sample_db):
    """An HTTP client on the real app over the sample database."""
    from fastapi.testclient import TestClient

    from urbangis.api.app import create_app

    with TestClient(create_app(sample_db)) as c:
        yield c


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@contextmanager
def served(app):
    """Run ``app`` under uvicorn on a free loopback port in a thread; yields its base URL, then stops it."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(sample_db):
    """A real HTTP server (uvicorn on a free loopback port) over the sample database; its base URL."""
    from urbangis.api.app import create_app

    with served(create_app(sample_db)) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, with a fresh profile (tests/browser.py), for the web pages' tests."""
    from tests.browser import chromium

    with chromium() as context:
        yield context
