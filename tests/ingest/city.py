"""A small, self-contained city for the ingest tests, on Urumqi's real district outlines
(tests/data) with made-up streets, communities, grids and gazetteer features inside 天山区.
The tests do not depend on the generated sample city, which changes with its generator."""
from __future__ import annotations

import json
from pathlib import Path

from tests.paths import ROOT

from .util import box, feature, point, write_geojson

DISTRICTS = ROOT / "tests" / "data" / "urumqi_districts_wgs84.geojson"
STREET_BOX = (87.615, 43.785, 87.630, 43.800)  # inside 天山区 650102
COMMUNITY_BOX = (87.618, 43.788, 87.626, 43.795)


def grid_box(i: int) -> tuple[float, float, float, float]:
    """The i-th unit grid (0-based) of the test community: ~100 m squares, west to east."""
    x0 = 87.6185 + 0.0013 * i
    return (x0, 43.7890, x0 + 0.0012, 43.7899)


def layers() -> dict[str, list[dict]]:
    """Features per contract layer."""
    src = json.loads(DISTRICTS.read_text(encoding="utf-8"))
    admin = [feature({"code": "650100", "name": "乌鲁木齐市", "level": "city", "parent_code": "650000"}, None)]
    admin += [feature({"code": f["properties"]["district_adcode"], "name": f["properties"]["district_name"],
                       "level": "district", "parent_code": "650100"}, f["geometry"]) for f in src["features"]]
    admin.append(feature({"code": "650102003", "name": "胜利路街道", "level": "street", "parent_code": "650102"},
                         box(*STREET_BOX)))
    admin.append(feature({"code": "650102003001", "name": "三甬碑社区", "level": "community",
                          "parent_code": "650102003"}, box(*COMMUNITY_BOX)))
    return {
        "admin_areas": admin,
        "unit_grids": [feature({"code": f"650102003001{i + 1:03d}", "community_code": "650102003001"},
                               box(*grid_box(i))) for i in range(3)],
        "responsibility_grids": [feature({"code": "TS-001", "name": "三甬碑责任网格1", "district_code": "650102"},
                                         box(87.6185, 43.7890, 87.6224, 43.7899))],
        "roads": [feature({"id": "R0001", "name": "解放南路", "kind": "main", "district_code": "650102",
                           "left_from": 1, "left_to": 99, "right_from": 2, "right_to": 100,
                           "left_parity": "odd", "right_parity": "even"},
                          {"type": "LineString", "coordinates": [[87.6219, 43.786], [87.6219, 43.796]]})],
        "place_names": [feature({"id": "P0001", "name": "大巴扎", "kind": "market", "district_code": "650102"},
                                point(87.6235, 43.7915))],
        "courtyards": [feature({"id": "C0001", "name": "胜利小区", "kind": "compound", "street_code": "650102003",
                                "community_code": "650102003001"}, box(87.6225, 43.790, 87.6235, 43.7907))],
        "house_numbers": [feature({"id": "H0001", "parent_kind": "road", "parent_id": "R0001", "number": "12"},
                                  point(87.62198, 43.79018)),
                          feature({"id": "H0002", "parent_kind": "road", "parent_id": "R0001", "number": "13"},
                                  point(87.62174, 43.79022))],
        "buildings": [feature({"id": "B0001", "parent_kind": "house_number", "parent_id": "H0001", "number": "3号楼"},
                              point(87.6221, 43.7903))],
        "organisations": [feature({"id": "O0001", "name": "胜利路小学", "kind": "school", "road_id": "R0001"},
                                  point(87.6228, 43.7911))],
        "storefronts": [feature({"id": "S0001", "name": "老王牛肉面", "road_id": "R0001", "house_number": "12"},
                                point(87.62199, 43.79012))],
        "components": [feature({"code": "6501020101000001", "name": "上水井盖", "status": "完好",
                                "grid_code": "650102003001001"}, point(87.6190, 43.7894))],
    }


def write_city(folder: Path) -> Path:
    """The city as a gazetteer folder (GeoJSON per layer, supervisors as CSV)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, feats in layers().items():
        write_geojson(folder / f"{name}.geojson", feats)
    (folder / "supervisors.csv").write_text("id,name,grid_codes,phone\nSV01,张三,TS-001,13800000001\n",
                                            encoding="utf-8")
    return folder
