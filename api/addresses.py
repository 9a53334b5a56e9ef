"""The server's geocoder as a function from addresses to CGCS2000 (lon, lat), for loads of tables
that carry addresses instead of coordinates (``urbangis load`` and ``POST /ingest/jobs``). Kept out
of the HTTP routes so that the command line does not import FastAPI to load a file."""
from __future__ import annotations

from typing import Callable, Sequence

from layers import database as db


def address_geocoder(info: str) -> Callable[[Sequence[str]], list]:
    """Addresses -> CGCS2000 (lon, lat) with the geocoder over the database at ``info``; an
    address that only matches an admin area (a district, a community) counts as not found."""
    from geocoder.engine import Geocoder
    from geocoder.index import build_index

    with db.connect(info) as conn:
        ix = build_index(conn)
    engine = Geocoder(ix)

    def geocode(addresses: Sequence[str]) -> list:
        out = []
        for text in addresses:
            answer = engine.geocode(text, limit=1)
            best = answer.candidates[0] if answer.candidates else None
            if best is None or best.level == "area":
                out.append(None)
            else:
                lon, lat = ix.plane.inv(best.x, best.y)
                out.append((float(lon), float(lat)))
        return out

    return geocode


def lazy_address_geocoder(info: str) -> Callable[[Sequence[str]], list]:
    """A geocode function that builds the geocoder's index only if a file needs it."""
    impl: list = []

    def geocode(addresses):
        if not impl:
            impl.append(address_geocoder(info))
        return impl[0](addresses)

    return geocode
