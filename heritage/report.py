"""A site's change report between two dates (GET /heritage/sites/{id}/report): counts and areas
by class and zone, the violations, the reviews and the patch list, as JSON, and as a readable HTML
page with a map (MapLibre: the zones, the patches, the imagery of each date) and a before/after
view of every patch."""
from __future__ import annotations

import datetime as dt
import html
from typing import Any
from urllib.parse import urlencode

import orjson
import psycopg

from urbangis.layers.errors import NotFound

from .rules import STRICTNESS, ZONE_ZH
from .store import REVIEWS

CLASS_ZH = {"new_construction": "新建", "demolition": "拆除", "alteration": "改建", "vegetation_loss": "植被减少",
            "vegetation_gain": "植被增加", "water_change": "水体变化", "other": "其他"}


# The runs of a site within [from, to], one row each, and which of them the report shows: the latest
# run of each pair of dates and source (imagery detection, or a footprint comparison), unless one
# run is asked for. A run detected again with other parameters (or after the defaults changed)
# supersedes the earlier one instead of being counted beside it; the earlier run's patches and
# their reviews stay stored and are reported with ``run=``.
RUNS = """
WITH runs AS (
    SELECT site_id, run, min(before_date) AS before_date, min(after_date) AS after_date,
           coalesce(min(attrs->>'source'), 'imagery') AS source, count(*) AS patches,
           count(*) FILTER (WHERE review <> '待核查') AS reviewed, max(detected_at) AS detected_at, max(id) AS last_id
    FROM change_patches
    WHERE (%(site)s::text IS NULL OR site_id = %(site)s) AND (%(from)s::date IS NULL OR before_date >= %(from)s::date)
      AND (%(to)s::date IS NULL OR after_date <= %(to)s::date)
    GROUP BY site_id, run)
SELECT site_id, run, before_date, after_date, source, patches, reviewed, detected_at,
       first_value(run) OVER (PARTITION BY site_id, before_date, after_date, source
                              ORDER BY detected_at DESC, last_id DESC) AS latest
FROM runs ORDER BY site_id, before_date, after_date, source, detected_at DESC, last_id DESC"""


def runs_by_site(conn: psycopg.Connection, site_id: str | None = None, date_from: dt.date | None = None,
                 date_to: dt.date | None = None, run: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The detection and comparison runs of each site (or of ``site_id``) within [from, to], each
    saying whether the report shows it (``shown``) and, when a later run of the same dates and
    source supersedes it, which (``superseded_by``). ``run``: that run alone is shown."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(RUNS, {"site": site_id, "from": date_from, "to": date_to}):
        out.setdefault(r[0], []).append({
            "run": r[1], "before_date": r[2].isoformat(), "after_date": r[3].isoformat(), "source": r[4],
            "patches": r[5], "reviewed": r[6], "detected_at": r[7].isoformat(),
            "shown": r[1] == run if run else r[1] == r[8], "superseded_by": None if r[1] == r[8] else r[8]})
    return out


def runs(conn: psycopg.Connection, site_id: str, date_from: dt.date | None, date_to: dt.date | None,
         run: str | None = None) -> list[dict[str, Any]]:
    """The runs of ``site_id`` (:func:`runs_by_site`); NotFound when ``run`` is asked and the site has
    no such run within the dates."""
    out = runs_by_site(conn, site_id, date_from, date_to, run).get(site_id, [])
    if run and not any(r["shown"] for r in out):
        raise NotFound(f"site {site_id!r} has no run {run!r} within the dates asked", parameter="run", value=run)
    return out


def build(conn: psycopg.Connection, site_id: str, date_from: dt.date | None, date_to: dt.date | None,
          run: str | None = None) -> dict[str, Any]:
    """The report of ``site_id`` over the patches whose two dates lie within [from, to]: those of the
    latest run of each pair of dates and source, or of ``run`` alone (see :data:`RUNS`)."""
    site = conn.execute("SELECT id, name, kind, level, district_code, provenance, ST_AsGeoJSON(geom, 7)::json, "
                        "ST_Area(geom::geography) FROM heritage_sites WHERE id = %s", (site_id,)).fetchone()
    if site is None:
        raise NotFound(f"no heritage site {site_id!r}", parameter="id", value=site_id)
    zones = conn.execute("SELECT id, name, zone_kind, new_construction, max_height_m, max_footprint_change, "
                         "ST_Area(geom::geography), ST_AsGeoJSON(geom, 7)::json FROM protection_zones "
                         "WHERE site_id = %s ORDER BY id", (site_id,)).fetchall()
    run_list = runs(conn, site_id, date_from, date_to, run)
    rows = conn.execute(
        "SELECT id, class, area_m2, confidence, zone_id, violations, review, reviewed_by, reviewed_at, before_date, "
        "after_date, before_epoch, after_epoch, ST_AsGeoJSON(geom, 7)::json, run FROM change_patches "
        "WHERE site_id = %s AND run = ANY(%s) ORDER BY array_length(violations, 1) DESC NULLS LAST, area_m2 DESC, id",
        (site_id, [r["run"] for r in run_list if r["shown"]])).fetchall()
    by_class: dict[str, dict] = {}
    by_zone: dict[str, dict[str, Any]] = {
        z[0]: {"name": z[1], "zone_kind": z[2], "count": 0, "area_m2": 0.0, "by_class": {}} for z in zones}
    outside: dict[str, Any] = {"name": "outside every zone", "zone_kind": None, "count": 0, "area_m2": 0.0,
                               "by_class": {}}
    reviews = dict.fromkeys(REVIEWS, 0)
    patches, violations = [], []
    for (pid, cls, area, conf, zone_id, broken, rev, by, at, d0, d1, e0, e1, geom, run) in rows:
        bucket = by_class.setdefault(cls, {"count": 0, "area_m2": 0.0})
        bucket["count"] += 1
        bucket["area_m2"] += area
        z = by_zone.get(zone_id, outside) if zone_id else outside
        z["count"] += 1
        z["area_m2"] += area
        zc = z["by_class"].setdefault(cls, {"count": 0, "area_m2": 0.0})
        zc["count"] += 1
        zc["area_m2"] += area
        reviews[rev] = reviews.get(rev, 0) + 1
        patch = {"id": pid, "class": cls, "area_m2": round(area, 1), "confidence": round(conf, 3), "zone_id": zone_id,
                 "violations": list(broken), "review": rev, "reviewed_by": by,
                 "reviewed_at": at.isoformat() if at else None, "before_date": d0.isoformat(),
                 "after_date": d1.isoformat(), "before_epoch": e0, "after_epoch": e1, "run": run, "geometry": geom}
        patches.append(patch)
        if broken:
            violations.append({"patch": pid, "class": cls, "zone_id": zone_id, "violations": list(broken),
                               "review": rev})
    for bucket in (*by_class.values(), *by_zone.values(), outside):
        bucket["area_m2"] = round(bucket["area_m2"], 1)
        for sub in bucket.get("by_class", {}).values():
            sub["area_m2"] = round(sub["area_m2"], 1)
    zone_list = [{"id": z[0], "name": z[1], "zone_kind": z[2], "new_construction": z[3], "max_height_m": z[4],
                  "max_footprint_change": z[5], "area_m2": round(z[6], 1), "geometry": z[7]}
                 for z in sorted(zones, key=lambda z: STRICTNESS.get(z[2], 9))]
    epochs = conn.execute("SELECT id, name, acquired, pixel_m FROM imagery_epochs WHERE site_id = %s ORDER BY acquired",
                          (site_id,)).fetchall()
    return {
        "site": {"id": site[0], "name": site[1], "kind": site[2], "level": site[3], "district_code": site[4],
                 "provenance": site[5], "area_m2": round(site[7], 1), "geometry": site[6]},
        "from": date_from.isoformat() if date_from else None, "to": date_to.isoformat() if date_to else None,
        "runs": run_list,
        "totals": {"patches": len(patches), "area_m2": round(sum(p["area_m2"] for p in patches), 1),
                   "violations": len(violations)},
        "by_class": by_class,
        "by_zone": {**by_zone, **({"outside": outside} if outside["count"] else {})},
        "reviews": reviews,
        "violations": violations,
        "zones": zone_list,
        "epochs": [{"id": e[0], "name": e[1], "acquired": e[2].isoformat(), "pixel_m": e[3]} for e in epochs],
        "patches": patches,
    }


def render(report: dict[str, Any], base: str) -> str:
    """The report as an HTML page (MapLibre vendored by the server; nothing from the internet)."""
    site = report["site"]
    e = html.escape
    period = f"{report['from'] or '…'} → {report['to'] or '…'}"
    class_rows = "".join(f"<tr><td>{e(CLASS_ZH.get(c, c))} <small>{e(c)}</small></td><td>{v['count']}</td>"
                         f"<td>{v['area_m2']:,.0f}</td></tr>" for c, v in sorted(report["by_class"].items()))
    zone_rows = "".join(f"<tr><td>{e(ZONE_ZH.get(z['zone_kind'] or '', '—'))} {e(z['name'])}</td><td>{z['count']}</td>"
                        f"<td>{z['area_m2']:,.0f}</td></tr>" for z in report["by_zone"].values())
    def here(**more: str) -> str:  # a link to this report's period, with ``more``
        return e("?" + urlencode({**{k: report[k] for k in ("from", "to") if report[k]}, **more, "f": "html"}))
    run_rows = "".join(
        f"<tr><td><a href='{here(run=r['run'])}'>{e(r['run'])}</a></td><td>{e(r['source'])}</td>"
        f"<td>{e(r['before_date'])} → {e(r['after_date'])}</td><td>{e(r['detected_at'][:19])}</td>"
        f"<td>{r['patches']}</td><td>{r['reviewed']}</td><td>{'shown' if r['shown'] else ''}"
        f"{' · superseded by ' + e(r['superseded_by']) if r['superseded_by'] else ''}</td></tr>"
        for r in report["runs"])
    patch_rows = []
    for p in report["patches"]:
        views = ""
        if p["before_epoch"] and p["after_epoch"]:
            views = "".join(f'<img loading="lazy" alt="{w}" title="{w} {d}" src="{base}/heritage/patches/{p["id"]}/'
                            f'view.png?when={w}">'
                            for w, d in (("before", p["before_date"]), ("after", p["after_date"])))
        patch_rows.append(
            f"<tr id='p{p['id']}'><td>{p['id']}</td><td>{e(CLASS_ZH.get(p['class'], p['class']))}</td>"
            f"<td>{p['area_m2']:,.0f}</td><td>{p['confidence']:.2f}</td><td>{e(p['zone_id'] or '—')}</td>"
            f"<td>{'<br>'.join(e(v) for v in p['violations']) or '—'}</td><td>{e(p['review'])}</td>"
            f"<td class='views'>{views}</td></tr>")
    data = orjson.dumps({"site": site, "zones": report["zones"], "patches": report["patches"],
                         "epochs": report["epochs"], "base": base}).decode().replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{e(site['name'])} 变化监测报告</title>
<link rel="stylesheet" href="{base}/static/vendor/maplibre-gl/maplibre-gl.css">
<script src="{base}/static/vendor/maplibre-gl/maplibre-gl.js"></script>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1200px}}table{{border-collapse:collapse;margin:.5em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}}
#cmp{{position:relative;height:480px}}#before,#after{{position:absolute;inset:0}}
#handle{{position:absolute;top:0;bottom:0;width:4px;margin-left:-2px;background:#fff;box-shadow:0 0 4px #000;
cursor:ew-resize;z-index:5}}.views img{{width:150px;height:auto;margin-right:4px;image-rendering:pixelated}}
.bar{{margin:.5em 0}}</style></head><body>
<h1>{e(site['name'])} <small>{e(site['id'])}</small></h1>
<p>历史文化保护对象变化监测报告 · heritage change report · {e(period)} · {e(site['kind'])}, {e(site['level'])}
· <small>{e(site['provenance'])}</small></p>
<p><b>{report['totals']['patches']}</b> patches, {report['totals']['area_m2']:,.0f} m²,
<b>{report['totals']['violations']}</b> breaking a zone's rules · reviews:
{' · '.join(f'{e(k)} {v}' for k, v in report['reviews'].items())}</p>
<div class="bar">left (before): <select id="left"><option value="">none</option></select>
 · right (after): <select id="right"><option value="">none</option></select>
 · drag the white bar to swipe between the two dates</div>
<div id="cmp"><div id="before"></div><div id="after"></div><div id="handle"></div></div>
<h2>By class</h2><table><tr><th>class</th><th>patches</th><th>m²</th></tr>{class_rows}</table>
<h2>By zone</h2><table><tr><th>zone</th><th>patches</th><th>m²</th></tr>{zone_rows}</table>
<h2>Runs</h2><p>The latest run of each pair of dates is shown; an earlier one (another
detection of the same images, with its reviews) is listed here and opens on its own.
<a href="{here()}">latest runs</a></p>
<table><tr><th>run</th><th>source</th><th>dates</th><th>stored</th><th>patches</th><th>reviewed</th><th></th></tr>
{run_rows}</table>
<h2>Patches</h2><table><tr><th>id</th><th>class</th><th>m²</th><th>confidence</th><th>zone</th><th>violations</th>
<th>review</th><th>before / after</th></tr>{''.join(patch_rows)}</table>
<p><a href="?f=json">JSON</a></p>
<script>
const R = {data};
const fc = (items, props) => ({{type: "FeatureCollection", features: items.map(i => ({{type: "Feature",
  geometry: i.geometry, properties: props(i)}}))}});
const b = new maplibregl.LngLatBounds();
const walk = c => typeof c[0] === "number" ? b.extend(c) : c.forEach(walk);
walk(R.site.geometry.coordinates);
const style = {{version: 8, sources: {{}}, layers: [{{id: "bg", type: "background",
  paint: {{"background-color": "#f4f1ea"}}}}]}};
const maps = ["before", "after"].map(id => new maplibregl.Map({{container: id, style: style, bounds: b,
  fitBoundsOptions: {{padding: 20}}, attributionControl: false}}));
const pickers = [document.getElementById("left"), document.getElementById("right")];
let syncing = false;
maps.forEach((m, i) => m.on("move", () => {{
  if (syncing) return; syncing = true;
  maps[1 - i].jumpTo({{center: m.getCenter(), zoom: m.getZoom(), bearing: m.getBearing(), pitch: m.getPitch()}});
  syncing = false;
}}));
const cmp = document.getElementById("cmp"), handle = document.getElementById("handle");
const swipe = x => {{
  const w = cmp.clientWidth, at = Math.max(0, Math.min(w, x));
  handle.style.left = at + "px";
  document.getElementById("after").style.clipPath = "inset(0 0 0 " + at + "px)";
}};
swipe(cmp.clientWidth / 2);
let dragging = false;
handle.onpointerdown = ev => {{ dragging = true; handle.setPointerCapture(ev.pointerId); }};
handle.onpointermove = ev => {{ if (dragging) swipe(ev.clientX - cmp.getBoundingClientRect().left); }};
handle.onpointerup = () => {{ dragging = false; }};
for (const e of R.epochs) for (const p of pickers) {{
  const o = document.createElement("option"); o.value = e.id; o.textContent = e.acquired + " " + e.name;
  p.appendChild(o);
}}
const show = i => {{
  const m = maps[i];
  for (const e of R.epochs) if (m.getLayer("img-" + e.id)) m.removeLayer("img-" + e.id);
  const id = pickers[i].value;
  if (id) m.addLayer({{id: "img-" + id, type: "raster", source: "epoch-" + id}}, "zones");
}};
maps.forEach((m, i) => m.on("load", () => {{
  for (const e of R.epochs) m.addSource("epoch-" + e.id, {{type: "raster", tileSize: 256,
    tiles: [R.base + "/heritage/imagery/" + e.id + "/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}.png"]}});
  m.addSource("zones", {{type: "geojson", data: fc(R.zones, z => ({{kind: z.zone_kind, name: z.name}}))}});
  m.addSource("patches", {{type: "geojson", data: fc(R.patches, p => ({{id: p.id, cls: p.class,
    broken: p.violations.length > 0}}))}});
  m.addLayer({{id: "zones", type: "line", source: "zones", paint: {{"line-color": ["match", ["get", "kind"],
    "core", "#b2182b", "construction_control", "#ef8a62", "#67a9cf"], "line-width": 2}}}});
  m.addLayer({{id: "patches", type: "line", source: "patches", paint: {{"line-color": ["case", ["get", "broken"],
    "#d7191c", "#fdae61"], "line-width": 2}}}});
  m.on("click", ev => {{
    const f = m.queryRenderedFeatures(ev.point, {{layers: ["patches"]}})[0];
    if (f) location.hash = "p" + f.properties.id;
  }});
  if (R.epochs.length) pickers[i].value = R.epochs[i === 0 ? 0 : R.epochs.length - 1].id;
  pickers[i].onchange = () => show(i);
  show(i);
}}));
</script></body></html>"""
