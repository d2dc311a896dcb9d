// What one click costs the page, timed by the page itself: the tracker's click listener
// wrapped in performance.now() before the page's scripts run, for 50 clicks 100 ms apart (as
// a visit spreads them) and then 50 back to back. The gap between the two is code running
// cold; the phases section counts the first kind.
import { launchChromium } from "../e2e/lib/browser.mjs";
import { median, num, table } from "./lib/format.mjs";
import { TARGETS, trackerStarted } from "./lib/tracker.mjs";

const RUNS = Number(process.env.BENCH_RUNS || 5);

/** Runs in the page before its scripts: times each call of the tracker's click listeners. */
function probe() {
  const times = (window.__clicks = []);
  const add = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function (type, fn, options) {
    if (type === "click" && typeof fn === "function" && /tracker\.js/.test(new Error().stack || "")) {
      const timed = fn;
      fn = function (e) {
        const t = performance.now();
        try {
          return timed.call(this, e);
        } finally {
          times.push(performance.now() - t);
        }
      };
    }
    return add.call(this, type, fn, options);
  };
}

/** 50 clicks `gap` ms apart (0: back to back) on the bench's targets; the listener's mean, µs. */
async function clicks({ targets, gap }) {
  const from = window.__clicks.length;
  for (let i = 0; i < 50; i++) {
    if (gap) await new Promise((r) => setTimeout(r, gap));
    const el = document.querySelector(targets[i % targets.length]);
    const r = el.getBoundingClientRect();
    el.dispatchEvent(new MouseEvent("click", { bubbles: true, view: window, clientX: r.left + 4, clientY: r.top + 4 }));
  }
  const t = window.__clicks.slice(from);
  return (t.reduce((a, b) => a + b, 0) / t.length) * 1000;
}

export async function clickCost({ collector }) {
  const browser = await launchChromium();
  const runs = { spaced: [], hot: [] };
  try {
    for (let r = 0; r < RUNS; r++) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
      const page = await context.newPage();
      await page.addInitScript(probe);
      await page.goto(`${collector.url}/product`, { waitUntil: "load" });
      await trackerStarted(page);
      await page.waitForTimeout(500);
      runs.spaced.push(await page.evaluate(clicks, { targets: TARGETS, gap: 100 }));
      runs.hot.push(await page.evaluate(clicks, { targets: TARGETS, gap: 0 }));
      await context.close();
    }
  } finally {
    await browser.close();
  }
  const us = (xs) => `${num(median(xs))} µs (${xs.map((x) => num(x)).join(", ")})`;
  const markdown = [
    `The tracker's click listener on \`/product\` (1280×720), timed in the page (\`performance.now()\` around each call, which Chromium coarsens; means of 50 synthetic clicks on the page section's targets), ${RUNS} visits; medians, and each visit's mean.`,
    "",
    table(
      ["clicks", "the tracker's click listener, per click"],
      [
        ["100 ms apart, as a visit spreads them", us(runs.spaced)],
        ["then back to back", us(runs.hot)],
      ],
    ),
    "",
    `Spaced ÷ back to back: ${num(median(runs.spaced) / median(runs.hot), 1)}×. The same code and the same reads; what differs is how warm it is (caches, and V8's tiers for the wasm and page.js).`,
  ].join("\n");
  return { markdown, data: { spacedUs: median(runs.spaced), hotUs: median(runs.hot) } };
}
