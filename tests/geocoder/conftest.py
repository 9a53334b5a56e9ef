"""Fixtures of the geocoder tests: the hand-made gazetteer in a real database, its index."""
from __future__ import annotations

import pytest

from tests.conftest import new_database
from urbangis.geocoder.engine import Geocoder
from urbangis.geocoder.index import build_index
from urbangis.layers import database as db

from . import gazetteer


@pytest.fixture(scope="session")
def geo_db():
    """A migrated database holding tests/geocoder/gazetteer.py (shared, read-only)."""
    info = new_database()
    gazetteer.load(info)
    yield info
    db.drop_database(info)


@pytest.fixture(scope="session")
def index(geo_db):
    with db.connect(geo_db) as conn:
        return build_index(conn)


@pytest.fixture(scope="session")
def geocoder(index):
    return Geocoder(index)
