"""Fixtures of the ingest tests: a small test city (see city.py), loaded in a fresh database."""
from __future__ import annotations

import pytest

from tests.conftest import new_database
from urbangis.ingest.gazetteer import load_gazetteer
from urbangis.layers import database as db

from .city import write_city


@pytest.fixture(scope="session")
def city_dir(tmp_path_factory):
    """The test city as a gazetteer folder."""
    return write_city(tmp_path_factory.mktemp("city") / "city")


@pytest.fixture()
def city_db(city_dir):
    """A migrated database with the test city loaded, for one test (dropped afterwards)."""
    info = new_database()
    with db.connect(info) as conn:
        load_gazetteer(conn, city_dir)
    yield info
    db.drop_database(info)
