"""Generating the whole gazetteer into a folder, streaming the big layers in chunks."""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np
import shapely
from shapely.geometry import MultiLineString, Point

from .addresses import road_addresses
from .cases import case_total, generate_cases
from .city import DEFAULT_SEED, City, build_city
from .components import COMPONENTS_PER_SCALE, generate_components
from .grids import build_patrol_points
from .places import road_storefronts
from .writer import LayerWriter, write_csv

log = logging.getLogger("urbangis.samplecity")

Progress = Callable[[str, int, int], None]
FLUSH = 50_000


def _join(values) -> str | None:
    return "|".join(values) if values else None


def _admin(city: City, out: Path) -> int:
    sk = city.skeleton
    w = LayerWriter(out, "admin_areas", ["code", "name", "level", "parent_code", "aliases", "source"])
    rows: dict[str, list] = {k: [] for k in w.fields}
    geoms = []
    areas = [(sk.province, "real"), (sk.city, "real")] + [(d, "real") for d in sk.districts]
    areas += [(s, "synthetic outline") for s in sk.streets()] + [(c, "synthetic outline") for c in sk.communities()]
    for a, source in areas:
        rows["code"].append(a.code)
        rows["name"].append(a.name)
        rows["level"].append(a.level)
        rows["parent_code"].append(a.parent_code)
        rows["aliases"].append(_join(a.aliases))
        rows["source"].append(source)
        geoms.append(a.geom)
    w.write(rows, geoms)
    return w.rows


def _grids(city: City, out: Path) -> int:
    g = city.grids
    w = LayerWriter(out, "unit_grids", ["code", "community_code", "responsibility_grid"])
    w.write({"code": g.code, "community_code": g.community, "responsibility_grid": g.resp}, g.geom)
    r = LayerWriter(out, "responsibility_grids", ["code", "name", "district_code", "street_code"])
    r.write({"code": [x.code for x in city.resp], "name": [x.name for x in city.resp],
             "district_code": [x.district_code for x in city.resp], "street_code": [x.street_code for x in city.resp]},
            [x.geom for x in city.resp])
    write_csv(out / "supervisors.csv", ["id", "name", "grid_codes", "phone"],
              [[s.id, s.name, "|".join(s.grid_codes), s.phone] for s in city.supervisors])
    return w.rows + r.rows + len(city.supervisors)


def _patrol_points(city: City, out: Path) -> int:
    w = LayerWriter(out, "patrol_points", ["id", "name", "grid_code"])
    pts = build_patrol_points(city.resp, city.roads, city.seed)
    w.write({"id": [p.id for p in pts], "name": [p.name for p in pts], "grid_code": [p.grid_code for p in pts]},
            [p.geom for p in pts])
    return w.rows


def _roads(city: City, out: Path) -> int:
    fields = ["id", "name", "aliases", "historic_names", "kind", "district_code", "left_from", "left_to",
              "right_from", "right_to", "left_parity", "right_parity"]
    w = LayerWriter(out, "roads", fields)
    rows: dict[str, list] = {k: [] for k in fields}
    for rd in city.roads:
        for k in fields:
            v = getattr(rd, k)
            rows[k].append(_join(v) if isinstance(v, list) else v)
    w.write(rows, [MultiLineString([rd.geom]) for rd in city.roads])
    return w.rows


class _Buffered:
    """Collect rows of a layer and flush them to its writer every FLUSH rows."""

    def __init__(self, writer: LayerWriter, progress: Progress | None, total: int):
        self.w, self.progress, self.total = writer, progress, total
        self.rows: dict[str, list] = {k: [] for k in writer.fields}
        self.geoms: list = []

    def add(self, geom, **values) -> None:
        for k in self.w.fields:
            self.rows[k].append(values.get(k))
        self.geoms.append(geom)
        if len(self.geoms) >= FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.geoms:
            self.w.write(self.rows, self.geoms)
            if self.progress:
                self.progress(self.w.layer, len(self.geoms), self.total)
        self.rows = {k: [] for k in self.w.fields}
        self.geoms = []


def _houses(hn: _Buffered, houses) -> None:
    """Add house numbers to the house_numbers layer."""
    for h in houses:
        hn.add(Point(h.x, h.y), id=h.id, parent_kind=h.parent_kind, parent_id=h.parent_id, number=h.number)


def _buildings(bd: _Buffered, buildings) -> None:
    """Add buildings to the buildings layer."""
    for b in buildings:
        bd.add(Point(b.x, b.y), id=b.id, parent_kind=b.parent_kind, parent_id=b.parent_id, number=b.number)


def _place_names(city: City, out: Path) -> int:
    """The place_names layer; its row count."""
    pl = LayerWriter(out, "place_names", ["id", "name", "aliases", "historic_names", "kind", "district_code"])
    pl.write({"id": [p.id for p in city.places], "name": [p.name for p in city.places],
              "aliases": [_join(p.aliases) for p in city.places],
              "historic_names": [_join(p.historic_names) for p in city.places],
              "kind": [p.kind for p in city.places], "district_code": [p.district_code for p in city.places]},
             [p.geom for p in city.places])
    return pl.rows


def _courtyards(city: City, out: Path) -> int:
    """The courtyards layer; its row count."""
    cy = LayerWriter(out, "courtyards", ["id", "name", "kind", "street_code", "community_code", "aliases",
                                         "road_id", "house_number"])
    cs = city.courtyards
    cy.write({"id": [c.id for c in cs], "name": [c.name for c in cs], "kind": [c.kind for c in cs],
              "street_code": [c.street_code for c in cs], "community_code": [c.community_code for c in cs],
              "aliases": [_join(c.aliases) for c in cs], "road_id": [c.road_id for c in cs],
              "house_number": [c.house_number for c in cs]}, [c.geom for c in cs])
    return cy.rows


def _organisations(city: City, out: Path) -> int:
    """The organisations layer; its row count."""
    og = LayerWriter(out, "organisations", ["id", "name", "aliases", "kind", "road_id", "house_number"])
    os_ = city.organisations
    og.write({"id": [o.id for o in os_], "name": [o.name for o in os_], "aliases": [_join(o.aliases) for o in os_],
              "kind": [o.kind for o in os_], "road_id": [o.road_id for o in os_],
              "house_number": [o.house_number for o in os_]}, [o.geom for o in os_])
    return og.rows


def _addresses(city: City, out: Path, progress: Progress | None) -> dict[str, int]:
    """House numbers, buildings, storefronts (road by road), places, courtyards, organisations."""
    hn = _Buffered(LayerWriter(out, "house_numbers", ["id", "parent_kind", "parent_id", "number"]), progress, 0)
    bd = _Buffered(LayerWriter(out, "buildings", ["id", "parent_kind", "parent_id", "number"]), progress, 0)
    sf = _Buffered(LayerWriter(out, "storefronts", ["id", "name", "road_id", "house_number", "category"]), progress, 0)
    for i, rd in enumerate(city.roads):
        ra = city.addresses(i) if city.scale <= 1 else road_addresses(rd, city.seed)
        _houses(hn, ra.houses)
        _buildings(bd, ra.buildings)
        for s in road_storefronts(rd, ra, city.seed, city.scale):
            sf.add(Point(s.x, s.y), id=s.id, name=s.name, road_id=s.road_id, house_number=s.house_number,
                   category=s.category)
    places = _place_names(city, out)
    for p in city.places:
        _houses(hn, p.houses)
        _buildings(bd, p.buildings)
    courtyards = _courtyards(city, out)
    for c in city.courtyards:
        _houses(hn, c.houses)
        _buildings(bd, c.buildings)
    organisations = _organisations(city, out)
    for o in city.organisations:
        _buildings(bd, o.buildings)
    for buf in (hn, bd, sf):
        buf.flush()
    return {"house_numbers": hn.w.rows, "buildings": bd.w.rows, "storefronts": sf.w.rows,
            "place_names": places, "courtyards": courtyards, "organisations": organisations}


def _components(city: City, out: Path, progress: Progress | None) -> int:
    w = LayerWriter(out, "components", ["code", "name", "status", "owner_dept", "grid_code"])
    total = int(round(COMPONENTS_PER_SCALE * city.scale))
    gidx, codes, names = [], [], []
    for ch in generate_components(city, city.scale, city.seed):
        w.write({"code": ch.code, "name": ch.name, "status": ch.status, "owner_dept": ch.owner_dept,
                 "grid_code": ch.grid_code}, ch.geom)
        gidx.append(ch.grid_idx)
        codes.append(np.asarray(ch.code, dtype="U16"))
        names.append(np.asarray(ch.name))
        if progress:
            progress("components", len(ch.code), total)
    city.index_components(np.concatenate(gidx), np.concatenate(codes), np.concatenate(names))
    return w.rows


def _cases(city: City, out: Path, progress: Progress | None, total: int) -> int:
    fields = ["case_no", "kind", "major_class", "minor_class", "component_code", "status", "source", "description",
              "address", "supervisor_id", "grid_code", "district_code", "reported_at", "closed_at", "duplicate_of"]
    w = LayerWriter(out, "cases", fields)
    for ch in generate_cases(city, city.scale, city.seed, total):
        w.write(ch.columns, shapely.points(ch.x, ch.y))
        if progress:
            progress("cases", len(ch.x), total)
    return w.rows


def generate(out: Path, seed: int = DEFAULT_SEED, scale: float = 1.0, cases: int | None = None,
             progress: Progress | None = None, city: City | None = None) -> dict[str, int]:
    """Write the sample city's gazetteer into ``out`` (``city``: one already built for ``seed`` and
    ``scale``, e.g. to draw its evaluation set from as well); returns rows per layer."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    city = city or build_city(seed, scale)
    log.info("city model built in %.1f s", time.perf_counter() - t0)
    counts = {"admin_areas": _admin(city, out)}
    counts["unit_grids+responsibility+supervisors"] = _grids(city, out)
    counts["roads"] = _roads(city, out)
    counts["patrol_points"] = _patrol_points(city, out)
    counts.update(_addresses(city, out, progress))
    counts["components"] = _components(city, out, progress)
    counts["cases"] = _cases(city, out, progress, case_total(scale) if cases is None else cases)
    log.info("generated in %.1f s: %s", time.perf_counter() - t0, counts)
    return counts
