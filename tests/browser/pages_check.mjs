// Visits OneMap's HTML pages in Debian's headless Chromium with every request outside the server
// blocked (a closed planning network), and reports what happened as one JSON document on stdout;
// tests/test_html_pages.py makes the assertions.
//
//   node pages_check.mjs --url http://127.0.0.1:PORT [--token TOKEN] [--max-pages 100] [--per-kind 2]
//
// From the landing page it follows the links of every page it visits (same server only), bounded:
// at most --per-kind pages of one kind (a path with its item and job ids, and the names of its query
// parameters) and --max-pages in all. Every other link of the server is fetched once for its status.
// For each page: the requests it made, those blocked (outside the server), those that failed (4xx,
// 5xx, network errors), console errors, page errors, and what its map or API viewer shows.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

function args(argv) {
  const out = { chromium: process.env.CHROMIUM || "/usr/bin/chromium", timeout: 60000, "max-pages": 100, "per-kind": 2 };
  for (let i = 2; i < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  if (!out.url) throw new Error("usage: pages_check.mjs --url URL [--token TOKEN] [--max-pages N] [--per-kind N]");
  for (const k of ["timeout", "max-pages", "per-kind"]) out[k] = Number(out[k]);
  return out;
}

const opts = args(process.argv);
const origin = new URL(opts.url).origin;
const ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"; // what a browser's link click asks for
const MAX_LINKS = 600; // links fetched for their status, in all

// A fresh profile every run; no background calls to Google's hosts (see map_check.mjs)
const profile = mkdtempSync(join(tmpdir(), "onemap-chromium-"));
const launchArgs = [
  "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-quic", "--disable-default-apps", "--disable-extensions", "--no-first-run",
  "--no-default-browser-check", "--metrics-recording-only", "--password-store=basic",
  "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
  "--window-size=1280,900", `--user-data-dir=${profile}`,
];

const local = (url) => url.startsWith(`${origin}/`) || url === origin;
const inline = (url) => url.startsWith("data:") || url.startsWith("blob:") || url.startsWith("about:");

// the kind of a page: its path with the ids of items, jobs and tile matrix sets collapsed, and the names
// of its query parameters but f; collection ids are collapsed too but on a collection's own page and its
// first items page (every layer's map is seen)
function kind(url) {
  const u = new URL(url);
  const params = [...u.searchParams.keys()].filter((k) => k !== "f").sort();
  let path = u.pathname.replace(/\/(items|jobs|tiles|tileMatrixSets)\/[^/]+/gi, "/$1/*");
  if (params.length || !/^\/collections\/[^/]+(\/items)?$/.test(path)) {
    path = path.replace(/^\/collections\/[^/]+/, "/collections/*");
  }
  return `${path}?${params.join("&")}`;
}

// a page and the same page with f=html are one page (the browser asks for HTML)
function pageUrl(url) {
  const u = new URL(url);
  if (u.searchParams.get("f") === "html") u.searchParams.delete("f");
  return u.href;
}

// what the page shows beyond its HTML: its Leaflet map, Swagger UI
const inspect = () => {
  const leaflet = document.querySelector(".leaflet-container");
  const out = {
    title: document.title,
    leaflet: typeof window.L === "object" && window.L !== null ? window.L.version : null,
    // bootstrap applied: its .container has a maximum width
    styled: !!document.querySelector(".container") &&
      getComputedStyle(document.querySelector(".container")).maxWidth !== "none",
    mapLink: [...document.querySelectorAll("a[href]")].some((a) => new URL(a.href).pathname === "/map"),
  };
  if (leaflet) {
    out.map = {
      id: leaflet.id,
      features: leaflet.querySelectorAll("path.leaflet-interactive").length,
      markers: leaflet.querySelectorAll(".leaflet-marker-icon").length,
      tiles: leaflet.querySelectorAll("img.leaflet-tile").length,
      tilesLoaded: leaflet.querySelectorAll("img.leaflet-tile-loaded").length,
      tileUrls: [...new Set([...leaflet.querySelectorAll("img.leaflet-tile")].map((i) => i.src.split("?")[0].replace(/\/\d+\/\d+\/\d+\.\w+$/, "/{z}/{x}/{y}")))],
    };
  }
  if (document.getElementById("swagger-ui")) {
    // the validator badge fetches swagger.io's validator for any server but localhost
    out.swagger = { operations: document.querySelectorAll(".opblock").length,
                    validatorUrl: window.ui ? String(window.ui.getConfigs().validatorUrl) : "no Swagger UI" };
  }
  return out;
};

const report = { launchArgs, pages: [], links: {}, outsideLinks: [], skipped: [] };
const started = Date.now();
let browser;
try {
  browser = await puppeteer.launch({
    executablePath: opts.chromium, headless: true, args: launchArgs,
    defaultViewport: { width: 1280, height: 900 }, protocolTimeout: opts.timeout, timeout: 60000,
  });
  report.browserVersion = await browser.version();
  const headers = opts.token ? { Authorization: `Bearer ${opts.token}` } : {};

  const queue = [`${origin}/`];
  const queued = new Set(queue);
  const perKind = new Map();
  const linkQueue = [];

  while (queue.length && report.pages.length < opts["max-pages"]) {
    const url = queue.shift();
    const page = await browser.newPage();
    // signed in as the bureau's gateway would do it: every request of the page carries the token
    await page.setExtraHTTPHeaders(headers);
    await page.setRequestInterception(true);
    const rec = { url, requests: [], blocked: [], failed: [], console: [], pageErrors: [] };
    page.on("request", (req) => {
      const u = req.url();
      if (local(u) || inline(u)) {
        rec.requests.push(u);
        req.continue();
      } else {
        rec.blocked.push(u); // would leave the server: the closed network refuses it
        req.abort("blockedbyclient");
      }
    });
    page.on("response", (res) => {
      if (local(res.url()) && res.status() >= 400) rec.failed.push({ url: res.url(), status: res.status() });
    });
    page.on("requestfailed", (req) => {
      if (local(req.url())) rec.failed.push({ url: req.url(), error: req.failure()?.errorText });
    });
    page.on("console", (msg) => rec.console.push({ type: msg.type(), text: msg.text(), at: msg.location()?.url }));
    page.on("pageerror", (err) => rec.pageErrors.push(String(err)));
    try {
      const res = await page.goto(url, { waitUntil: "networkidle0", timeout: opts.timeout });
      rec.status = res ? res.status() : null;
      rec.type = res ? (res.headers()["content-type"] || "") : "";
      if (await page.$("#swagger-ui")) {
        await page.waitForSelector(".opblock", { timeout: opts.timeout }).catch(() => {});
      }
      if (await page.$(".leaflet-container")) {
        // the basemap tiles Leaflet asked for and a collection's rendered map, drawn
        await page.waitForFunction(() => [...document.querySelectorAll("img.leaflet-tile, img.leaflet-image-layer")]
          .every((i) => i.complete),
          { timeout: 15000, polling: 100 }).catch(() => {});
      }
      Object.assign(rec, await page.evaluate(inspect));
      const hrefs = await page.$$eval("a[href]", (as) => as.map((a) => a.href));
      for (const raw of hrefs) {
        if (!/^https?:/.test(raw)) continue; // mailto:, tel:, javascript:
        const href = raw.split("#")[0];
        if (!local(href)) {
          if (!report.outsideLinks.includes(href)) report.outsideLinks.push(href);
          continue;
        }
        if (!(href in report.links) && !linkQueue.includes(href)) linkQueue.push(href);
      }
    } catch (err) {
      rec.error = String(err);
    }
    await page.close();
    report.pages.push(rec);

    // every link of the server found so far: its status (as a click would ask for it); HTML pages are visited
    while (linkQueue.length && Object.keys(report.links).length < MAX_LINKS) {
      const href = linkQueue.shift();
      let status;
      let type = "";
      try {
        const r = await fetch(href, { headers: { ...headers, Accept: ACCEPT }, redirect: "follow" });
        status = r.status;
        type = r.headers.get("content-type") || "";
        await r.arrayBuffer();
      } catch (err) {
        status = String(err);
      }
      report.links[href] = { status, type };
      const target = pageUrl(href);
      if (status === 200 && type.startsWith("text/html") && !queued.has(target)) {
        queued.add(target);
        const k = kind(target);
        const n = perKind.get(k) || 0;
        if (n < opts["per-kind"]) {
          perKind.set(k, n + 1);
          queue.push(target);
        } else {
          report.skipped.push(target);
        }
      }
    }
  }
  report.unvisited = queue;
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
