// The demo shop and the dashboard, end to end: a scripted visit (scroll to the bottom of the
// long page, clicks, a rage click, cart, search, an in-app navigation, the error button, text
// typed into a form, closing the page), then the dashboard must show what was sent, and the
// typed text must be nowhere in DynamoDB, S3 or the SNS messages. Saves a screenshot of the
// dashboard (test-artifacts/, or SPOOR_SCREENSHOT for `make screenshot`).
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { test } from "node:test";
import { READ_KEY, readHeaders } from "../scripts/lib/collector.mjs";
import { root } from "../scripts/lib/emulator.mjs";
import { waitFor } from "../scripts/lib/ports.mjs";
import { frames, trackerReady, watchProblems } from "./lib/browser.mjs";
import { drainAlerts, s3Keys, s3Text, scanAll } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const TYPED = ["secret@example.com", "my private thoughts", "mug-search-term"];

const run = stack({ browser: true });

/** Records, in the page, where the next click on `selector` lands (document px). */
async function clickAt(page, selector) {
  await page.evaluate((sel) => {
    document.addEventListener(
      "click",
      (e) => {
        window.__clicked = { x: e.pageX, y: e.pageY, sel };
      },
      { capture: true, once: true },
    );
  }, selector);
  await page.click(selector);
  return page.evaluate(() => window.__clicked);
}

test("the dashboard shows what a scripted visit sent, and no typed text is stored", async () => {
  const context = await run.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const shop = await context.newPage();
  const problems = watchProblems(shop);
  problems.ignore = (p) => p.includes("Checkout service unavailable"); // the page's own error

  // Home: cart, search, newsletter form, the error button.
  await shop.goto(`${run.collector.url}/`);
  await trackerReady(shop);
  await shop.click("#shop-now");
  await shop.click("article:nth-of-type(1) button.add");
  await shop.click("article:nth-of-type(2) button.add");
  await shop.click("#cart-items button.remove");
  await shop.fill("#q", TYPED[2]);
  await shop.click("#search button[type=submit]");
  await shop.fill("#email", TYPED[0]);
  await shop.fill("#why", TYPED[1]);
  await shop.click("#subscribe");
  await shop.click("#crash");

  // The long product page: to the bottom once it has grown, a rage click, add to cart.
  await shop.click("header nav a[href='/product']");
  await trackerReady(shop);
  await shop.waitForFunction(() => document.documentElement.dataset.grown === "yes");
  await shop.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await frames(shop);
  for (let i = 0; i < 3; i++) await shop.click("#notify");
  const added = await clickAt(shop, "#add");

  // The single-page app: an in-app navigation, then close the tab.
  await shop.click("header nav a[href='/app']");
  await trackerReady(shop);
  await shop.click("[data-view=returns]");
  await shop.close({ runBeforeUnload: true });

  const read = async (path) =>
    (await fetch(`${run.collector.url}${path}`, { headers: readHeaders })).json();
  const stats = () => read("/v1/stats?site=demo&path=/product");
  await waitFor(
    "the visit's aggregates",
    async () => {
      const all = await read("/v1/stats?site=demo");
      const product = await stats();
      return all.totals.pageviews === 4 && product.heatmap.clicks.length === 5;
    },
    { timeoutMs: 30_000, everyMs: 300 },
  );
  await waitFor("the error incident", async () => {
    const { incidents } = await read("/v1/incidents?site=demo");
    return incidents.some((i) => i.message_id);
  });

  // The dashboard, without its read key first: it asks for one and shows nothing.
  const locked = await context.newPage();
  await locked.goto(`${run.collector.url}/dashboard/?page=/product`);
  await locked.waitForFunction(() => !document.querySelector("#error").hidden);
  assert.match(await locked.locator("#error").textContent(), /enter the read key/);
  assert.equal((await locked.locator("#pageviews-range").textContent()).trim(), "–");
  await locked.close();
  // The link `make demo` prints hands the key over in the fragment, which the page then drops.
  const dash = await context.newPage();
  await dash.setViewportSize({ width: 1280, height: 900 });
  const dashProblems = watchProblems(dash);
  await dash.goto(`${run.collector.url}/dashboard/?page=/product#key=${READ_KEY}`);
  assert.equal(new URL(dash.url()).hash, "");
  await dash.waitForFunction(() => document.querySelector("#heat-canvas")?.dataset.points === "5");
  // The page in the heatmap grows after load, as it did for the visitor; the clicks are placed
  // again once it has.
  await dash.waitForFunction(() => {
    const doc = document.querySelector("#heat-frame iframe").contentDocument;
    const canvas = document.querySelector("#heat-canvas");
    return doc?.documentElement.dataset.grown === "yes" &&
      canvas.height === doc.documentElement.scrollHeight;
  });
  const text = async (selector) => (await dash.locator(selector).textContent()).trim();
  assert.equal(await text("#visitors"), "1");
  assert.equal(await text("#pageviews-range"), "4");
  const row = (p) => `#pages tr[data-path="${p}"]`;
  assert.equal(await text(`${row("/")} .pageviews`), "1");
  assert.equal(await text(`${row("/product")} .pageviews`), "1");
  assert.equal(await text(`${row("/app")} .pageviews`), "2");
  for (const mark of [25, 50, 75, 90, 100]) {
    assert.equal(await text(`#funnel [data-mark="${mark}"] .share`), "100 %", `${mark} %`);
  }
  assert.match(await text("#incidents"), /Checkout service unavailable \(demo error\)/);
  assert.match(await text("#incidents"), /alert sent/);
  assert.match(await text("#targets"), /#notify/);

  // A heat point where the click on "Add to cart" happened, drawn on the canvas.
  const heat = await dash.evaluate(
    ({ x, y }) => {
      const canvas = document.querySelector("#heat-canvas");
      const placed = JSON.parse(canvas.dataset.placed);
      const nearest = Math.min(...placed.map(([px, py]) => Math.hypot(px - x, py - y)));
      const alpha = canvas.getContext("2d").getImageData(x, y, 1, 1).data[3];
      return { nearest, alpha };
    },
    { x: added.x, y: added.y },
  );
  assert.ok(heat.nearest <= 3, `nearest heat point ${heat.nearest} px from the click`);
  assert.ok(heat.alpha > 0, "the canvas is drawn there");

  // Viewing the dashboard (and the page inside its heatmap) tracked nothing.
  const after = await read("/v1/stats?site=demo");
  assert.equal(after.totals.pageviews, 4);

  // No typed text anywhere: DynamoDB, S3, the SNS messages.
  const alerts = JSON.stringify(await drainAlerts(run.emulator));
  assert.match(alerts, /Checkout service unavailable/, "the alert itself did arrive");
  const stored = [JSON.stringify(await scanAll(run.emulator)), alerts];
  for (const key of await s3Keys(run.emulator)) stored.push(await s3Text(run.emulator, key));
  for (const typed of TYPED) {
    for (const where of stored) assert.ok(!where.includes(typed), `"${typed}" was stored`);
  }

  const shot = process.env.SPOOR_SCREENSHOT || path.join(root, "test-artifacts/dashboard.png");
  await mkdir(path.dirname(shot), { recursive: true });
  await dash.screenshot({ path: shot, fullPage: true });
  console.log(`dashboard screenshot: ${path.relative(root, shot)}`);

  assert.deepEqual(problems.filter((p) => !problems.ignore(p)), []);
  assert.deepEqual(dashProblems, []);
  await context.close();
});
