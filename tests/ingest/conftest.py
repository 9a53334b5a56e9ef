"""Fixtures of the ingest tests: a fresh database holding the sample city, per test."""
from __future__ import annotations

import pytest

from ingest.gazetteer import load_gazetteer
from layers import database as db

from tests.conftest import new_database
from tests.paths import SAMPLE


@pytest.fixture()
def city_db():
    """A migrated database with the sample city loaded, for one test (dropped afterwards)."""
    info = new_database()
    with db.connect(info) as conn:
        load_gazetteer(conn, SAMPLE)
    yield info
    db.drop_database(info)
