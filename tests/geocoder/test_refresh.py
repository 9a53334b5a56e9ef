"""Freshness: a change to the gazetteer reaches answers within seconds, without a restart."""
from __future__ import annotations

import time

from geocoder.refresh import GeocoderService
from layers import database as db

from . import gazetteer


def test_service_rebuilds_after_a_load(fresh_db):
    gazetteer.load(fresh_db)
    service = GeocoderService(fresh_db, interval=0.2)
    service.start()
    try:
        g = service.wait_ready(30)
        assert g is not None and g.geocode("解放南路12号").candidates[0].id == "H1"
        assert g.geocode("解放南路14号").candidates[0].level == "interpolated"
        with db.connect(fresh_db) as conn:
            conn.execute("INSERT INTO house_numbers (id, parent_kind, parent_id, number, geom)"
                         " VALUES ('H99', 'road', 'R1', '14', ST_SetSRID(ST_MakePoint(87.6060, 43.7899), 4490))")
            conn.commit()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            best = service.geocoder.geocode("解放南路14号").candidates[0]
            if best.id == "H99":
                break
            time.sleep(0.1)
        assert best.id == "H99" and best.level == "exact"
        assert service.builds >= 2
        # the old geocoder a request may still hold keeps answering from its own index
        assert g.geocode("解放南路14号").candidates[0].level == "interpolated"
    finally:
        service.stop()
