"""Parsing of the query parameters: bbox axis order, datetime forms, CRS names, limits."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from urbangis.ogc import crs as crsmod
from urbangis.ogc.errors import InvalidParameter
from urbangis.ogc.params import decode_cursor, encode_cursor, parse_bbox, parse_datetime, parse_int

UTC = timezone.utc


def test_bbox_in_crs84_is_lon_lat():
    b = parse_bbox("87.5,43.7,87.7,43.9", crsmod.default())
    assert (b.minx, b.miny, b.maxx, b.maxy) == (87.5, 43.7, 87.7, 43.9)


@pytest.mark.parametrize("code", [4326, 4490])
def test_bbox_in_geographic_epsg_is_lat_lon(code):
    b = parse_bbox("43.7,87.5,43.9,87.7", crsmod.parse(f"EPSG:{code}", "bbox-crs"))
    assert (b.minx, b.miny, b.maxx, b.maxy) == (87.5, 43.7, 87.7, 43.9)


def test_bbox_in_4538_is_northing_easting():
    b = parse_bbox("4850000,550000,4851000,551000",
                   crsmod.parse("http://www.opengis.net/def/crs/EPSG/0/4538", "bbox-crs"))
    assert (b.minx, b.miny, b.maxx, b.maxy) == (550000, 4850000, 551000, 4851000)


def test_bbox_with_heights_keeps_the_horizontal_part():
    b = parse_bbox("87.5,43.7,0,87.7,43.9,100", crsmod.default())
    assert (b.minx, b.miny, b.maxx, b.maxy) == (87.5, 43.7, 87.7, 43.9)


@pytest.mark.parametrize("value, words", [
    ("1,2,3", "4 or 6"),
    ("1,2,3,4,5", "4 or 6"),
    ("a,b,c,d", "not a number"),
    ("0,-91,1,1", "within [-90, 90]"),
    ("-181,0,1,1", "within [-180, 180]"),
    ("0,10,1,5", "lower latitude is above"),
    ("nan,0,1,1", "finite"),
])
def test_bad_bbox_says_why(value, words):
    with pytest.raises(InvalidParameter) as exc:
        parse_bbox(value, crsmod.default())
    assert words in exc.value.description and exc.value.details["parameter"] == "bbox"


def test_bbox_across_the_antimeridian_is_accepted():
    assert parse_bbox("170,-10,-170,10", crsmod.default()).crosses_antimeridian


def test_datetime_instant_date_and_intervals():
    t = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    r = parse_datetime("2024-01-02T03:04:05Z")
    assert r.lower == r.upper == t and r.upper_inclusive
    day = parse_datetime("2024-01-02")
    assert day.lower == datetime(2024, 1, 2, tzinfo=UTC) and day.upper == datetime(2024, 1, 3, tzinfo=UTC)
    assert not day.upper_inclusive
    r = parse_datetime("../2024-01-02T03:04:05Z")
    assert r.lower is None and r.upper == t
    r = parse_datetime("2024-01-02T03:04:05Z/")
    assert r.lower == t and r.upper is None
    r = parse_datetime("2024-01-01/2024-01-31")
    assert r.upper == datetime(2024, 2, 1, tzinfo=UTC) and not r.upper_inclusive
    r = parse_datetime("2024-01-02T11:04:05+08:00")
    assert r.lower == t
    assert parse_datetime("2024-01-02T03:04:05").lower == t  # naive taken as UTC


@pytest.mark.parametrize("value, words", [
    ("yesterday", "RFC 3339"),
    ("../..", "at least one bounded end"),
    ("2024-02-01/2024-01-01", "starts after it ends"),
    ("2024-01-01/2024-02-01/2024-03-01", "exactly one '/'"),
    ("2024-13-01", "RFC 3339"),
])
def test_bad_datetime_says_why(value, words):
    with pytest.raises(InvalidParameter) as exc:
        parse_datetime(value)
    assert words in exc.value.description


@pytest.mark.parametrize("name", ["EPSG:4326", "http://www.opengis.net/def/crs/EPSG/0/4326",
                                  "https://www.opengis.net/def/crs/EPSG/0/4326", "[EPSG:4326]",
                                  "urn:ogc:def:crs:EPSG::4326"])
def test_crs_names(name):
    c = crsmod.parse(name, "crs")
    assert c.uri == "http://www.opengis.net/def/crs/EPSG/0/4326" and c.swap_xy and c.srid == 4326


def test_axis_order_comes_from_epsg():
    by = crsmod.supported()
    assert not by[crsmod.CRS84].swap_xy
    assert by[crsmod.EPSG_URI.format(4490)].swap_xy
    assert by[crsmod.EPSG_URI.format(4538)].swap_xy and not by[crsmod.EPSG_URI.format(4538)].geographic
    assert not by[crsmod.EPSG_URI.format(3857)].swap_xy


def test_unknown_crs_lists_the_supported_ones():
    with pytest.raises(InvalidParameter) as exc:
        crsmod.parse("EPSG:2000", "crs")
    assert "EPSG:2000" in exc.value.description and crsmod.CRS84 in exc.value.description


def test_limit_range():
    assert parse_int("limit", "10", 1, 10000) == 10
    with pytest.raises(InvalidParameter, match="between 1 and 10000"):
        parse_int("limit", str(10**9), 1, 10000)
    with pytest.raises(InvalidParameter, match="integer"):
        parse_int("limit", "ten", 1, 10000)


def test_cursor_round_trip_and_garbage():
    assert decode_cursor(encode_cursor("C00012")) == "C00012"
    assert decode_cursor(encode_cursor(42)) == 42
    with pytest.raises(InvalidParameter, match="cursor"):
        decode_cursor("!!!not-base64")
