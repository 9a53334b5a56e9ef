"""Aggregate vector tiles of cases (聚类图 and its kin): square bins, hexagons and clusters of the
filtered cases, with every bin's count and a ``meta`` layer carrying the tile's filtered total.

Square bins nest in the tile grid (a bin is a quarter of the bin it lies in one zoom up), so a
tile's bins add up to exactly the filtered cases inside its bounds and children add up to their
parent. Clusters are the cases of a square bin, drawn at their middle with their count and class
mix; zooming in splits a cluster into the clusters of its quarters. Hexagons (pointy-top, on a
grid of the tile's pixels) count the tile's cases only, so they too add up to the tile's total.

Tiles on WebMercatorQuad and CGCS2000Quad (and WorldCRS84Quad, the same layout).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import mapbox_vector_tile
import numpy as np
import shapely

from urbangis.layers.classes import Classes
from urbangis.layers.errors import Invalid
from urbangis.tiles import tms as tmslib

from . import kernels
from .mapindex import WORLD, Compiled, MapIndex

EXTENT = 4096  # MVT units per tile side
PX = 256  # pixels per tile side
SQUARE_PX = {0: 64, 11: 32, 15: 16}  # bin size in pixels from that zoom up
CLUSTER_PX = 64
HEX_PX = 20  # centre to corner
KINDS = ("square", "hex", "cluster")
NONE_IDX = np.zeros(0, np.int64)


@dataclass(frozen=True)
class Grid:
    """Where a tile lies in the index's units: which columns, its origin and its size (2**shift)."""

    plate: bool  # CGCS2000 (or WorldCRS84) layout instead of Web Mercator
    ox: int
    oy: int
    shift: int

    def unit_per_px(self) -> float:
        return float(1 << (self.shift - 8))

    def lonlat(self, px: float, py: float) -> tuple[float, float]:
        """Longitude and latitude of a point given in pixels of the tile."""
        u = self.ox + px * self.unit_per_px()
        v = self.oy + py * self.unit_per_px()
        lon = u / WORLD * 360.0 - 180.0
        if self.plate:
            return lon, 90.0 - v / (WORLD / 2) * 180.0
        return lon, math.degrees(math.atan(math.sinh(math.pi * (1.0 - 2.0 * v / WORLD))))

    def bbox(self, px0: float, py0: float, px1: float, py1: float) -> str:
        """minlon,minlat,maxlon,maxlat of a box in the tile's pixels (for GET /cases/search)."""
        (x0, y1), (x1, y0) = self.lonlat(px0, py0), self.lonlat(px1, py1)
        return f"{x0!r},{y0!r},{x1!r},{y1!r}"


def tile_grid(tms_id: str, z: int, x: int, y: int) -> Grid:
    """The tile's place in the index (404 for a tile outside its matrix set)."""
    tmslib.check_tile(tms_id, z, x, y)
    if tms_id == "WebMercatorQuad":
        shift = 32 - z
        return Grid(False, x << shift, y << shift, shift)
    if tms_id in ("CGCS2000Quad", "WorldCRS84Quad"):
        shift = 31 - z
        return Grid(True, x << shift, y << shift, shift)
    raise Invalid(f"tileMatrixSetId: case maps are cut on WebMercatorQuad, CGCS2000Quad and WorldCRS84Quad, not "
                  f"{tms_id}", parameter="tileMatrixSetId", value=tms_id)


def square_px(z: int) -> int:
    return SQUARE_PX[max(k for k in SQUARE_PX if k <= z)]


def _runs(ix: MapIndex, g: Grid, z: int, x: int, y: int, f: Compiled):
    """(x column, y column, index, a, b, columns) of the tile's main rows, then of the tail."""
    main = ix.main
    if g.plate:
        a, b = ix.plate_run(z, x, y)
        yield main.xc, main.yc, ix.order_c, a, b, main
    else:
        a, b = ix.mercator_run(z, x, y)
        yield main.xm, main.ym, NONE_IDX, a, b, main
    if f.tail_n:
        tail = f.tail
        yield (tail.xc if g.plate else tail.xm), (tail.yc if g.plate else tail.ym), NONE_IDX, 0, f.tail_n, tail


def _square(ix: MapIndex, g: Grid, z: int, x: int, y: int, f: Compiled, bin_px: int):
    """Counts, position sums and class mix per square bin of ``bin_px`` pixels."""
    nb = PX // bin_px
    shift = g.shift - 8 + int(math.log2(bin_px))
    nmix = len(ix.vocab["mix"])
    total = None
    for xs, ys, idx, a, b, cols in _runs(ix, g, z, x, y, f):
        if b <= a:
            continue
        part = kernels.square_bins(xs, ys, idx, a, b, cols.mix, nmix, *f.args(cols), np.uint32(g.ox),
                                   np.uint32(g.oy), shift, nb)
        total = part if total is None else tuple(p + q for p, q in zip(total, part))
    if total is None:
        zeros = np.zeros(nb * nb, np.int64)
        return nb, zeros, zeros.astype(float), zeros.astype(float), np.zeros(nb * nb * nmix, np.int64)
    return (nb, *total)


def _square_counts(ix: MapIndex, g: Grid, z: int, x: int, y: int, f: Compiled, bin_px: int) -> tuple[int, np.ndarray]:
    """Counts per square bin of ``bin_px`` pixels only (square bins need neither the position
    sums nor the class mix of a cluster: reading and summing them took half the pass)."""
    nb = PX // bin_px
    shift = g.shift - 8 + int(math.log2(bin_px))
    counts = np.zeros(nb * nb, np.int64)
    for xs, ys, idx, a, b, cols in _runs(ix, g, z, x, y, f):
        if b > a:
            counts += kernels.pixel_counts(xs, ys, idx, a, b, *f.args(cols), np.uint32(g.ox), np.uint32(g.oy),
                                           shift, nb)
    return nb, counts


def _hex(ix: MapIndex, g: Grid, z: int, x: int, y: int, f: Compiled):
    """Counts per hexagon of the tile, the hexagons' axial origin and size of the table."""
    sqrt3 = math.sqrt(3.0)
    # the axial coordinates of the tile's pixels span these (one hexagon of margin)
    q_lo = math.floor((0 - PX / 3) / (sqrt3 * HEX_PX)) - 2
    q_hi = math.ceil((sqrt3 / 3 * PX) / HEX_PX) + 2
    r_lo, r_hi = -2, math.ceil((2 / 3 * PX) / HEX_PX) + 2
    nq, nr = q_hi - q_lo + 1, r_hi - r_lo + 1
    counts = np.zeros((nr, nq), np.int64)
    for xs, ys, idx, a, b, cols in _runs(ix, g, z, x, y, f):
        if b > a:
            counts += kernels.hex_bins(xs, ys, idx, a, b, *f.args(cols), np.uint32(g.ox), np.uint32(g.oy), g.shift,
                                       float(HEX_PX), q_lo, r_lo, nq, nr)
    return counts, q_lo, r_lo


def _hexagon(q: int, r: int) -> list[tuple[float, float]]:
    """Corners of hexagon (q, r) in MVT units (pointy-top, ``HEX_PX`` pixels centre to corner)."""
    cx = HEX_PX * math.sqrt(3.0) * (q + r / 2)
    cy = HEX_PX * 1.5 * r
    scale = EXTENT / PX
    corners = [(cx + HEX_PX * math.cos(math.radians(60 * k - 30)), cy + HEX_PX * math.sin(math.radians(60 * k - 30)))
               for k in range(6)]
    return [(px * scale, py * scale) for px, py in corners + corners[:1]]


def _polygon(ring) -> shapely.Polygon:
    """A bin's ring in MVT units, to a tenth of a unit. Built clockwise on the screen (y down), as
    MVT wants an exterior ring, so the encoder is told not to check the winding (ENCODING)."""
    return shapely.Polygon([(round(x, 1), round(y, 1)) for x, y in ring])


def _point(x: float, y: float) -> shapely.Point:
    return shapely.Point(round(x, 1), round(y, 1))


# shapely geometries rather than WKT text, and no winding check: the check re-derives every
# polygon's orientation, which ours has by construction; together they took two thirds of the
# encoding of a tile of 255 hexagons (15 -> 4.4 ms), the bytes unchanged (tests/cases/test_maps.py)
ENCODING = {"extents": EXTENT, "y_coord_down": True, "quantize_bounds": None, "check_winding_order": False}


def _mix(groups: np.ndarray, ix: MapIndex, classes: Classes) -> tuple[str, str]:
    """The class mix of a bin: {major class name: count} as JSON, and the largest one."""
    names = ix.vocab["mix"].values
    found: dict[str, int] = {}
    for k in np.flatnonzero(groups).tolist():
        key = names[k]
        if key is None:
            continue
        kind, major = key.split("/")
        label = f"{classes.majors.get((kind, major), major)}" + ("(部件)" if kind == "component" else "")
        found[label] = found.get(label, 0) + int(groups[k])
    top = max(found, key=lambda k: found[k]) if found else ""
    return json.dumps(dict(sorted(found.items(), key=lambda kv: -kv[1])), ensure_ascii=False), top


def tile(ix: MapIndex, classes: Classes, tms_id: str, z: int, x: int, y: int, f: Compiled,
         kind: str) -> tuple[bytes, int]:
    """An aggregate tile (MVT) of kind square, hex or cluster, and its filtered total."""
    if kind not in KINDS:
        raise Invalid(f"bins: {kind!r} is not one of {', '.join(KINDS)}", parameter="bins", value=kind)
    g = tile_grid(tms_id, z, x, y)
    features = []
    scale = EXTENT / PX
    if kind == "hex":
        counts, q0, r0 = _hex(ix, g, z, x, y, f)
        total = int(counts.sum())
        for r, q in zip(*np.nonzero(counts)):
            ring = _hexagon(int(q) + q0, int(r) + r0)
            xs, ys = [p[0] / scale for p in ring], [p[1] / scale for p in ring]
            features.append({"geometry": _polygon(ring),
                             "properties": {"count": int(counts[r, q]),
                                            "bbox": g.bbox(min(xs), min(ys), max(xs), max(ys))}})
        layer = "bins"
    elif kind == "cluster":
        bin_px = CLUSTER_PX
        nb, counts, sx, sy, groups = _square(ix, g, z, x, y, f, bin_px)
        total = int(counts.sum())
        nmix = len(groups) // (nb * nb) if nb else 0
        per_px = g.unit_per_px()
        for cell in np.flatnonzero(counts).tolist():
            by, bx = divmod(cell, nb)
            n = int(counts[cell])
            px = (bx * bin_px + sx[cell] / n / per_px) * scale
            py = (by * bin_px + sy[cell] / n / per_px) * scale
            mix, top = _mix(groups[cell * nmix:(cell + 1) * nmix], ix, classes)
            box = g.bbox(bx * bin_px, by * bin_px, (bx + 1) * bin_px, (by + 1) * bin_px)
            features.append({"geometry": _point(px, py),
                             "properties": {"count": n, "mix": mix, "top": top, "bbox": box}})
        layer = "clusters"
    else:
        bin_px = square_px(z)
        nb, counts = _square_counts(ix, g, z, x, y, f, bin_px)
        total = int(counts.sum())
        for cell in np.flatnonzero(counts).tolist():
            by, bx = divmod(cell, nb)
            x0, y0 = bx * bin_px * scale, by * bin_px * scale
            s = bin_px * scale
            ring = [(x0, y0), (x0 + s, y0), (x0 + s, y0 + s), (x0, y0 + s), (x0, y0)]
            box = g.bbox(bx * bin_px, by * bin_px, (bx + 1) * bin_px, (by + 1) * bin_px)
            features.append({"geometry": _polygon(ring), "properties": {"count": int(counts[cell]), "bbox": box}})
        layer = "bins"
    meta = {"name": "meta", "features": [{"geometry": _point(EXTENT / 2, EXTENT / 2),
                                          "properties": {"count": total, "bins": kind}}]}
    data = mapbox_vector_tile.encode([{"name": layer, "features": features}, meta], default_options=ENCODING)
    return data, total


def tile_total(ix: MapIndex, tms_id: str, z: int, x: int, y: int, f: Compiled) -> int:
    """The filtered cases inside a tile (the square bins' total, without encoding a tile)."""
    g = tile_grid(tms_id, z, x, y)
    return int(_square_counts(ix, g, z, x, y, f, 256)[1].sum())
