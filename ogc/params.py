"""Query parameters of the Features endpoints, parsed and validated once.

Every problem is an :class:`InvalidParameter` naming the parameter and the value, so a client
gets a 400 that says what to fix; nothing malformed reaches SQL.
"""
from __future__ import annotations

import base64
import binascii
import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo

import orjson

from urbangis.layers.settings import OgcSettings

from . import crs as crsmod
from .collections import Field, Layout
from .errors import InvalidParameter

ITEMS_PARAMS = {"f", "bbox", "bbox-crs", "crs", "datetime", "limit", "offset", "filter", "filter-lang",
                "filter-crs", "cursor"}
ITEM_PARAMS = {"f", "crs"}
FILTER_LANGS = {"cql2-text": "cql2-text", "cql2-json": "cql2-json",
                # GDAL's OAPIF driver asks for the draft name; its text is CQL2 text.
                "cql-text": "cql2-text"}
FORMATS = {"json": "json", "geojson": "json", "html": "html"}


@dataclass(frozen=True)
class Bbox:
    """A bbox in its CRS, as x/y (longitude/easting first), whatever the CRS's axis order."""

    minx: float
    miny: float
    maxx: float
    maxy: float
    crs: crsmod.Crs

    @property
    def crosses_antimeridian(self) -> bool:
        """True when minx > maxx in a geographic CRS."""
        return self.crs.geographic and self.minx > self.maxx


@dataclass(frozen=True)
class TimeRange:
    """``lower <= t`` and ``t <= upper`` (or ``t < upper`` when ``upper_inclusive`` is false)."""

    lower: datetime | None
    upper: datetime | None
    upper_inclusive: bool = True

    def last(self) -> datetime | None:
        """The last instant inside: ``upper``, or a microsecond before it when it is excluded; None when open."""
        if self.upper is None or self.upper_inclusive:
            return self.upper
        return self.upper - timedelta(microseconds=1)


@dataclass
class ItemsParams:
    """The parsed request of ``/collections/{id}/items``."""

    format: str = "json"
    limit: int = 10
    offset: int = 0
    cursor: str | None = None
    bbox: Bbox | None = None
    crs: crsmod.Crs = field(default_factory=crsmod.default)
    datetime: TimeRange | None = None
    properties: dict[str, str] = field(default_factory=dict)
    filter: str | None = None
    filter_lang: str = "cql2-text"
    filter_crs: crsmod.Crs = field(default_factory=crsmod.default)

    @property
    def filtered(self) -> bool:
        """True when anything narrows the result."""
        return bool(self.bbox or self.datetime or self.properties or self.filter)


def _single(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in items:
        if key in out:
            raise InvalidParameter(f"{key}: given more than once", parameter=key)
        out[key] = value
    return out


def wants_html(f: str | None, accept: str | None) -> bool:
    """HTML when asked with ``f=html``, or by a browser's Accept header when ``f`` is absent."""
    if f is not None:
        return parse_format(f) == "html"
    accept = (accept or "").lower()
    return "text/html" in accept


def parse_format(value: str | None, allowed: Iterable[str] = ("json", "geojson", "html")) -> str:
    """The ``f`` parameter: json or html."""
    if value is None:
        return "json"
    v = value.strip().lower()
    if v not in FORMATS or v not in allowed:
        raise InvalidParameter(f"f: unsupported format {value!r}; use one of {', '.join(allowed)}",
                               parameter="f", value=value)
    return FORMATS[v]


def parse_int(name: str, value: str, lo: int, hi: int | None = None) -> int:
    """An integer parameter within [lo, hi]."""
    try:
        n = int(value.strip())
    except ValueError:
        raise InvalidParameter(f"{name}: expected an integer, got {value!r}", parameter=name, value=value) from None
    if n < lo or (hi is not None and n > hi):
        rng = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise InvalidParameter(f"{name}: must be {rng}, got {n}", parameter=name, value=value)
    return n


def parse_bbox(value: str, bbox_crs: crsmod.Crs) -> Bbox:
    """``minx,miny,maxx,maxy`` (or 6 numbers with heights) in the axis order of ``bbox_crs``."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) not in (4, 6):
        raise InvalidParameter(
            f"bbox: expected 4 or 6 comma-separated numbers, got {len(parts)} ({value!r})",
            parameter="bbox", value=value,
        )
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameter(f"bbox: not a number in {value!r}", parameter="bbox", value=value) from None
    if not all(math.isfinite(n) for n in nums):
        raise InvalidParameter(f"bbox: values must be finite numbers, got {value!r}", parameter="bbox", value=value)
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    a1, b1, a2, b2 = nums
    # Axis order of the CRS: EPSG:4326/4490 give latitude first, EPSG:4538 northing first.
    minx, miny, maxx, maxy = (b1, a1, b2, a2) if bbox_crs.swap_xy else (a1, b1, a2, b2)
    if bbox_crs.geographic:
        lat_names = ("1st and 3rd", "2nd and 4th")[0 if bbox_crs.swap_xy else 1]
        if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
            raise InvalidParameter(
                f"bbox: latitudes ({lat_names} values for {bbox_crs.uri}) must be within [-90, 90], got {value!r}",
                parameter="bbox", value=value,
            )
        if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
            raise InvalidParameter(
                f"bbox: longitudes must be within [-180, 180], got {value!r}", parameter="bbox", value=value
            )
        if miny > maxy:
            raise InvalidParameter(
                f"bbox: the lower latitude is above the upper one in {value!r}", parameter="bbox", value=value
            )
    elif minx > maxx or miny > maxy:
        raise InvalidParameter(f"bbox: lower corner above upper corner in {value!r}", parameter="bbox", value=value)
    return Bbox(minx, miny, maxx, maxy, bbox_crs)


# The time zone of dates and times written without an offset, for the request being answered:
# the server's URBANGIS_TIMEZONE (a day is that day in Beijing), set by the route (times_in).
_NAIVE_ZONE: ContextVar[str] = ContextVar("naive_zone", default="UTC")


@contextmanager
def times_in(zone: str) -> Iterator[None]:
    """Read dates and times without an offset in ``zone`` within (datetime, property values, CQL2)."""
    token = _NAIVE_ZONE.set(zone)
    try:
        yield
    finally:
        _NAIVE_ZONE.reset(token)


def naive_zone() -> ZoneInfo:
    """The zone dates and times without an offset are read in now."""
    return ZoneInfo(_NAIVE_ZONE.get())


def _instant(text: str, name: str, zone: str | None = None) -> tuple[datetime, bool]:
    """A datetime (``True`` when it was a whole day). A date or a time without an offset is read
    in ``zone`` (default: :func:`naive_zone`)."""
    text = text.strip()
    tz = ZoneInfo(zone) if zone else naive_zone()
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime.combine(d, time(0), tzinfo=tz), True
        dt = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidParameter(
            f"{name}: {text!r} is not an RFC 3339 date or date-time (e.g. 2024-05-01 or 2024-05-01T08:00:00Z)",
            parameter=name, value=text,
        ) from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=tz)), False


def parse_datetime(value: str, name: str = "datetime", zone: str | None = None) -> TimeRange:
    """An instant or a closed/half-open interval (``a/b``, ``../b``, ``a/..``, ``/b``, ``a/``);
    dates and times without an offset in ``zone``."""
    value = value.strip()
    if "/" not in value:
        start, whole_day = _instant(value, name, zone)
        if whole_day:
            return TimeRange(start, start + timedelta(days=1), upper_inclusive=False)
        return TimeRange(start, start)
    if value.count("/") != 1:
        raise InvalidParameter(f"{name}: an interval has exactly one '/', got {value!r}", parameter=name, value=value)
    a, b = (p.strip() for p in value.split("/"))
    lower = None if a in ("", "..") else _instant(a, name, zone)[0]
    upper, inclusive = None, True
    if b not in ("", ".."):
        upper, whole_day = _instant(b, name, zone)
        if whole_day:
            upper, inclusive = upper + timedelta(days=1), False
    if lower is None and upper is None:
        raise InvalidParameter(f"{name}: an interval needs at least one bounded end, got {value!r}",
                               parameter=name, value=value)
    if lower is not None and upper is not None and lower > upper:
        raise InvalidParameter(f"{name}: the interval starts after it ends in {value!r}", parameter=name, value=value)
    return TimeRange(lower, upper, inclusive)


def encode_cursor(key: object, position: int | None = None) -> str:
    """Opaque keyset cursor for next links: the id of the page's last feature (and, for a cached
    match list, its position there)."""
    doc = [key] if position is None else [key, position]
    return base64.urlsafe_b64encode(orjson.dumps(doc)).decode().rstrip("=")


def _cursor_doc(token: str) -> list:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = orjson.loads(raw)
        if not isinstance(doc, list) or len(doc) not in (1, 2) or (len(doc) == 2 and not isinstance(doc[1], int)):
            raise ValueError
    except (binascii.Error, ValueError, TypeError):
        raise InvalidParameter(
            "cursor: not a cursor from a next link; drop it to start from `offset`", parameter="cursor", value=token
        ) from None
    return doc


def decode_cursor(token: str) -> object:
    """The id a cursor continues after."""
    return _cursor_doc(token)[0]


def cursor_position(token: str) -> int | None:
    """The position a cursor carries, if any."""
    doc = _cursor_doc(token)
    return doc[1] if len(doc) == 2 else None


def parse_items(items: Iterable[tuple[str, str]], layout: Layout, settings: OgcSettings,
                html: bool = False) -> ItemsParams:
    """Parse and check every query parameter of an items request against ``layout`` (``settings``:
    the default and largest ``limit``; ``html``: a page for people, shorter by default)."""
    raw = _single(items)
    out = ItemsParams(limit=settings.html_limit if html else settings.default_limit)
    for key, value in raw.items():
        if key in ITEMS_PARAMS:
            continue
        if key in layout.fields:
            out.properties[key] = value
            continue
        raise InvalidParameter(
            f"unknown parameter {key!r}; standard parameters: {', '.join(sorted(ITEMS_PARAMS))}; "
            f"property filters: {', '.join(layout.fields)}",
            parameter=key,
        )
    out.format = parse_format(raw.get("f"))
    if "limit" in raw:
        out.limit = parse_int("limit", raw["limit"], 1, settings.max_limit)
    if "offset" in raw:
        out.offset = parse_int("offset", raw["offset"], 0)
    if raw.get("cursor"):
        decode_cursor(raw["cursor"])
        out.cursor = raw["cursor"]
    out.crs = crsmod.parse(raw.get("crs"), "crs")
    if "bbox" in raw:
        out.bbox = parse_bbox(raw["bbox"], crsmod.parse(raw.get("bbox-crs"), "bbox-crs"))
    elif "bbox-crs" in raw:
        crsmod.parse(raw["bbox-crs"], "bbox-crs")
    if "datetime" in raw:
        if layout.time_field is None:
            raise InvalidParameter(
                f"datetime: collection {layout.spec.id!r} has no time field, so it cannot be filtered by time",
                parameter="datetime", value=raw["datetime"],
            )
        out.datetime = parse_datetime(raw["datetime"])
    if "filter-lang" in raw:
        lang = raw["filter-lang"].strip().lower()
        if lang not in FILTER_LANGS:
            raise InvalidParameter(
                f"filter-lang: unsupported {raw['filter-lang']!r}; use cql2-text or cql2-json",
                parameter="filter-lang", value=raw["filter-lang"],
            )
        out.filter_lang = FILTER_LANGS[lang]
    if raw.get("filter", "").strip():
        out.filter = raw["filter"]
    out.filter_crs = crsmod.parse(raw.get("filter-crs"), "filter-crs")
    return out


def parse_item(items: Iterable[tuple[str, str]]) -> tuple[str, crsmod.Crs]:
    """``f`` and ``crs`` of a single-feature request."""
    raw = _single(items)
    for key in raw:
        if key not in ITEM_PARAMS:
            raise InvalidParameter(f"unknown parameter {key!r}; a feature takes only f and crs", parameter=key)
    return parse_format(raw.get("f")), crsmod.parse(raw.get("crs"), "crs")


def coerce_value(value, field: Field, parameter: str, element: bool = False):
    """``value`` as the Python type of ``field`` (or of its elements); 400 naming both if impossible."""
    typ = field.elem_typname if (field.is_array and element) else field.typname
    cat = field.elem_category if (field.is_array and element) else field.category
    if isinstance(value, bool) and cat != "B":
        value = str(value).lower()
    try:
        if typ in ("int2", "int4", "int8"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if cat == "N":
            return float(value)
        if cat == "B":
            if isinstance(value, bool):
                return value
            return {"true": True, "false": False}[str(value).lower()]
        if typ in ("timestamptz", "timestamp", "date"):
            if isinstance(value, datetime):
                return value if value.tzinfo else value.replace(tzinfo=naive_zone())
            if isinstance(value, date):
                return value if typ == "date" else datetime.combine(value, time(0), tzinfo=naive_zone())
            r = parse_datetime(str(value), parameter)
            if r.lower is None:  # an interval open at its start ("../2024-05-01") has no value to compare with
                raise ValueError
            return r.lower if typ != "date" else r.lower.date()
    except (ValueError, KeyError, TypeError, InvalidParameter):
        raise InvalidParameter(
            f"{parameter}: {value!r} is not a valid value for property {field.name!r} ({field.sql_type})",
            parameter=parameter, property=field.name, value=str(value),
        ) from None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value if isinstance(value, str) else str(value)
