// AWS fails while people browse. The emulator (behind a proxy the test controls) is out of
// reach for 60 s in the middle of a run of scripted visits, then back with its data: every
// event the browsers sent ends up in DynamoDB and S3 exactly once, the aggregates equal what
// the raw events add up to, and nothing is left in the dead-letter store. And the same batches
// delivered three more times change nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { waitFor } from "../scripts/lib/ports.mjs";
import { batch, click, pageview, post } from "./lib/batches.mjs";
import { trackerReady } from "./lib/browser.mjs";
import { startSink } from "./lib/sink.mjs";
import { partition, s3Keys, s3Text, scanAll, sessionEvents } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const OUTAGE_MS = 60_000;

const run = stack({
  browser: true,
  awsProxy: true,
  vars: { SITES: JSON.stringify({ demo: ["*"], dup: ["*"] }) },
  // Every visitor here comes from 127.0.0.1: should a minute's visits outgrow the per-client
  // limit (it did at 120), beacons would be refused, which no tracker can resend. Rate limits
  // have their own test (limits.test.mjs).
  unlimited: true,
});

/**
 * One visitor: home, cart, the product page, a click, leaving. The visitor's context stays
 * open until the test ends: its beacons, sent as the tab closes, are in the browser's hands
 * from then on, and closing the context would cancel those still on their way.
 */
async function visit(sink, contexts) {
  const context = await run.browser.newContext({ viewport: { width: 1280, height: 720 } });
  contexts.push(context);
  await sink.watch(context);
  const page = await context.newPage();
  const pending = new Set();
  page.on("request", (r) => pending.add(r));
  for (const done of ["requestfinished", "requestfailed"]) page.on(done, (r) => pending.delete(r));
  try {
    await page.goto(`${run.collector.url}/`);
  } catch (e) {
    e.pending = [...pending].map((r) => r.url());
    throw e;
  }
  await trackerReady(page);
  await page.click("article:nth-of-type(1) button.add");
  await page.click("#shop-now");
  await page.click("header nav a[href='/product']");
  await trackerReady(page);
  await page.click("#notify");
  // With runBeforeUnload, close() returns at once; the tab is gone (its pagehide handlers,
  // which beacon the rest, have run) when it says so.
  const closed = page.waitForEvent("close");
  await page.close({ runBeforeUnload: true });
  await closed;
}

const today = () => new Date().toISOString().slice(0, 10);
const strip = ({ rt, at, expires_at, ...rest }) => rest; // receive-time fields move on resend

test("the same batches delivered three more times change nothing", async () => {
  const sent = [
    batch([pageview({ url: "/a" }), click({ url: "/a" })], { site: "dup" }),
    batch([pageview({ url: "/b" }), click({ url: "/b", rage: true })], { site: "dup" }),
    batch([{ k: "error", url: "/b", msg: "dup boom" }], { site: "dup" }),
  ];
  for (const b of sent) assert.equal((await post(run.collector.url, b)).status, 202);
  // A sentinel sent after the others, waited for until its visitor is counted (its message's
  // last write): the local queue delivers in order, also what a consumer out of calls sends
  // back (the sentinel goes back with, and after, those before it), so everything sent before
  // it has been written by then.
  const settled = async () => {
    const sentinel = batch([pageview({ url: "/sentinel" })], { site: "dup" });
    await post(run.collector.url, sentinel);
    await sessionEvents(run.emulator, "dup", sentinel.sid, 1);
    await waitFor("the sentinel's visitor counted", async () =>
      (await partition(run.emulator, `V#dup#${sentinel.vid}`)).length > 0,
    );
  };
  const snapshot = async () => {
    // Everything of the site but what the sentinels themselves add (their events, their page,
    // and the counters they move: visitors, pageviews, traffic; checked below).
    const items = (await scanAll(run.emulator))
      .filter((i) => /^(S|A|H|I|R)#dup/.test(i.pk))
      .filter((i) => !i.url?.startsWith("/sentinel") && i.path !== "/sentinel" && i.sk !== "P#/sentinel")
      .map(strip);
    const objects = {};
    for (const b of sent) {
      const key = (await s3Keys(run.emulator, "events/site=dup/")).find((k) => k.includes(b.batch));
      objects[b.batch] = (await s3Text(run.emulator, key))
        .trim()
        .split("\n")
        .map((l) => strip(JSON.parse(l)));
    }
    return { items: items.sort((a, b) => `${a.pk}${a.sk}`.localeCompare(`${b.pk}${b.sk}`)), objects };
  };
  await settled();
  const first = await snapshot();
  const [counter] = await partition(run.emulator, "C#dup");
  for (let i = 0; i < 3; i++) {
    for (const b of sent) assert.equal((await post(run.collector.url, b)).status, 202);
  }
  await settled();
  assert.deepEqual(await snapshot(), first);
  const [after] = await partition(run.emulator, "C#dup");
  assert.equal(after.pageviews, counter.pageviews + 1, "only the second sentinel's pageview");
  assert.equal(after.visitor_count, counter.visitor_count + 1, "only the second sentinel's visitor");
});

test("a 60 s AWS outage during visits loses nothing and counts nothing twice", async () => {
  const sink = await startSink();
  const contexts = [];
  try {
    await visit(sink, contexts);
    await visit(sink, contexts);
    await run.proxy.down();
    const outageEnds = Date.now() + OUTAGE_MS;
    let during = 0;
    const stalls = [];
    while (Date.now() < outageEnds - 5_000) {
      try {
        await visit(sink, contexts);
        during += 1;
      } catch (e) {
        // A CI run once saw a page take over 30 s to load midway through the outage (the page
        // bench saw it once too; not reproduced here, loaded machine or not). What a page sent
        // is in the sink whatever happens, so the checks below hold either way; a stall is
        // reported with what it waited for, a second one fails the test, and so does any
        // other failure of a visit.
        if (e.name !== "TimeoutError") throw e;
        stalls.push(await diagnose(e));
        console.log(`a visit stalled during the outage: ${JSON.stringify(stalls.at(-1))}`);
        if (stalls.length > 1) throw new Error(`visits stalled twice: ${JSON.stringify(stalls)}`);
      }
    }
    const status = await (await fetch(`${run.collector.url}/status`)).json();
    assert.equal(status.ok, false, "the outage shows in /status");
    await new Promise((r) => setTimeout(r, Math.max(0, outageEnds - Date.now())));
    await run.proxy.up();
    const backAt = Date.now();
    await visit(sink, contexts);
    assert.ok(during >= 5, `${during} visits during the outage`);

    const sent = sink.events();
    assert.ok(sent.size >= 8, `${sent.size} sessions`);
    let missing = [];
    const stored = await waitFor(
      "every event sent, stored",
      async () => {
        const all = new Map();
        missing = [];
        for (const sid of sent.keys()) {
          const items = await partition(run.emulator, `S#demo#${sid}`);
          const ids = new Set(items.map((i) => i.id));
          for (const [id, e] of sent.get(sid)) if (!ids.has(id)) missing.push(`${e.k} ${e.url} (session ${sid})`);
          all.set(sid, items);
        }
        return missing.length === 0 && all;
      },
      { timeoutMs: 240_000, everyMs: 2_000 },
    ).catch(async (e) => {
      const status = await (await fetch(`${run.collector.url}/status`)).json();
      throw new Error(`${e.message}; ${missing.length} missing: ${missing.slice(0, 10).join(", ")}; status ${JSON.stringify(status)}`);
    });
    const recoveredMs = Date.now() - backAt;

    // S3: each event in exactly one line of one object.
    const lines = new Map();
    for (const key of await s3Keys(run.emulator, "events/site=demo/")) {
      for (const line of (await s3Text(run.emulator, key)).trim().split("\n")) {
        const id = JSON.parse(line).id;
        lines.set(id, (lines.get(id) || 0) + 1);
      }
    }
    for (const ids of sent.values()) {
      for (const id of ids.keys()) assert.equal(lines.get(id), 1, `event ${id} in S3`);
    }

    // The aggregates are what the raw events add up to: nothing counted twice, nothing missed.
    const raw = [...stored.values()].flat();
    const expected = {};
    for (const e of raw) {
      const path = e.url.split("?")[0];
      expected[path] ??= { pageviews: 0, clicks: 0 };
      if (e.k === "pageview") expected[path].pageviews += 1;
      if (e.k === "click") expected[path].clicks += 1;
    }
    // As patient as the events above: a batch whose counters failed after its events were
    // written is retried 30 s later, so on a loaded machine the counts can trail the events
    // by a few retries. A count lost for good still fails here.
    const aggregates = await waitFor("the aggregates to settle", async () => {
      const rows = await partition(run.emulator, `A#demo#${today()}`);
      const got = Object.fromEntries(rows.map((r) => [r.path, { pageviews: r.pageviews || 0, clicks: r.clicks || 0 }]));
      return JSON.stringify(got) === JSON.stringify(sortKeys(expected)) ? got : false;
    }, { timeoutMs: 240_000, everyMs: 2_000 }).catch(async (e) => {
      const rows = await partition(run.emulator, `A#demo#${today()}`);
      assert.deepEqual(
        Object.fromEntries(rows.map((r) => [r.path, { pageviews: r.pageviews || 0, clicks: r.clicks || 0 }])),
        sortKeys(expected),
        e.message,
      );
    });
    assert.ok(aggregates);
    const [counter] = await partition(run.emulator, "C#demo");
    assert.equal(counter.pageviews, raw.filter((e) => e.k === "pageview").length);

    const after = await (await fetch(`${run.collector.url}/status`)).json();
    assert.equal(after.dead_letters, 0, "nothing in the dead-letter store");
    assert.equal(after.ok, true);
    console.log(
      `outage figures: ${JSON.stringify({
        outage_s: OUTAGE_MS / 1000,
        visits: during + 3,
        visits_during_outage: during,
        batches_sent: sink.batches.length,
        events_sent: raw.length,
        events_stored_once_dynamodb: raw.length,
        events_stored_once_s3: [...lines.values()].filter((n) => n === 1).length,
        all_stored_after_back_s: Math.round(recoveredMs / 1000),
        stalled_visits: stalls.length,
        dead_letters: after.dead_letters,
      })}`,
    );
  } finally {
    await Promise.allSettled(contexts.map((c) => c.close()));
    await sink.stop();
  }
});

/** What a visit that failed was waiting for: the page's unfinished requests, whether the
 * collector answers a static file now, and the collector's last words (but queue retries). */
async function diagnose(e) {
  const started = Date.now();
  const answer = await fetch(`${run.collector.url}/style.css`, { signal: AbortSignal.timeout(10_000) })
    .then((r) => `${r.status} in ${Date.now() - started} ms`)
    .catch((err) => `${err.name} after ${Date.now() - started} ms`);
  const said = run.collector
    .output()
    .replace(/\x1b\[[0-9;]*m/g, "")
    .split("\n")
    .filter((l) => !l.includes("queue spoor-events message"))
    .slice(-8);
  return { error: e.message.split("\n")[0], pending: e.pending, collector_now: answer, collector_said: said };
}

function sortKeys(o) {
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
}
