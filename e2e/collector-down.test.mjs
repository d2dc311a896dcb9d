// The collector fails for 30 s (through a proxy the pages load from): first it answers 503 to
// every batch, then it cuts every connection without an answer, as if it were down. The
// tracker keeps the events in memory and localStorage, backs off, survives a reload and a
// move to another page of the site, and delivers everything once the collector is back —
// each event once, each count once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startFailingProxy } from "../scripts/lib/proxy.mjs";
import { waitFor } from "../scripts/lib/ports.mjs";
import { frames, trackerReady, watchProblems } from "./lib/browser.mjs";
import { startSink } from "./lib/sink.mjs";
import { partition } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const DOWN_MS = 30_000;
const run = stack({ browser: true });

test("batches refused or cut off for 30 s are all delivered once the collector is back", async () => {
  const proxy = await startFailingProxy(run.collector.url);
  const sink = await startSink();
  try {
    const context = await run.browser.newContext({ viewport: { width: 1280, height: 720 } });
    await sink.watch(context);
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${proxy.url}/product`);
    const sid = await trackerReady(page);

    proxy.failing = "503";
    const downSince = Date.now();
    await page.click("#add");
    await page.evaluate(() => window.scrollTo(0, 2000));
    await frames(page);
    // The tracker's first send (within its 10 s flush interval) is refused.
    await waitFor("a refused batch", () => proxy.refused > 0, { timeoutMs: 20_000 });
    // The page's own entry (one per page, under a random name).
    const kept = await page.evaluate(() =>
      Object.keys(localStorage)
        .filter((k) => k.startsWith("spoor.out.demo."))
        .map((k) => localStorage.getItem(k))
        .join("\n"),
    );
    assert.ok(kept && kept.includes("cart_add"), "the refused batch waits in localStorage");

    await page.reload(); // the visitor reloads: the refused batch must survive it
    await trackerReady(page);
    await page.click("#add");
    await page.click("header nav a[href='/app']"); // and opens another page of the site
    await trackerReady(page);
    await page.click("[data-view=returns]");
    // The second half of the outage: nothing answers at all.
    const refusedWith503 = proxy.refused;
    proxy.failing = "unreachable";
    await waitFor("a cut-off send", () => proxy.refused > refusedWith503, { timeoutMs: 30_000 });
    await page.click("[data-view=settings]");
    await new Promise((r) => setTimeout(r, Math.max(0, downSince + DOWN_MS - Date.now())));
    const refused = proxy.refused;
    proxy.failing = false;

    // Back: the tracker's next retry (its backoff is at most a few seconds by now). Some events
    // (the last view) may not have been tried yet: wait for the five views as well as for
    // everything the tab had sent, as the sink sees it at each look.
    const items = await waitFor(
      "everything the tab sent, and the five views",
      async () => {
        const stored = await partition(run.emulator, `S#demo#${sid}`);
        const ids = new Set(stored.map((i) => i.id));
        const sent = [...sink.events().get(sid).keys()];
        const views = stored.filter((i) => i.k === "pageview").length;
        return views >= 5 && sent.every((id) => ids.has(id)) && stored;
      },
      { timeoutMs: 90_000, everyMs: 1_000 },
    );
    assert.ok(refused >= 2, `${refused} refused sends: the tracker retried`);
    const views = items.filter((i) => i.k === "pageview").map((i) => i.url).sort();
    assert.deepEqual(views, ["/app", "/app?view=returns", "/app?view=settings", "/product", "/product"]);
    assert.equal(items.filter((i) => i.k === "custom").length, 2);
    assert.deepEqual(
      problems.filter((p) => !/503|net::ERR_/.test(p)),
      [],
      "no errors but the browser's own reports of the failed sends",
    );

    await page.close({ runBeforeUnload: true });
    const today = new Date().toISOString().slice(0, 10);
    const product = await waitFor("the aggregates", async () => {
      const rows = await partition(run.emulator, `A#demo#${today}`);
      return rows.find((r) => r.path === "/product");
    });
    assert.equal(product.pageviews, 2, "each view counted once");
    assert.equal(product.custom_events, 2);
    await context.close();
  } finally {
    await sink.stop();
    await proxy.stop();
  }
});
