"""Callers' areas as outlines, for answers made from in-memory indexes (the geocoder's) that
row-level security does not see: the outline is PostgreSQL's (read through the caller's scoped
connection: ``urbangis_scope_area()``), tested here with shapely's prepared geometry so a batch of
100,000 addresses needs one read, not one query per row."""
from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np
import psycopg
import shapely
from shapely import wkb

KEEP = 60.0  # seconds an outline is reused (outlines change with a reload of admin_areas)


class Outlines:
    def __init__(self):
        self._seen: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def cached(self, area: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
        """The test of ``area`` if its outline was read within :data:`KEEP` seconds (no database)."""
        hit = self._seen.get(area)
        return _tester(hit[1]) if hit is not None and time.monotonic() - hit[0] <= KEEP else None

    def test(self, conn: psycopg.Connection, area: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """A function of lon/lat arrays (CGCS2000 degrees) -> inside ``area``'s outline (nothing is
        inside an unknown or empty area)."""
        now = time.monotonic()
        hit = self._seen.get(area)
        if hit is None or now - hit[0] > KEEP:
            row = conn.execute("SELECT ST_AsBinary(urbangis_scope_area())").fetchone()
            geom = wkb.loads(bytes(row[0])) if row and row[0] is not None else None
            if geom is not None:
                shapely.prepare(geom)
            with self._lock:
                self._seen[area] = hit = (now, geom)
        return _tester(hit[1])


def _tester(geom) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if geom is None:
        return lambda lon, lat: np.zeros(np.shape(lon), np.bool_)
    return lambda lon, lat: shapely.contains_xy(geom, np.asarray(lon, float), np.asarray(lat, float))
