// The collector through `wrangler dev` (workerd) and the emulator: its validation contract,
// exactly-once effects, what it writes to DynamoDB, S3 and SNS, and its read side.
import assert from "node:assert/strict";
import { test } from "node:test";
import { deflateSync } from "node:zlib";
import { READ_KEY, readHeaders } from "../scripts/lib/collector.mjs";
import { waitFor } from "../scripts/lib/ports.mjs";
import { batch, batchV2, click, pageview, post } from "./lib/batches.mjs";
import { drainAlerts, partition, s3Keys, s3Text, scanAll, sessionEvents } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

const SHOP_READ_KEY = "shop-only-read-key";
const run = stack({
  vars: {
    SITES: JSON.stringify({ demo: ["*"], shop: ["https://shop.example"] }),
    READ_KEYS: JSON.stringify({ "*": READ_KEY, shop: SHOP_READ_KEY }),
  },
});

const today = () => new Date().toISOString().slice(0, 10);

async function getJson(path, headers = readHeaders) {
  const resp = await fetch(`${run.collector.url}${path}`, { headers });
  return { status: resp.status, json: await resp.json() };
}

test("bad input gets its 4xx naming the field, and nothing of it is written", async () => {
  const good = batch([pageview()]);
  const future = batch([pageview({ ts: Date.now() + 3_600_000 })]);
  const tooMany = batch(Array.from({ length: 501 }, () => pageview({ title: "" })));
  const wrongType = batch([click({ x: "left" })]);
  const huge = JSON.stringify(batch([pageview()])).replace('"v":1', '"v":1e999');
  const nan = JSON.stringify(batch([click()])).replace('"x":0.25', '"x":NaN');
  const oversized = batch([pageview({ title: "x".repeat(70 * 1024) })]);
  const cases = [
    { name: "malformed JSON", body: "{not json", status: 400, field: "body" },
    { name: "wrong type", body: wrongType, status: 400, field: "events[0].x" },
    { name: "NaN spelled out", body: nan, status: 400 },
    { name: "huge number", body: huge, status: 400 },
    { name: "oversized body", body: oversized, status: 413 },
    { name: "too many events", body: tooMany, status: 400, field: "events" },
    { name: "future timestamp", body: future, status: 400, field: "events[0].ts" },
    { name: "v2: a field of the wrong type", body: batchV2([[0, 0, "c", "left", 1, 1, 1, 1, "a", "", 0]]), status: 400, field: "events[0].x" },
    { name: "v2: a URL not in the table", body: batchV2([[0, 3, "p", "Home", ""]]), status: 400, field: "events[0].url" },
    { name: "v2: a row that is not an array", body: batchV2([pageview()]), status: 400, field: "events[0]" },
    { name: "v2: a share out of range", body: batchV2([[0, 0, "c", 12000, 1, 1, 1, 1, "a", "", 0]]), status: 400, field: "events[0].x" },
    { name: "unknown site", body: batch([pageview()], { site: "nope" }), status: 403 },
    {
      name: "disallowed origin",
      body: batch([pageview()], { site: "shop" }),
      headers: { origin: "https://evil.example" },
      status: 403,
    },
    { name: "not deflate", body: JSON.stringify(good), query: "?z=deflate", status: 400, field: "body" },
    { name: "unknown encoding", body: good, query: "?z=br", status: 400, field: "z" },
    {
      name: "deflate bomb",
      body: new Uint8Array(deflateSync(Buffer.alloc(1024 * 1024, " "))),
      query: "?z=deflate",
      status: 413,
    },
    {
      name: "wrong content type",
      body: good,
      contentType: "application/x-www-form-urlencoded",
      status: 415,
    },
  ];
  for (const c of cases) {
    const { status, json } = await post(run.collector.url, c.body, c);
    assert.equal(status, c.status, `${c.name}: ${JSON.stringify(json)}`);
    assert.equal(typeof json.error, "string", `${c.name}: a JSON error`);
    if (c.field) assert.equal(json.field, c.field, `${c.name}: ${JSON.stringify(json)}`);
  }
  assert.equal((await fetch(`${run.collector.url}/v1/events`)).status, 405);
  assert.equal((await fetch(`${run.collector.url}/v1/nothing`)).status, 404);

  // A good batch sent last: once it is stored, anything accepted before it would be too.
  assert.equal((await post(run.collector.url, good)).status, 202);
  await sessionEvents(run.emulator, "demo", good.sid, 1);
  const sessions = new Set(
    (await scanAll(run.emulator)).filter((i) => i.pk.startsWith("S#")).map((i) => i.sid),
  );
  const rejected = cases.map((c) => c.body.sid).filter(Boolean);
  for (const sid of rejected) {
    if (sid !== good.sid) assert.ok(!sessions.has(sid), `a rejected batch (${sid}) was stored`);
  }
  const objects = await s3Keys(run.emulator, "events/");
  for (const c of cases) {
    if (c.body.batch && c.body !== good) {
      assert.ok(!objects.some((k) => k.includes(c.body.batch)), `${c.name} reached S3`);
    }
  }
});

test("a batch compressed as the tracker compresses it is inflated and stored", async () => {
  const b = batch([pageview({ url: "/deflated" }), click({ url: "/deflated" })]);
  const deflated = new Uint8Array(deflateSync(JSON.stringify(b)));
  assert.equal((await post(run.collector.url, deflated, { query: "?z=deflate" })).status, 202);
  const stored = await sessionEvents(run.emulator, "demo", b.sid, 2);
  assert.deepEqual(stored.map((e) => e.id).sort(), b.events.map((e) => e.id).sort());
});

test("an allowed origin and the preflight pass CORS", async () => {
  const shop = batch([pageview()], { site: "shop" });
  const ok = await post(run.collector.url, shop, { headers: { origin: "https://shop.example" } });
  assert.equal(ok.status, 202);
  assert.equal(ok.headers.get("access-control-allow-origin"), "*");
  const pre = await fetch(`${run.collector.url}/v1/events`, {
    method: "OPTIONS",
    headers: {
      origin: "https://shop.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "content-type",
    },
  });
  assert.equal(pre.status, 204);
  assert.match(pre.headers.get("access-control-allow-methods"), /POST/);
  assert.match(pre.headers.get("access-control-allow-headers"), /content-type/);
  assert.equal(pre.headers.get("access-control-allow-origin"), "*");
  // The rest of the preflight's headers mean nothing on an answer to the request itself.
  assert.equal(ok.headers.get("access-control-allow-methods"), null);
});

test("the same batch sent twice is stored once and counted once", async () => {
  const b = batch([pageview({ url: "/twice" }), click({ url: "/twice" })]);
  const aggregate = async () =>
    (await partition(run.emulator, `A#demo#${today()}`)).find((i) => i.path === "/twice");
  assert.equal((await post(run.collector.url, b)).status, 202);
  const counted = await waitFor("the first delivery counted", aggregate);

  // The resend, then a sentinel: the local queue delivers in order, so once the sentinel is
  // stored the resend has been consumed too.
  assert.equal((await post(run.collector.url, b)).status, 202);
  const sentinel = batch([pageview({ url: "/sentinel" })]);
  assert.equal((await post(run.collector.url, sentinel)).status, 202);
  await sessionEvents(run.emulator, "demo", sentinel.sid, 1);

  assert.equal((await partition(run.emulator, `S#demo#${b.sid}`)).length, 2);
  const again = await aggregate();
  assert.equal(again.pageviews, 1);
  assert.equal(again.clicks, 1);
  assert.deepEqual(again, counted);
  const objects = (await s3Keys(run.emulator, "events/site=demo/")).filter((k) => k.includes(b.batch));
  assert.equal(objects.length, 1);

  // A sender reusing the batch id in another session sends another batch: stored and counted.
  const reused = { ...batch([pageview({ url: "/twice" })]), batch: b.batch };
  assert.equal((await post(run.collector.url, reused)).status, 202);
  await sessionEvents(run.emulator, "demo", reused.sid, 1);
  await waitFor("the other session's batch counted", async () => (await aggregate()).pageviews === 2);
  const both = (await s3Keys(run.emulator, "events/site=demo/")).filter((k) => k.includes(b.batch));
  assert.equal(both.length, 2);
});

test("DynamoDB, S3 and SNS hold exactly what was sent, enriched, without the IP", async () => {
  await drainAlerts(run.emulator); // start from an empty alerts queue
  const sent = batch(
    [
      pageview({ url: "/exact?q=1", title: "Exact", ref: "https://ref.example/" }),
      click({ url: "/exact?q=1", x: 0.5, y: 640, yr: 0.4, ex: 0.2, ey: 0.8, rage: true }),
      { k: "scroll", url: "/exact?q=1", max: 0.8, marks: [25, 50, 75] },
      { k: "dwell", url: "/exact?q=1", engaged_ms: 1000, visible_ms: 2000, total_ms: 3000 },
      { k: "custom", url: "/exact?q=1", name: "cart_add", props: { product: "11", qty: 2 } },
      { k: "error", url: "/exact?q=1", msg: "Exact failure 42", src: "/app.js", line: 7, col: 3 },
    ],
    { vw: 390 },
  );
  const { status, json } = await post(run.collector.url, sent, { headers: { "user-agent": FIREFOX } });
  assert.equal(status, 202, JSON.stringify(json));
  assert.deepEqual(json, { accepted: 6 });

  const items = await sessionEvents(run.emulator, "demo", sent.sid, 6);
  assert.equal(items.length, 6);
  for (const e of sent.events) {
    const item = items.find((i) => i.id === e.id);
    assert.ok(item, `event ${e.k} stored`);
    for (const [k, v] of Object.entries(e)) {
      if (v === null) assert.equal(item[k], undefined, `${e.k}.${k}`);
      else assert.deepEqual(item[k], v, `${e.k}.${k}`);
    }
    assert.equal(item.batch, sent.batch);
    assert.equal(item.vid, sent.vid);
    assert.equal(item.vw, 390);
    assert.equal(item.browser, "Firefox");
    assert.equal(item.os, "Linux");
    assert.equal(item.device, "desktop");
    assert.equal(item.bot, false);
    assert.match(item.ip_hash, /^[0-9a-f]{32}$/);
    assert.ok(Math.abs(item.at - e.ts) < 60_000 && item.rt >= item.at - 60_000);
  }

  const key = (await s3Keys(run.emulator, "events/site=demo/")).find((k) => k.includes(sent.batch));
  assert.equal(key.split("/").pop(), `${sent.sid}.${sent.batch}.ndjson`);
  assert.match(key, /^events\/site=demo\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\//);
  const lines = (await s3Text(run.emulator, key)).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => l.id),
    sent.events.map((e) => e.id),
  );
  assert.deepEqual(lines[4].props, { product: "11", qty: 2 });

  const alerts = await waitFor("the browser-error alert", async () => {
    const found = (await drainAlerts(run.emulator)).filter((a) => a.message.site === "demo");
    return found.length > 0 && found;
  });
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0].message.kind, "browser_error");
  assert.equal(alerts[0].message.message, "Exact failure 42");
  assert.equal(alerts[0].message.path, "/exact");
  assert.deepEqual(alerts[0].attributes, { kind: "browser_error", severity: "MEDIUM", site: "demo" });

  // The raw client address (127.0.0.1 here) is nowhere: not in any item, not in any object.
  const everything = JSON.stringify(await scanAll(run.emulator));
  assert.ok(!everything.includes("127.0.0.1"), "the client IP reached DynamoDB");
  for (const k of await s3Keys(run.emulator)) {
    assert.ok(!(await s3Text(run.emulator, k)).includes("127.0.0.1"), `the client IP reached ${k}`);
  }

  // The read side.
  const count = await getJson("/v1/count?site=demo");
  assert.equal(count.status, 200);
  assert.ok(count.json.visitor_count >= 1);
  const stats = await getJson(`/v1/stats?site=demo&path=/exact`);
  assert.equal(stats.status, 200);
  const page = stats.json.pages[0];
  assert.equal(page.path, "/exact");
  assert.deepEqual(
    [page.pageviews, page.clicks, page.rage_clicks, page.scroll_75, page.engaged_ms, page.errors],
    [1, 1, 1, 1, 1000, 1],
  );
  assert.equal(stats.json.heatmap.clicks.length, 1);
  assert.equal(stats.json.heatmap.clicks[0].ey, 0.8);
  assert.deepEqual(stats.json.heatmap.grids["0"], { c10_12: 1 });
  const incidents = await getJson("/v1/incidents?site=demo");
  assert.ok(incidents.json.incidents.some((i) => i.message === "Exact failure 42" && i.message_id));
  const bad = await getJson("/v1/stats?site=demo&from=2025-02-30");
  assert.equal(bad.status, 400);
  assert.equal(bad.json.field, "from");
  assert.equal((await getJson("/v1/count?site=nope")).status, 403);
});

test("the read side needs a read key for its site, except the visitor counter", async () => {
  const reads = ["/v1/stats?site=demo", "/v1/live?site=demo", "/v1/incidents?site=demo",
    "/v1/session?site=demo&sid=s-1", "/v1/incidents?service=collector"];
  const shop = { authorization: `Bearer ${SHOP_READ_KEY}` };
  for (const path of reads) {
    const none = await getJson(path, {});
    assert.equal(none.status, 401, `${path} without a key`);
    assert.equal(none.json.error, "unauthorized");
    const wrong = await getJson(path, { authorization: `Bearer ${READ_KEY}x` });
    assert.equal(wrong.status, 401, `${path} with a wrong key`);
    const other = await getJson(path, shop);
    assert.equal(other.status, 403, `${path} with another site's key`);
    assert.match(other.json.message, /may not read/);
    assert.equal((await getJson(path)).status, 200, `${path} with the * key`);
  }
  assert.equal((await getJson("/v1/stats?site=shop", shop)).status, 200, "its own site");
  assert.equal((await getJson("/v1/count?site=demo", {})).status, 200, "the counter is public");
  // A dashboard on another origin may send the key: the preflight allows the header.
  const preflight = await fetch(`${run.collector.url}/v1/stats`, {
    method: "OPTIONS",
    headers: { origin: "https://dash.example", "access-control-request-headers": "authorization" },
  });
  assert.match(preflight.headers.get("access-control-allow-headers"), /authorization/);
});

test("/status reports the bindings and the stores", async () => {
  const { status, json } = await getJson("/status");
  assert.equal(status, 200);
  assert.equal(json.ok, true);
  assert.equal(json.dynamodb, "ok");
  assert.equal(json.s3, "ok");
  assert.equal(json.alerts, true);
  assert.equal(json.dead_letters, 0);
  assert.deepEqual(json.bindings, {
    queue: true,
    rate_limit_client: true,
    rate_limit_site: true,
    assets: true,
  });
});
