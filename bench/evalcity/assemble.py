"""Putting the town together and writing it: :func:`make_town` and :func:`build`."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import addresses, admin, components, features, queries, town
from .county import County, load
from .gazetteer import Town, write
from .model import Area, Ids
from .roads import name_roads


def _rng(seed: int, stage: int) -> np.random.Generator:
    """One generator per stage, so that a change in one stage leaves the others' draws alone."""
    return np.random.default_rng([seed, stage])


def make_town(county_code: str = "652902", seed: int = 1) -> Town:
    """The whole synthetic town around the real seat of ``county_code``."""
    county: County = load(county_code)
    lay = town.lay_out(county.to_local(county.outline), _rng(seed, 1))
    streets, communities = admin.partition(lay.outline, county, _rng(seed, 2))
    ids = Ids(county.code)
    roads = name_roads(lay, county.code, _rng(seed, 3))
    rng = _rng(seed, 4)
    doors = addresses.road_doors(roads, ids, rng)
    buildings = addresses.door_buildings(roads, doors, ids, rng)
    stores = addresses.storefronts(roads, doors, ids, rng)
    carver = features.Carver(lay, roads, communities)
    rng = _rng(seed, 5)
    places, place_doors, place_buildings = features.places(lay, roads, carver, ids, rng)
    yards, yard_doors, yard_buildings = features.courtyards(carver, streets, communities, ids, rng)
    orgs, org_buildings = features.organisations(county, carver, streets, roads, doors, ids, rng)
    grids = admin.unit_grids(communities, county)
    resp = admin.responsibility_grids(streets, communities, county)
    t = Town(
        county=county, layout=lay,
        province=Area(county.province_code, county.province_name, "province", None, None),
        city=Area(county.city_code, county.city_name, "city", county.province_code, None),
        district=Area(county.code, county.name, "district", county.city_code, None, ll=county.outline),
        streets=streets, communities=communities, roads=roads,
        doors=doors + place_doors + yard_doors,
        buildings=buildings + place_buildings + yard_buildings + org_buildings,
        places=places, courtyards=yards, orgs=orgs, stores=stores, unit_grids=grids, resp_grids=resp)
    t.to_lonlat()
    drafts = components.components(county, roads, places, yards, carver, _rng(seed, 6))
    t.components = components.code_components(drafts, grids, county, _rng(seed, 7))
    return t


def build(out: Path, county: str = "652902", seed: int = 1, per_model: int = 80) -> dict:
    """Write ``out/gazetteer/<layer>.geojson`` and ``out/queries.jsonl``; return what was written:
    {"gazetteer": folder, "queries": path, "layers": {layer: rows}, "queries_by_model": {model: n},
    "noise": {kind: n}, "made_up": n, "seconds": s}."""
    t0 = time.monotonic()
    out = Path(out)
    t = make_town(county, seed)
    written = write(t, out / "gazetteer")
    qs = queries.make_queries(t, per_model, _rng(seed, 8))
    qpath = out / "queries.jsonl"
    with qpath.open("w", encoding="utf-8") as f:
        for q in qs:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    by_model: dict[int, int] = {}
    noise: dict[str, int] = {}
    for q in qs:
        by_model[q["model"]] = by_model.get(q["model"], 0) + 1
        for k in q["noise"]:
            noise[k] = noise.get(k, 0) + 1
    return {"gazetteer": out / "gazetteer", "queries": qpath,
            "layers": {k: n for k, (_, n) in written.items()},
            "queries_by_model": dict(sorted(by_model.items())),
            "noisy": sum(1 for q in qs if q["noisy"]), "noise": dict(sorted(noise.items())),
            "made_up": sum(1 for q in qs if q.get("made_up")), "seconds": round(time.monotonic() - t0, 1)}
