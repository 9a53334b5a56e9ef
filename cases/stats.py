"""Area statistics and rankings (GET /cases/stats), hot spots (GET /cases/hotspots) and flows
(GET /cases/flows), counted from the case index in memory with the maps' filters.

Statistics per district, street office, community, unit grid or responsibility grid: cases per
stage, closure rate (closed of those not cancelled or refused), on-time rate (closed within the
class's deadline of those closed; cases/deadlines.yaml), components per km², as GeoJSON for a
choropleth, ordered by count (the ranking); ``compare=previous`` or ``same_period_last_year``
adds the earlier period's figures and the change (环比, 同比).

Hot spots: Getis-Ord Gi* over unit-grid counts, binary queen-contiguity weights with each grid its
own neighbour (geometric: grids whose outlines intersect, a shared corner is enough; matching
vertices instead would miss neighbours whose outlines cross without one, as slivers and
T-junctions of real grid data do), analytic z-scores and two-sided p-values under normality, optionally adjusted by
Benjamini-Hochberg. With x the counts, n the grids, W_i the number of neighbours of grid i (itself
included), x̄ the mean and s the (population) standard deviation of x:

    z_i = (Σ_j w_ij x_j − x̄ W_i) / (s √((n W_i − W_i²) / (n − 1)))

(PySAL esda's G_Local with star=True and binary weights computes the same; a test compares them).
"""
from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import psycopg
import yaml

from urbangis.layers.contract import CASE_STATUS
from urbangis.layers.errors import Invalid

from . import kernels
from .areas import LEVELS, Areas
from .filters import CaseFilter
from .mapindex import N_STATUS, STATUS_ID, Compiled, MapIndex

STAGES = CASE_STATUS.values
COMPARES = ("previous", "same_period_last_year")
FLOW_LEVELS = ("responsibility_grid", "district")  # what flows are drawn between
NONE_IDX = np.zeros(0, np.int64)


@lru_cache(maxsize=2)
def deadlines(path: Path | None = None) -> tuple[float, dict[str, float]]:
    """(default hours, {kind/MMNN or kind/default: hours}) of ``cases/deadlines.yaml``."""
    text = Path(path).read_text(encoding="utf-8") if path else \
        resources.files("urbangis.cases").joinpath("deadlines.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text) or {}
    return float(doc.get("default", 72)), {str(k): float(v) for k, v in (doc.get("classes") or {}).items()}


def _deadline_seconds(ix: MapIndex) -> np.ndarray:
    default, per = deadlines()
    out = np.empty(len(ix.vocab["cls"]), np.int64)
    for k, key in enumerate(ix.vocab["cls"].values):
        if key is None:
            out[k] = int(default * 3600)
            continue
        kind, major, minor = key.split("/")
        hours = per.get(f"{kind}/{major}{minor}", per.get(f"{kind}/default", default))
        out[k] = int(hours * 3600)
    return out


def group_counts(ix: MapIndex, level: str, f: Compiled) -> tuple[np.ndarray, np.ndarray]:
    """Filtered cases per (group id, stage) and closed on time per group id."""
    n = len(ix.vocab[level])
    per = np.zeros((n, N_STATUS), np.int64)
    on_time = np.zeros(n, np.int64)
    deadline = _deadline_seconds(ix)
    for cols, rows in ((ix.main, ix.main.n), (f.tail, f.tail_n)):
        if rows:
            p, o = kernels.group_counts(cols.level(level), n, cols.closed, deadline, N_STATUS, NONE_IDX, 0, rows,
                                        *f.args(cols))
            per += p
            on_time += o
    return per, on_time


def _figures(per: np.ndarray, on_time: int) -> dict:
    counts = {s: int(per[STATUS_ID[s]]) for s in STAGES}
    total = int(per.sum())
    valid = total - counts["cancelled"] - counts["not_registered"]
    closed = counts["closed"]
    return {"total": total, "stages": counts,
            "closure_rate": round(closed / valid, 4) if valid else None,
            "on_time_rate": round(on_time / closed, 4) if closed else None}


def _earlier(f: CaseFilter, compare: str) -> CaseFilter:
    if f.start is None or f.end is None:
        raise Invalid("compare: needs a datetime interval with both ends (the period to compare)",
                      parameter="compare", value=compare)
    if compare == "previous":
        return f.shifted(f.end - f.start + dt.timedelta(microseconds=1))
    year = f.start.replace(year=f.start.year - 1) if not (f.start.month == 2 and f.start.day == 29) else \
        f.start.replace(year=f.start.year - 1, day=28)
    return f.shifted(f.start - year)


def _change(now: int, before: int) -> float | None:
    return round((now - before) / before, 4) if before else None


def stats(conn: psycopg.Connection, ix: MapIndex, areas: Areas, level: str, f: CaseFilter,
          compare: str | None = None, geometry: bool = True) -> dict:
    """The statistics of every area of ``level`` as a GeoJSON FeatureCollection, ranked by count."""
    if level not in LEVELS:
        raise Invalid(f"by: {level!r} is not one of {', '.join(LEVELS)}", parameter="by", value=level)
    if compare is not None and compare not in COMPARES:
        raise Invalid(f"compare: {compare!r} is not one of {', '.join(COMPARES)}", parameter="compare", value=compare)
    known = areas.level(conn, level)
    per, on_time = group_counts(ix, level, ix.compile(f))
    earlier = None
    if compare:
        g = _earlier(f, compare)
        earlier = group_counts(ix, level, ix.compile(g)), g
    ids = ix.vocab[level].ids
    features: list[dict] = []
    for code in known.codes:
        k = ids.get(code)
        figures = _figures(per[k], int(on_time[k])) if k is not None else _figures(np.zeros(N_STATUS), 0)
        props: dict = {"code": code, "name": known.names.get(code), **figures,
                 "components_per_km2": round(known.components.get(code, 0) / known.km2[code], 3)
                 if known.km2.get(code) else None, "area_km2": round(known.km2.get(code, 0.0), 4)}
        if earlier is not None:
            (eper, eon), _ = earlier
            before = _figures(eper[k], int(eon[k])) if k is not None else _figures(np.zeros(N_STATUS), 0)
            props["previous"] = before
            props["change"] = _change(figures["total"], before["total"])
        features.append({"type": "Feature", "id": code, "properties": props,
                         "geometry": known.geometry.get(code) if geometry else None})
    features.sort(key=lambda ft: (-ft["properties"]["total"], ft["id"]))
    for rank, ft in enumerate(features, 1):
        ft["properties"]["rank"] = rank
    out = {"type": "FeatureCollection", "by": level, "filter": f.given, "features": features,
           "total": int(per.sum())}
    if earlier is not None:
        g = earlier[1]
        out["compare"] = {"with": compare, "start": g.start, "end": g.end, "total": int(earlier[0][0].sum())}
    return out


def hotspots(conn: psycopg.Connection, ix: MapIndex, areas: Areas, f: CaseFilter, adjust: bool = False,
             geometry: bool = True) -> dict:
    """Gi* of every unit grid's filtered case count (GeoJSON: code, count, z, p)."""
    codes, indptr, neighbours = areas.contiguity(conn)
    per, _ = group_counts(ix, "unit_grid", ix.compile(f))
    ids = ix.vocab["unit_grid"].ids
    at = np.array([ids.get(c, -1) for c in codes], dtype=np.int64)
    x = np.where(at >= 0, per.sum(axis=1)[at], 0).astype(np.float64)
    z = gi_star(x, indptr, neighbours)
    p = _two_sided(z)
    q = benjamini_hochberg(p) if adjust else None
    known = areas.level(conn, "unit_grid")
    features = []
    for i, code in enumerate(codes):
        props = {"code": code, "count": int(x[i]), "z": None if math.isnan(z[i]) else float(z[i]),
                 "p": None if math.isnan(p[i]) else float(p[i])}
        if q is not None:
            props["p_adjusted"] = None if math.isnan(q[i]) else float(q[i])
        features.append({"type": "Feature", "id": code, "properties": props,
                         "geometry": known.geometry.get(code) if geometry else None})
    return {"type": "FeatureCollection", "filter": f.given, "weights": "queen contiguity, binary, self included",
            "adjusted": "benjamini-hochberg" if adjust else None, "features": features}


def gi_star(x: np.ndarray, indptr: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """Getis-Ord Gi* z-scores of ``x`` with binary weights given as CSR (self included)."""
    n = len(x)
    xbar = x.mean()
    s = math.sqrt(max((x * x).mean() - xbar * xbar, 0.0))
    w = np.diff(indptr).astype(np.float64)
    lag = np.add.reduceat(x[neighbours], indptr[:-1]) if len(neighbours) else np.zeros(n)
    lag[w == 0] = 0.0
    denom = s * np.sqrt(np.maximum(n * w - w * w, 0.0) / (n - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (lag - xbar * w) / denom, np.nan)


def _two_sided(z: np.ndarray) -> np.ndarray:
    from math import erfc

    return np.array([erfc(abs(v) / math.sqrt(2)) if not math.isnan(v) else math.nan for v in z])


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """The Benjamini-Hochberg adjusted p-values (false discovery rate) of ``p`` (NaN kept)."""
    out = np.full(len(p), np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if not m:
        return out
    order = ok[np.argsort(p[ok])]
    ranked = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return out


def pair_counts(ix: MapIndex, comp: Compiled) -> np.ndarray:
    """The filtered cases per (reporter's grid id, case's grid id)."""
    n = max(len(ix.vocab["reporter_grid"]), len(ix.vocab["responsibility_grid"]))  # covers the compiled tail
    pairs = np.zeros((n, n), np.int64)
    for cols, rows in ((ix.main, ix.main.n), (comp.tail, comp.tail_n)):
        if rows:
            pairs += kernels.pair_counts(cols.reporter_grid, cols.responsibility_grid, n, NONE_IDX, 0, rows,
                                         *comp.args(cols))
    return pairs


def flows(conn: psycopg.Connection, ix: MapIndex, areas: Areas, f: CaseFilter, by: str = "responsibility_grid",
          limit: int = 500) -> dict:
    """Cases reported from one area into another (迁徙图): the reporting supervisor's responsibility
    grid (or its district) to the case's, as GeoJSON lines with counts, most first."""
    if by not in FLOW_LEVELS:
        raise Invalid(f"by: {by!r} is not responsibility_grid or district", parameter="by", value=by)
    grids = areas.level(conn, "responsibility_grid")
    vocab_from, vocab_to = ix.vocab["reporter_grid"], ix.vocab["responsibility_grid"]
    comp = ix.compile(f)
    pairs = pair_counts(ix, comp)
    totals: dict[tuple[str, str], int] = {}
    for o, d in zip(*np.nonzero(pairs)):
        a, b = vocab_from.values[o], vocab_to.values[d]
        if a is None or b is None:
            continue
        if by == "district":
            a, b = grids.parent.get(a), grids.parent.get(b)
        if a and b and a != b:
            totals[(a, b)] = totals.get((a, b), 0) + int(pairs[o, d])
    points = grids.point if by == "responsibility_grid" else areas.level(conn, "district").point
    features = []
    for (a, b), count in sorted(totals.items(), key=lambda kv: -kv[1])[:limit]:
        if a in points and b in points:
            features.append({"type": "Feature", "properties": {"from": a, "to": b, "count": count},
                             "geometry": {"type": "LineString", "coordinates": [list(points[a]), list(points[b])]}})
    return {"type": "FeatureCollection", "by": by, "filter": f.given, "features": features}
