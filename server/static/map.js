// The /map page: MapLibre GL JS over OneMap's dataset vector tiles, styled by /styles/onemap.
// Everything is loaded from this server (planning networks are closed). The map object is
// exposed as window.onemapMap and every `idle` event counts up window.onemapIdle, so that a
// headless browser test can wait for the map to finish rendering.
import * as maplibregl from "./vendor/maplibre-gl/maplibre-gl.mjs";

const config = JSON.parse(document.getElementById("onemap-config").textContent);
const SOURCE = "onemap";
const MAX_POPUP_LAYERS = 4;

const dateInput = document.getElementById("drawer-date");
const statusEl = document.getElementById("status");
const listEl = document.getElementById("layer-list");

function el(tag, attrs = {}, ...children) {
  // built with textContent only: property values come from data and are never parsed as HTML
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function setStatus(text) {
  statusEl.textContent = text;
}

const allLevels = document.getElementById("all-levels");

function currentView() {
  return allLevels && allLevels.checked ? "all" : "governing";
}

function tilesUrl(date, view) {
  const query = [];
  if (view && view !== "all") query.push(`view=${view}`);
  if (date) query.push(`datetime=${encodeURIComponent(date)}`);
  return query.length ? `${config.tilesUrl}?${query.join("&")}` : config.tilesUrl;
}

function fitPadding() {
  // keep the data clear of the layer panel when the panel sits beside the map
  const panel = document.getElementById("panel").getBoundingClientRect();
  const beside = panel.right < window.innerWidth * 0.5;
  return { top: 24, bottom: 24, right: 24, left: beside ? panel.right + 24 : 24 };
}

const initialDate = config.datetime || "";
const styleQuery = [`view=${config.view || "governing"}`];
if (initialDate) styleQuery.push(`datetime=${encodeURIComponent(initialDate)}`);
const map = new maplibregl.Map({
  container: "map",
  style: `${config.styleUrl}?${styleQuery.join("&")}`,
  bounds: config.bounds || undefined,
  fitBoundsOptions: { padding: fitPadding() },
  attributionControl: false,
  maxPitch: 0,
  dragRotate: false,
});
window.onemapMap = map;
window.onemapIdle = 0;
map.on("idle", () => { window.onemapIdle += 1; });
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
map.addControl(new maplibregl.AttributionControl({ compact: false }), "bottom-right");
window.onemapErrors = []; // what MapLibre reported (style validation, tiles), for the tests too
map.on("error", (e) => {
  const msg = e && e.error && e.error.message ? e.error.message : "error";
  window.onemapErrors.push(msg);
  setStatus(`加载失败 Load error: ${msg}`);
});

// ---- layer list --------------------------------------------------------------------------------
let entries = [];

function swatch(item) {
  const s = el("span", { class: item.kind === "line" ? "swatch line" : "swatch" });
  s.style.background = item.kind === "line" ? "transparent" : item.color;
  s.style.borderColor = item.outline || item.color;
  return s;
}

function setVisible(entry, visible) {
  for (const id of entry.layers) {
    if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", visible ? "visible" : "none");
  }
}

function buildLayerList(style) {
  const meta = style.metadata || {};
  entries = meta["onemap:layers"] || [];
  listEl.replaceChildren();
  for (const cat of meta["onemap:categories"] || []) {
    const members = entries.filter((e) => e.category === cat.id);
    if (!members.length) continue;
    const group = el("fieldset", { class: "category" }, el("legend", { text: `${cat.title} ${cat.title_en}` }));
    // topmost first, as in the map
    for (const entry of [...members].reverse()) {
      const id = `layer-${entry.id}`;
      const box = el("input", { type: "checkbox", id, "data-layer": entry.id });
      box.checked = entry.visible;
      box.addEventListener("change", () => setVisible(entry, box.checked));
      const label = el("label", { for: id }, box, el("span", { class: "title", text: entry.title }),
        el("span", { class: "en", text: entry.title_en }));
      const row = el("div", { class: "layer" }, label);
      if (entry.legend && entry.legend.length) {
        const items = el("ul", { class: "legend" });
        for (const item of entry.legend) items.append(el("li", {}, swatch(item), el("span", { text: item.label })));
        if (entry.legend.length > 1) {
          row.append(el("details", {}, el("summary", { text: "图例 Legend" }), items));
        } else {
          label.prepend(swatch(entry.legend[0]));
        }
      }
      group.append(row);
    }
    listEl.append(group);
  }
}

map.once("style.load", () => buildLayerList(map.getStyle()));

// ---- drawer date ----------------------------------------------------------------------------------
function applyDate() {
  const value = dateInput.value; // YYYY-MM-DD or "" (today)
  const source = map.getSource(SOURCE);
  if (!source) return;
  const view = currentView();
  source.setTiles([tilesUrl(value, view)]);
  const when = value ? `${value} 现行的规划 · plans in force on ${value}` : "今天现行的规划 · plans in force today";
  const which = view === "all" ? "各级规划全部显示 · every level" : "各处管控的规划 · the governing plan of each area";
  setStatus(`显示 ${when}；${which}`);
}

dateInput.addEventListener("change", () => { applyDate(); refreshOverlays(); });
if (allLevels) allLevels.addEventListener("change", applyDate);
document.getElementById("date-today").addEventListener("click", () => {
  dateInput.value = "";
  applyDate();
  refreshOverlays();
});

function refreshOverlays() {
  loadIndicator();
  loadStatistics();
}

// every page of a collection's items (its `next` links), at most `pages` pages
async function allFeatures(url, signal, pages = 50) {
  const features = [];
  let next = url;
  for (let i = 0; next && i < pages; i += 1) {
    const r = await fetch(next, { signal, headers: { Accept: "application/geo+json" } });
    if (!r.ok) throw new Error(await problem(r));
    const doc = await r.json();
    features.push(...doc.features);
    const link = (doc.links || []).find((l) => l.rel === "next");
    next = link ? link.href : null;
  }
  return features;
}

// the description of an OGC API exception, or the status
async function problem(r) {
  try {
    const doc = await r.json();
    return doc.description || `HTTP ${r.status}`;
  } catch {
    return `HTTP ${r.status}`;
  }
}

const day = () => dateInput.value || ""; // "" is today where the plans are in force

// ---- indicator status by region (the `indicators` collection as a choropleth) ----------------------------------
const IND_SOURCE = "onemap-indicators";
const IND_FILL = "onemap-indicators-fill";
const IND_LINE = "onemap-indicators-line";
const STATUS = [
  { id: "ok", label: "达标", en: "on target", color: "#43a047" },
  { id: "warning", label: "预警", en: "warning", color: "#fbc02d" },
  { id: "breach", label: "超标", en: "breached", color: "#e53935" },
  { id: "none", label: "无目标", en: "no target", color: "#9e9e9e" },
];
const indSelect = document.getElementById("indicator");
const levelSelect = document.getElementById("indicator-level");
const indLegend = document.getElementById("indicator-legend");
const indNote = document.getElementById("indicator-note");
let indAbort = null;
window.onemapIndicator = { loads: 0, features: [] }; // what the choropleth holds, for the tests too

for (const d of config.indicators || []) {
  indSelect.append(el("option", { value: d.code, text: `${d.title}（${d.unit}）` }));
}

function fillLevels() {
  const d = (config.indicators || []).find((x) => x.code === indSelect.value);
  const keep = levelSelect.value;
  levelSelect.replaceChildren();
  for (const lv of d ? d.levels : []) levelSelect.append(el("option", { value: lv, text: config.levels[lv] || lv }));
  levelSelect.disabled = !d;
  if (d && d.levels.includes(keep)) levelSelect.value = keep;
  else if (d && d.levels.includes("county")) levelSelect.value = "county";
}

function indicatorLayers(show) {
  for (const id of [IND_FILL, IND_LINE]) {
    if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", show ? "visible" : "none");
  }
}

function statusColor() {
  const expr = ["match", ["get", "status"]];
  for (const s of STATUS) expr.push(s.id, s.color);
  expr.push(STATUS[3].color);
  return expr;
}

function drawIndicator(features) {
  const data = { type: "FeatureCollection", features };
  const source = map.getSource(IND_SOURCE);
  if (source) {
    source.setData(data);
  } else {
    map.addSource(IND_SOURCE, { type: "geojson", data });
    map.addLayer({ id: IND_FILL, type: "fill", source: IND_SOURCE,
      paint: { "fill-color": statusColor(), "fill-opacity": 0.72 } });
    map.addLayer({ id: IND_LINE, type: "line", source: IND_SOURCE,
      paint: { "line-color": "#424242", "line-width": 1.2 } });
  }
  indicatorLayers(true);
}

function showLegend(features) {
  const counts = {};
  for (const f of features) counts[f.properties.status] = (counts[f.properties.status] || 0) + 1;
  indLegend.replaceChildren();
  for (const s of STATUS) {
    const sw = el("span", { class: "swatch" });
    sw.style.background = s.color;
    sw.style.borderColor = "#424242";
    indLegend.append(el("li", { "data-status": s.id }, sw, el("span", { text: `${s.label} ${counts[s.id] || 0}` }),
      el("span", { class: "en", text: s.en })));
  }
  indLegend.hidden = false;
}

async function loadIndicator() {
  if (indAbort) indAbort.abort();
  const code = indSelect.value;
  if (!code) {
    indicatorLayers(false);
    indLegend.hidden = true;
    indNote.textContent = "";
    window.onemapIndicator = { loads: window.onemapIndicator.loads + 1, features: [] };
    return;
  }
  indAbort = new AbortController();
  const query = new URLSearchParams({ code, level: levelSelect.value, f: "json", limit: String(config.pageSize) });
  if (day()) query.set("datetime", day());
  indNote.textContent = "计算中… Computing…";
  try {
    const features = await allFeatures(`${config.indicatorsUrl}?${query}`, indAbort.signal);
    drawIndicator(features);
    showLegend(features);
    const when = day() || "今天 today";
    indNote.textContent = features.length
      ? `${features.length} 个行政区 · ${when}`
      : `该级别没有行政区 · no region at this level (${when})`;
    window.onemapIndicator = { loads: window.onemapIndicator.loads + 1, code, level: levelSelect.value,
      datetime: day(), features: features.map((f) => f.properties) };
  } catch (err) {
    if (err.name === "AbortError") return;
    indicatorLayers(false);
    indNote.textContent = `指标加载失败 Indicator failed: ${err.message}`;
  }
}

indSelect.addEventListener("change", () => { fillLevels(); loadIndicator(); });
levelSelect.addEventListener("change", loadIndicator);

function indicatorPopup(props) {
  const d = (config.indicators || []).find((x) => x.code === props.code) || { unit: props.unit };
  const n = (v) => (v === null || v === undefined ? "—"
    : `${Number(v).toLocaleString("zh-CN", { maximumFractionDigits: 2 })} ${d.unit}`);
  const table = el("table");
  const row = (th, td, cls) => table.append(el("tr", {}, el("th", { text: th }), el("td", cls ? { class: cls, text: td } : { text: td })));
  row("行政区", `${props.region} ${props.region_name}`);
  row("现状值", n(props.value));
  row(d.kind === "max" ? "目标（不高于）" : "目标（不低于）", n(props.target));
  row("距目标", n(props.gap));
  row("状态", props.status_label || props.status, `status-${props.status}`);
  if (props.target_plan) row("下达目标的规划", props.target_plan);
  return [el("h3", {}, props.name, el("span", { class: "en", text: ` ${props.datetime}` })), table];
}

// ---- statistics of the current view (GET /collections/{id}/statistics?bbox=...) -----------------------------
const STATS_ROWS = 12; // the largest groups; the rest are summed in one row
const statsPanel = document.getElementById("statistics");
const statsLayer = document.getElementById("stats-layer");
const statsGroup = document.getElementById("stats-group");
const statsTable = document.getElementById("stats-table");
const statsNote = document.getElementById("stats-note");
const statsCsv = document.getElementById("stats-csv");
const statsXlsx = document.getElementById("stats-xlsx");
let statsAbort = null;
let statsTimer = null;
window.onemapStatistics = { loads: 0 };

for (const layer of config.statistics || []) statsLayer.append(el("option", { value: layer.id, text: layer.title }));
if ((config.statistics || []).some((l) => l.id === "dltb")) statsLayer.value = "dltb";

function fillGroups() {
  const layer = (config.statistics || []).find((l) => l.id === statsLayer.value);
  statsGroup.replaceChildren();
  for (const g of layer ? layer.groups : []) statsGroup.append(el("option", { value: g.key, text: g.title }));
}
fillGroups();

function viewBox() {
  // the view, cut to the data's extent (a view wider than the world wraps its longitudes)
  const b = map.getBounds();
  let box = [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -90), Math.min(b.getEast(), 180), Math.min(b.getNorth(), 90)];
  if (config.bounds) {
    const [x0, y0, x1, y1] = config.bounds;
    box = [Math.max(box[0], x0), Math.max(box[1], y0), Math.min(box[2], x1), Math.min(box[3], y1)];
  }
  if (box[0] >= box[2] || box[1] >= box[3]) return null;
  return box.map((v) => Number(v.toFixed(6)));
}

const fmt = (v, digits) => Number(v).toLocaleString("zh-CN", { minimumFractionDigits: digits, maximumFractionDigits: digits });

function groupLabel(row, key) {
  if (key.startsWith("region:")) return `${row.region} ${row.region_name || ""}`.trim();
  const code = row[key];
  const labels = Object.keys(row).filter((k) => k !== key && !["m2", "ha", "mu", "count", "region", "region_name"].includes(k));
  const label = labels.length ? row[labels[0]] : null;
  if (code === null || code === undefined || code === "") return "（空）";
  return label ? `${code} ${label}` : String(code);
}

function showStatistics(doc, key) {
  const rows = [...doc.rows].sort((a, b) => b.m2 - a.m2);
  const head = el("thead", {}, el("tr", {}, el("th", { text: "分组" }), el("th", { text: "公顷" }),
    el("th", { text: "亩" }), el("th", { text: "图斑" })));
  const body = el("tbody");
  const line = (label, r, cls) => body.append(el("tr", cls ? { class: cls } : {}, el("td", { text: label }),
    el("td", { text: fmt(r.ha, 2) }), el("td", { text: fmt(r.mu, 1) }), el("td", { text: fmt(r.count, 0) })));
  for (const r of rows.slice(0, STATS_ROWS)) line(groupLabel(r, key), r);
  const rest = rows.slice(STATS_ROWS);
  if (rest.length) {
    const sum = (k) => rest.reduce((acc, r) => acc + r[k], 0);
    line(`其他 ${rest.length} 组 · others`, { ha: sum("ha"), mu: sum("mu"), count: sum("count") }, "rest");
  }
  line("合计 Total", doc.total, "total");
  statsTable.replaceChildren(head, body);
}

function statsQuery(box, format) {
  // labels in Chinese like the page around them (a browser's Accept-Language may say otherwise)
  const q = new URLSearchParams({ group_by: statsGroup.value, bbox: box.join(","), f: format, lang: "zh" });
  if (day()) q.set("datetime", day());
  return `${config.itemsUrl}/${encodeURIComponent(statsLayer.value)}/statistics?${q}`;
}

async function loadStatistics() {
  if (statsAbort) statsAbort.abort();
  if (!statsPanel.open || !statsLayer.value || !statsGroup.value) return;
  const box = viewBox();
  if (!box) {
    statsTable.replaceChildren();
    statsNote.textContent = "视图内没有数据 · no data in this view";
    return;
  }
  statsAbort = new AbortController();
  const key = statsGroup.value;
  const url = statsQuery(box, "json");
  statsNote.textContent = "统计中… Summing…";
  try {
    const r = await fetch(url, { signal: statsAbort.signal, headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(await problem(r));
    const doc = await r.json();
    showStatistics(doc, key);
    statsCsv.href = statsQuery(box, "csv");
    statsXlsx.href = statsQuery(box, "xlsx");
    statsNote.textContent = `视图 ${fmt(doc.area.ha, 1)} 公顷内 · ${doc.datetime} · 面积按视图裁切`;
    window.onemapStatistics = { loads: window.onemapStatistics.loads + 1, url, doc };
  } catch (err) {
    if (err.name === "AbortError") return;
    statsTable.replaceChildren();
    statsNote.textContent = `统计失败 Statistics failed: ${err.message}`;
  }
}

function scheduleStatistics() {
  clearTimeout(statsTimer);
  statsTimer = setTimeout(loadStatistics, 250); // one request when a pan or zoom ends, not one per frame
}

statsPanel.addEventListener("toggle", loadStatistics);
statsLayer.addEventListener("change", () => { fillGroups(); loadStatistics(); });
statsGroup.addEventListener("change", loadStatistics);
map.on("moveend", scheduleStatistics);

// ---- feature popup --------------------------------------------------------------------------------
function formatValue(info, props) {
  const v = props[info.name];
  if (v === undefined || v === null || v === "") return null;
  if (info.label_field && props[info.label_field]) return `${v} ${props[info.label_field]}`;
  if (info.codes && info.codes[v]) return `${v} ${info.codes[v]}`;
  if (typeof v === "number") {
    const n = v.toLocaleString("zh-CN", { maximumFractionDigits: 2 });
    return info.unit === "m2" ? `${n} m²` : n;
  }
  return String(v);
}

function featureTable(layerId, props) {
  const fields = config.fields[layerId] || [];
  const labelFields = new Set(fields.filter((f) => f.label_field).map((f) => f.label_field));
  const table = el("table");
  for (const info of fields) {
    if (labelFields.has(info.name)) continue;
    const value = formatValue(info, props);
    if (value === null) continue;
    table.append(el("tr", {}, el("th", { text: info.title, title: info.title_en }), el("td", { text: value })));
  }
  return table;
}

function fillFromItem(table, layerId, id) {
  // a feature id names one stored feature whatever the date: no datetime needed
  fetch(`${config.itemsUrl}/${encodeURIComponent(layerId)}/items/${encodeURIComponent(id)}?f=json`)
    .then((r) => (r.ok ? r.json() : null))
    .then((item) => {
      if (item && item.properties && table.isConnected) table.replaceWith(featureTable(layerId, item.properties));
    })
    .catch(() => {});
}

const popup = new maplibregl.Popup({ maxWidth: "360px", closeButton: true });

map.on("click", (e) => {
  const visible = entries.filter((entry) => {
    const id = entry.layers[0];
    return map.getLayer(id) && map.getLayoutProperty(id, "visibility") !== "none";
  }).flatMap((entry) => entry.layers);
  // topmost first, but boundaries (drawn over everything) after the layers they enclose
  const isBoundary = (f) => entries.some((x) => x.id === f.sourceLayer && x.boundary);
  const hits = map.queryRenderedFeatures(e.point, { layers: visible });
  const features = [...hits.filter((f) => !isBoundary(f)), ...hits.filter(isBoundary)];
  const seen = new Set();
  const content = el("div", { class: "onemap-popup" });
  const shown = map.getLayer(IND_FILL) && map.getLayoutProperty(IND_FILL, "visibility") !== "none";
  const region = shown ? map.queryRenderedFeatures(e.point, { layers: [IND_FILL] })[0] : null;
  if (region) {
    content.append(...indicatorPopup(region.properties));
    seen.add(IND_SOURCE);
  }
  for (const f of features) {
    if (!f.sourceLayer || seen.has(f.sourceLayer) || seen.size >= MAX_POPUP_LAYERS) continue;
    seen.add(f.sourceLayer);
    const entry = entries.find((x) => x.id === f.sourceLayer);
    content.append(el("h3", {}, entry ? entry.title : f.sourceLayer,
      el("span", { class: "en", text: entry ? ` ${entry.title_en}` : "" })));
    const table = featureTable(f.sourceLayer, f.properties);
    content.append(table);
    // overview tiles carry only the class a layer is drawn by: the full record comes from /items
    if (f.id !== undefined && f.id !== null) fillFromItem(table, f.sourceLayer, f.id);
  }
  if (!seen.size) {
    popup.remove();
    return;
  }
  popup.setLngLat(e.lngLat).setDOMContent(content).addTo(map);
});

// ---- compare (对比): the change pieces of the `compare` process for the view on screen ------------------------
// From the date picked here to the drawer date (today when it is empty), each the one map as it governs then;
// the pieces coloured by added / removed / changed and the summary figures, as the service answers them.
const CMP_SOURCE = "onemap-compare";
const CMP_FILL = "onemap-compare-fill";
const CMP_LINE = "onemap-compare-line";
const CMP_COLORS = { added: "#2e7d32", removed: "#c62828", changed: "#ef8f00" };
const cmpPanel = document.getElementById("compare");
const cmpLayer = document.getElementById("compare-layer");
const cmpDate = document.getElementById("compare-date");
const cmpNote = document.getElementById("compare-note");
const cmpTable = document.getElementById("compare-table");
const cmpConfig = config.compare || { layers: [] };
if (!config.compare) cmpPanel.hidden = true; // a caller who may not run the compare process
let cmpAbort = null;
let cmpTimer = null;
window.onemapCompare = { loads: 0 };

for (const layer of cmpConfig.layers) cmpLayer.append(el("option", { value: layer.id, text: layer.title }));
if (cmpConfig.layers.some((l) => l.id === "czkfbj")) cmpLayer.value = "czkfbj";

function compareLayers(features) {
  const data = { type: "FeatureCollection", features };
  if (map.getSource(CMP_SOURCE)) {
    map.getSource(CMP_SOURCE).setData(data);
  } else {
    map.addSource(CMP_SOURCE, { type: "geojson", data });
    const color = ["match", ["get", "change"], "added", CMP_COLORS.added, "removed", CMP_COLORS.removed, CMP_COLORS.changed];
    map.addLayer({ id: CMP_FILL, type: "fill", source: CMP_SOURCE, paint: { "fill-color": color, "fill-opacity": 0.55 } });
    map.addLayer({ id: CMP_LINE, type: "line", source: CMP_SOURCE, paint: { "line-color": color, "line-width": 1.5 } });
  }
  for (const id of [CMP_FILL, CMP_LINE]) map.setLayoutProperty(id, "visibility", cmpPanel.open ? "visible" : "none");
}

function showCompare(doc) {
  const s = doc.summary;
  const head = el("thead", {}, el("tr", {}, el("th", { text: "变化" }), el("th", { text: "公顷" }), el("th", { text: "亩" })));
  const body = el("tbody");
  for (const [key, title] of [["added", "新增 added"], ["removed", "减少 removed"], ["changed", "变更 changed"]]) {
    body.append(el("tr", { "data-change": key }, el("td", { text: title }), el("td", { text: fmt(s[`${key}_ha`], 2) }),
      el("td", { text: fmt(s[`${key}_mu`], 1) })));
  }
  cmpTable.replaceChildren(head, body);
}

async function loadCompare() {
  if (cmpAbort) cmpAbort.abort();
  if (!cmpPanel.open) {
    if (map.getLayer(CMP_FILL)) compareLayers([]);
    return;
  }
  const to = day() || cmpConfig.today;
  const from = cmpDate.value;
  const box = viewBox();
  if (!cmpLayer.value || !from || !box || from === to) {
    compareLayers([]);
    cmpTable.replaceChildren();
    cmpNote.textContent = !from ? "选择对比日期 · pick a date to compare with"
      : (from === to ? "两个日期相同 · the two dates are the same" : "视图内没有数据 · no data in this view");
    return;
  }
  const [x0, y0, x1, y1] = box;
  const inputs = { layer: cmpLayer.value, from, to,
    area: { type: "Polygon", coordinates: [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]] } };
  cmpAbort = new AbortController();
  cmpNote.textContent = "对比中… Comparing…";
  try {
    const r = await fetch(cmpConfig.url, { method: "POST", signal: cmpAbort.signal,
      headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify({ inputs }) });
    if (!r.ok) throw new Error(await problem(r));
    const doc = await r.json();
    compareLayers(doc.changes.features);
    showCompare(doc);
    cmpNote.textContent = `${from} → ${to} · ${doc.changes.features.length} 块变化图斑 · 面积按视图裁切`;
    window.onemapCompare = { loads: window.onemapCompare.loads + 1, inputs, doc };
  } catch (err) {
    if (err.name === "AbortError") return;
    compareLayers([]);
    cmpTable.replaceChildren();
    cmpNote.textContent = `对比失败 Compare failed: ${err.message}`;
  }
}

function scheduleCompare() {
  clearTimeout(cmpTimer);
  cmpTimer = setTimeout(loadCompare, 300); // one execution when a pan or zoom ends
}

cmpPanel.addEventListener("toggle", loadCompare);
cmpLayer.addEventListener("change", loadCompare);
cmpDate.addEventListener("change", loadCompare);
dateInput.addEventListener("change", loadCompare);
document.getElementById("date-today").addEventListener("click", loadCompare);
map.on("moveend", scheduleCompare);
