// Opens OneMap's /map page in Debian's headless Chromium (software WebGL) and reports what
// happened as one JSON document on stdout; tests/test_map.py makes the assertions.
//
//   node map_check.mjs --url http://127.0.0.1:PORT --out DIR [--date 2022-06-01] [--chromium /usr/bin/chromium]
//     [--token T] [--indicator CODE] [--indicatorDate 2024-01-01] [--level county] [--compareDate 2022-06-01]
//
// It waits for the map's `idle` event (the page counts them in window.onemapIdle), records
// every request (tile requests, anything leaving the server), takes screenshots, clicks the
// map for a popup, then sets the drawer date and waits for the tiles of that date; then draws an
// indicator's status by region and opens the statistics panel for the view, zoomed in and regrouped;
// last, back at the first view, the compare mode from --compareDate to the drawer date.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

function args(argv) {
  const out = { date: "2022-06-01", indicatorDate: "2024-01-01", compareDate: "2022-06-01", level: "county", chromium: process.env.CHROMIUM || "/usr/bin/chromium", timeout: 90000 };
  for (let i = 2; i < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  if (!out.url || !out.out) throw new Error("usage: map_check.mjs --url URL --out DIR [--date YYYY-MM-DD]");
  out.timeout = Number(out.timeout);
  return out;
}

const opts = args(process.argv);
const origin = new URL(opts.url).origin;
const WIDTH = 1280;
const HEIGHT = 800;

// A fresh profile every run; the background-networking flags keep Chromium from calling
// Google's hosts, which this machine's closed network refuses (see the machine notes).
const profile = mkdtempSync(join(tmpdir(), "onemap-chromium-"));
const launchArgs = [
  "--no-sandbox", // root in a container: the setuid sandbox is unavailable
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--disable-default-apps",
  "--disable-extensions",
  "--no-first-run",
  "--no-default-browser-check",
  "--metrics-recording-only",
  "--password-store=basic",
  // WebGL without a GPU: ANGLE on SwiftShader (no --disable-gpu, which would leave no WebGL)
  "--use-angle=swiftshader",
  "--enable-unsafe-swiftshader",
  "--ignore-gpu-blocklist",
  `--window-size=${WIDTH},${HEIGHT}`,
  `--user-data-dir=${profile}`,
];

const report = {
  launchArgs, requests: [], tiles: [], external: [], failed: [], aborted: [], console: [], pageErrors: [], steps: {},
};
const started = Date.now();
const step = (name) => { report.steps[name] = Date.now() - started; };

let inflight = 0; // tile requests not yet answered

// Settled: no tile request in flight, then an `idle` after a repaint forced now, which MapLibre
// fires only once every tile is parsed and drawn. (An `idle` counted earlier may predate the
// reload a new tile URL starts, so a counter alone would race.)
async function settled(page) {
  const deadline = Date.now() + opts.timeout;
  while (inflight > 0) {
    if (Date.now() > deadline) throw new Error(`${inflight} tile requests still open`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await page.evaluate(() => new Promise((resolve) => {
    window.onemapMap.once("idle", resolve);
    window.onemapMap.triggerRepaint();
  }));
}

function isTile(url) {
  return url.startsWith(`${origin}/tiles/WebMercatorQuad/`);
}

let browser;
try {
  browser = await puppeteer.launch({
    executablePath: opts.chromium,
    headless: true,
    args: launchArgs,
    defaultViewport: { width: WIDTH, height: HEIGHT },
    protocolTimeout: opts.timeout,
    timeout: 60000,
  });
  report.browserVersion = await browser.version();
  step("launched");
  const page = await browser.newPage();
  // signed in as an authenticating gateway in front of OneMap would do it: every request carries the token
  if (opts.token) await page.setExtraHTTPHeaders({ Authorization: `Bearer ${opts.token}` });
  page.on("request", (req) => {
    const url = req.url();
    report.requests.push(url);
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("blob:")) report.external.push(url);
  });
  page.on("request", (req) => { if (isTile(req.url())) inflight += 1; });
  page.on("requestfinished", (req) => { if (isTile(req.url())) inflight -= 1; });
  page.on("requestfailed", (req) => { if (isTile(req.url())) inflight -= 1; });
  page.on("response", (res) => {
    const url = res.url();
    if (res.status() >= 400) report.failed.push({ url, status: res.status() });
    if (isTile(url)) {
      report.tiles.push({ url, status: res.status(), type: res.headers()["content-type"] || null, at: Date.now() - started });
    }
  });
  page.on("requestfailed", (req) => {
    const error = req.failure()?.errorText;
    // MapLibre cancels tile requests it no longer needs: not a failure of the server
    (error === "net::ERR_ABORTED" ? report.aborted : report.failed).push({ url: req.url(), error });
  });
  page.on("console", (msg) => report.console.push(`${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (err) => report.pageErrors.push(String(err)));

  await page.goto(`${opts.url}/map`, { waitUntil: "load", timeout: opts.timeout });
  step("loaded");
  await page.waitForFunction(() => window.onemapIdle > 0, { timeout: opts.timeout, polling: 100 });
  await settled(page);
  step("idle");

  const state = () => page.evaluate(() => {
    const map = window.onemapMap;
    const gl = map.getCanvas().getContext("webgl2") || map.getCanvas().getContext("webgl");
    const dbg = gl && gl.getExtension("WEBGL_debug_renderer_info");
    const plans = {};
    for (const layer of ["dltb", "czkfbj", "xzq"]) {
      // the drawers of what is drawn on screen
      const ids = new Set(map.queryRenderedFeatures({ layers: [`${layer}-fill`] }).map((f) => f.properties.plan_id));
      plans[layer] = [...ids].sort();
    }
    const rendered = {};
    for (const f of map.queryRenderedFeatures()) rendered[f.sourceLayer] = (rendered[f.sourceLayer] || 0) + 1;
    const rect = map.getContainer().getBoundingClientRect();
    const panel = document.getElementById("panel").getBoundingClientRect();
    return {
      renderer: dbg ? gl.getParameter(dbg.UNMASKED_RENDERER_WEBGL) : (gl ? gl.getParameter(gl.RENDERER) : null),
      zoom: map.getZoom(), center: map.getCenter().toArray(), loaded: map.loaded(), plans, rendered,
      idle: window.onemapIdle,
      mapErrors: window.onemapErrors,
      tileUrls: map.getSource("onemap").tiles,
      checkboxes: [...document.querySelectorAll("#layer-list input[type=checkbox]")].map((b) => [b.dataset.layer, b.checked]),
      categories: [...document.querySelectorAll("#layer-list legend")].map((l) => l.textContent),
      mapRect: [rect.left, rect.top, rect.width, rect.height],
      panelRect: [panel.left, panel.top, panel.width, panel.height],
    };
  });

  report.before = await state();
  report.screenshots = [join(opts.out, "map-today.png")];
  await page.screenshot({ path: report.screenshots[0] });

  // click the middle of the map area right of the panel: a popup with the feature's properties
  const [px, , pw] = report.before.panelRect;
  const cx = Math.round((px + pw + WIDTH) / 2);
  const cy = Math.round(HEIGHT / 2);
  await page.mouse.click(cx, cy);
  await page.waitForSelector(".maplibregl-popup .onemap-popup", { timeout: 10000 });
  report.popup = await page.$eval(".maplibregl-popup .onemap-popup", (el) => ({
    titles: [...el.querySelectorAll("h3")].map((h) => h.textContent),
    rows: [...el.querySelectorAll("tr")].map((tr) => [tr.querySelector("th").textContent, tr.querySelector("td").textContent]),
  }));
  await page.click(".maplibregl-popup-close-button");
  step("popup");

  // a layer's checkbox hides and shows its style layers
  const visibility = () => page.evaluate(() => window.onemapMap.getLayoutProperty("dltb-fill", "visibility"));
  await page.click("#layer-dltb");
  report.toggle = [await visibility()];
  await page.click("#layer-dltb");
  report.toggle.push(await visibility());
  await settled(page);
  step("toggle");

  // the drawer date: tiles of that date follow
  const tilesBefore = report.tiles.length;
  const dated = page.waitForResponse((res) => isTile(res.url()) && res.url().includes(`datetime=${opts.date}`),
    { timeout: opts.timeout });
  await page.$eval("#drawer-date", (el, value) => {
    el.value = value;
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }, opts.date);
  await dated;
  await settled(page);
  step("dated");
  report.tilesAfterDate = report.tiles.slice(tilesBefore);
  report.after = await state();
  report.status = await page.$eval("#status", (el) => el.textContent);
  report.screenshots.push(join(opts.out, `map-${opts.date}.png`));
  await page.screenshot({ path: report.screenshots[1] });

  // every level instead of the governing plan of each area: tiles without view=governing follow
  const levelsBefore = report.tiles.length;
  const allLevels = page.waitForResponse((res) => isTile(res.url()) && !res.url().includes("view=governing"),
    { timeout: opts.timeout });
  await page.click("#all-levels");
  await allLevels;
  await settled(page);
  step("levels");
  report.tilesAfterLevels = report.tiles.slice(levelsBefore);
  report.levelsStatus = await page.$eval("#status", (el) => el.textContent);

  // indicator status by region on a date: pick an indicator and a level, the choropleth follows
  await page.$eval("#drawer-date", (el, value) => {
    el.value = value;
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }, opts.indicatorDate);
  await settled(page);
  report.indicatorOptions = await page.$$eval("#indicator option", (os) => os.map((o) => o.value).filter(Boolean));
  const code = opts.indicator || report.indicatorOptions[0];
  const loads = () => page.evaluate(() => window.onemapIndicator.loads);
  let before = await loads();
  await page.select("#indicator", code);
  await page.waitForFunction((n) => window.onemapIndicator.loads > n, { timeout: opts.timeout, polling: 100 }, before);
  if ((await page.$eval("#indicator-level", (s) => s.value)) !== opts.level) {
    before = await loads();
    await page.select("#indicator-level", opts.level);
    await page.waitForFunction((n) => window.onemapIndicator.loads > n, { timeout: opts.timeout, polling: 100 }, before);
  }
  await settled(page);
  step("indicator");
  report.indicator = await page.evaluate(() => {
    const map = window.onemapMap;
    const rendered = map.queryRenderedFeatures({ layers: ["onemap-indicators-fill"] })
      .map((f) => [f.properties.region, f.properties.status]);
    return { ...window.onemapIndicator, rendered, fillColor: map.getPaintProperty("onemap-indicators-fill", "fill-color"),
      levels: [...document.querySelectorAll("#indicator-level option")].map((o) => o.value),
      legend: [...document.querySelectorAll("#indicator-legend li")].map((li) => [li.dataset.status, li.children[1].textContent]),
      note: document.getElementById("indicator-note").textContent };
  });
  report.screenshots.push(join(opts.out, "map-indicator.png"));
  await page.screenshot({ path: report.screenshots[2] });
  await page.mouse.click(cx, cy);
  await page.waitForSelector(".maplibregl-popup .onemap-popup", { timeout: 10000 });
  report.indicatorPopup = await page.$eval(".maplibregl-popup .onemap-popup", (el) => ({
    titles: [...el.querySelectorAll("h3")].map((h) => h.textContent),
    rows: [...el.querySelectorAll("tr")].map((tr) => [tr.querySelector("th").textContent, tr.querySelector("td").textContent]),
  }));
  await page.click(".maplibregl-popup-close-button");

  // statistics of the view: open the panel, then zoom in; each answer is for the view on screen
  const statsLoads = () => page.evaluate(() => window.onemapStatistics.loads);
  const view = () => page.evaluate(() => window.onemapMap.getBounds().toArray().flat());
  const table = () => page.$$eval("#stats-table tr", (trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
  const snapshot = async () => ({ view: await view(), ...(await page.evaluate(() => window.onemapStatistics)),
    table: await table(), note: await page.$eval("#stats-note", (el) => el.textContent),
    csv: await page.$eval("#stats-csv", (a) => a.href), group: await page.$eval("#stats-group", (s) => s.value) });
  await page.click("#statistics summary");
  await page.waitForFunction(() => window.onemapStatistics.loads > 0, { timeout: opts.timeout, polling: 100 });
  report.statistics = [await snapshot()];
  let n = await statsLoads();
  await page.evaluate(() => window.onemapMap.jumpTo({ zoom: window.onemapMap.getZoom() + 1.5 }));
  await page.waitForFunction((k) => window.onemapStatistics.loads > k, { timeout: opts.timeout, polling: 100 }, n);
  await settled(page);
  report.statistics.push(await snapshot());
  n = await statsLoads();
  await page.select("#stats-group", "region:township");
  await page.waitForFunction((k) => window.onemapStatistics.loads > k, { timeout: opts.timeout, polling: 100 }, n);
  report.statistics.push(await snapshot());
  step("statistics");
  report.screenshots.push(join(opts.out, "map-statistics.png"));
  await page.screenshot({ path: report.screenshots[3] });

  // compare (对比): back at the first view, pick the date to compare with, then open the panel; the change
  // pieces of the compare process for the view are drawn and its summary shown
  await page.evaluate((b) => window.onemapMap.jumpTo({ center: b.center, zoom: b.zoom }), report.before);
  await settled(page);
  await page.$eval("#compare-date", (el, value) => {
    el.value = value;
    el.dispatchEvent(new Event("change", { bubbles: true }));
  }, opts.compareDate);
  report.screenshots.push(join(opts.out, "map-compare-before.png"));
  await page.screenshot({ path: report.screenshots[4] });
  await page.click("#compare summary");
  await page.waitForFunction(() => window.onemapCompare.loads > 0, { timeout: opts.timeout, polling: 100 });
  await settled(page);
  step("compare");
  report.compare = await page.evaluate(() => {
    const map = window.onemapMap;
    const rendered = [...new Set(map.queryRenderedFeatures({ layers: ["onemap-compare-fill"] })
      .map((f) => f.properties.change))].sort();
    return { ...window.onemapCompare, rendered, view: map.getBounds().toArray().flat(),
      layer: document.getElementById("compare-layer").value,
      table: [...document.querySelectorAll("#compare-table tr")].map((tr) => [...tr.children].map((c) => c.textContent)),
      note: document.getElementById("compare-note").textContent };
  });
  report.screenshots.push(join(opts.out, "map-compare.png"));
  await page.screenshot({ path: report.screenshots[5] });
  report.ok = true;
} catch (err) {
  report.ok = false;
  report.error = String(err && err.stack ? err.stack : err);
} finally {
  if (browser) await browser.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
  report.elapsedMs = Date.now() - started;
  process.stdout.write(JSON.stringify(report));
}
