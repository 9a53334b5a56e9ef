"""Stage 6, ranking: admin consistency, confidence, order, the admin chain and grids of answers.

Confidence = base of the match level x the penalties the reading collected (alias, variant,
typo, relaxed or unused parts, leftover text) x admin agreement (a candidate outside the area
the query names keeps 0.6 of its score: the prefix narrows, it never fails the search).

Ambiguity: a provincial gazetteer has a 人民路 in every city. When the best answers tie (within
0.5 %, or the same reading of the query within 20 %; different features) and lie in different
cities (or, within one city, different districts), the query did not say which: the answer names
the areas (``Answer.ambiguous``), keeps one candidate per area at the top, and divides their
confidence by the number of areas.
"""
from __future__ import annotations

import numpy as np
import shapely

from .index import Index
from .query import Candidate, sig

ADMIN_MISMATCH = 0.6
TIE = 0.995  # candidates within 0.5 % of the best count as tied with it
SAME_READING = 0.8  # ... and those of the same reading within 20 % (exact number vs interpolated)

_DEPTH = {"district": 1, "street": 2, "community": 3}


def areas_at(ix: Index, xs: np.ndarray, ys: np.ndarray) -> list[list[int]]:
    """For each point: [deepest admin area, unit grid, responsibility grid] containing it (-1: none)."""
    out = [[-1, -1, -1] for _ in range(len(xs))]
    tree, geoms = ix.area_tree, ix.area_geoms  # built together (index._combined_trees)
    if tree is None or geoms is None or not len(xs):
        return out
    coords = np.empty((len(xs), 2))
    coords[:, 0], coords[:, 1] = xs, ys
    pi, ti = tree.query(shapely.points(coords))  # bounding boxes only
    if len(pi):
        inside = shapely.contains_xy(geoms[ti], xs[pi], ys[pi])  # prepared polygons
        pi, ti = pi[inside], ti[inside]
    a_end, g_end = ix.area_bounds
    admin, gidx = ix.admin, ix.admin_geom_idx
    for p, t in zip(pi.tolist(), ti.tolist()):
        row = out[p]
        if t < a_end:
            a = int(gidx[t])
            cur = row[0]
            if cur < 0 or _DEPTH.get(admin[a].level, 0) > _DEPTH.get(admin[cur].level, 0):
                row[0] = a
        elif t < g_end:
            if row[1] < 0:
                row[1] = t - a_end
        elif row[2] < 0:
            row[2] = t - g_end
    return out


def chain(ix: Index, code: str | None) -> list[dict]:
    """Province .. community for the admin area ``code`` (what the gazetteer knows of it)."""
    out = []
    seen = 0
    while code and seen < 6:
        i = ix.admin_by_code.get(code)
        if i is None:
            break
        a = ix.admin[i]
        out.append({"level": a.level, "code": a.code, "name": a.name})
        code = a.parent
        seen += 1
    return out[::-1]


def _deepest_code(ix: Index, pip: int, hint: str | None) -> str | None:
    code = ix.admin[pip].code if pip >= 0 else None
    if hint and hint in ix.admin_by_code and (code is None or hint.startswith(_sig(ix, code))):
        return hint
    return code


def _sig(ix: Index, code: str) -> str:
    i = ix.admin_by_code.get(code)
    return sig(code, ix.admin[i].level) if i is not None else code


def _tied(cands: list[Candidate], order: list[int]) -> list[int]:
    """The candidates tied with the best: as good as it, or the same reading of the query answered
    nearly as well (富民北路7号: the number itself in one city, interpolated on that city's 富民北路
    in another)."""
    best = cands[order[0]]
    return [k for k in order if cands[k].score >= TIE * best.score
            or (cands[k].score >= SAME_READING * best.score and cands[k].reading == best.reading)]


def _ambiguous_areas(ix: Index, cands: list[Candidate], order: list[int], codes: list[str | None]
                     ) -> tuple[list[dict], list[int]]:
    """The areas the tied best candidates fall in, when more than one: ([{code, name, level}], the
    first candidate of each area in ``order``). Cities first; districts when one city holds them all."""
    if not order:
        return [], []
    tied = _tied(cands, order)
    if len({(cands[k].layer, cands[k].id) for k in tied}) < 2:
        return [], []
    for width, level in ((4, "city"), (6, "district")):
        firsts: dict[str, int] = {}
        for k in tied:
            code = codes[k]
            if code is not None and len(code) >= width:
                firsts.setdefault(code[:width], k)
        if len(firsts) > 1:
            areas = []
            for prefix in firsts:
                full = prefix + "00" if width == 4 else prefix
                i = ix.admin_by_code.get(full)
                areas.append({"code": full, "name": ix.admin[i].name if i is not None else None, "level": level})
            return areas, list(firsts.values())
    return [], []


def finish(ix: Index, cands: list[Candidate], limit: int) -> tuple[list[Candidate], list[dict]]:
    """Apply admin agreement, order by confidence, drop duplicates, fill chain and grids; with the
    areas the best answers are ambiguous between (empty when they are not)."""
    if not cands:
        return [], []
    xs = np.fromiter((c.x for c in cands), float, len(cands))
    ys = np.fromiter((c.y for c in cands), float, len(cands))
    found = areas_at(ix, xs, ys)
    codes = [_deepest_code(ix, f[0], c.area_hint) for f, c in zip(found, cands)]
    for c, code in zip(cands, codes):
        if c.want is None or code is None:
            continue
        s = _sig(ix, code)
        if not any(s.startswith(w) or w.startswith(s) for w in c.want):
            c.score *= ADMIN_MISMATCH
    order = sorted(range(len(cands)), key=lambda k: -cands[k].score)
    ambiguous, firsts = _ambiguous_areas(ix, cands, order, codes)
    if ambiguous:
        for k in _tied(cands, order):
            cands[k].score /= len(ambiguous)
        first = set(firsts)
        order = firsts + [k for k in order if k not in first]
    picked, seen = [], set()
    for k in order:
        c = cands[k]
        key = (c.layer, c.id, round(c.x, 1), round(c.y, 1))
        if key in seen:
            continue
        seen.add(key)
        c.chain = chain(ix, codes[k])
        g, r = found[k][1], found[k][2]
        if g >= 0:
            c.unit_grid = ix.grids.codes[g]
        if r >= 0:
            c.resp_grid, c.resp_grid_name = ix.resp.codes[r], ix.resp.names[r]
        picked.append(c)
        if len(picked) >= limit:
            break
    for c in picked:
        c.score = max(0.0, min(1.0, c.score))
    return picked, ambiguous


def standard_address(c: Candidate) -> str:
    """District + street office + community + road / place + house no. + building."""
    names = [a["name"] for a in c.chain if a["level"] in ("district", "street", "community")]
    return "".join(names) + c.label
