"""Coordinates as field staff write them in spreadsheets: decimal degrees, or degrees, minutes and
seconds (87°37′12.5″, 87°37'12.5", 87度37分12.5秒, 87:37:12.5, 87°37.2084′), with a hemisphere
as a letter or in Chinese (E87°37′, 87°37′E, 东经87度37分). GPS handsets and survey sheets give
度分秒; converting them by hand in Excel is where digits get lost.

Written by hand: the parsers on PyPI read the Latin forms only (no 度分秒, no 东经/北纬), and this is
one regular expression.
"""
from __future__ import annotations

import re
import unicodedata

HINT = "decimal degrees like 87.6201, or degrees, minutes, seconds like 87°37′12.5″ or 87度37分12.5秒"

_SIGN = {"e": 1, "n": 1, "东经": 1, "北纬": 1, "w": -1, "s": -1, "西经": -1, "南纬": -1}
_HEMI = r"(?P<{}>[ENWS]|东经|北纬|西经|南纬)?"
_DMS = re.compile(
    r"^" + _HEMI.format("pre") + r"\s*(?P<sign>[-+])?\s*"
    r"(?P<d>\d+(?:\.\d+)?)\s*(?:°|度|:|\s)\s*"
    r"(?:(?P<m>\d+(?:\.\d+)?)\s*(?:'|′|分|:|\s)?\s*"
    r"(?:(?P<s>\d+(?:\.\d+)?)\s*(?:\"|″|''|′′|秒)?)?)?"
    r"\s*" + _HEMI.format("post") + r"$",
    re.IGNORECASE)


_AXIS = {"e": "lon", "w": "lon", "东经": "lon", "西经": "lon", "n": "lat", "s": "lat", "北纬": "lat", "南纬": "lat"}
_MARK = re.compile(r"[°度'′分:\"″秒]")


def has_marks(text: str) -> bool:
    """Whether ``text`` writes degrees, minutes or seconds with a mark (°, ′, 度, :...)."""
    return _MARK.search(text) is not None


def parse(text: str, axis: str | None = None) -> float:
    """Decimal degrees of one coordinate (``axis``: "lon" or "lat", the column it came from);
    ValueError saying why when it is none."""
    t = unicodedata.normalize("NFKC", text).strip()  # full-width digits and letters
    t = t.replace("’", "'").replace("‘", "'").replace("”", '"').replace("“", '"').replace("º", "°")
    try:
        return float(t)
    except ValueError:
        pass
    m = _DMS.match(t)
    # numbers apart with no mark at all ("87 37") are too ambiguous to read as degrees and minutes
    if m is None or (m["pre"] and m["post"]) or not _MARK.search(t):
        raise ValueError(f"not a coordinate ({HINT})")
    d, minutes, seconds = float(m["d"]), float(m["m"] or 0), float(m["s"] or 0)
    if m["s"] is not None and "." in m["m"]:
        raise ValueError(f"not a coordinate: decimal minutes followed by seconds ({HINT})")
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"not a coordinate: minutes and seconds run from 0 to 59 ({HINT})")
    value = d + minutes / 60 + seconds / 3600
    hemi = (m["pre"] or m["post"] or "").lower()
    if axis and hemi and _AXIS[hemi] != axis:
        said = "a longitude" if _AXIS[hemi] == "lon" else "a latitude"
        raise ValueError(f"{m['pre'] or m['post']} marks {said}, in the {'longitude' if axis == 'lon' else 'latitude'} "
                         "column: are the two columns swapped?")
    return -value if (m["sign"] == "-") != (_SIGN.get(hemi, 1) < 0) else value
