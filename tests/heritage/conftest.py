"""Fixtures of the heritage tests that need PostGIS: a database holding the heritage sample (loaded
with the loaders), the demonstration pairs registered as epochs, and an app over it."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import new_database
from urbangis.api.app import create_app
from urbangis.ingest.gazetteer import LoadOptions, load_gazetteer
from urbangis.ingest.imagery import register
from urbangis.layers import database as db
from urbangis.layers.settings import Settings

SAMPLES = Path(__file__).resolve().parents[2] / "data-samples"
NAIP = (SAMPLES / "imagery" / "m_4709963_se_14_1_20090818.tif", SAMPLES / "imagery" / "m_4709963_se_14_1_20200831.tif")


def imagery_folder() -> Path:
    settings = Settings.from_env()
    return settings.heritage.imagery_folder(settings.database.home)


@pytest.fixture(scope="session")
def heritage_db():
    """The heritage sample and the NAIP pair (site HD-NAIP) in a database of their own."""
    import datetime as dt

    info = new_database("urbangis_heritage")
    with db.connect(info) as conn:
        load_gazetteer(conn, SAMPLES / "heritage")
        load_gazetteer(conn, SAMPLES / "heritage-demo", LoadOptions(outside_china=True))
        conn.commit()
        for path, day in zip(NAIP, (dt.date(2009, 8, 18), dt.date(2020, 8, 31))):
            register(conn, path, day, imagery_folder(), site_id="HD-NAIP")
    yield info
    db.drop_database(info)


@pytest.fixture(scope="session")
def heritage_api(heritage_db):
    with TestClient(create_app(heritage_db)) as c:
        yield c
