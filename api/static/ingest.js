// The data-loading page: upload a file as an ingest job (POST /ingest/jobs), follow its progress,
// show its report (per layer counts, the issues with row, field, value and reason), offer the full
// report and the rejected rows, cancel it, list recent jobs. Plain DOM, no framework; every value
// from a file is set as text, never as HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const ENDED = new Set(["loaded", "checked", "rejected", "failed", "cancelled"]);
let current = null;   // id of the job on show
let pollTimer = null;
let lastSample = null; // {t, rows} for rows/s between polls

window.ingestJob = null; // the last job document fetched (tests read it)

// The server may require a token on the jobs endpoints (URBANGIS_INGEST_TOKEN): kept for the tab's life.
const tokenInput = $("#token");
tokenInput.value = sessionStorage.getItem("urbangisIngestToken") || "";
tokenInput.addEventListener("change", () => {
  sessionStorage.setItem("urbangisIngestToken", tokenInput.value.trim());
  loadRecent();
  if (current) poll();
});

function auth() {
  const token = tokenInput.value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function api(url, options = {}) {
  return fetch(url, { ...options, headers: { ...(options.headers || {}), ...auth() } });
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

function fmt(n) {
  return n === null || n === undefined ? "" : Number(n).toLocaleString("en-US");
}

function setState(state) {
  const s = $("#job-state");
  s.textContent = state;
  s.className = "state " + state;
}

// -- upload ------------------------------------------------------------------------------------
$("#form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  showError("");
  const file = $("#file").files[0];
  if (!file) { showError("选择一个文件 Choose a file first."); return; }
  const data = new FormData();
  data.append("file", file, file.name);
  data.append("mode", document.querySelector('input[name="mode"]:checked').value);
  if ($("#layer").value) data.append("layer", $("#layer").value);
  const crs = $("#source_crs").value === "other" ? $("#source_crs_other").value.trim() : $("#source_crs").value;
  if ($("#source_crs").value === "other" && !crs) {
    showError("写出坐标系 Give the CRS: an EPSG code, a PROJ string or WKT."); return;
  }
  if (crs) data.append("source_crs", crs);
  data.append("replace", $("#replace").checked ? "true" : "false");

  stopPolling();
  current = null;
  showJobShell({ id: "", state: "uploading", filename: file.name });
  $("#submit").disabled = true;
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/ingest/jobs");
  for (const [k, v] of Object.entries(auth())) xhr.setRequestHeader(k, v);
  xhr.upload.onprogress = (e) => {
    if (e.lengthComputable) {
      setBar(100 * e.loaded / e.total);
      $("#job-progress").textContent = `上传 uploading ${fmt(e.loaded)} / ${fmt(e.total)} bytes`;
    }
  };
  xhr.onload = () => {
    $("#submit").disabled = false;
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 202 && body) {
      follow(body.id);
      loadRecent();
    } else {
      $("#job").hidden = true;
      const why = body && body.description ? body.description : xhr.statusText;
      showError(`${xhr.status}: ${why}`);
    }
  };
  xhr.onerror = () => {
    $("#submit").disabled = false;
    $("#job").hidden = true;
    showError("上传失败 The upload failed: the server could not be reached.");
  };
  xhr.send(data);
});

// -- one job -----------------------------------------------------------------------------------
function showJobShell(job) {
  $("#job").hidden = false;
  $("#result").hidden = true;
  $("#job-id").textContent = job.id || "";
  $("#job-file").textContent = job.filename || "";
  $("#job-message").textContent = "";
  setState(job.state);
  setBar(0);
  $("#job-progress").textContent = "";
}

function setBar(percent) {
  $("#bar").style.width = `${Math.max(0, Math.min(100, percent || 0))}%`;
}

function follow(id) {
  current = id;
  lastSample = null;
  history.replaceState(null, "", `#job=${id}`);
  poll();
}

function stopPolling() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
}

async function poll() {
  stopPolling();
  const id = current;
  if (!id) return;
  let job;
  try {
    const r = await api(`/ingest/jobs/${id}`);
    job = await r.json();
    if (!r.ok) { showError(`${r.status}: ${job.description || r.statusText}`); return; }
  } catch (e) {
    pollTimer = setTimeout(poll, 2000); // the server is restarting or busy: try again
    return;
  }
  if (id !== current) return;
  window.ingestJob = job;
  render(job);
  if (!ENDED.has(job.state)) pollTimer = setTimeout(poll, 500);
  else loadRecent();
}

function render(job) {
  $("#job").hidden = false;
  $("#job-id").textContent = job.id;
  $("#job-file").textContent = job.filename;
  $("#job-message").textContent = job.message || "";
  setState(job.state);
  const p = job.progress || {};
  const running = !ENDED.has(job.state);
  $("#cancel").hidden = !running;
  if (running) {
    setBar(p.percent || 0);
    const now = performance.now();
    let rate = "";
    if (lastSample && p.rows_done > lastSample.rows) {
      rate = ` · ${fmt(Math.round((p.rows_done - lastSample.rows) / ((now - lastSample.t) / 1000)))} rows/s`;
    }
    lastSample = { t: now, rows: p.rows_done || 0 };
    const of = p.rows_total ? ` / ${fmt(p.rows_total)}` : "";
    $("#job-progress").textContent = job.state === "queued" ? "排队 queued"
      : `${p.layer || ""} ${p.phase || ""}: ${fmt(p.rows_done)}${of} rows${p.percent != null ? ` (${p.percent}%)` : ""}${rate}`;
    $("#result").hidden = true;
    return;
  }
  setBar(job.state === "cancelled" || job.state === "failed" ? 0 : 100);
  $("#job-progress").textContent = job.finished_at ? `结束 ended ${new Date(job.finished_at).toLocaleString()}` : "";
  renderReport(job);
}

function renderReport(job) {
  const report = job.report || {};
  const layers = report.layers || [];
  const tbody = $("#layers-table tbody");
  tbody.replaceChildren();
  for (const l of layers) {
    const tr = el("tr");
    tr.append(el("td", l.file), el("td", l.layer));
    for (const k of ["rows", "inserted", "updated", "unchanged", "deleted", "rejected", "warnings"]) {
      tr.append(el("td", fmt(l[k]), "num"));
    }
    tbody.append(tr);
  }
  $("#layers-table").hidden = layers.length === 0;

  const links = $("#links");
  links.replaceChildren();
  const labels = { "report": "完整报告 full report (JSON)", "report-table": "报告表 report table (text)",
                   "rejected": "被拒绝的行 rejected rows (GeoJSON: fix and upload again)" };
  for (const link of job.links || []) {
    if (!labels[link.rel] && link.rel !== "rejected-table") continue;
    const a = el("a", link.rel === "rejected-table"
      ? `${link.title} 被拒绝的行 rejected rows (CSV for Excel)` : labels[link.rel]);
    a.href = link.href;
    a.dataset.rel = link.rel;
    a.addEventListener("click", download);
    if (links.childNodes.length) links.append(" · ");
    links.append(a);
  }

  const issues = report.issues || [];
  const ibody = $("#issues-table tbody");
  ibody.replaceChildren();
  for (const it of issues) {
    const tr = el("tr", undefined, it.severity);
    tr.append(el("td", it.severity === "error" ? "错误 error" : "警告 warning"), el("td", it.file),
              el("td", it.row), el("td", it.field), el("td", it.value), el("td", it.reason));
    ibody.append(tr);
  }
  const total = (report.errors || 0) + (report.warnings || 0);
  $("#issues-note").textContent = issues.length < total
    ? `(${fmt(issues.length)} of ${fmt(total)}; every one is in the full report)` : "";
  $("#issues-table").hidden = issues.length === 0;
  $("#result").hidden = false;
}

// A link cannot carry the token: with one, the file is fetched with it and saved from memory.
async function download(ev) {
  if (!tokenInput.value.trim()) return;
  ev.preventDefault();
  const r = await api(ev.currentTarget.href);
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    showError(`${r.status}: ${body.description || r.statusText}`);
    return;
  }
  const name = (r.headers.get("content-disposition") || "").match(/filename="?([^";]+)"?/);
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = name ? name[1] : "download";
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

$("#cancel").addEventListener("click", async () => {
  if (!current) return;
  $("#cancel").disabled = true;
  try {
    const r = await api(`/ingest/jobs/${current}`, { method: "DELETE" });
    if (!r.ok && r.status !== 202) {
      const body = await r.json().catch(() => ({}));
      showError(`${r.status}: ${body.description || r.statusText}`);
    }
  } finally {
    $("#cancel").disabled = false;
    poll();
  }
});

// -- what a layer needs --------------------------------------------------------------------------
let contract = null;

async function showLayerHelp() {
  const box = $("#layer-help");
  const name = $("#layer").value;
  if (!name) { box.hidden = true; return; }
  if (!contract) {
    try { contract = (await (await fetch("/ingest/layers")).json()).layers; } catch (e) { return; }
  }
  const layer = contract.find((l) => l.name === name);
  if (!layer) { box.hidden = true; return; }
  $("#template").href = layer.template;
  $("#template").setAttribute("download", `${layer.name}.csv`);
  const tbody = $("#fields-table tbody");
  tbody.replaceChildren();
  for (const f of layer.fields) {
    const values = [];
    if (f.format) values.push(f.format);
    if (f.description) values.push(f.description);
    if (f.values) {
      const zh = Object.entries(f.value_aliases || {});
      values.push(f.values.join(" / ") + (zh.length ? ` (或 or ${zh.map(([k, v]) => `${k}=${v}`).join(", ")})` : ""));
    }
    const where = [f.must_exist && `须存在 an existing ${f.must_exist}`, f.geometry_inside && `位于 inside its ${f.geometry_inside}`,
                   f.when_empty && `空则 if empty: ${f.when_empty}`].filter(Boolean).join("; ");
    const tr = el("tr");
    tr.append(el("td", f.name + (f.name === layer.key ? " (key)" : "")), el("td", f.required ? "是 yes" : ""),
              el("td", values.join("; ")), el("td", (f.headings || []).join(", ")), el("td", where));
    tbody.append(tr);
  }
  const c = layer.coordinates;
  $("#geometry-help").textContent = layer.geometry
    ? `几何 Geometry: ${layer.geometry}. CSV/XLSX: 经度/纬度 columns (${c.longitude_columns.join(", ")} / ` +
      `${c.latitude_columns.join(", ")}; ${c.coordinate_values}), or both in one column ` +
      `(${c.lonlat_columns.join(", ")}: 87.6201,43.7902), or WKT (${c.wkt_columns.join(", ")})` +
      (c.address_columns.length ? `, or an address to geocode (${c.address_columns.join(", ")}).` : ".") +
      ` Web-map coordinates: ${c.web_map_columns}.` +
      (layer.geometry_optional ? ` Optional: ${layer.geometry_optional}.` : "")
    : "无几何 No geometry.";
  box.hidden = false;
}

$("#layer").addEventListener("change", showLayerHelp);
// a CRS the list lacks: a city's own Gauss-Kruger system, Beijing 1954 / Xi'an 1980 with the
// surveying bureau's +towgs84 parameters (the server refuses those files without them)
$("#source_crs").addEventListener("change", () => {
  $("#source_crs_other_label").hidden = $("#source_crs").value !== "other";
});

// -- recent jobs -------------------------------------------------------------------------------
async function loadRecent() {
  let body;
  const note = $("#recent-error");
  try {
    const r = await api("/ingest/jobs?limit=20");
    body = await r.json();
    note.hidden = r.ok;
    note.textContent = r.ok ? "" : `${r.status}: ${body.description || r.statusText}`;
  } catch (e) { return; }
  const tbody = $("#jobs-table tbody");
  tbody.replaceChildren();
  for (const job of body.jobs || []) {
    const tr = el("tr");
    tr.dataset.id = job.id;
    const state = el("span", job.state, "state " + job.state);
    const stateCell = el("td");
    stateCell.append(state);
    tr.append(el("td", new Date(job.created_at).toLocaleString()), el("td", job.filename),
              el("td", (job.options || {}).mode || ""), stateCell, el("td", job.message || ""));
    tr.addEventListener("click", () => { showError(""); follow(job.id); });
    tbody.append(tr);
  }
  window.recentLoaded = true;
}

const m = location.hash.match(/job=([0-9a-f-]{36})/);
if (m) follow(m[1]);
loadRecent();

// -- imagery: a GeoTIFF registered as an epoch (POST /ingest/imagery) ---------------------------
window.imageryEpoch = null; // the last epoch registered (tests read it)

async function loadSites() {
  let sites = [];
  try { sites = (await (await api("/heritage/sites")).json()).sites || []; } catch (e) { return; }
  for (const s of sites) {
    const o = el("option", `${s.id} ${s.name}`);
    o.value = s.id;
    $("#imagery-site").appendChild(o);
  }
}

$("#imagery-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const box = $("#imagery-error"), out = $("#imagery-result"), button = $("#imagery-submit");
  box.hidden = true;
  out.hidden = true;
  const body = new FormData();
  body.append("acquired", $("#imagery-date").value);
  if ($("#imagery-site").value) body.append("site", $("#imagery-site").value);
  if ($("#imagery-name").value.trim()) body.append("name", $("#imagery-name").value.trim());
  body.append("file", $("#imagery-file").files[0]);
  button.disabled = true;
  button.textContent = "登记中 registering…";
  try {
    const r = await api("/ingest/imagery", { method: "POST", body });
    const doc = await r.json().catch(() => ({}));
    if (!r.ok) {
      box.textContent = `${r.status}: ${doc.description || r.statusText}`;
      box.hidden = false;
      return;
    }
    window.imageryEpoch = doc;
    out.textContent = `${doc.created ? "已登记 registered" : "此前已登记 registered before"}: epoch ${doc.id} ` +
      `"${doc.name}", ${doc.acquired}, ${doc.bands} bands, ${Number(doc.pixel_m).toFixed(2)} m pixels; ` +
      `tiles ${doc.tiles}`;
    out.hidden = false;
  } catch (e) {
    box.textContent = String(e);
    box.hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = "登记 Register";
  }
});
loadSites();
