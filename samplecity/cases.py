"""Cases (案件) over two years: component and event problems, through every workflow stage,
clustered in space (persistent hot grids) and time (seasons, weekdays, working hours, bursts),
with some deliberate near-duplicates (the similar-case alert must catch them).

Volume: CASES_PER_SCALE * scale**2 (cases grow with the city's density and with the reporting
intensity, so the benchmark scale of 20 gives 10 million).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from .names import EVENT_CLASSES
from .rand import rng

CASES_PER_SCALE = 25_000
CHUNK = 100_000
TZ = timezone(timedelta(hours=8))
START = datetime(2023, 1, 1, tzinfo=TZ)
DAYS = 731  # 2023-01-01 .. 2024-12-31
NOW = START + timedelta(days=DAYS)
DUPLICATE_RATE = 0.03
COMPONENT_SHARE = 0.35
SOURCES = ["监督员上报", "监督员上报", "监督员上报", "12345热线", "公众举报", "视频巡查", "领导交办"]

EVENTS = [(major, minor, name, w) for major, (_, minors) in EVENT_CLASSES.items() for minor, name, w in minors]
_EW = np.array([e[3] for e in EVENTS], float)
_WINTER = np.array([e[2] in ("道路积雪",) for e in EVENTS])
_SUMMER = np.array([e[2] in ("露天烧烤", "工地扬尘", "施工扰民", "道路积水") for e in EVENTS])

# day-of-year weight: more problems in the warm months, a snow peak in winter handled by class
_DOY = 1.0 + 0.35 * np.sin(2 * np.pi * (np.arange(DAYS) - 100) / 365.25)
_WEEKDAY = np.array([1.1, 1.1, 1.05, 1.05, 1.0, 0.75, 0.7])
_HOURS = np.array([0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 2.2, 3.0, 3.2, 2.8, 1.6, 1.4, 2.2, 2.8, 2.8, 2.3,
                   1.6, 1.5, 1.4, 1.1, 0.7, 0.4])


def case_total(scale: float) -> int:
    return int(round(CASES_PER_SCALE * scale * scale))


@dataclass
class CaseChunk:
    columns: dict[str, list]
    x: np.ndarray
    y: np.ndarray


def _day_weights() -> np.ndarray:
    days = np.arange(DAYS)
    wd = np.array([(START + timedelta(days=int(d))).weekday() for d in days])
    w = _DOY * _WEEKDAY[wd]
    return w / w.sum()


def _status(age_days: np.ndarray, r: np.random.Generator) -> np.ndarray:
    """Workflow stage by age: old cases are mostly closed, fresh ones spread over the stages."""
    stages = np.array(["reported", "registered", "dispatched", "handling", "handled", "verified", "closed",
                       "cancelled"])
    old = np.array([0.002, 0.003, 0.005, 0.01, 0.01, 0.03, 0.88, 0.06])
    new = np.array([0.12, 0.14, 0.16, 0.18, 0.14, 0.10, 0.12, 0.04])
    out = np.empty(len(age_days), dtype=object)
    fresh = age_days < 14
    out[fresh] = stages[r.choice(8, size=int(fresh.sum()), p=new)]
    out[~fresh] = stages[r.choice(8, size=int((~fresh).sum()), p=old)]
    return out


def generate_cases(city, scale: float, seed: int, total: int | None = None):
    """Yield CaseChunks until ``total`` (default case_total(scale)) cases are made."""
    total = case_total(scale) if total is None else total
    grids = city.grids
    sampler = city.case_sampler
    day_p = _day_weights()
    hour_p = _HOURS / _HOURS.sum()
    per_day: dict[int, int] = {}
    made, chunk_no = 0, 0
    while made < total:
        r = rng(seed, "cases", chunk_no)
        n = min(CHUNK, total - made)
        base = n - int(n * DUPLICATE_RATE)
        gi, x, y = sampler.sample(base, r)
        day = r.choice(DAYS, size=base, p=day_p)
        sec = r.choice(24, size=base, p=hour_p) * 3600 + r.integers(0, 3600, base)
        # near-duplicates: the same problem reported again within hours and a few metres
        dup_of = r.integers(0, base, n - base)
        gi = np.concatenate([gi, gi[dup_of]])
        dx = x[dup_of] + r.normal(0, 8, n - base)
        dy = y[dup_of] + r.normal(0, 8, n - base)
        inside = sampler.holds(gi[base:], dx, dy)  # stay in the same unit grid
        x = np.concatenate([x, np.where(inside, dx, x[dup_of])])
        y = np.concatenate([y, np.where(inside, dy, y[dup_of])])
        day_sec = day * 86400 + sec
        dup_sec = np.minimum(day_sec[dup_of] + r.integers(300, 4 * 3600, n - base), DAYS * 86400 - 1)
        day_sec = np.concatenate([day_sec, dup_sec])
        month = np.array([(START + timedelta(seconds=int(s))).month for s in day_sec[:base]])
        ew = np.tile(_EW, (base, 1))
        winter = np.isin(month, [11, 12, 1, 2, 3])
        ew[:, _WINTER] *= np.where(winter, 8.0, 0.0)[:, None]
        ew[:, _SUMMER] *= np.where(np.isin(month, [5, 6, 7, 8, 9]), 2.5, 0.3)[:, None]
        cum = ew.cumsum(axis=1)
        ev = (cum < (r.random(base) * cum[:, -1])[:, None]).sum(axis=1)
        ev = np.concatenate([ev, ev[dup_of]])
        comp_pick = r.random(base) < COMPONENT_SHARE
        comp_pick = np.concatenate([comp_pick, comp_pick[dup_of]])
        comp_rand = r.random(base)
        comp_rand = np.concatenate([comp_rand, comp_rand[dup_of]])
        age = (NOW.timestamp() - (START.timestamp() + day_sec)) / 86400
        status = _status(age, r)
        handle_h = r.lognormal(np.log(20), 0.9, n)
        src = r.integers(0, len(SOURCES), n)
        cols: dict[str, list] = {k: [] for k in (
            "case_no", "kind", "major_class", "minor_class", "component_code", "status", "source", "description",
            "address", "supervisor_id", "grid_code", "district_code", "reported_at", "closed_at", "duplicate_of")}
        for i in range(n):
            g = int(gi[i])
            comp = city.grid_components(g, comp_rand[i]) if comp_pick[i] else None
            if comp is not None:
                code, cname = comp
                kind, major, minor, desc = "component", code[6:8], code[8:10], f"{cname}损坏"
            else:
                major, minor, ename, _ = EVENTS[ev[i]]
                kind, code, desc = "event", None, ename
            t = START + timedelta(seconds=int(day_sec[i]))
            dkey = int(day_sec[i] // 86400)
            seq = per_day[dkey] = per_day.get(dkey, 0) + 1
            case_no = f"{t:%Y%m%d}{seq:06d}"
            cols["case_no"].append(case_no)
            cols["kind"].append(kind)
            cols["major_class"].append(major)
            cols["minor_class"].append(minor)
            cols["component_code"].append(code)
            cols["status"].append(status[i])
            cols["source"].append(SOURCES[src[i]])
            cols["description"].append(desc)
            cols["address"].append(city.grid_address(g))
            cols["supervisor_id"].append(city.grid_supervisor(g))
            cols["grid_code"].append(grids.code[g])
            cols["district_code"].append(grids.code[g][:6])
            cols["reported_at"].append(t.isoformat())
            closed = None
            if status[i] in ("closed", "cancelled"):
                c = t + timedelta(hours=float(handle_h[i]))
                closed = min(c, NOW - timedelta(seconds=1)).isoformat()
            cols["closed_at"].append(closed)
            cols["duplicate_of"].append(cols["case_no"][int(dup_of[i - base])] if i >= base else None)
        yield CaseChunk(cols, x, y)
        made += n
        chunk_no += 1
