"""The in-memory model of the sample city (everything except the big streamed layers)."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import shapely
from shapely.geometry import Point

from .addresses import Courtyard, RoadAddresses, build_courtyards, road_addresses
from .admin import build_admin
from .density import density
from .grids import GridSampler, RespGrid, Supervisor, UnitGrids, build_responsibility, build_unit_grids
from .places import Organisation, Place, build_organisations, build_places
from .roads import Road, build_roads
from .skeleton import Skeleton, load_skeleton

DEFAULT_SEED = 20240601


@dataclass
class City:
    seed: int
    scale: float
    skeleton: Skeleton
    grids: UnitGrids
    resp: list[RespGrid]
    supervisors: list[Supervisor]
    roads: list[Road]
    courtyards: list[Courtyard]
    places: list[Place]
    organisations: list[Organisation]
    grid_sampler: GridSampler | None = None  # set by build_city
    case_sampler: GridSampler | None = None
    _comp: dict = field(default_factory=dict)

    @lru_cache(maxsize=4096)
    def addresses(self, i: int) -> RoadAddresses:
        """House numbers and buildings of roads[i] (derived again on demand, deterministic)."""
        return road_addresses(self.roads[i], self.seed)

    def __hash__(self) -> int:
        return id(self)

    # -- lookups used by the streamed layers --------------------------------------------------
    def _district_tree(self) -> shapely.STRtree:
        tree = self._comp.get("dtree")
        if tree is None:
            tree = self._comp["dtree"] = shapely.STRtree([d.geom for d in self.skeleton.districts])
        return tree

    def in_districts(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether each point lies inside one of the city's districts."""
        hit = self._district_tree().query(shapely.points(x, y), predicate="within")[0]
        inside = np.zeros(len(x), dtype=bool)
        inside[hit] = True
        return inside

    def district_at(self, x: float, y: float) -> str:
        tree = self._district_tree()
        hit = tree.query(Point(x, y), predicate="intersects")
        if len(hit):
            return self.skeleton.districts[int(hit[0])].code
        return self.skeleton.districts[int(tree.nearest(Point(x, y)))].code

    def grid_supervisor(self, g: int) -> str | None:
        sups = self._comp["resp_sup"].get(self.grids.resp[g])
        return sups[0] if sups else None

    def grid_address(self, g: int) -> str:
        return self._comp["grid_address"][g]

    def index_components(self, grid_idx: np.ndarray, codes: np.ndarray, names: np.ndarray) -> None:
        """Remember the grid-bound components so component cases can refer to real ones."""
        keep = grid_idx >= 0
        order = np.argsort(grid_idx[keep], kind="stable")
        self._comp["codes"] = codes[keep][order]
        self._comp["names"] = names[keep][order]
        gi = grid_idx[keep][order]
        self._comp["start"] = np.searchsorted(gi, np.arange(len(self.grids)))
        self._comp["end"] = np.searchsorted(gi, np.arange(len(self.grids)), side="right")

    def grid_components(self, g: int, u: float):
        s, e = self._comp["start"][g], self._comp["end"][g]
        if e <= s:
            return None
        k = s + int(u * (e - s))
        return str(self._comp["codes"][k]), str(self._comp["names"][k])


def _grid_addresses(city: City) -> list[str]:
    """A standard address near each unit grid's centre: district, road, nearest number, 附近."""
    roads = city.roads
    tree = shapely.STRtree([rd.geom for rd in roads])
    cent = shapely.centroid(np.array(city.grids.geom, dtype=object))
    nearest = tree.nearest(cent)
    names = {d.code: d.name for d in city.skeleton.districts}
    out = []
    for c, ri in zip(cent, nearest):
        rd = roads[int(ri)]
        frac = rd.geom.project(c) / max(rd.geom.length, 1.0)
        lo, hi, par = rd.left_from, rd.left_to, rd.left_parity
        if lo is None or hi is None:  # a side has both ends of its range or neither
            out.append(f"{names[rd.district_code]}{rd.name}附近")
            continue
        step = 1 if par == "all" else 2
        n = lo + step * round(frac * ((hi - lo) // step))
        out.append(f"{names[rd.district_code]}{rd.name}{n}号附近")
    return out


def build_city(seed: int = DEFAULT_SEED, scale: float = 1.0) -> City:
    """Build the deterministic in-memory city for ``seed`` and ``scale``."""
    sk = load_skeleton()
    build_admin(sk, seed)
    grids = build_unit_grids(sk)
    resp, sups = build_responsibility(sk, grids, seed)
    roads = build_roads(sk, seed, scale)
    urban = [c for c in sk.communities() if c.urban]
    courtyards = build_courtyards(urban, roads, seed, scale)
    taken = {rd.name for rd in roads} | {c.name for c in courtyards}
    places = build_places(sk, seed, taken)
    city = City(seed, scale, sk, grids, resp, sups, roads, courtyards, places, [])
    city.organisations = build_organisations(sk, roads, city.addresses, seed)
    cent = shapely.get_coordinates(shapely.centroid(np.array(grids.geom, dtype=object)))
    area = shapely.area(np.array(grids.geom, dtype=object))
    rho = density(cent[:, 0], cent[:, 1])
    city.grid_sampler = GridSampler(grids, area * rho)
    # cases gather in persistent hot spots (markets, bus hubs, old quarters): a heavy-tailed factor
    hot = np.random.default_rng(seed).lognormal(0.0, 1.1, len(grids))
    city.case_sampler = GridSampler(grids, area * rho**1.5 * hot)
    city._comp["resp_sup"] = {g.code: g.supervisors for g in resp}
    city._comp["grid_address"] = _grid_addresses(city)
    return city
