// Where the tracker's script time goes: one visit of the demo's product page read at three
// checkpoints (start-up; 11 s idle, which holds the first flush; 50 quick clicks with their
// wheel scrolls and the flush after them), with and without the tracker, alternating. The
// page section measures the whole visit; this one says which part of it to work on.
import { launchChromium } from "../e2e/lib/browser.mjs";
import { median, num, table } from "./lib/format.mjs";
import { TARGETS, trackerStarted } from "./lib/tracker.mjs";

const RUNS = Number(process.env.BENCH_RUNS || 4);
const CLICKS = 50;
const PHASES = [
  ["start-up: page load, the tracker loaded and started", "start"],
  ["idle 11 s: the first flush (compress, fetch, answer)", "flush"],
  [`${CLICKS} clicks, a wheel scroll before each, 100 ms apart, and the flush after them`, "clicks"],
];

async function visit(browser, url, withTracker) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  if (!withTracker) await page.route("**/t.js", (r) => r.fulfill({ contentType: "text/javascript", body: "" }));
  const cdp = await context.newCDPSession(page);
  await cdp.send("Performance.enable");
  const scriptMs = async () =>
    (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "ScriptDuration").value * 1000;
  await page.goto(`${url}/product`, { waitUntil: "load" });
  if (withTracker) await trackerStarted(page);
  await page.waitForTimeout(500);
  const start = await scriptMs();
  await page.waitForTimeout(11_000);
  const idle = await scriptMs();
  for (let i = 0; i < CLICKS; i++) {
    await page.waitForTimeout(100);
    await page.mouse.wheel(0, i % 10 < 6 ? 240 : -160);
    await page.click(TARGETS[i % TARGETS.length], { timeout: 5_000 });
  }
  await page.waitForTimeout(11_000);
  const clicks = await scriptMs();
  await context.close();
  return { start, flush: idle - start, clicks: clicks - idle };
}

export async function phases({ collector }) {
  const browser = await launchChromium();
  const runs = { none: [], spoor: [] };
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const variant of r % 2 ? ["spoor", "none"] : ["none", "spoor"]) {
        runs[variant].push(await visit(browser, collector.url, variant === "spoor"));
      }
    }
  } finally {
    await browser.close();
  }
  const rows = PHASES.map(([label, key]) => {
    const extra = runs.spoor.map((x, i) => x[key] - runs.none[i][key]);
    return {
      label,
      key,
      none: median(runs.none.map((x) => x[key])),
      spoor: median(runs.spoor.map((x) => x[key])),
      extra: median(extra),
      runs: extra,
    };
  });
  const markdown = [
    `The page section's visit taken apart: DevTools \`ScriptDuration\` read at checkpoints of one visit of \`/product\` (1280×720), ${RUNS} visits with the tracker and ${RUNS} without, alternating, one browser; medians, and the extra of each pair.`,
    "",
    table(
      ["phase", "without tracker", "with Spoor", "extra (runs)"],
      rows.map((r) => [
        r.label,
        `${num(r.none, 1)} ms`,
        `${num(r.spoor, 1)} ms`,
        `${num(r.extra, 1)} ms (${r.runs.map((x) => num(x, 1)).join(", ")})`,
      ]),
    ),
    "",
    `Per click (with its wheel scroll): ${num(rows[2].extra / CLICKS, 2)} ms.`,
  ].join("\n");
  return { markdown, data: Object.fromEntries(rows.map((r) => [r.key, r.extra])) };
}
