// The city map: MapLibre GL JS on the server's own style, tiles and TileJSON (same origin only).
// Exposes window.renderedFeatureCount, window.renderedByLayer, window.mapIdle and
// window.mapErrors for automated checks.
(function () {
  "use strict";
  window.renderedFeatureCount = 0;
  window.renderedByLayer = {};
  window.mapIdle = false;
  window.mapErrors = [];

  const params = new URLSearchParams(location.search);
  const status = document.getElementById("status");
  const map = new maplibregl.Map({
    container: "map",
    style: "/styles/city/style.json",
    hash: true,
    attributionControl: { compact: true, customAttribution: "urbangis" },
  });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  if (params.has("zoom")) map.setZoom(Number(params.get("zoom")));

  map.on("error", (e) => {
    const message = (e && e.error && e.error.message) || String(e);
    window.mapErrors.push(message);
    status.textContent = "error: " + message;
  });

  // Style layers by collection, from the metadata the server put on each layer.
  function layersOf(collection) {
    return map.getStyle().layers.filter((l) => l.metadata && l.metadata["urbangis:collection"] === collection);
  }

  function setVisible(collection, visible) {
    for (const layer of layersOf(collection)) {
      map.setLayoutProperty(layer.id, "visibility", visible ? "visible" : "none");
    }
  }

  function colourOf(collection) {
    const layer = layersOf(collection)[0];
    if (!layer) return "#888";
    const paint = layer.paint || {};
    return paint["fill-color"] || paint["line-color"] || paint["circle-color"] || "#888";
  }

  function buildSwitcher() {
    const meta = map.getStyle().metadata || {};
    const groups = meta["urbangis:groups"] || {};
    const titles = meta["urbangis:titles"] || {};
    const form = document.getElementById("layers");
    form.replaceChildren();
    for (const [group, collections] of Object.entries(groups)) {
      const fieldset = document.createElement("fieldset");
      const legend = document.createElement("legend");
      const all = document.createElement("input");
      all.type = "checkbox";
      all.checked = true;
      all.dataset.group = group;
      legend.append(all, " " + group);
      fieldset.append(legend);
      const boxes = [];
      for (const id of collections) {
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = true;
        box.dataset.collection = id;
        box.addEventListener("change", () => setVisible(id, box.checked));
        const swatch = document.createElement("span");
        swatch.className = "swatch";
        swatch.style.background = colourOf(id);
        label.append(box, swatch, titles[id] || id);
        fieldset.append(label);
        boxes.push(box);
      }
      all.addEventListener("change", () => {
        for (const box of boxes) {
          box.checked = all.checked;
          setVisible(box.dataset.collection, all.checked);
        }
      });
      form.append(fieldset);
    }
  }

  function cell(tag, text) {
    const el = document.createElement(tag);
    el.textContent = text;
    return el;
  }

  function popupContent(feature, more) {
    const table = document.createElement("table");
    const meta = map.getStyle().metadata || {};
    const titles = meta["urbangis:titles"] || {};
    table.append(cell("caption", titles[feature.sourceLayer] || feature.sourceLayer));
    for (const [key, value] of Object.entries(feature.properties)) {
      const row = document.createElement("tr");
      row.append(cell("th", key), cell("td", String(value)));
      table.append(row);
    }
    const div = document.createElement("div");
    div.append(table);
    if (more > 0) div.append(cell("p", `+ ${more} more feature(s) here`));
    return div;
  }

  map.on("click", (e) => {
    const all = map.queryRenderedFeatures(e.point);
    if (all.some((f) => f.source.startsWith("cases"))) return; // the command screen lists those (command.js)
    const features = all.filter((f) => f.source.startsWith("city"));
    window.lastInspected = features.length ? { layer: features[0].sourceLayer, properties: features[0].properties } : null;
    if (!features.length) return;
    new maplibregl.Popup({ maxWidth: "360px" })
      .setLngLat(e.lngLat)
      .setDOMContent(popupContent(features[0], features.length - 1))
      .addTo(map);
  });

  map.on("mousemove", (e) => {
    const hit = map.queryRenderedFeatures(e.point).some((f) => f.source.startsWith("city"));
    map.getCanvas().style.cursor = hit ? "pointer" : "";
  });

  map.on("load", buildSwitcher);

  map.on("idle", () => {
    const features = map.queryRenderedFeatures().filter((f) => f.source.startsWith("city"));
    const byLayer = {};
    for (const f of features) byLayer[f.sourceLayer] = (byLayer[f.sourceLayer] || 0) + 1;
    window.renderedFeatureCount = features.length;
    window.renderedByLayer = byLayer;
    window.mapIdle = true;
    status.textContent = `zoom ${map.getZoom().toFixed(1)} · ${features.length} features drawn`;
  });

  window.urbangisMap = map;
})();
