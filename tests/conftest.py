"""Fixtures that build real PostGIS databases on the project's cluster. No mocks, no skips:
if PostGIS cannot be reached, every test that needs it fails with the reason."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from psycopg.conninfo import make_conninfo

from layers import database as db
from layers.migrate import migrate

from tests.paths import OUTPUT, SAMPLE


def _server_conninfo() -> str:
    """The configured database server; the embedded cluster is started if it is not running."""
    settings = db.get_settings()
    if not settings.external:
        cluster = db.cluster_for(settings)
        cluster.init()
        cluster.start()
        cluster.wait_ready()
    return db.conninfo(settings)


def new_database(prefix: str = "urbangis_test") -> str:
    """A fresh, migrated database beside the configured one; returns its conninfo."""
    info = make_conninfo(_server_conninfo(), dbname=f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}")
    db.create_database(info)
    with db.connect(info, autocommit=True) as conn:
        migrate(conn)
    return info


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


@pytest.fixture(scope="session")
def sample_db():
    """A database holding the sample city, loaded through the same loader data staff use."""
    from ingest.gazetteer import load_gazetteer

    info = new_database()
    with db.connect(info) as conn:
        load_gazetteer(conn, SAMPLE)
        conn.commit()
    yield info
    db.drop_database(info)


@pytest.fixture(scope="session")
def client(sample_db):
    """An HTTP client on the real app over the sample database."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(sample_db)) as c:
        yield c


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT
