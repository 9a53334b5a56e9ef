"""Reverse geocoding and the line-point model (interpolation by side and parity)."""
from __future__ import annotations

import pytest

from urbangis.geocoder.interpolate import OFFSET, locate, number_at
from urbangis.geocoder.reverse import reverse

from .gazetteer import ROAD_Y


def xy(index, lon, lat):
    return index.plane.fwd(lon, lat)


def test_reverse_at_a_house_number(index):
    r = reverse(index, *xy(index, 87.60501, 43.78991), radius=50)
    assert r.house.id == "H1" and r.house.distance < 2
    assert r.level == "exact"
    assert [a["code"] for a in r.chain][-1] == "650102003001"
    assert r.unit_grid == "650102003001001" and r.resp_grid == "TS-001"
    assert r.standard_address.endswith("解放南路12号")
    assert r.road.id == "R1" and r.road.extra["side"] == "right"


def test_reverse_prefers_the_nearer_building(index):
    r = reverse(index, *xy(index, 87.6050, 43.7896), radius=50)
    assert r.building.id == "B1"
    assert r.standard_address.endswith("解放南路12号3号楼")


def test_reverse_far_from_addresses_gives_road_with_interpolated_number(index):
    # north (left, odd) side of 解放南路, 40 % along it
    lon = 87.60 + 0.4 * 0.06
    r = reverse(index, *xy(index, lon, ROAD_Y + 0.0001), radius=30)
    assert r.house is None and r.level == "interpolated"
    n = r.road.extra["interpolated_number"]
    assert n % 2 == 1 and abs(n - (1 + 0.4 * 98)) <= 2
    assert r.road.extra["side"] == "left"
    assert r.road.distance == pytest.approx(11.1, abs=0.5)


def test_reverse_in_an_empty_corner_gives_the_admin_chain(index):
    r = reverse(index, *xy(index, 87.655, 43.815), radius=20)
    assert r.level == "area" and r.house is None and r.road is None
    assert r.chain[-1]["code"] == "650102005001"


def test_reverse_outside_everything(index):
    r = reverse(index, *xy(index, 80.0, 40.0), radius=100)
    assert r.level == "none" and r.chain == []


def test_locate_puts_numbers_on_their_side_by_parity(index):
    road = index.roads[index.road_by_id["R1"]]
    odd = locate(road, 21)
    even = locate(road, 22)
    _, lat_odd = index.plane.inv(odd[0], odd[1])
    _, lat_even = index.plane.inv(even[0], even[1])
    assert odd[2] == "left" and lat_odd > ROAD_Y
    assert even[2] == "right" and lat_even < ROAD_Y
    assert (lat_odd - ROAD_Y) * index.plane.plane(0).my == pytest.approx(OFFSET, abs=0.01)
    assert locate(road, 101) is None  # outside every range
    # and back: the number at the interpolated point is the number
    assert number_at(road, odd[0], odd[1])[:2] == (21, "left")
    assert number_at(road, even[0], even[1])[:2] == (22, "right")


def test_geocode_missing_number_is_interpolated(geocoder, index):
    best = geocoder.geocode("解放南路21号").candidates[0]
    assert best.level == "interpolated" and best.model == 3
    lon, lat = index.plane.inv(best.x, best.y)
    # slot rule: 50 odd slots on the left, 21 is slot 10, at (10 + 1/2) / 50 of the length
    assert lon == pytest.approx(87.60 + 0.06 * 10.5 / 50, abs=1e-5)
    assert lat > ROAD_Y
    assert best.score < 1.0
