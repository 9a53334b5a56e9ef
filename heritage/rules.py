"""A protection zone's rules, and the changes that break them (违法违规建设, 破坏历史风貌).

A zone (layers/contract.py ``protection_zones``) says whether new construction is allowed (empty:
forbidden in a core protection area, allowed elsewhere), the highest a building may be and the
most a building's footprint may change, in per cent. What breaks a rule:

- ``new construction`` where new construction is forbidden;
- ``demolition`` in a core protection area (a historic fabric may be repaired, not removed);
- ``alteration`` in a zone whose footprint change limit is 0 (the core's default here);
- ``vegetation loss`` in any zone of a site (the natural surroundings are protected too); water
  change in a core protection area;
- for building footprints compared between two epochs (heritage/footprints.py): a new building or
  a height over ``max_height_m``, a footprint changed by more than ``max_footprint_change`` %.

Each violation is a short sentence an inspector reads; docs/heritage.md lists them.
"""
from __future__ import annotations

from dataclasses import dataclass

STRICTNESS = {"core": 0, "construction_control": 1, "environmental_coordination": 2}
ZONE_ZH = {"core": "核心保护范围", "construction_control": "建设控制地带", "environmental_coordination": "环境协调区"}


@dataclass(frozen=True)
class Zone:
    """A protection zone and its rules."""

    id: str
    site_id: str
    name: str
    kind: str
    new_construction: str | None
    max_height_m: int | None
    max_footprint_change: int | None

    @property
    def forbids_new(self) -> bool:
        return (self.new_construction or ("forbidden" if self.kind == "core" else "allowed")) == "forbidden"

    @property
    def footprint_limit(self) -> int | None:
        """Per cent a footprint may change; the core's default is 0."""
        if self.max_footprint_change is not None:
            return self.max_footprint_change
        return 0 if self.kind == "core" else None


def patch_violations(cls: str, zone: Zone | None) -> list[str]:
    """The rules of ``zone`` a change patch of class ``cls`` (new_construction, demolition, ...) breaks."""
    if zone is None:
        return []
    where = _where(zone)
    out = []
    if cls == "new_construction" and zone.forbids_new:
        out.append(f"new construction where the zone forbids it ({where})")
    if cls == "demolition" and zone.kind == "core":
        out.append(f"demolition in a core protection area ({where})")
    if cls == "alteration" and zone.footprint_limit == 0:
        out.append(f"alteration where no change of a building is allowed ({where})")
    if cls == "vegetation_loss":
        out.append(f"loss of vegetation, the site's natural surroundings ({where})")
    if cls == "water_change" and zone.kind == "core":
        out.append(f"change of water in a core protection area ({where})")
    return out


def building_violations(change: str, zone: Zone | None, height_m: float | None = None,
                        footprint_change_pct: float | None = None) -> list[str]:
    """The rules of ``zone`` a building change (``new``, ``demolished``, ``altered``) breaks."""
    if zone is None:
        return []
    where = _where(zone)
    out = []
    if change == "new" and zone.forbids_new:
        out.append(f"a new building where the zone forbids it ({where})")
    if change == "demolished" and zone.kind == "core":
        out.append(f"a building demolished in a core protection area ({where})")
    if height_m is not None and zone.max_height_m is not None and height_m > zone.max_height_m:
        out.append(f"{height_m:g} m high where the zone allows {zone.max_height_m} m ({where})")
    limit = zone.footprint_limit
    if change == "altered" and footprint_change_pct is not None and limit is not None \
            and abs(footprint_change_pct) > limit:
        out.append(f"footprint changed by {footprint_change_pct:+.0f} % where the zone allows {limit} % ({where})")
    return out


def _where(zone: Zone) -> str:
    return f"{ZONE_ZH.get(zone.kind, zone.kind)} {zone.name}"


def zone_of(geom, zones: list[tuple[Zone, object]]) -> Zone | None:
    """The zone a patch belongs to: of those it overlaps, the strictest (core before
    construction control before environmental coordination), then the one it overlaps most."""
    best = None
    for zone, outline in zones:
        share = geom.intersection(outline).area if geom.intersects(outline) else 0.0
        if share <= 0:
            continue
        key = (STRICTNESS.get(zone.kind, 9), -share)
        if best is None or key < best[0]:
            best = (key, zone)
    return best[1] if best else None
