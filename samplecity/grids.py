"""Unit grids (万米单元网格), responsibility grids (责任网格) and the supervisors bound to them.

Unit grids are the cells of one 100 m lattice (EPSG:4538) cut to each urban community, so they
cover the communities without gaps or overlaps and line up across community borders. Slivers
under a tenth of a cell join their neighbour. Codes: community code + 3-digit sequence, west to
east, then north to south (GB/T 30428.1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from .names import person_name
from .partition import polygons_of
from .rand import rng
from .skeleton import Skeleton

CELL_M = 100.0
SLIVER_M2 = 0.1 * CELL_M * CELL_M
RESP_KM2 = 1.0  # a supervisor patrols about this much


@dataclass
class UnitGrids:
    """All unit grids, as parallel arrays (geometry in metres)."""

    code: list[str] = field(default_factory=list)
    community: list[str] = field(default_factory=list)
    geom: list = field(default_factory=list)
    resp: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.code)


@dataclass
class RespGrid:
    code: str
    name: str
    district_code: str
    street_code: str
    geom: BaseGeometry  # MultiPolygon, metres
    supervisors: list[str] = field(default_factory=list)


@dataclass
class PatrolPoint:
    id: str
    name: str
    grid_code: str
    geom: BaseGeometry  # Point, metres


@dataclass
class Supervisor:
    id: str
    name: str
    grid_codes: list[str]
    phone: str


def community_cells(community_geom) -> list:
    """The lattice cells cut to one community, slivers merged, in code order."""
    x0, y0, x1, y1 = community_geom.bounds
    i0, i1 = int(np.floor(x0 / CELL_M)), int(np.ceil(x1 / CELL_M))
    j0, j1 = int(np.floor(y0 / CELL_M)), int(np.ceil(y1 / CELL_M))
    mi, mj = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1))
    ii, jj = mi.ravel(), mj.ravel()
    boxes = shapely.box(ii * CELL_M, jj * CELL_M, (ii + 1) * CELL_M, (jj + 1) * CELL_M)
    shapely.prepare(community_geom)
    hit = shapely.intersects(community_geom, boxes)
    ii, jj, boxes = ii[hit], jj[hit], boxes[hit]
    pieces = shapely.intersection(boxes, community_geom)
    cells: dict[tuple[int, int], BaseGeometry] = {}
    small: list[tuple[tuple[int, int], BaseGeometry]] = []
    for i, j, piece in zip(ii.tolist(), jj.tolist(), pieces):
        polys = polygons_of(piece)
        if not polys:
            continue
        g = shapely.union_all(polys)
        if g.area < SLIVER_M2:
            small.append(((i, j), g))
        else:
            cells[(i, j)] = g
    for (i, j), g in small:
        best, best_len = None, 0.0
        for key in ((i - 1, j), (i + 1, j), (i, j - 1), (i, j + 1)):
            host = cells.get(key)
            if host is not None:
                shared = g.boundary.intersection(host.boundary).length
                if shared > best_len:
                    best, best_len = key, shared
        if best is None:
            if g.area >= 100.0:
                cells[(i, j)] = g  # an isolated sliver stays a (small) grid of its own
            # under 100 m²: a crumb of the community outline, left out (below the coverage tolerance)
        else:
            cells[best] = shapely.union_all([cells[best], g])
    # west to east, then north to south: rows from the north, columns from the west
    order = sorted(cells, key=lambda k: (-k[1], k[0]))
    return [cells[k] for k in order]


def build_unit_grids(sk: Skeleton) -> UnitGrids:
    grids = UnitGrids()
    for c in sk.communities():
        if not c.urban:
            continue
        cells = community_cells(c.geom)
        if len(cells) > 999:
            raise ValueError(f"community {c.code} {c.name} needs {len(cells)} unit grids (> 999)")
        for seq, g in enumerate(cells, start=1):
            grids.code.append(f"{c.code}{seq:03d}")
            grids.community.append(c.code)
            grids.geom.append(g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]))
    return grids


def _kmeans(xy: np.ndarray, k: int, r: np.random.Generator, iters: int = 25) -> np.ndarray:
    centres = xy[r.choice(len(xy), size=k, replace=False)]
    for _ in range(iters):
        label = ((xy[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)
        for i in range(k):
            m = label == i
            if m.any():
                centres[i] = xy[m].mean(axis=0)
    return ((xy[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1)


def build_responsibility(sk: Skeleton, grids: UnitGrids, seed: int) -> tuple[list[RespGrid], list[Supervisor]]:
    """Group each street office's unit grids into patrol areas and bind one supervisor to each
    (a few supervisors keep two neighbouring areas, as happens where staff is short)."""
    by_street: dict[str, list[int]] = {}
    for gi, comm in enumerate(grids.community):
        by_street.setdefault(comm[:9], []).append(gi)
    streets = {s.code: s for s in sk.streets()}
    cent = shapely.get_coordinates(shapely.centroid(np.array(grids.geom, dtype=object)))
    grids.resp = [""] * len(grids)
    resp: list[RespGrid] = []
    for street_code in sorted(by_street):
        idx = np.array(by_street[street_code])
        s = streets[street_code]
        area = sum(grids.geom[i].area for i in idx) / 1e6
        k = int(min(len(idx), max(1, round(area / RESP_KM2))))
        r = rng(seed, "resp", street_code)
        label = _kmeans(cent[idx], k, r) if k > 1 else np.zeros(len(idx), int)
        # number the patrol areas north-west first, like the unit grids
        groups = [idx[label == g] for g in range(k) if (label == g).any()]
        groups.sort(key=lambda g: (-cent[g, 1].mean(), cent[g, 0].mean()))
        for n, members in enumerate(groups, start=1):
            code = f"ZR{street_code}{n:02d}"
            geom = shapely.union_all([grids.geom[i] for i in members])
            geom = geom if geom.geom_type == "MultiPolygon" else shapely.MultiPolygon(polygons_of(geom))
            resp.append(RespGrid(code, f"{s.name}第{n}责任网格", street_code[:6], street_code, geom))
            for i in members:
                grids.resp[i] = code
    sups: list[Supervisor] = []
    r = rng(seed, "supervisors")
    i = 0
    while i < len(resp):
        take = 2 if (r.random() < 0.08 and i + 1 < len(resp) and resp[i + 1].street_code == resp[i].street_code) else 1
        sid = f"S{len(sups) + 1:05d}"
        codes = [g.code for g in resp[i:i + take]]
        for g in resp[i:i + take]:
            g.supervisors.append(sid)
        phone = f"13{r.integers(0, 10)}{r.integers(0, 10**8):08d}"
        sups.append(Supervisor(sid, person_name(r), codes, phone))
        i += take
    return resp, sups


PATROL_KM2 = 0.25  # one patrol point (巡更点) per this much of a responsibility grid
PATROL_MAX = 8
PATROL_MARGIN_M = 5.0  # patrol points keep this far inside their grid


def build_patrol_points(resp: list[RespGrid], roads, seed: int) -> list[PatrolPoint]:
    """Patrol points of each responsibility grid: on the roads crossing it where there are any
    (a supervisor's round follows the streets), spread along them, else inside the grid; each at
    least PATROL_MARGIN_M inside its grid, named after its road."""
    tree = shapely.STRtree([rd.geom for rd in roads])
    out: list[PatrolPoint] = []
    for g in resp:
        inner = g.geom.buffer(-PATROL_MARGIN_M, join_style="mitre")
        if inner.is_empty:
            continue
        r = rng(seed, "patrol", g.code)
        want = int(min(PATROL_MAX, max(2, round(g.geom.area / 1e6 / PATROL_KM2))))
        pieces = []  # (road index, line inside the grid)
        for ri in sorted(int(i) for i in tree.query(inner, predicate="intersects")):
            part = shapely.intersection(roads[ri].geom, inner)
            for line in shapely.get_parts(part):
                if line.geom_type == "LineString" and line.length > 20.0:
                    pieces.append((ri, line))
        found: list[tuple[str, BaseGeometry]] = []
        if pieces:
            order = r.permutation(len(pieces))
            for k in range(want):
                ri, line = pieces[int(order[k % len(order)])]
                pt = line.interpolate(r.uniform(0.1, 0.9), normalized=True)
                if all(pt.distance(q) > 50.0 for _, q in found):
                    found.append((roads[ri].name, pt))
        x0, y0, x1, y1 = inner.bounds
        for _ in range(200):  # too few roads: points inside the grid itself
            if len(found) >= 2:
                break
            pt = shapely.Point(r.uniform(x0, x1), r.uniform(y0, y1))
            if inner.contains(pt):
                found.append(("", pt))
        if not found:
            found.append(("", inner.point_on_surface()))
        for n, (road, pt) in enumerate(found, start=1):
            out.append(PatrolPoint(f"{g.code}-{n:02d}", f"{road or g.name}巡更点{n}", g.code, pt))
    return out


# Points placed in a grid keep this far from its edges. A grid edge is straight in metres but is
# written as a straight edge in lon/lat between projected vertices; a point within a fraction of
# a millimetre of the edge can land on the neighbour's side (3 of 650,000 components at --scale
# 13 did, and the strict loader refused them as outside their grid_code).
EDGE_MARGIN_M = 0.5


class GridSampler:
    """Draw grids by weight and points uniformly inside them (at least EDGE_MARGIN_M from their
    edges), in vectorised batches."""

    def __init__(self, grids: UnitGrids, weights: np.ndarray):
        self.grids = grids
        self.geom = np.array(grids.geom, dtype=object)
        self.inner = shapely.buffer(self.geom, -EDGE_MARGIN_M, join_style="mitre")
        self.bounds = shapely.bounds(self.geom)
        self.p = weights / weights.sum()
        shapely.prepare(self.geom)
        shapely.prepare(self.inner)

    def holds(self, idx: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether each point lies in its grid idx, clear of the grid's edges."""
        return shapely.contains_xy(self.inner[idx], x, y)

    def sample(self, n: int, r: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """n (grid index, x, y) triples; grids drawn by weight, points uniform in the grid."""
        idx = r.choice(len(self.p), size=n, p=self.p)
        return (idx, *self.points(idx, r))

    def points(self, idx: np.ndarray, r: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        b = self.bounds[idx]
        x = np.empty(len(idx))
        y = np.empty(len(idx))
        todo = np.arange(len(idx))
        for _ in range(30):
            if not len(todo):
                break
            tx = r.uniform(b[todo, 0], b[todo, 2])
            ty = r.uniform(b[todo, 1], b[todo, 3])
            ok = self.holds(idx[todo], tx, ty)
            x[todo[ok]], y[todo[ok]] = tx[ok], ty[ok]
            todo = todo[~ok]
        if len(todo):  # slivers too thin to hold a margin: their representative point
            rp = shapely.get_coordinates(shapely.point_on_surface(self.geom[idx[todo]]))
            x[todo], y[todo] = rp[:, 0], rp[:, 1]
        return x, y
