"""Reading a written evaluation city back and checking it against the contract, without a database.

The gazetteer files go through the loader's own reader and row checks (ingest.formats.vector,
ingest.validate.rows), then are read with pyogrio and checked with the contract's declaration
(urbangis.layers.contract.LAYERS): required fields, code formats, enumerations, keys and natural
keys, references between layers, and the "row lies in …" rules (point on surface covered by the
area, lines touching it). The queries are checked against the files: every target exists, every
truth lies on its target (or, for an interpolated house number, the number is in the road's
range, of its side's parity, and has no point), models 1/2 lie in the area they name, made-up
queries name nothing in the gazetteer.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyogrio
import shapely
from shapely.geometry import Point

from urbangis.layers.contract import LAYERS

EPS = 1e-6  # degrees (about 0.1 m)
GEOMETRY = {"multipolygon": {"Polygon", "MultiPolygon"}, "multilinestring": {"LineString", "MultiLineString"},
            "point": {"Point"}, "areal_or_point": {"Point", "Polygon", "MultiPolygon"},
            "any": {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon"}}


def _read(folder: Path) -> dict[str, tuple[list[dict], np.ndarray]]:
    out = {}
    for layer in LAYERS:
        path = folder / f"{layer.name}.geojson"
        if not path.exists():
            continue
        meta, _, geoms, fields = pyogrio.raw.read(path)
        names = list(meta["fields"])
        n = len(geoms)
        rows = [{names[j]: (None if fields[j][i] is None else _plain(fields[j][i])) for j in range(len(names))}
                for i in range(n)]
        out[layer.name] = (rows, shapely.from_wkb(geoms))
    return out


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    return v


def check(out: Path) -> list[str]:
    """Every problem found, as one line each (empty: all good)."""
    folder = Path(out) / "gazetteer"
    data = _read(folder)
    problems: list[str] = []
    keys: dict[str, dict[str, int]] = {}
    for layer in LAYERS:
        if layer.name not in data:
            continue
        rows, geoms = data[layer.name]
        keys[layer.name] = {}
        seen_nat: set[tuple] = set()
        for i, (row, g) in enumerate(zip(rows, geoms)):
            where = f"{layer.name}[{i}]"
            for f in layer.fields:
                if f.name in layer.computed:
                    continue
                v = row.get(f.name)
                if v in ("", None):
                    if f.required and not f.sometimes_empty:
                        problems.append(f"{where}: {f.name} is required")
                    continue
                if f.code and not f.code.pattern.match(str(v)):
                    problems.append(f"{where}: {f.name} {v!r} is not {f.code.describe}")
                if f.enum and v not in f.enum.values:
                    problems.append(f"{where}: {f.name} {v!r} not one of {f.enum.values}")
            key = str(row.get(layer.key))
            if key in keys[layer.name]:
                problems.append(f"{where}: key {key} repeated")
            keys[layer.name][key] = i
            if layer.natural_key:
                nat = tuple(row.get(k) for k in layer.natural_key)
                if nat in seen_nat:
                    problems.append(f"{where}: natural key {nat} repeated")
                seen_nat.add(nat)
            if g is None:
                if not layer.optional_geometry:
                    problems.append(f"{where}: no geometry")
                continue
            if g.geom_type not in GEOMETRY[layer.geometry]:
                problems.append(f"{where}: geometry {g.geom_type}")
            if not g.is_valid:
                problems.append(f"{where}: invalid geometry ({shapely.is_valid_reason(g)})")
    problems += _loader_rows(folder)
    problems += _relations(data, keys)
    problems += _queries(Path(out) / "queries.jsonl", data, keys)
    return problems


def _loader_rows(folder: Path) -> list[str]:
    """The loader's own reader and row checks (ingest.formats.vector, ingest.validate.rows): column
    matching, declared CRS, types, formats, enumerations, required fields."""
    try:
        from urbangis.ingest.formats.vector import VectorReader
        from urbangis.ingest.validate.rows import RowConverter, match_columns, missing_required
    except ImportError as exc:  # the check above still runs
        return [f"loader row checks skipped ({exc})"]
    problems = []
    for layer in LAYERS:
        path = folder / f"{layer.name}.geojson"
        if not path.exists():
            continue
        reader = VectorReader(path)
        if reader.declared_crs is None or reader.declared_crs.epsg != 4490:
            problems.append(f"{layer.name}: declared CRS {reader.declared_crs}")
        mapping = match_columns(layer, reader.columns)
        for f in missing_required(layer, mapping):
            problems.append(f"{layer.name}: no column for {f}")
        conv = RowConverter(layer, mapping, [c for c in reader.columns if c not in mapping.values()])
        for batch in reader.batches(5000):
            _, issues = conv.convert(batch)
            problems += [f"{layer.name} row {i.row}: {i.field} {i.value!r}: {i.reason}" for i in issues
                         if i.severity == "error"]
    return problems


def _relations(data, keys) -> list[str]:
    problems = []
    admin_rows, admin_geoms = data["admin_areas"]
    level = {r["code"]: r["level"] for r in admin_rows}
    for r in admin_rows:
        if r["level"] in ("street", "community") and r.get("parent_code") not in level:
            problems.append(f"admin_areas {r['code']}: parent {r.get('parent_code')} missing")
    area_of = {"admin_areas": {r["code"]: g for r, g in zip(admin_rows, admin_geoms)}}
    for name in ("unit_grids", "responsibility_grids"):
        if name in data:
            area_of[name] = {r["code"]: g for r, g in zip(*data[name])}
    for layer in LAYERS:
        if layer.name not in data:
            continue
        rows, geoms = data[layer.name]
        for ref in layer.refs:
            when = re.match(r"s\.(\w+) = '(\w+)'", ref.when) if ref.when else None
            lvl = re.match(r"t\.level = '(\w+)'", ref.where) if ref.where else None
            for i, r in enumerate(rows):
                v = r.get(ref.field)
                if v in (None, "") or (when and r.get(when.group(1)) != when.group(2)):
                    continue
                if ref.table == "admin_areas":
                    ok = v in level and (lvl is None or level[v] == lvl.group(1))
                else:
                    ok = str(v) in keys.get(ref.table, {})
                if not ok:
                    problems.append(f"{layer.name}[{i}]: {ref.field} {v} names no {ref.what or ref.table}")
        for rule in layer.inside:
            for i, (r, g) in enumerate(zip(rows, geoms)):
                v = r.get("code", "")[:6] if rule.expr.startswith("left(") else r.get(rule.field)
                if v in (None, "") or g is None:
                    continue
                area = area_of.get(rule.table, {}).get(v)
                if area is None:
                    continue
                p = g.point_on_surface()
                ok = area.intersects(g) if rule.lines else (area.covers(p) or area.distance(p) <= EPS)
                if not ok:
                    problems.append(f"{layer.name}[{i}]: does not lie in its {rule.what} {v}")
    return problems


def _queries(path: Path, data, keys) -> list[str]:
    problems = []
    geom_of = {}
    for name, (rows, geoms) in data.items():
        layer = next(x for x in LAYERS if x.name == name)
        geom_of[name] = {str(r[layer.key]): g for r, g in zip(rows, geoms)}
    roads = {r["id"]: r for r in data["roads"][0]}
    names = set()
    for name in ("roads", "place_names", "organisations", "courtyards", "admin_areas", "storefronts"):
        for r in data[name][0]:
            names.add(r["name"])
            for f in ("aliases", "historic_names"):
                names.update(x for x in (r.get(f) or "").split("|") if x)
    road_numbers = {}
    for r, _ in zip(*data["house_numbers"]):
        if r["parent_kind"] == "road":
            road_numbers.setdefault(r["parent_id"], set()).add(r["number"])
    areas = {r["name"]: g for r, g in zip(*data["admin_areas"])}
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        q = json.loads(line)
        where = f"queries[{i}] ({q['query']})"
        if q.get("made_up"):
            if q["target"] is not None or q["query"] in names:
                problems.append(f"{where}: made up but names something")
            continue
        t = q["target"]
        g = geom_of.get(t["layer"], {}).get(str(t["id"]))
        if g is None:
            problems.append(f"{where}: target {t} missing")
            continue
        p = Point(q["lon"], q["lat"])
        if q.get("interpolated"):
            num = re.search(r"(\d+)号$", _ascii(q["query"]))
            r = roads[t["id"]]
            n = int(num.group(1)) if num else None
            ranges = [(r[f"{side}_from"], r[f"{side}_to"], r[f"{side}_parity"]) for side in ("left", "right")]
            ok = n is not None and any(a is not None and a <= n <= b and _parity_ok(n, par) for a, b, par in ranges)
            if n is None and q["noise"]:
                ok = True  # 十二号: not read back here
            if not ok or str(n) in road_numbers.get(t["id"], set()):
                problems.append(f"{where}: interpolated number not a gap in the road's range")
            if g.distance(p) > 0.0006:
                problems.append(f"{where}: interpolated truth {g.distance(p):.5f} deg from the road")
            continue
        if g.distance(p) > EPS:
            problems.append(f"{where}: truth {g.distance(p):.7f} deg off its target")
        if q["model"] in (1, 2) and not q["noise"]:
            area = [a for n, a in areas.items() if n in q["query"] and a is not None]
            if area and not all(a.distance(p) <= EPS for a in area):
                problems.append(f"{where}: truth outside the area it names")
    return problems


def _parity_ok(n: int, parity: str) -> bool:
    return parity == "all" or (n % 2 == 1) == (parity == "odd")


def _ascii(s: str) -> str:
    return s.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
