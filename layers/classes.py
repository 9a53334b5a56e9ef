"""The class dictionary: the major and minor classes of components (GB/T 30428.2 部件) and of
events (事件), with their Chinese names, as data (``classes.csv``, plus a city's own file named by
``URBANGIS_CASES_CLASSES``). Case intake checks a case's class against it, the loader reads class
names in place of codes (大类名称 市容环境, 小类名称 暴露垃圾), and case maps label classes by it.

A class is (kind, major, minor): major codes repeat across kinds (component 01 is 公用设施, event
01 is 市容环境), and a major's name may too (市容环境 is component major 03 and event major 01).
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .errors import Invalid

KINDS = ("component", "event")


@dataclass(frozen=True)
class CaseClass:
    """One minor class with its major."""

    kind: str
    major: str
    major_name: str
    minor: str
    minor_name: str

    @property
    def label(self) -> str:
        return f"{self.major_name}/{self.minor_name}"


class Classes:
    """The classes by (kind, major, minor), and the lookups by name."""

    def __init__(self, rows: list[CaseClass]) -> None:
        self.all = rows
        self._by_code = {(c.kind, c.major, c.minor): c for c in rows}
        self.majors = {(c.kind, c.major): c.major_name for c in rows}

    def __len__(self) -> int:
        return len(self.all)

    def get(self, kind: str, major: str, minor: str) -> CaseClass | None:
        """The class of these codes, or None."""
        return self._by_code.get((kind, major, minor))

    def of_major(self, kind: str, major: str) -> list[CaseClass]:
        """The minor classes of one major."""
        return [c for c in self.all if c.kind == kind and c.major == major]

    def find(self, kind: str | None = None, major: str | None = None, minor: str | None = None,
             major_name: str | None = None, minor_name: str | None = None) -> list[CaseClass]:
        """Every class fitting what is given (codes or names; None: anything)."""
        return [c for c in self.all
                if (kind is None or c.kind == kind) and (major is None or c.major == major)
                and (minor is None or c.minor == minor) and (major_name is None or c.major_name == major_name)
                and (minor_name is None or c.minor_name == minor_name)]

    def resolve(self, kind: str | None = None, major: str | None = None, minor: str | None = None,
                major_name: str | None = None, minor_name: str | None = None) -> CaseClass:
        """The one class fitting what is given; :class:`UnknownClass` naming what was asked (and the
        candidates when several fit)."""
        if kind is not None and major is not None and minor is not None and major_name is minor_name is None:
            hit = self._by_code.get((kind, major, minor))  # the codes name one class (an intake's usual case)
            if hit is not None:
                return hit
        found = self.find(kind, major, minor, major_name, minor_name)
        if len(found) == 1:
            return found[0]
        asked = ", ".join(f"{k} {v!r}" for k, v in (("kind", kind), ("major class", major), ("minor class", minor),
                                                   ("major class name", major_name),
                                                   ("minor class name", minor_name)) if v is not None)
        if not found:
            raise UnknownClass(f"no class in the class dictionary has {asked}", value=minor or minor_name)
        options = "; ".join(f"{c.kind} {c.major}{c.minor} {c.label}" for c in found[:8])
        raise UnknownClass(f"{asked} fits {len(found)} classes ({options}); give the kind or both codes",
                           value=minor or minor_name)


class UnknownClass(Invalid):
    """A class the dictionary does not have, or names that fit several (400)."""


def _read(text: str, where: str) -> list[CaseClass]:
    rows = []
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for n, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines))), start=2):
        try:
            kind, major, minor = row["kind"].strip(), row["major"].strip(), row["minor"].strip()
            item = CaseClass(kind, major, row["major_name"].strip(), minor, row["minor_name"].strip())
        except (KeyError, AttributeError):
            raise ValueError(f"{where} row {n}: needs kind, major, major_name, minor, minor_name") from None
        if kind not in KINDS or not (len(major) == len(minor) == 2 and (major + minor).isdigit()) or major == "00":
            raise ValueError(f"{where} row {n}: kind must be component or event, major and minor 2 digits "
                             f"(major 01-99), got {kind!r} {major!r} {minor!r}")
        rows.append(item)
    return rows


@lru_cache(maxsize=4)
def load_classes(extra: Path | None = None) -> Classes:
    """The packaged dictionary, plus a city's own file (its rows replace those of the same codes)."""
    rows = _read(resources.files("urbangis.layers").joinpath("classes.csv").read_text(encoding="utf-8"),
                 "layers/classes.csv")
    if extra is not None:
        more = {(c.kind, c.major, c.minor): c for c in _read(Path(extra).read_text(encoding="utf-8"), str(extra))}
        rows = [more.pop((c.kind, c.major, c.minor), c) for c in rows] + list(more.values())
    return Classes(rows)
