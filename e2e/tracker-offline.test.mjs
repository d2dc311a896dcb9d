// Offline and back: the visitor loses the network, clicks and scrolls, closes the tab; later,
// online again, opens the site: the next page sends what the closed one kept, exactly once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { waitFor } from "../scripts/lib/ports.mjs";
import { frames, setVisible, trackerReady } from "./lib/browser.mjs";
import { partition } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const run = stack({ browser: true });

const today = () => new Date().toISOString().slice(0, 10);

test("events made offline in a closed tab arrive with the next page, once", async () => {
  const context = await run.browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  await page.goto(`${run.collector.url}/product`);
  const sid = await trackerReady(page);
  await context.setOffline(true);
  await page.click("#add");
  await page.click("#add");
  await page.evaluate(() => window.scrollTo(0, 1500));
  await frames(page);
  await setVisible(page, false); // offline: nothing handed to the browser, all kept
  // The page's own entry (one per page, under a random name).
  const kept = await page.evaluate(() =>
    Object.keys(localStorage)
      .filter((k) => k.startsWith("spoor.out.demo."))
      .map((k) => localStorage.getItem(k))
      .join("\n"),
  );
  assert.ok(kept && kept.includes("cart_add"), "the batch waits in the offline store");
  await page.goto("about:blank"); // leaving runs the page's pagehide, still offline
  await page.close();
  assert.equal((await partition(run.emulator, `S#demo#${sid}`)).length, 0, "nothing arrived yet");

  await context.setOffline(false);
  const next = await context.newPage(); // a new tab: a new session, same site
  await next.goto(`${run.collector.url}/`);
  const nextSid = await trackerReady(next);
  assert.notEqual(nextSid, sid);

  const items = await waitFor(
    "the closed tab's events",
    async () => {
      const all = await partition(run.emulator, `S#demo#${sid}`);
      return all.filter((i) => i.k === "custom").length === 2 && all;
    },
    { timeoutMs: 30_000, everyMs: 300 },
  );
  assert.equal(items.filter((i) => i.k === "pageview").length, 1);
  assert.equal(items.filter((i) => i.k === "click").length, 2);
  assert.ok(items.some((i) => i.k === "scroll"));
  await next.close({ runBeforeUnload: true });

  const product = await waitFor("the aggregates", async () => {
    const rows = await partition(run.emulator, `A#demo#${today()}`);
    return rows.find((r) => r.path === "/product");
  });
  assert.equal(product.pageviews, 1);
  assert.equal(product.clicks, 2);
  assert.equal(product.custom_events, 2);
  await context.close();
});
