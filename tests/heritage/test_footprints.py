"""Footprint comparison: demolished, new, altered and unchanged, matched one to one by IoU."""
from __future__ import annotations

import geopandas as gpd
from shapely.affinity import translate
from shapely.geometry import box

from urbangis.heritage.footprints import Tolerances, compare


def _by_status(changes):
    out: dict[str, list] = {}
    for c in changes:
        out.setdefault(c.status, []).append((c.before, c.after))
    return out


def test_the_four_fates():
    before = [(box(0, 0, 10, 10), 9.0),      # 0 unchanged (re-digitised 0.2 m off)
              (box(20, 0, 30, 10), 9.0),     # 1 demolished
              (box(40, 0, 50, 10), 6.0),     # 2 raised by two storeys: altered
              (box(60, 0, 70, 10), 9.0)]     # 3 extended to twice the size: altered
    after = [(translate(box(0, 0, 10, 10), 0.2, 0.1), 9.5),
             (box(40, 0, 50, 10), 12.0),
             (box(60, 0, 80, 10), 9.0),
             (box(100, 0, 110, 10), 3.0)]    # new
    got = _by_status(compare(before, after))
    assert got["unchanged"] == [(0, 0)]
    assert got["demolished"] == [(1, None)]
    assert got["new"] == [(None, 3)]
    assert sorted(got["altered"]) == [(2, 1), (3, 2)]


def test_reasons_say_what_changed():
    changes = compare([(box(0, 0, 10, 10), 6.0)], [(box(0, 0, 10, 10), 12.0)])
    assert changes[0].status == "altered" and changes[0].reasons == ["height 6 -> 12 m"]
    changes = compare([box(0, 0, 10, 10)], [box(0, 0, 10, 16)])
    assert changes[0].status == "altered" and "IoU 0.62" in changes[0].reasons[0]


def test_height_within_tolerance_is_unchanged():
    # 2 m between two sources on a 30 m tower: under both the absolute and the relative tolerance
    assert compare([(box(0, 0, 10, 10), 30.0)], [(box(0, 0, 10, 10), 32.0)])[0].status == "unchanged"
    # 4 m on a 60 m tower: over 3 m but under 10 %: unchanged
    assert compare([(box(0, 0, 10, 10), 60.0)], [(box(0, 0, 10, 10), 64.0)])[0].status == "unchanged"
    strict = Tolerances(height_tol_m=1.0, height_tol_rel=0.01)
    assert compare([(box(0, 0, 10, 10), 60.0)], [(box(0, 0, 10, 10), 64.0)], strict)[0].status == "altered"


def test_matching_is_one_to_one_by_best_total_iou():
    # one old building replaced by two halves: the larger-IoU half matches (altered), the other is new
    before = [box(0, 0, 10, 10)]
    after = [box(0, 0, 6, 10), box(6, 0, 10, 10)]
    got = _by_status(compare(before, after, Tolerances(min_iou=0.3)))
    assert got["altered"] == [(0, 0)] and got["new"] == [(None, 1)]
    # two neighbours, each re-digitised slightly shifted towards the other: no swap
    before = [box(0, 0, 10, 10), box(10.5, 0, 20.5, 10)]
    after = [box(0.4, 0, 10.4, 10), box(10.9, 0, 20.9, 10)]
    got = _by_status(compare(before, after))
    assert sorted(got["unchanged"]) == [(0, 0), (1, 1)]


def test_below_min_iou_is_demolished_and_new():
    got = _by_status(compare([box(0, 0, 10, 10)], [box(8, 8, 18, 18)]))
    assert got == {"demolished": [(0, None)], "new": [(None, 0)]}


def test_geodataframes_with_heights():
    before = gpd.GeoDataFrame({"height": [9.0, 15.0]}, geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10)],
                              crs="EPSG:4548")
    after = gpd.GeoDataFrame({"height": [9.0, 24.0]}, geometry=[box(0, 0, 10, 10), box(20, 0, 30, 10)],
                             crs="EPSG:4548")
    got = _by_status(compare(before, after))
    assert got == {"unchanged": [(0, 0)], "altered": [(1, 1)]}
    assert compare(before.iloc[:0], after)[0].status == "new"
