"""Freshness: a change to the gazetteer reaches answers within seconds, without a restart."""
from __future__ import annotations

import time

from urbangis.geocoder.refresh import GeocoderService
from urbangis.layers import database as db

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


def test_index_read_across_a_truncating_load_is_read_again(fresh_db, monkeypatch):
    """A big --replace empties its table with TRUNCATE, which a snapshot taken before its commit
    sees as empty. An index read in such a snapshot must not answer: it is read again."""
    from urbangis.geocoder import refresh

    gazetteer.load(fresh_db)
    real, calls = refresh.build_index, []

    def build_across_a_load(conn, **options):
        calls.append(1)
        if len(calls) == 1:  # the snapshot is taken; then a load replaces the house numbers and commits
            conn.execute("SELECT 1")
            with db.connect(fresh_db) as other:
                rows = other.execute("SELECT id, parent_kind, parent_id, number, geom FROM house_numbers").fetchall()
                other.execute("TRUNCATE house_numbers")
                with other.cursor() as cur:
                    cur.executemany("INSERT INTO house_numbers (id, parent_kind, parent_id, number, geom) "
                                    "VALUES (%s, %s, %s, %s, %s)", rows)
                other.commit()
        return real(conn, **options)

    monkeypatch.setattr(refresh, "build_index", build_across_a_load)
    service = GeocoderService(fresh_db)
    with db.connect(fresh_db) as conn:
        conn.autocommit = True
        service.rebuild(conn)
    assert len(calls) == 2
    best = service.geocoder.geocode("解放南路12号").candidates[0]
    assert best.id == "H1" and best.level == "exact"

