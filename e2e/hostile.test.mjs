// The tracker in hostile pages: no storage, a full storage quota, no sendBeacon, a page that
// overrides history.pushState, a frozen page, a prerendered page, a strict Content Security
// Policy, a tampered wasm. In each it degrades quietly: the page works, logs no error caused
// by the tracker, and whatever can still be delivered is.
import assert from "node:assert/strict";
import { test } from "node:test";
import { waitFor } from "../scripts/lib/ports.mjs";
import { trackerReady, watchProblems } from "./lib/browser.mjs";
import { sessionEvents } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const run = stack({ browser: true });

/** Whether the stored `items` hold an event of kind `k`. */
const has = (items, k) => items.some((i) => i.k === k);

/** Opens the product page with `setup` run before any page script; returns the session id. */
async function open(setup, { path = "/product", arg } = {}) {
  const context = await run.browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  if (setup) await page.addInitScript(setup, arg);
  const problems = watchProblems(page);
  await page.goto(`${run.collector.url}${path}`);
  const sid = await trackerReady(page);
  return { context, page, sid, problems };
}

/** Adds to cart (a click and a custom event), leaves, and waits for the three events. */
async function visitAndLeave({ context, page, sid, problems }) {
  await page.click("#add");
  assert.equal(await page.locator("#cart-count").textContent(), "1", "the page still works");
  await page.goto("about:blank");
  const kinds = (items) => ["click", "custom", "pageview"].filter((k) => has(items, k));
  const items = await sessionEvents(run.emulator, "demo", sid, (items) => kinds(items).length === 3);
  assert.deepEqual(kinds(items), ["click", "custom", "pageview"]);
  assert.deepEqual(problems, [], "no errors or warnings in the page");
  await context.close();
  return items;
}

test("without any storage the tracker keeps ids in memory", async () => {
  const visit = await open(() => {
    for (const name of ["localStorage", "sessionStorage"]) {
      Object.defineProperty(window, name, {
        get() {
          throw new DOMException("storage is disabled", "SecurityError");
        },
      });
    }
  });
  assert.match(visit.sid, /^[A-Za-z0-9_-]{22}$/);
  await visitAndLeave(visit);
});

test("a full storage quota changes nothing the page can see", async () => {
  const visit = await open(() => {
    Storage.prototype.setItem = () => {
      throw new DOMException("quota exceeded", "QuotaExceededError");
    };
  });
  await visitAndLeave(visit);
});

test("without sendBeacon, leaving the page still delivers (keepalive fetch)", async () => {
  const visit = await open(() => {
    delete Navigator.prototype.sendBeacon;
  });
  assert.equal(await visit.page.evaluate(() => typeof navigator.sendBeacon), "undefined");
  await visitAndLeave(visit);
});

test("a page that overrides history.pushState still gets its pageviews", async () => {
  const { context, page, sid, problems } = await open(null, { path: "/app" });
  // The page replaces pushState after the tracker patched it (and never calls ours).
  await page.evaluate(() => {
    const native = History.prototype.pushState;
    history.pushState = function (state, title, url) {
      native.call(history, state, title, url);
    };
  });
  await page.click("[data-view=returns]"); // the click reveals the new URL
  await page.click("[data-view=settings]");
  await page.goto("about:blank");
  // Clicks and pageviews travel in different batches: wait for the three views.
  const pageviews = (items) => items.filter((i) => i.k === "pageview");
  const items = await sessionEvents(run.emulator, "demo", sid, (items) => pageviews(items).length >= 3);
  const views = pageviews(items).map((i) => i.url);
  assert.deepEqual(views.sort(), ["/app", "/app?view=returns", "/app?view=settings"].sort());
  assert.deepEqual(problems, []);
  await context.close();
});

test("a frozen page is reported and thaws without errors", async () => {
  const visit = await open(null);
  const cdp = await visit.context.newCDPSession(visit.page);
  await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
  await cdp.send("Page.setWebLifecycleState", { state: "active" });
  await visitAndLeave(visit);
});

test("a prerendered page counts its pageview only once the visitor opens it", async () => {
  const { context, page, sid, problems } = await open(() => {
    let prerendering = true;
    Object.defineProperty(Document.prototype, "prerendering", { get: () => prerendering });
    window.__activate = () => {
      prerendering = false;
      document.dispatchEvent(new Event("prerenderingchange"));
    };
  });
  const before = Date.now();
  await page.waitForTimeout(300);
  await page.evaluate(() => window.__activate());
  await page.click("#add");
  await page.goto("about:blank");
  const items = await sessionEvents(run.emulator, "demo", sid, (items) =>
    ["pageview", "click", "custom"].every((k) => has(items, k)),
  );
  const views = items.filter((i) => i.k === "pageview");
  assert.equal(views.length, 1);
  assert.ok(views[0].ts >= before + 300, "the view starts when the page is shown");
  assert.deepEqual(problems, []);
  await context.close();
});

test("under a strict Content Security Policy the tracker works with 'wasm-unsafe-eval'", async () => {
  const context = await run.browser.newContext();
  const page = await context.newPage();
  const csp =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; " +
    "style-src 'self'; img-src 'self'";
  await page.route(`${run.collector.url}/product`, async (route) => {
    const response = await route.fetch();
    const html = (await response.text()).replace(/<script>[\s\S]*?<\/script>/g, ""); // no inline
    await route.fulfill({
      response,
      body: html,
      headers: { ...response.headers(), "content-security-policy": csp },
    });
  });
  const violations = [];
  page.on("console", (m) => m.text().includes("Content Security Policy") && violations.push(m.text()));
  const problems = watchProblems(page);
  await page.goto(`${run.collector.url}/product`);
  const sid = await trackerReady(page);
  await page.click("#notify");
  await page.goto("about:blank");
  await sessionEvents(run.emulator, "demo", sid, (items) => has(items, "pageview") && has(items, "click"));
  assert.deepEqual(violations, []);
  assert.deepEqual(problems, []);
  await context.close();
});

test("a tampered wasm is refused by its integrity hash, quietly", async () => {
  const context = await run.browser.newContext();
  const page = await context.newPage();
  await page.route(`${run.collector.url}/tracker_bg.wasm?v=*`, async (route) => {
    const response = await route.fetch();
    const body = Buffer.from(await response.body());
    body[body.length - 1] ^= 0xff; // one flipped byte
    await route.fulfill({ response, body });
  });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const warnings = [];
  page.on("console", (m) => m.type() === "warning" && warnings.push(m.text()));
  await page.goto(`${run.collector.url}/product`);
  await waitFor("the loader's warning", () =>
    warnings.some((w) => w.startsWith("spoor: tracker not loaded")),
  );
  await page.click("#add");
  assert.equal(await page.locator("#cart-count").textContent(), "1", "the page still works");
  assert.equal(await page.evaluate(() => window.spoor.ready), undefined, "not started");
  assert.deepEqual(errors, []);
  await context.close();
});
