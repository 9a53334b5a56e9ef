"""The similar-case alert's rules, per class, from a data file (``cases/similarity.yaml``, or the
file named by ``URBANGIS_CASES_SIMILARITY``): a pothole stays where it is for days, a street vendor
moves within hours.

The score of a known case k for a new report r (both of one class, or of one major class):

    score = class_factor x (distance_weight x (1 - d / radius) + time_weight x (1 - |dt| / window))

with d the distance in metres, dt the time between the two reports, class_factor 1 for the same
minor class and ``same_major`` for another minor class of the same major class; a case beyond the
radius or the window is not similar at all. Known cases are those being dealt with (reported,
registered, dispatched, handling, handled, verified) and those that ended within the window in a
stage of ``count_ended`` (default: closed). A centre that wants to see a problem reported again
just after its case was judged not a case adds cancelled and not_registered there.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from urbangis.layers.classes import KINDS

# the stages of a case being dealt with, and those it may end in (GB/T 30428.8; cases/workflow.py)
OPEN = frozenset({"reported", "registered", "dispatched", "handling", "handled", "verified"})
ENDED = frozenset({"closed", "cancelled", "not_registered"})


@dataclass(frozen=True)
class Similarity:
    """The rule of one class."""

    radius_m: float = 50.0
    window_h: float = 72.0
    same_major: float = 0.5
    distance: float = 0.6
    time: float = 0.4

    def __post_init__(self) -> None:
        if not (0 < self.radius_m <= 5000 and 0 < self.window_h <= 24 * 365):
            raise ValueError(f"radius_m must be in (0, 5000] and window_h in (0, 8760], got {self}")
        if not 0 <= self.same_major <= 1 or abs(self.distance + self.time - 1) > 1e-6:
            raise ValueError(f"same_major must be in [0, 1] and distance + time must be 1, got {self}")

    def score(self, distance_m: float, hours: float, same_minor: bool) -> float:
        """The score of a known case (0 when beyond the radius or the window)."""
        if distance_m > self.radius_m or abs(hours) > self.window_h:
            return 0.0
        near = self.distance * (1 - distance_m / self.radius_m) + self.time * (1 - abs(hours) / self.window_h)
        return near * (1.0 if same_minor else self.same_major)

    def scores(self, distance_m: np.ndarray, hours: np.ndarray, same_minor: bool | np.ndarray) -> np.ndarray:
        """:meth:`score` of many known cases at once (``same_minor`` one for all, or one each)."""
        near = self.distance * (1 - distance_m / self.radius_m) + self.time * (1 - np.abs(hours) / self.window_h)
        out = near * np.where(same_minor, 1.0, self.same_major)
        return np.where((distance_m <= self.radius_m) & (np.abs(hours) <= self.window_h), out, 0.0)


_KEYS = {f.name for f in fields(Similarity)}


class SimilarityRules:
    """The rules of every class: the default, a kind's default, a class's own."""

    def __init__(self, default: Similarity, by_kind: dict[str, Similarity], by_class: dict[str, Similarity],
                 count_ended: frozenset[str] = frozenset({"closed"})) -> None:
        self.default = default
        self.by_kind = by_kind
        self.by_class = by_class
        self.counted = OPEN | count_ended  # the stages of the cases that count


    def of(self, kind: str, major: str, minor: str) -> Similarity:
        """The rule of class ``kind`` ``major`` + ``minor``."""
        return self.by_class.get(f"{kind}/{major}{minor}") or self.by_kind.get(kind) or self.default

    @property
    def max_window_h(self) -> float:
        return max([self.default.window_h, *(r.window_h for r in (*self.by_kind.values(), *self.by_class.values()))])


def _rule(base: Similarity, spec, where: str) -> Similarity:
    if not isinstance(spec, dict) or set(spec) - _KEYS:
        raise ValueError(f"{where}: a rule takes only {', '.join(sorted(_KEYS))}, got {spec!r}")
    try:
        return replace(base, **{k: float(v) for k, v in spec.items()})
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None


@lru_cache(maxsize=4)
def load_rules(path: Path | None = None) -> SimilarityRules:
    """The rules of ``path`` (default: the packaged ``cases/similarity.yaml``)."""
    if path is None:
        text, where = resources.files("urbangis.cases").joinpath("similarity.yaml").read_text(encoding="utf-8"), \
            "cases/similarity.yaml"
    else:
        text, where = Path(path).read_text(encoding="utf-8"), str(path)
    doc = yaml.safe_load(text) or {}
    ended = doc.get("count_ended", ["closed"])
    if not isinstance(ended, list) or set(ended) - ENDED:
        raise ValueError(f"{where}: count_ended must list stages of {', '.join(sorted(ENDED))}, got {ended!r}")
    default = _rule(Similarity(), doc.get("default") or {}, f"{where}: default")
    by_kind, by_class = {}, {}
    for key, spec in (doc.get("classes") or {}).items():
        kind, _, code = str(key).partition("/")
        if kind not in KINDS or not (code == "default" or (len(code) == 4 and code.isdigit())):
            raise ValueError(f"{where}: class {key!r} must be component/MMNN, event/MMNN or <kind>/default")
        if code == "default":
            by_kind[kind] = _rule(default, spec, f"{where}: {key}")
    for key, spec in (doc.get("classes") or {}).items():
        kind, _, code = str(key).partition("/")
        if code != "default":
            by_class[str(key)] = _rule(by_kind.get(kind, default), spec, f"{where}: {key}")
    return SimilarityRules(default, by_kind, by_class, frozenset(ended))
