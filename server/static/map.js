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

dateInput.addEventListener("change", applyDate);
if (allLevels) allLevels.addEventListener("change", applyDate);
document.getElementById("date-today").addEventListener("click", () => {
  dateInput.value = "";
  applyDate();
});

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
  for (const f of features) {
    if (seen.has(f.sourceLayer) || seen.size >= MAX_POPUP_LAYERS) continue;
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
