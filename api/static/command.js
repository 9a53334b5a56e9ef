// The supervision-and-command screen (监督指挥) over the city map: cases as a cluster map by default,
// switchable to heat, glow (荧光), hexagons, square bins, points and flows (迁徙); a filter panel
// (time range, class, stage, source, area); a click on a bin or a cluster lists its cases (反查);
// an address search on /geocode/suggest; a ranking of areas coloured on the map. Everything is
// asked of this server. MapLibre draws no text here (the style has no glyphs): a cluster's count is
// an HTML label over its circle.
// For automated checks: window.caseState {mode, ready, errors, listed, ranking, total, labels}.
(function () {
  "use strict";
  const map = window.urbangisMap;
  const state = (window.caseState = { mode: "cluster", ready: false, errors: [], listed: null, ranking: null,
                                      total: null, labels: 0, tilesLoaded: 0 });
  const filters = {};
  const MODES = { cluster: "聚类 Clusters", heat: "热力 Heat", glow: "荧光 Glow", hex: "蜂窝 Hexagons",
                  square: "方格 Squares", points: "点 Points", flows: "迁徙 Flows" };
  const STAGES = { reported: "上报", registered: "立案", dispatched: "派遣", handling: "处置中", handled: "已处置",
                   verified: "已核查", closed: "结案", cancelled: "作废", not_registered: "不予立案" };
  const LEVELS = { district: "区县", street: "街道", community: "社区", responsibility_grid: "责任网格" };
  const origin = location.origin;
  const $ = (sel) => document.querySelector(sel);
  let extent = null;
  let labels = new Map();

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    e.append(...children.filter((c) => c !== null && c !== undefined));
    return e;
  }

  function params(extra) {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) if (v) p.set(k, v);
    for (const [k, v] of Object.entries(extra || {})) if (v !== undefined && v !== null) p.set(k, v);
    return p.toString();
  }

  async function getJSON(url) {
    const r = await fetch(url);
    const body = await r.json();
    if (!r.ok) {
      const e = new Error(body.description || r.statusText);
      e.status = r.status;
      throw e;
    }
    return body;
  }

  function fail(err) {
    state.errors.push(String(err.message || err));
    const line = $("#case-status") || $("#command");
    line.append(el("p", { class: "error" }, "错误 " + (err.message || err)));
    if (err.status === 401) {  // access control on and nobody logged in: the cases need a login
      line.append(el("p", {}, el("a", { href: "/login?next=" + encodeURIComponent(location.pathname) },
                                 "登录 Log in")));
    }
  }

  // -- the case layers -------------------------------------------------------------------------
  const CASE_LAYERS = ["cases-bins", "cases-bins-line", "cases-clusters", "cases-heat", "cases-points",
                       "cases-flows", "cases-flow-ends"];

  function clear() {
    for (const id of CASE_LAYERS) if (map.getLayer(id)) map.removeLayer(id);
    for (const id of ["cases-agg", "cases-raster", "cases-geo"]) if (map.getSource(id)) map.removeSource(id);
    for (const m of labels.values()) m.remove();
    labels = new Map();
  }

  const COUNT_COLOUR = ["interpolate", ["linear"], ["get", "count"], 1, "#ffe08a", 20, "#ffa53a", 100, "#f25c2a",
                        500, "#c4162a", 2000, "#67000d"];

  function draw() {
    clear();
    const mode = state.mode;
    if (mode === "cluster" || mode === "hex" || mode === "square") {
      map.addSource("cases-agg", { type: "vector", maxzoom: 20,
        tiles: [`${origin}/cases/tiles/WebMercatorQuad/{z}/{y}/{x}?${params({ bins: mode })}`] });
      if (mode === "cluster") {
        map.addLayer({ id: "cases-clusters", type: "circle", source: "cases-agg", "source-layer": "clusters",
          paint: { "circle-color": COUNT_COLOUR, "circle-opacity": 0.85, "circle-stroke-color": "#fff",
                   "circle-stroke-width": 1.5,
                   "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "count"]], 1, 7, 10, 14, 50, 30] } });
      } else {
        map.addLayer({ id: "cases-bins", type: "fill", source: "cases-agg", "source-layer": "bins",
          paint: { "fill-color": COUNT_COLOUR, "fill-opacity": 0.7 } });
        map.addLayer({ id: "cases-bins-line", type: "line", source: "cases-agg", "source-layer": "bins",
          paint: { "line-color": "#fff", "line-width": 0.5 } });
      }
    } else if (mode === "heat" || mode === "glow") {
      map.addSource("cases-raster", { type: "raster", tileSize: 256, maxzoom: 20,
        tiles: [`${origin}/cases/heat/WebMercatorQuad/{z}/{y}/{x}.png?${params({ ramp: mode })}`] });
      map.addLayer({ id: "cases-heat", type: "raster", source: "cases-raster",
                     paint: { "raster-opacity": 0.85, "raster-fade-duration": 0 } });
    } else if (mode === "points") {
      map.addSource("cases-geo", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
      map.addLayer({ id: "cases-points", type: "circle", source: "cases-geo",
        paint: { "circle-radius": 4, "circle-color": "#d7301f", "circle-stroke-color": "#fff",
                 "circle-stroke-width": 1 } });
      loadPoints();
    } else if (mode === "flows") {
      map.addSource("cases-geo", { type: "geojson", data: `${origin}/cases/flows?${params({ limit: 300 })}` });
      map.addLayer({ id: "cases-flows", type: "line", source: "cases-geo",
        paint: { "line-color": "#6a3d9a", "line-opacity": 0.7,
                 "line-width": ["interpolate", ["linear"], ["get", "count"], 1, 1, 50, 4, 500, 10] } });
    }
    $("#case-status").textContent = "…";
  }

  async function loadPoints() {
    if (state.mode !== "points" || !map.getSource("cases-geo")) return;
    if (map.getZoom() < 14) {
      map.getSource("cases-geo").setData({ type: "FeatureCollection", features: [] });
      $("#case-status").textContent = "放大到 14 级以上显示案件点 (zoom in to 14+ for points)";
      return;
    }
    const b = map.getBounds();
    try {
      const body = await getJSON(`${origin}/cases/search?${params({ bbox: [b.getWest(), b.getSouth(), b.getEast(),
                                                                      b.getNorth()].join(","), limit: 1000 })}`);
      map.getSource("cases-geo").setData(body);
      $("#case-status").textContent = `视野内 ${body.numberMatched} 件 (${body.numberReturned} drawn)`;
    } catch (err) { fail(err); }
  }

  // a cluster's count over its circle
  function updateLabels() {
    if (state.mode !== "cluster" || !map.getLayer("cases-clusters")) { state.labels = 0; return; }
    const seen = new Set();
    for (const f of map.queryRenderedFeatures({ layers: ["cases-clusters"] })) {
      const key = f.properties.bbox;
      if (seen.has(key)) continue;
      seen.add(key);
      let marker = labels.get(key);
      if (!marker) {
        marker = new maplibregl.Marker({ element: el("div", { class: "case-count" }, String(f.properties.count)) })
          .setLngLat(f.geometry.coordinates).addTo(map);
        labels.set(key, marker);
      }
    }
    for (const [key, marker] of labels) if (!seen.has(key)) { marker.remove(); labels.delete(key); }
    state.labels = labels.size;
  }

  // -- click: the cases of a bin or a cluster (反查) -----------------------------------------
  async function list(bbox, what) {
    try {
      const body = await getJSON(`${origin}/cases/search?${params({ bbox, limit: 50 })}`);
      state.listed = { bbox, count: what.count, matched: body.numberMatched, shown: body.numberReturned };
      const rows = body.features.map((f) => el("tr", {}, el("td", {}, f.id),
        el("td", {}, `${f.properties.major_class}${f.properties.minor_class}`),
        el("td", {}, STAGES[f.properties.status] || f.properties.status),
        el("td", {}, String(f.properties.reported_at).slice(0, 16).replace("T", " "))));
      $("#case-list").replaceChildren(
        el("p", {}, `${body.numberMatched} 件 (showing ${body.numberReturned})`),
        el("table", {}, el("tr", {}, el("th", {}, "编号"), el("th", {}, "类别"), el("th", {}, "阶段"),
                           el("th", {}, "上报时间")), ...rows));
    } catch (err) { fail(err); }
  }

  map.on("click", (e) => {
    const layers = ["cases-clusters", "cases-bins", "cases-points"].filter((id) => map.getLayer(id));
    const hit = layers.length ? map.queryRenderedFeatures(e.point, { layers })[0] : null;
    if (!hit) return;
    if (hit.layer.id === "cases-points") {
      state.listed = { case_no: hit.properties.case_no };
      $("#case-list").replaceChildren(el("p", {}, `${hit.properties.case_no} · ${hit.properties.description || ""}` +
        ` · ${STAGES[hit.properties.status] || hit.properties.status}`));
      return;
    }
    list(hit.properties.bbox, hit.properties);
  });

  // -- the ranking ----------------------------------------------------------------------------
  async function rank() {
    const by = $("#rank-by").value;
    try {
      const compare = filters.datetime && filters.datetime.includes("/") ? "previous" : undefined;
      const body = await getJSON(`${origin}/cases/stats?${params({ by, compare })}`);
      const top = body.features.slice(0, 10);
      state.ranking = { by, areas: body.features.length, top: top.map((f) => [f.id, f.properties.total]) };
      const max = Math.max(1, ...body.features.map((f) => f.properties.total));
      if (map.getSource("cases-rank")) map.getSource("cases-rank").setData(body);
      else {
        map.addSource("cases-rank", { type: "geojson", data: body });
        const first = map.getStyle().layers.find((l) => l.id.startsWith("cases-"));
        map.addLayer({ id: "cases-rank", type: "fill", source: "cases-rank",
          paint: { "fill-color": ["interpolate", ["linear"], ["get", "total"], 0, "#f7fbff", max / 2, "#6baed6",
                                  max, "#08306b"], "fill-opacity": 0.45 } }, first ? first.id : undefined);
        map.addLayer({ id: "cases-rank-line", type: "line", source: "cases-rank",
          paint: { "line-color": "#08306b", "line-width": 0.8 } }, first ? first.id : undefined);
      }
      $("#rank-list").replaceChildren(...top.map((f) => el("li", {},
        `${f.properties.name || f.id} ${f.properties.total}` +
        (f.properties.closure_rate !== null ? ` · 结案率 ${(100 * f.properties.closure_rate).toFixed(0)}%` : "") +
        (f.properties.change !== undefined && f.properties.change !== null
          ? ` · 环比 ${(100 * f.properties.change).toFixed(0)}%` : ""))));
      state.total = body.total;
      $("#case-total").textContent = `共 ${body.total} 件`;
    } catch (err) { fail(err); }
  }

  function clearRanking() {
    for (const id of ["cases-rank-line", "cases-rank"]) if (map.getLayer(id)) map.removeLayer(id);
    if (map.getSource("cases-rank")) map.removeSource("cases-rank");
    $("#rank-list").replaceChildren();
    state.ranking = null;
  }

  // -- the panel ------------------------------------------------------------------------------
  function day(i) {
    const d = new Date(Date.parse(extent.start.slice(0, 10) + "T00:00:00Z") + i * 86400000);
    return d.toISOString().slice(0, 10);
  }

  function applyFilters() {
    const lo = Number($("#t0").value), hi = Number($("#t1").value);
    const a = Math.min(lo, hi), b = Math.max(lo, hi);
    $("#t-label").textContent = `${day(a)} — ${day(b)}`;
    filters.datetime = a === 0 && b === Number($("#t1").max) ? "" : `${day(a)}/${day(b)}`;
    const cls = $("#f-class").value;
    filters.kind = cls ? cls.split("/")[0] : "";
    filters.major_class = cls ? cls.split("/")[1] : "";
    filters.status = $("#f-status").value;
    filters.source = $("#f-source").value;
    filters.area = $("#f-area").value;
    draw();
    if (state.ranking) rank(); else total();
  }

  async function total() {
    try {
      const body = await getJSON(`${origin}/cases/stats?${params({ by: "district", geometry: "false" })}`);
      state.total = body.total;
      $("#case-total").textContent = `共 ${body.total} 件`;
    } catch (err) { fail(err); }
  }

  let timer = null;
  function later(fn) { clearTimeout(timer); timer = setTimeout(fn, 250); }

  async function build() {
    const [ext, classes] = await Promise.all([getJSON(`${origin}/cases/filters`), getJSON(`${origin}/cases/classes`)]);
    extent = ext;
    if (!ext.start) {
      $("#command").replaceChildren(el("h2", {}, "监督指挥 Cases"), el("p", {}, "no cases yet"));
      state.ready = true;
      return;
    }
    const days = Math.max(1, Math.round((Date.parse(ext.end) - Date.parse(ext.start)) / 86400000) + 1);
    const majors = new Map();
    for (const c of classes.classes) majors.set(`${c.kind}/${c.major_class}`, `${c.kind === "event" ? "事件" : "部件"} ${c.major_class} ${c.major_name}`);
    const select = (id, all, options) => el("select", { id, onchange: applyFilters }, el("option", { value: "" }, all),
      ...options.map(([v, t]) => el("option", { value: v }, t)));
    const panel = $("#command");
    panel.replaceChildren(
      el("h2", {}, "监督指挥 Cases"),
      el("div", { class: "search" }, el("input", { id: "address", list: "address-list", placeholder: "地址搜索 Address…",
                                                 autocomplete: "off" }), el("datalist", { id: "address-list" })),
      el("div", { id: "modes" }, ...Object.entries(MODES).map(([m, t]) => el("label", {},
        el("input", { type: "radio", name: "mode", value: m, ...(m === state.mode ? { checked: "" } : {}),
                      onchange: () => { state.mode = m; draw(); } }), t))),
      el("fieldset", {}, el("legend", {}, "筛选 Filters"),
        el("div", {}, el("span", { id: "t-label" }, `${day(0)} — ${day(days - 1)}`)),
        el("input", { id: "t0", type: "range", min: 0, max: days - 1, value: 0, oninput: () => later(applyFilters) }),
        el("input", { id: "t1", type: "range", min: 0, max: days - 1, value: days - 1,
                      oninput: () => later(applyFilters) }),
        select("f-class", "全部类别 all classes", [...majors.entries()]),
        select("f-status", "全部阶段 all stages", ext.statuses.map((s) => [s, `${STAGES[s] || s} ${s}`])),
        select("f-source", "全部来源 all sources", ext.sources.map((s) => [s, s])),
        select("f-area", "全部区域 all areas", ext.districts.map((d) => [d.code, `${d.name} ${d.code}`]))),
      el("p", { id: "case-total" }, ""),
      el("fieldset", {}, el("legend", {}, "排名 Ranking"),
        el("select", { id: "rank-by" }, ...Object.entries(LEVELS).map(([v, t]) => el("option", { value: v }, t))),
        el("button", { type: "button", id: "rank-go", onclick: rank }, "排名"),
        el("button", { type: "button", id: "rank-clear", onclick: clearRanking }, "清除"),
        el("ol", { id: "rank-list" })),
      el("div", { id: "case-list" }),
      el("p", { id: "case-status" }, ""));
    wireSearch();
    // the raw case points of the city style give way to the case maps (the switcher brings them back)
    const raw = document.querySelector('input[data-collection="cases"]');
    if (raw && raw.checked) { raw.checked = false; raw.dispatchEvent(new Event("change")); }
    draw();
    total();
    state.ready = true;
  }

  // -- address search ---------------------------------------------------------------------------
  function wireSearch() {
    const input = $("#address");
    let found = [];
    input.addEventListener("input", () => later(async () => {
      if (!input.value.trim()) return;
      try {
        const body = await getJSON(`${origin}/geocode/suggest?q=${encodeURIComponent(input.value)}`);
        found = body.suggestions.filter((s) => s.coordinates);
        $("#address-list").replaceChildren(...found.map((s) => el("option", { value: s.text })));
        const exact = found.find((s) => s.text === input.value);
        if (exact) go(exact);
      } catch (err) { fail(err); }
    }));
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && found.length) go(found.find((s) => s.text === input.value) || found[0]);
    });
  }

  let marker = null;
  function go(s) {
    window.caseState.flownTo = s.text;
    if (marker) marker.remove();
    marker = new maplibregl.Marker({ color: "#1f78b4" }).setLngLat(s.coordinates).addTo(map);
    map.flyTo({ center: s.coordinates, zoom: 16, duration: 0 });
  }

  map.on("moveend", () => { if (state.mode === "points") loadPoints(); });
  map.on("idle", () => {
    updateLabels();
    if (state.mode !== "points" && state.mode !== "flows") {
      const src = ["cases-agg", "cases-raster"].find((id) => map.getSource(id));
      $("#case-status").textContent = src ? `${MODES[state.mode]} · zoom ${map.getZoom().toFixed(1)}` : "";
    }
  });
  map.on("error", (e) => {
    if (e.sourceId && String(e.sourceId).startsWith("cases")) state.errors.push(String(e.error && e.error.message));
  });
  map.on("load", () => build().catch(fail));
})();
