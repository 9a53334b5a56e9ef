"""A small hand-made gazetteer that exercises every combination model, inserted into a real
PostGIS database with plain SQL (the schema's checks and triggers apply as for any load).

Layout (CGCS2000 lon/lat): 天山区 is the box 87.60..87.66 x 43.78..43.82; its west half is
胜利路街道 (communities 三甬碑 south, 南梁 north), its east half 解放南路街道 (community 新华).
沙依巴克区 lies west of it (87.54..87.60) with its own 人民路. 解放南路 runs west -> east
along lat 43.79, odd numbers on its left (north), even on its right (south).
"""
from __future__ import annotations

from urbangis.layers import database as db


def box(x0, y0, x1, y1) -> str:
    return f"SRID=4490;MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"


def poly(x0, y0, x1, y1) -> str:
    return f"SRID=4490;POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"


def pt(x, y) -> str:
    return f"SRID=4490;POINT({x} {y})"


def line(*xy) -> str:
    return "SRID=4490;MULTILINESTRING((" + ",".join(f"{x} {y}" for x, y in xy) + "))"


ROAD_Y = 43.79
# (id, name, aliases, historic, kind, district, lf, lt, rf, rt, lp, rp, geom)
ROADS = [
    ("R1", "解放南路", ["解放路南段"], ["南门大街"], "main", "650102", 1, 99, 2, 100, "odd", "even",
     line((87.60, ROAD_Y), (87.66, ROAD_Y))),
    ("R2", "人民路", [], [], "main", "650102", 1, 51, 2, 52, "odd", "even", line((87.615, 43.78), (87.615, 43.82))),
    ("R3", "人民路", [], [], "main", "650103", 1, 51, 2, 52, "odd", "even", line((87.57, 43.78), (87.57, 43.82))),
    ("R4", "河坝巷", [], [], "lane", "650102", 1, 30, None, None, "all", None, line((87.605, 43.81), (87.625, 43.81))),
]
# house numbers: (id, parent_kind, parent_id, number, lon, lat)
HOUSES = [
    ("H1", "road", "R1", "12", 87.6050, 43.7899),
    ("H2", "road", "R1", "13", 87.6052, 43.7901),
    ("H3", "road", "R1", "12-1", 87.6055, 43.7899),
    ("H4", "road", "R2", "8", 87.6151, 43.7850),
    ("H5", "road", "R3", "8", 87.5701, 43.7850),
    ("H6", "place", "P1", "5", 87.6402, 43.8052),
    ("H7", "courtyard", "C1", "3", 87.6105, 43.7952),
    ("H8", "road", "R1", "30", 87.6200, 43.7899),
    ("H9", "road", "R1", "30", 87.6500, 43.7899),  # a duplicate number far from 大小十字 (data error kept)
    ("H10", "road", "R4", "7", 87.6100, 43.8101),
]
BUILDINGS = [
    ("B1", "house_number", "H1", "3号楼", pt(87.6050, 43.7896)),
    ("B2", "road", "R1", "7栋", pt(87.6300, 43.7897)),
    ("B3", "house_number", "H6", "2号楼", pt(87.6404, 43.8054)),
    ("B4", "place", "P1", "A座", poly(87.6395, 43.8045, 87.6397, 43.8047)),
    ("B5", "organisation", "O1", "1号楼", pt(87.6122, 43.7982)),
    ("B6", "courtyard", "C1", "2号楼", pt(87.6103, 43.7953)),  # only a city-added model reaches it
]
PLACES = [
    ("P1", "二道桥", ["二道桥市场"], ["二道桥子"], "market", "650102", pt(87.6400, 43.8050)),
    ("P2", "大小十字", [], [], "area", "650102", poly(87.6190, 43.7880, 87.6210, 43.7920)),
    ("P3", "红山", [], ["红山嘴子"], "area", "650102", pt(87.6300, 43.8150)),
]
COURTYARDS = [
    ("C1", "胜利小区", "compound", "650102003", "650102003001", [], pt(87.6100, 43.7950)),
    ("C2", "胜利小区", "compound", "650102005", "650102005001", [], pt(87.6450, 43.7950)),
    ("C3", "幸福院", "courtyard", "650102003", "650102003002", ["幸福大院"], pt(87.6080, 43.8150)),
]
ORGS = [("O1", "乌鲁木齐市第一中学", ["一中"], "school", "R2", "20", pt(87.6120, 43.7980)),
        # one brand, several branches kilometres apart: the branch the query names must win
        ("O2", "中国银行天山支行", [], "bank", "R2", "30", pt(87.6160, 43.8010)),
        ("O3", "中国银行沙依巴克支行", [], "bank", "R3", "12", pt(87.5710, 43.8000)),
        ("O4", "中国银行新华分理处", [], "bank", None, None, pt(87.6500, 43.8100))]
STOREFRONTS = [("S1", "天山拉面馆", "R2", "7", "restaurant", pt(87.6145, 43.7900))]
ADMIN = [
    ("650000", "新疆维吾尔自治区", "province", None, ["新疆"], None),
    ("650100", "乌鲁木齐市", "city", "650000", ["乌市"], None),
    ("650102", "天山区", "district", "650100", [], box(87.60, 43.78, 87.66, 43.82)),
    ("650103", "沙依巴克区", "district", "650100", [], box(87.54, 43.78, 87.60, 43.82)),
    ("650106", "水磨沟区", "district", "650100", [], box(87.66, 43.78, 87.72, 43.82)),
    ("650102003", "胜利路街道", "street", "650102", [], box(87.60, 43.78, 87.63, 43.82)),
    ("650102005", "解放南路街道", "street", "650102", [], box(87.63, 43.78, 87.66, 43.82)),
    ("650102003001", "三甬碑社区居委会", "community", "650102003", [], box(87.60, 43.78, 87.63, 43.80)),
    ("650102003002", "南梁社区居委会", "community", "650102003", [], box(87.60, 43.80, 87.63, 43.82)),
    ("650102005001", "新华社区居委会", "community", "650102005", [], box(87.63, 43.78, 87.66, 43.82)),
]
GRIDS = [
    ("650102003001001", "650102003001", box(87.60, 43.78, 87.615, 43.80)),
    ("650102003001002", "650102003001", box(87.615, 43.78, 87.63, 43.80)),
    ("65010200300203", "650102003002", box(87.60, 43.80, 87.63, 43.82)),  # legacy 14-digit code
]
RESP = [("TS-001", "三甬碑责任网格1", "650102", box(87.60, 43.78, 87.63, 43.80))]
COMPONENTS = [("6501020101000001", "上水井盖", "完好", "水务局", pt(87.6110, 43.7910)),
              ("6501020201000007", "路灯", "完好", "城管局", line((87.6200, 43.7950), (87.6210, 43.7950)))]


def load(info: str) -> None:
    """Insert the fixture gazetteer into the database at ``info`` (one transaction)."""
    with db.connect(info) as conn:
        cur = conn.cursor()
        cur.executemany("INSERT INTO admin_areas (code, name, level, parent_code, aliases, geom)"
                        " VALUES (%s,%s,%s,%s,%s,%s)", ADMIN)
        cur.executemany(
            "INSERT INTO roads (id, name, aliases, historic_names, kind, district_code, left_from, left_to, right_from,"
            " right_to, left_parity, right_parity, geom) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", ROADS)
        cur.executemany("INSERT INTO place_names (id, name, aliases, historic_names, kind, district_code, geom)"
                        " VALUES (%s,%s,%s,%s,%s,%s,%s)", PLACES)
        cur.executemany("INSERT INTO courtyards (id, name, kind, street_code, community_code, aliases, geom)"
                        " VALUES (%s,%s,%s,%s,%s,%s,%s)", COURTYARDS)
        cur.executemany("INSERT INTO organisations (id, name, aliases, kind, road_id, house_number, geom)"
                        " VALUES (%s,%s,%s,%s,%s,%s,%s)", ORGS)
        cur.executemany("INSERT INTO storefronts (id, name, road_id, house_number, category, geom)"
                        " VALUES (%s,%s,%s,%s,%s,%s)", STOREFRONTS)
        cur.executemany("INSERT INTO house_numbers (id, parent_kind, parent_id, number, geom)"
                        " VALUES (%s,%s,%s,%s,ST_SetSRID(ST_MakePoint(%s,%s),4490))", HOUSES)
        cur.executemany("INSERT INTO buildings (id, parent_kind, parent_id, number, geom)"
                        " VALUES (%s,%s,%s,%s,%s)", BUILDINGS)
        cur.executemany("INSERT INTO unit_grids (code, community_code, geom) VALUES (%s,%s,%s)", GRIDS)
        cur.executemany("INSERT INTO responsibility_grids (code, name, district_code, geom) VALUES (%s,%s,%s,%s)", RESP)
        cur.executemany("INSERT INTO components (code, name, status, owner_dept, geom)"
                        " VALUES (%s,%s,%s,%s,%s)", COMPONENTS)
        conn.commit()
