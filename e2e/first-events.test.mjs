// The foundation's proof: a real page in headless Chromium → the Rust/wasm tracker → the Rust
// collector in workerd (wrangler dev) → its queue → DynamoDB on the run.emulator, read back with
// the AWS SDK.
import assert from "node:assert/strict";
import { test } from "node:test";
import { watchProblems } from "./lib/browser.mjs";
import { partition, sessionEvents } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const run = stack({ browser: true });

/**
 * Clicks `selector` at `at` (px inside it) and returns where the tracker should place the
 * click, computed from what the page itself saw: a listener of the test's own reads the event
 * and the layout at click time.
 */
async function clickAndExpect(page, selector, at) {
  await page.evaluate(() => {
    document.addEventListener(
      "click",
      (e) => {
        const r = e.target.getBoundingClientRect();
        const root = document.documentElement;
        window.__seen = {
          x: e.pageX / root.scrollWidth,
          y: e.pageY,
          yr: e.pageY / root.scrollHeight,
          ex: (e.clientX - r.left) / r.width,
          ey: (e.clientY - r.top) / r.height,
        };
      },
      { capture: true, once: true },
    );
  });
  await page.locator(selector).click({ position: at });
  return page.evaluate(() => window.__seen);
}

function near(actual, expected, tolerance, what) {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: ${actual} is not within ${tolerance} of ${expected}`,
  );
}

test("a pageview and two clicks (and the view's dwell and scroll) reach DynamoDB, once each", async () => {
  const page = await run.browser.newPage({ viewport: { width: 1280, height: 720 } });
  const problems = watchProblems(page);
  await page.goto(`${run.collector.url}/`);
  await page.waitForFunction(() => window.spoor && window.spoor.ready);
  const sid = await page.evaluate(() => window.spoor.sessionId());

  const link = await clickAndExpect(page, "#shop-now", { x: 12, y: 7 });
  const button = await clickAndExpect(page, "#products article:nth-of-type(2) button", {
    x: 30,
    y: 10,
  });
  assert.equal(await page.locator("#cart-count").textContent(), "1", "the shop still works");

  // Leaving the page reports its dwell time and scroll depth, and hands the queued batch to
  // sendBeacon.
  await page.goto("about:blank");
  const items = await sessionEvents(run.emulator, "demo", sid, 6);
  await page.close();

  // The add-to-cart button is also a no-code custom event (data-spoor-event).
  const kinds = items.map((i) => i.k).sort();
  assert.deepEqual(kinds, ["click", "click", "custom", "dwell", "pageview", "scroll"]);
  const custom = items.find((i) => i.k === "custom");
  assert.deepEqual([custom.name, custom.props], ["cart_add", { product: "sticker" }]);
  for (const item of items) {
    assert.equal(item.url, "/");
    assert.equal(item.site, "demo");
    assert.equal(item.sid, sid);
    assert.equal(item.sk, `E#${item.ts}#${item.id}`);
  }
  const pageview = items.find((i) => i.k === "pageview");
  assert.equal(pageview.title, "DE Shop — home");
  assert.equal(pageview.vw, 1280);

  const clicks = items.filter((i) => i.k === "click").sort((a, b) => a.ts - b.ts || a.y - b.y);
  const [first, second] = clicks.length === 2 && clicks[0].tag === "a" ? clicks : clicks.reverse();
  assert.equal(first.tag, "a");
  assert.equal(first.sel, "#shop-now");
  assert.equal(first.txt, "Shop now");
  assert.equal(first.href, `${run.collector.url}/#products`);
  assert.equal(second.tag, "button");
  assert.equal(second.sel, "#products>article:nth-of-type(2)>button");
  assert.equal(second.txt, "Add to cart");
  assert.equal(second.href, undefined);
  for (const [item, expected, name] of [
    [first, link, "link"],
    [second, button, "button"],
  ]) {
    near(item.x, expected.x, 0.0002, `${name} x`);
    near(item.y, expected.y, 1, `${name} y`);
    near(item.yr, expected.yr, 0.0002, `${name} yr`);
    near(item.ex, expected.ex, 0.002, `${name} ex`);
    near(item.ey, expected.ey, 0.002, `${name} ey`);
  }

  // Nothing arrives twice: the partition holds exactly these six, even a moment later.
  assert.equal((await partition(run.emulator, `S#demo#${sid}`)).length, 6);
  assert.deepEqual(problems, [], "the tracker caused no errors or warnings in the page");
});
