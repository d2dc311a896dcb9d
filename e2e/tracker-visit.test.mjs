// A whole visit in headless Chromium, through the real tracker, collector and stores: a long
// page that grows after load, scrolled to the bottom; clicks, a rage click and dead clicks; a
// no-code custom event; a tab switch; navigation to another page and inside a single-page app;
// closing the tab. Every event arrives, and every count is counted exactly once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { waitFor } from "../scripts/lib/ports.mjs";
import { frames, setVisible, trackerReady, watchProblems } from "./lib/browser.mjs";
import { partition } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const run = stack({ browser: true });

const today = () => new Date().toISOString().slice(0, 10);

test("a whole visit arrives, each event once and each count once", async () => {
  const page = await run.browser.newPage({ viewport: { width: 1280, height: 720 } });
  const problems = watchProblems(page);
  await page.goto(`${run.collector.url}/product`);
  const sid = await trackerReady(page);
  await page.waitForFunction(() => document.documentElement.dataset.grown === "yes");

  // To the bottom of the grown page.
  await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
  await frames(page);
  await page.click("#add");
  for (let i = 0; i < 3; i++) await page.click("#notify");
  // A click on plain text ends the last one's wait (switching away right after a click
  // would answer it: a link may have opened a tab).
  await page.click("h1");
  await setVisible(page, false); // switch away: dwell and scroll reported, batch beaconed
  await setVisible(page, true);

  await page.click("header nav a[href='/app']"); // another page
  await trackerReady(page);
  await page.click("[data-view=returns]"); // in-app navigation (pushState)
  await page.close({ runBeforeUnload: true }); // pagehide: the rest is beaconed

  const expectedViews = ["/product", "/app", "/app?view=returns"];
  const items = await waitFor(
    "the visit's events in DynamoDB",
    async () => {
      const all = await partition(run.emulator, `S#demo#${sid}`);
      const views = all.filter((i) => i.k === "pageview").map((i) => i.url);
      const dwellOnApp = all.some((i) => i.k === "dwell" && i.url === "/app?view=returns");
      return views.length === 3 && dwellOnApp && all;
    },
    { timeoutMs: 30_000, everyMs: 300 },
  );

  const of = (k, url) => items.filter((i) => i.k === k && i.url === url);
  assert.deepEqual(
    items.filter((i) => i.k === "pageview").map((i) => i.url).sort(),
    [...expectedViews].sort(),
  );
  const clicks = of("click", "/product");
  assert.equal(clicks.length, 6, "add, notify ×3, the heading, the link to the orders page");
  const link = clicks.find((c) => c.tag === "a");
  assert.equal(link.href, `${run.collector.url}/app`);
  assert.equal(link.dead, false, "a navigation answers a click");
  const notify = clicks.filter((c) => c.sel === "#notify").sort((a, b) => a.ts - b.ts);
  assert.deepEqual(notify.map((c) => c.rage), [false, false, true], "the third quick click is rage");
  assert.deepEqual(notify.map((c) => c.dead), [true, true, true], "nothing answers 'notify'");
  const add = clicks.find((c) => c.sel === "#add");
  assert.equal(add.dead, false, "adding to the cart changes the page");
  assert.equal(add.txt, "Add to cart");
  const custom = of("custom", "/product");
  assert.deepEqual(custom.map((c) => [c.name, c.props]), [["cart_add", { product: "mug" }]]);
  const marks = of("scroll", "/product").flatMap((s) => s.marks).sort((a, b) => a - b);
  assert.deepEqual(marks, [25, 50, 75, 90, 100], "each mark reached once, on the grown page");
  const dwell = of("dwell", "/product");
  assert.ok(dwell.length >= 1);
  const total = dwell.reduce((s, d) => s + d.total_ms, 0);
  const visible = dwell.reduce((s, d) => s + d.visible_ms, 0);
  const engaged = dwell.reduce((s, d) => s + d.engaged_ms, 0);
  assert.ok(total > 0 && engaged <= visible && visible <= total, `${engaged} ≤ ${visible} ≤ ${total}`);
  assert.ok(new Set(items.map((i) => i.id)).size === items.length);

  // Counted once, whatever was delivered twice (a beacon and a fetch of the same batch).
  const pages = await waitFor("the aggregates", async () => {
    const rows = await partition(run.emulator, `A#demo#${today()}`);
    const byPath = Object.fromEntries(rows.map((r) => [r.path, r]));
    return byPath["/app"]?.pageviews === 2 && byPath;
  });
  const product = pages["/product"];
  assert.equal(product.pageviews, 1);
  assert.equal(product.clicks, 6);
  assert.equal(product.rage_clicks, 1);
  assert.equal(product.dead_clicks, 3);
  assert.equal(product.custom_events, 1);
  for (const m of [25, 50, 75, 90, 100]) assert.equal(product[`scroll_${m}`], 1, `scroll_${m}`);
  assert.equal(pages["/app"].pageviews, 2);
  const [counter] = await partition(run.emulator, "C#demo");
  assert.equal(counter.visitor_count, 1);
  assert.equal(counter.pageviews, 3);
  assert.deepEqual(problems, [], "the tracker caused no errors or warnings in the page");
});

test("page code's custom events and identify arrive deflated; bad calls warn and throw nothing", async () => {
  const page = await run.browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${run.collector.url}/product`);
  const sid = await trackerReady(page);
  await page.evaluate(() => {
    const s = window.spoor;
    s.track("plan_chosen", { plan: "pro", seats: 3, trial: true, coupon: null });
    s.track("bad_props", [1, 2]);
    s.track("nested", { a: { b: 1 } });
    s.identify(42);
    s.identify("user-7");
    s.track("after_login");
  });
  // Sent now by fetch (`online` skips the flush timer's wait), compressed.
  const sent = page.waitForRequest((r) => r.url().includes("/v1/events") && r.method() === "POST");
  await page.evaluate(() => window.dispatchEvent(new Event("online")));
  const request = await sent;
  assert.match(request.url(), /[?&]z=deflate$/);
  assert.equal((await request.response()).status(), 202);
  await page.close({ runBeforeUnload: true });

  const items = await waitFor("the custom events in DynamoDB", async () => {
    const all = await partition(run.emulator, `S#demo#${sid}`);
    return all.some((i) => i.name === "after_login") && all;
  });
  const custom = items.filter((i) => i.k === "custom");
  const byName = Object.fromEntries(custom.map((c) => [c.name, [c.props, c.uid ?? null]]));
  assert.deepEqual(byName, {
    // (DynamoDB items leave null values out; the S3 copy keeps them.)
    plan_chosen: [{ plan: "pro", seats: 3, trial: true }, null],
    after_login: [{}, "user-7"],
  });
  assert.deepEqual(problems, [
    "warning: spoor: track() takes an object of properties",
    "warning: spoor: property values must be strings, numbers or booleans",
    "warning: spoor: identify() takes a string of 1–128 printable characters, or null",
  ]);
});

test("an endpoint that refuses compressed batches gets them as JSON", async () => {
  const page = await run.browser.newPage();
  const problems = watchProblems(page);
  // As a proxy in front of the collector that drops the query string would answer.
  await page.route(/\/v1\/events\?z=deflate$/, (r) =>
    r.fulfill({ status: 415, contentType: "application/json", body: '{"error":"unsupported_media_type"}' }),
  );
  await page.goto(`${run.collector.url}/product`);
  const sid = await trackerReady(page);
  const plain = page.waitForRequest((r) => /\/v1\/events$/.test(r.url()) && r.method() === "POST");
  await page.evaluate(() => {
    window.spoor.track("sent_plain");
    window.dispatchEvent(new Event("online")); // send now
  });
  const request = await plain;
  assert.equal((await request.response()).status(), 202);
  await waitFor("the event in DynamoDB", async () =>
    (await partition(run.emulator, `S#demo#${sid}`)).some((i) => i.name === "sent_plain"),
  );
  // The next send goes as JSON straight away.
  const next = page.waitForRequest((r) => r.url().includes("/v1/events") && r.method() === "POST");
  await page.evaluate(() => {
    window.spoor.track("second");
    window.dispatchEvent(new Event("online"));
  });
  assert.doesNotMatch((await next).url(), /z=deflate/);
  await page.close();
  assert.deepEqual(problems.filter((p) => !p.includes("415")), []);
});

test("opting out in one tab stops the site's other tabs too", async () => {
  const context = await run.browser.newContext();
  try {
    const [a, b] = [await context.newPage(), await context.newPage()];
    const problems = [watchProblems(a), watchProblems(b)];
    await a.goto(`${run.collector.url}/product`);
    await b.goto(`${run.collector.url}/`);
    await trackerReady(a);
    const sidB = await trackerReady(b);
    await a.evaluate(() => window.spoor.optOut());
    await b.waitForFunction(() => window.spoor.sessionId() === undefined);
    await b.evaluate(() => window.spoor.track("after_opt_out_elsewhere"));
    await setVisible(b, false); // would send whatever was recorded
    await b.close({ runBeforeUnload: true });
    await a.close({ runBeforeUnload: true });
    // A later visit's pageview stored means anything the tabs sent would be stored too.
    const c = await context.newPage();
    await c.goto(`${run.collector.url}/`);
    await c.waitForFunction(() => window.spoor && window.spoor.ready);
    await c.evaluate(() => (localStorage.removeItem("spoor.optout"), 0));
    await c.reload();
    const later = await trackerReady(c);
    await c.close({ runBeforeUnload: true });
    await waitFor("the later visit's pageview", async () => (await partition(run.emulator, `S#demo#${later}`)).length > 0);
    const names = (await partition(run.emulator, `S#demo#${sidB}`)).filter((i) => i.k === "custom").map((i) => i.name);
    assert.deepEqual(names, [], "nothing after the other tab's opt-out");
    assert.deepEqual(problems.flat(), []);
  } finally {
    await context.close();
  }
});

test("opting out stops tracking at once and on later pages, and opting in resumes it", async () => {
  const page = await run.browser.newPage();
  const problems = watchProblems(page);
  await page.goto(`${run.collector.url}/product`);
  const sid = await trackerReady(page);
  const delivered = page.waitForResponse((r) => r.url().includes("/v1/events") && r.status() === 202);
  await page.evaluate(() => {
    window.spoor.track("before_opt_out");
    window.dispatchEvent(new Event("online")); // send now
  });
  await delivered;
  const after = await page.evaluate(() => {
    window.spoor.optOut();
    window.spoor.track("after_opt_out");
    return window.spoor.sessionId();
  });
  assert.equal(after, undefined, "no session once opted out");
  await page.click("#add");
  await setVisible(page, false); // would send whatever was recorded
  await page.reload();
  await page.waitForFunction(() => window.spoor && window.spoor.ready);
  assert.equal(await page.evaluate(() => window.spoor.sessionId()), undefined, "not tracking");
  assert.equal(await page.evaluate(() => localStorage.getItem("spoor.optout")), "1");

  await page.evaluate(() => window.spoor.optIn());
  await page.reload();
  const again = await trackerReady(page);
  assert.ok(again && again !== sid, "a new session");
  await page.close({ runBeforeUnload: true });
  // Once the new session's pageview is stored, anything the opted-out page sent would be too.
  await waitFor("the new session's pageview", async () => (await partition(run.emulator, `S#demo#${again}`)).length > 0);
  const before = await partition(run.emulator, `S#demo#${sid}`);
  const names = before.filter((i) => i.k === "custom").map((i) => i.name);
  assert.deepEqual(names, ["before_opt_out"]);
  assert.ok(!before.some((i) => i.k === "click"), "the click after opting out was not recorded");
  assert.deepEqual(problems, []);
});
