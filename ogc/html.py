"""HTML encoding of the Features resources: small server-side pages, no script and nothing loaded
from the internet. Each page links its JSON twin; feature pages draw their geometries as inline SVG.
"""
from __future__ import annotations

import math
from html import escape
from string import Template
from typing import Sequence

_PAGE = Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>$title · urbangis</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222}
header{background:#16324f;color:#fff;padding:.6em 1em}header a{color:#cfe3ff}
main{padding:1em 1.5em;max-width:1200px}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccd;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#eef2f7}
code{background:#f3f3f3;padding:0 .2em}svg{border:1px solid #ccd;background:#fafcff}
.links a{margin-right:1em}
</style></head>
<body><header><a href="$root/">urbangis</a> $crumbs</header>
<main><h1>$title</h1>$body
<p class="links"><a href="$json">JSON</a></p></main></body></html>""")


def page(title: str, body: str, root: str, json_href: str, crumbs: Sequence[tuple[str, str]] = ()) -> str:
    """A whole HTML page around ``body`` (already escaped)."""
    trail = "".join(f" / <a href=\"{escape(h)}\">{escape(t)}</a>" for t, h in crumbs)
    return _PAGE.substitute(title=escape(title), body=body, root=escape(root), json=escape(json_href), crumbs=trail)


def _links(links: list[dict]) -> str:
    rows = "".join(
        f"<tr><td>{escape(str(link.get('rel', '')))}</td><td><a href=\"{escape(link['href'])}\">"
        f"{escape(link.get('title') or link['href'])}</a></td><td>{escape(str(link.get('type', '')))}</td></tr>"
        for link in links
    )
    return f"<table><tr><th>rel</th><th>link</th><th>type</th></tr>{rows}</table>"


def _value(v) -> str:
    if isinstance(v, list):
        return escape(", ".join(map(str, v)))
    return "" if v is None else escape(str(v))


def collections_page(doc: dict, root: str, json_href: str) -> str:
    """``/collections`` as HTML."""
    rows = "".join(
        f"<tr><td><a href=\"{escape(root)}/collections/{escape(c['id'])}?f=html\">{escape(c['id'])}</a></td>"
        f"<td>{escape(c.get('title', ''))}</td><td>{escape(c.get('description', ''))}</td></tr>"
        for c in doc["collections"]
    )
    body = f"<table><tr><th>id</th><th>title</th><th>description</th></tr>{rows}</table>"
    return page("Collections", body, root, json_href, [("collections", f"{root}/collections?f=html")])


def collection_page(doc: dict, root: str, json_href: str) -> str:
    """``/collections/{id}`` as HTML."""
    cid = doc["id"]
    bbox = doc.get("extent", {}).get("spatial", {}).get("bbox", [[]])[0]
    interval = doc.get("extent", {}).get("temporal", {}).get("interval")
    facts = [("description", doc.get("description", "")), ("storage CRS", doc.get("storageCrs", "")),
             ("extent (CRS84)", ", ".join(f"{v:g}" for v in bbox) if bbox else "none"),
             ("time", " / ".join(str(v) for v in interval[0]) if interval else "none"),
             ("features", str(doc.get("itemCount", "")))]
    table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    body = (f"<table>{table}</table><p><a href=\"{escape(root)}/collections/{escape(cid)}/items?f=html\">Browse the "
            f"features</a> · <a href=\"{escape(root)}/collections/{escape(cid)}/queryables?f=html\">Queryables</a></p>"
            f"<h2>Links</h2>{_links(doc.get('links', []))}")
    return page(doc.get("title", cid), body, root, json_href,
                [("collections", f"{root}/collections?f=html"), (cid, f"{root}/collections/{cid}?f=html")])


def _positions(c, out: list[tuple[float, float]]) -> None:
    """Append every position of a GeoJSON coordinates array, nested to any depth, to ``out``."""
    if c and isinstance(c[0], (int, float)):
        out.append((c[0], c[1]))
    else:
        for x in c:
            _positions(x, out)


class _Frame:
    """Where a position lands in a box of ``width`` x ``height`` that the positions ``coords`` fit."""

    def __init__(self, coords: list[tuple[float, float]], width: int, height: int) -> None:
        xs, ys = [c[0] for c in coords], [c[1] for c in coords]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        # Degrees of longitude shrink with latitude: draw lon/lat at the mid-latitude's true shape.
        kx = math.cos(math.radians((y0 + y1) / 2)) if -180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90 else 1.0
        self.x0, self.y0, self.kx, self.height = x0, y0, kx, height
        self.scale = min((width - 20) / (((x1 - x0) * kx) or 1e-9), (height - 20) / ((y1 - y0) or 1e-9))

    def pt(self, c) -> str:
        """The position ``c`` as "x,y" in the box."""
        x = 10 + (c[0] - self.x0) * self.kx * self.scale
        y = self.height - 10 - (c[1] - self.y0) * self.scale
        return f"{x:.1f},{y:.1f}"


def _circle(c, frame: _Frame) -> str:
    """A Point's coordinates as an SVG circle."""
    x, y = frame.pt(c).split(",")
    return f'<circle cx="{x}" cy="{y}" r="3" fill="#d7301f"/>'


def _polyline(c, frame: _Frame) -> str:
    """A LineString's coordinates as an SVG polyline."""
    return f'<polyline points="{" ".join(frame.pt(p) for p in c)}" fill="none" stroke="#ff7f00"/>'


def _path(c, frame: _Frame) -> str:
    """A Polygon's rings as an SVG path (holes left open by the even-odd rule)."""
    d = " ".join("M" + " L".join(frame.pt(p) for p in ring) + " Z" for ring in c)
    return f'<path d="{d}" fill="#1f78b4" fill-opacity=".25" stroke="#1f78b4" fill-rule="evenodd"/>'


_SHAPES = {"Point": _circle, "LineString": _polyline, "Polygon": _path}
_MULTI = {"MultiPoint": "Point", "MultiLineString": "LineString", "MultiPolygon": "Polygon"}  # their parts' type


def _draw(g: dict, frame: _Frame, shapes: list[str]) -> None:
    """Append the SVG elements of the GeoJSON geometry ``g`` to ``shapes``; unknown types draw nothing."""
    t = g.get("type")
    # GeoJSON (RFC 7946, 3.1) requires "coordinates" of every geometry but a GeometryCollection
    if t in _SHAPES:
        shapes.append(_SHAPES[t](g["coordinates"], frame))
    elif t in _MULTI:
        for part in g["coordinates"]:
            shapes.append(_SHAPES[_MULTI[t]](part, frame))
    elif t == "GeometryCollection":
        for sub in g.get("geometries", []):
            _draw(sub, frame, shapes)


def _svg(features: list[dict], width: int = 640, height: int = 400) -> str:
    """The features' geometries drawn to fit the box (x = first coordinate, y = second)."""
    coords: list[tuple[float, float]] = []
    geoms: list[dict] = [geom for f in features if (geom := f.get("geometry"))]
    for g in geoms:
        for part in (g.get("geometries") or [g]):
            _positions(part.get("coordinates", []), coords)
    if not coords:
        return ""
    frame = _Frame(coords, width, height)
    shapes: list[str] = []
    for g in geoms:
        _draw(g, frame, shapes)
    return f'<svg width="{width}" height="{height}" role="img" aria-label="features">{"".join(shapes)}</svg>'


def items_page(title: str, cid: str, fc: dict, root: str, json_href: str) -> str:
    """A page of features as HTML: a drawing and a table."""
    features = fc.get("features", [])
    names: list[str] = []
    for f in features:
        for k in (f.get("properties") or {}):
            if k not in names:
                names.append(k)
    head = "".join(f"<th>{escape(n)}</th>" for n in ["id", *names])
    rows = "".join(
        f"<tr><td><a href=\"{escape(root)}/collections/{escape(cid)}/items/{escape(str(f.get('id')))}?f=html\">"
        f"{escape(str(f.get('id')))}</a></td>"
        + "".join(f"<td>{_value((f.get('properties') or {}).get(n))}</td>" for n in names)
        + "</tr>"
        for f in features
    )
    matched = fc.get("numberMatched")
    summary = f"<p>{fc.get('numberReturned', 0)} features" + (f" of {matched}" if matched is not None else "") + "</p>"
    nav = "".join(
        f"<a href=\"{escape(link['href'])}\">{escape(link['rel'])}</a> "
        for link in fc.get("links", []) if link.get("rel") in ("prev", "next") and link.get("type") == "text/html"
    )
    body = f"{summary}{_svg(features)}<p class=links>{nav}</p><table><tr>{head}</tr>{rows}</table>"
    return page(title, body, root, json_href,
                [("collections", f"{root}/collections?f=html"), (cid, f"{root}/collections/{cid}?f=html"),
                 ("items", f"{root}/collections/{cid}/items?f=html")])


def item_page(cid: str, feature: dict, root: str, json_href: str) -> str:
    """One feature as HTML."""
    props = feature.get("properties") or {}
    table = "".join(f"<tr><th>{escape(k)}</th><td>{_value(v)}</td></tr>" for k, v in props.items())
    body = f"{_svg([feature], 480, 320)}<table>{table}</table>"
    fid = str(feature.get("id"))
    return page(f"{cid} {fid}", body, root, json_href,
                [("collections", f"{root}/collections?f=html"), (cid, f"{root}/collections/{cid}?f=html"),
                 ("items", f"{root}/collections/{cid}/items?f=html")])


def queryables_page(cid: str, schema: dict, root: str, json_href: str, heading: str = "Queryables") -> str:
    """The queryables (or the schema) as an HTML table."""
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(str(s.get('type', s.get('format', ''))))}</td>"
        f"<td>{escape(str(s.get('format', '')))}</td></tr>"
        for name, s in schema.get("properties", {}).items()
    )
    body = f"<table><tr><th>property</th><th>type</th><th>format</th></tr>{rows}</table>"
    return page(f"{heading} of {cid}", body, root, json_href,
                [("collections", f"{root}/collections?f=html"), (cid, f"{root}/collections/{cid}?f=html")])


def conformance_page(classes: list[str], root: str, json_href: str) -> str:
    """The conformance classes as HTML."""
    body = "<ul>" + "".join(f"<li><code>{escape(c)}</code></li>" for c in classes) + "</ul>"
    return page("Conformance", body, root, json_href)
