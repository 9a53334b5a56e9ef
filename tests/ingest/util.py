"""Helpers of the ingest tests: writing small inputs, and fingerprinting the database."""
from __future__ import annotations

import json
from pathlib import Path

from urbangis.layers import database as db
from urbangis.layers.contract import LAYERS

TABLES = [layer.table for layer in LAYERS] + ["supervisor_grids"]


def fingerprint(info: str) -> dict[str, str]:
    """One hash per table over every row: equal fingerprints mean an unchanged database."""
    out = {}
    with db.connect(info) as conn:
        for t in TABLES:
            out[t] = conn.execute(
                "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') "
                f"FROM {t} x").fetchone()[0]
    return out


def versions(info: str) -> dict[str, int]:
    with db.connect(info) as conn:
        return dict(conn.execute("SELECT layer, version FROM layer_state").fetchall())


def count(info: str, table: str, where: str = "true") -> int:
    with db.connect(info) as conn:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]


def feature(props: dict, geometry: dict | None) -> dict:
    return {"type": "Feature", "properties": props, "geometry": geometry}


def point(x: float, y: float) -> dict:
    return {"type": "Point", "coordinates": [x, y]}


def box(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def write_geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")
    return path
