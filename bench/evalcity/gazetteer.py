"""The evaluation town as one object, and its gazetteer written as GeoJSON (EPSG:4490, declared
with the ``crs`` member GDAL writes and reads), one file per layer, field names as in docs/data-contract.md.
Multi-valued fields are joined with ``|``; codes are strings; empty values are null."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from shapely.geometry import mapping

from .county import County
from .model import Area, Building, Component, Courtyard, Door, Org, Place, RespGrid, Road, Store, UnitGrid
from .town import Layout


@dataclass
class Town:
    county: County
    layout: Layout
    province: Area
    city: Area
    district: Area
    streets: list[Area]
    communities: list[Area]
    roads: list[Road]
    doors: list[Door]  # road, place and courtyard doors; road doors without a point have present False
    buildings: list[Building]
    places: list[Place]
    courtyards: list[Courtyard]
    orgs: list[Org]
    stores: list[Store]
    unit_grids: list[UnitGrid]
    resp_grids: list[RespGrid]
    components: list[Component] = field(default_factory=list)

    def to_lonlat(self) -> None:
        """Fill ``ll`` (EPSG:4490, rounded as written) of every feature with a local geometry."""
        for group in (self.streets, self.communities, self.roads, self.doors, self.buildings, self.places,
                      self.courtyards, self.orgs, self.stores, self.unit_grids, self.resp_grids):
            for f in group:
                f.ll = self.county.to_lonlat(f.geom)


# the legacy GeoJSON crs member as GDAL writes it: readers take the coordinates as CGCS2000
CRS = '{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}'


def _join(values: list[str]) -> str | None:
    return "|".join(values) if values else None


def _feature(geom, props: dict) -> dict:
    return {"type": "Feature", "properties": props, "geometry": None if geom is None else mapping(geom)}


def layers(town: Town) -> dict[str, list[dict]]:
    """Every layer's GeoJSON features."""
    c = town.county
    admin = [_feature(None, {"code": a.code, "name": a.name, "level": a.level, "parent_code": a.parent,
                             "aliases": None}) for a in (town.province, town.city)]
    admin.append(_feature(town.district.ll, {"code": c.code, "name": c.name, "level": "district",
                                             "parent_code": c.city_code, "aliases": None}))
    admin += [_feature(a.ll, {"code": a.code, "name": a.name, "level": a.level, "parent_code": a.parent,
                              "aliases": None}) for a in town.streets + town.communities]
    out = {"admin_areas": admin}
    out["unit_grids"] = [_feature(g.ll, {"code": g.code, "community_code": g.community_code}) for g in town.unit_grids]
    out["responsibility_grids"] = [_feature(g.ll, {"code": g.code, "name": g.name, "district_code": g.district_code})
                                   for g in town.resp_grids]
    out["roads"] = [_feature(r.ll, {
        "id": r.id, "name": r.name, "aliases": _join(r.aliases), "historic_names": _join(r.historic),
        "kind": r.kind, "district_code": c.code,
        **{k: r.ranges.get(k) for k in ("left_from", "left_to", "right_from", "right_to", "left_parity",
                                        "right_parity")}}) for r in town.roads]
    out["place_names"] = [_feature(p.ll, {"id": p.id, "name": p.name, "aliases": _join(p.aliases),
                                          "historic_names": _join(p.historic), "kind": p.kind,
                                          "district_code": c.code}) for p in town.places]
    out["courtyards"] = [_feature(y.ll, {"id": y.id, "name": y.name, "kind": y.kind, "street_code": y.street_code,
                                         "community_code": y.community_code, "aliases": _join(y.aliases)})
                         for y in town.courtyards]
    out["house_numbers"] = [_feature(d.ll, {"id": d.id, "parent_kind": d.parent_kind, "parent_id": d.parent_id,
                                            "number": d.number}) for d in town.doors if d.present]
    out["organisations"] = [_feature(o.ll, {"id": o.id, "name": o.name, "aliases": _join(o.aliases), "kind": o.kind,
                                            "road_id": o.road_id, "house_number": o.house_number})
                            for o in town.orgs]
    out["buildings"] = [_feature(b.ll, {"id": b.id, "parent_kind": b.parent_kind, "parent_id": b.parent_id,
                                        "number": b.number}) for b in town.buildings]
    out["storefronts"] = [_feature(s.ll, {"id": s.id, "name": s.name, "road_id": s.road_id,
                                          "house_number": s.house_number, "category": s.category})
                          for s in town.stores]
    out["components"] = [_feature(k.ll, {"code": k.code, "name": k.name, "status": k.status,
                                         "owner_dept": k.owner_dept, "grid_code": k.grid_code})
                         for k in town.components]
    return out


def write(town: Town, folder: Path) -> dict[str, tuple[Path, int]]:
    """One ``<layer>.geojson`` per layer in ``folder``; returns layer -> (path, rows)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, feats in layers(town).items():
        path = folder / f"{name}.geojson"
        with path.open("w", encoding="utf-8") as f:
            f.write('{"type": "FeatureCollection", "name": "%s",\n"crs": %s,\n"features": [\n' % (name, CRS))
            f.write(",\n".join(json.dumps(x, ensure_ascii=False, separators=(",", ":")) for x in feats))
            f.write("\n]}\n")
        written[name] = (path, len(feats))
    return written
