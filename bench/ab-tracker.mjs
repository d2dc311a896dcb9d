// Two builds of the site (each a copy of dist/ from `make site`) measured side by side: the
// same scripted visit of `/product` — wheel scrolls and clicks `gap` ms apart, as the phases
// section does — in alternating visits of one headless Chromium, DevTools script time over the
// visit. A change to the tracker is judged by the ratio of the medians; the whole visit's noise
// on this machine kind is a few per cent, so a gain smaller than that does not show.
//
// Each build is served by a small static server on 127.0.0.1 that answers every POST with 202
// (the collector's answer, without the collector), and whose pages load the tracker without
// their integrity pins (the two builds' files differ).
//
//   git stash && make site && cp -r dist /tmp/a && git stash pop && make site && cp -r dist /tmp/b
//   node bench/ab-tracker.mjs /tmp/a /tmp/b [visits=6] [rounds=30] [gap ms=100]
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { launchChromium } from "../e2e/lib/browser.mjs";
import { median, num } from "./lib/format.mjs";
import { TARGETS, trackerStarted } from "./lib/tracker.mjs";

const [a, b, visits = 6, rounds = 30, gap = 100] = process.argv.slice(2);
if (!a || !b) {
  console.error("usage: node bench/ab-tracker.mjs <site A> <site B> [visits] [rounds] [gap ms]");
  process.exit(2);
}
const TYPES = { js: "text/javascript", wasm: "application/wasm", html: "text/html", css: "text/css", svg: "image/svg+xml" };

/** Serves `dir` on a free port of 127.0.0.1; resolves to `{ url, close() }`. */
async function serve(dir) {
  const server = createServer((req, res) => {
    if (req.method !== "GET") {
      req.resume();
      return req.on("end", () => res.writeHead(202, { "content-type": "application/json" }).end("{}"));
    }
    let file = path.join(dir, new URL(req.url, "http://x").pathname);
    if (file.endsWith("/")) file += "index.html";
    if (!existsSync(file) && existsSync(`${file}.html`)) file += ".html";
    if (!file.startsWith(dir) || !existsSync(file)) return res.writeHead(404).end();
    let data = readFileSync(file);
    if (/\.(js|html)$/.test(file)) data = String(data).replace(/integrity(=|:)"sha384-[^"]*"/g, 'integrity$1""');
    res.writeHead(200, { "content-type": TYPES[file.split(".").pop()] || "application/octet-stream" }).end(data);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/** One visit of `site`: DevTools script time (ms) over `rounds` wheel scrolls and clicks. */
async function visit(browser, site) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  try {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    const script = async () =>
      (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "ScriptDuration").value * 1000;
    await page.goto(`${site.url}/product`, { waitUntil: "load" });
    await trackerStarted(page);
    await page.waitForTimeout(500);
    const before = await script();
    for (let i = 0; i < Number(rounds); i++) {
      await page.mouse.wheel(0, i % 10 < 6 ? 240 : -160);
      await page.waitForTimeout(Number(gap));
      await page.click(TARGETS[i % TARGETS.length], { timeout: 5_000 });
      await page.waitForTimeout(Number(gap));
    }
    return (await script()) - before;
  } finally {
    await context.close();
  }
}

const sites = { A: await serve(path.resolve(a)), B: await serve(path.resolve(b)) };
const browser = await launchChromium();
const times = { A: [], B: [] };
try {
  for (let v = 0; v < Number(visits); v++) {
    for (const k of v % 2 ? ["B", "A"] : ["A", "B"]) times[k].push(await visit(browser, sites[k]));
  }
} finally {
  await browser.close();
  for (const s of Object.values(sites)) s.close();
}
for (const [k, dir] of [["A", a], ["B", b]]) {
  console.log(`${k} ${dir}: ${num(median(times[k]), 1)} ms (${times[k].map((t) => num(t, 1)).join(", ")})`);
}
console.log(`B ÷ A: ${num(median(times.B) / median(times.A), 3)}`);
