"""The geocoder as a function from addresses to CGCS2000 (lon, lat), for loads of tables that
carry addresses instead of coordinates (``urbangis load`` and ``POST /ingest/jobs``). Kept out of
the HTTP routes so that the command line does not import FastAPI to load a file.

In the server, loads use the running geocoder's index (:func:`geocode_function`); the command
line, which has none, builds one only if a file needs it (:func:`lazy_address_geocoder`)."""
from __future__ import annotations

from typing import Callable, Sequence

from urbangis.geocoder.engine import Geocoder
from urbangis.layers import database as db
from urbangis.layers.settings import GeocoderSettings

# below this confidence an exact match is reported (parts of the address left unused, say)
SURE = 0.8

# where an address is placed: CGCS2000 (lon, lat), with a note when less precisely than it asks for
Placement = tuple[float, float] | tuple[float, float, str]
Geocode = Callable[[Sequence[str]], list[Placement | None]]


def geocode_function(current: Callable[[], Geocoder]) -> Geocode:
    """Addresses -> CGCS2000 (lon, lat) with the geocoder ``current()`` returns (taken once per
    batch of addresses: one index for the batch); an address that only matches an admin area (a
    district, a community) counts as not found. A placement less precise than the address asks
    for (on the road only, by its address ranges, a road's name read as another's, a low
    confidence) comes with a note, (lon, lat, note), which the load reports as a warning on that
    row: the row is loaded where the geocoder put it, and staff can see where."""

    def geocode(addresses: Sequence[str]) -> list[Placement | None]:
        engine = current()
        ix = engine.ix
        out: list[Placement | None] = []
        for text in addresses:
            answer = engine.geocode(text, limit=1)
            best = answer.candidates[0] if answer.candidates else None
            if best is None or best.level == "area":
                out.append(None)
            else:
                lon, lat = ix.plane.inv(best.x, best.y)
                note = placement_note(best)
                out.append((float(lon), float(lat), note) if note else (float(lon), float(lat)))
        return out

    return geocode


_LEVELS = {2: "province", 4: "city", 6: "district", 9: "street", 12: "community"}  # code length -> level


def placement_note(best) -> str | None:
    """What a load should say of a geocoder answer it places a row by, or None for a sure one."""
    reading = best.reading or {}
    said = [f"confidence {best.score:.2f}"]
    road = reading.get("road")
    if road and road not in best.label:  # a typo, an alias or a historic name read as the gazetteer's
        said.insert(0, f"{road} read as {best.label}")
    codes = [area["code"] for area in best.chain]
    # the areas the address names are code prefixes (6501 for 乌鲁木齐市, 650102 for 天山区)
    outside = [reading.get(_LEVELS.get(len(want), ""), want) for want in best.want or ()
               if not any(code.startswith(want) for code in codes)]
    if outside:
        said.insert(0, f"outside {', '.join(outside)}, which the address names")
    within = "".join(area["name"] for area in best.chain if area["level"] in ("district", "street"))
    at = f"{best.label} in {within}" if within else best.label
    if best.level == "road":
        house = reading.get("house")
        where = (f"placed on the road {at}, not at a house number: no. {house} is not in the gazetteer"
                 if house else f"placed on the road {at}: the address names no house number")
    elif best.level == "interpolated":
        where = f"placed at {at} by the road's address ranges: the number is not in the gazetteer"
    elif best.level == "grid":
        where = f"placed at the middle of unit grid {at}"
    elif best.level == "approximate":
        where = f"placed at {at}, whose name lacks the road-type word the address gives it (no such road)"
    elif best.score < SURE or len(said) > 1:
        where = f"placed at {at}"
    else:
        return None
    return f"{where} ({'; '.join(said)})"


def lazy_address_geocoder(info: str, settings: GeocoderSettings) -> Geocode:
    """For the command line: a geocode function that builds the geocoder's index over the database
    at ``info`` only if a file needs it, once."""
    built: list[Geocoder] = []

    def current() -> Geocoder:
        if not built:
            from urbangis.geocoder.index import build_index
            from urbangis.geocoder.models import load_models

            with db.connect(info) as conn:
                ix = build_index(conn, side_offset=settings.side_offset)
            built.append(Geocoder(ix, load_models(settings.models)))
        return built[0]

    return geocode_function(current)
