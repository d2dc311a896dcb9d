// Limits that protect the collector, tried from outside through `wrangler dev`. Its own
// collector instance: using up a client's rate limit must not disturb other tests.
import assert from "node:assert/strict";
import { test } from "node:test";
import http from "node:http";
import { readHeaders, startCollector } from "../scripts/lib/collector.mjs";
import { waitFor } from "../scripts/lib/ports.mjs";
import { startProxy } from "../scripts/lib/proxy.mjs";
import { batch, click, pageview, post } from "./lib/batches.mjs";
import { partition, sessionEvents } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const run = stack();

test("a body without a declared length is cut at 64 KB, not read whole first", async () => {
  // 8 MB in 64 KB chunks, with no Content-Length. Read whole, it would grow the Worker's wasm
  // memory by at least that much (memory never shrinks, so /status shows it afterwards).
  const status = async () => (await fetch(`${run.collector.url}/status`)).json();
  const before = await status();
  const answer = await postChunked(
    `${run.collector.url}/v1/events`,
    JSON.stringify(batch([pageview()])),
    " ".repeat(64 * 1024),
    128,
  );
  // The collector answers 413 and stops reading while the client is still sending. The answer
  // may be lost on the way: to the connection's reset, or in wrangler's local dev proxy, whose
  // fetch to the Worker then fails and which answers 503 "Your worker restarted mid-request"
  // (it says so for any failed non-GET fetch). Either way, memory shows how much was read, and
  // the isolate must be the same one: a crash must not pass for a lost answer.
  const lost = answer.status === "reset" || /restarted mid-request/.test(answer.body);
  if (!lost) {
    assert.equal(answer.status, 413, answer.body);
    assert.equal(JSON.parse(answer.body).error, "too_large");
  }
  const after = await status();
  assert.equal(after.isolate, before.isolate, "the same isolate");
  const grown = after.wasm_memory_bytes - before.wasm_memory_bytes;
  assert.ok(grown < 2 * 1024 * 1024, `wasm memory grew by ${grown} bytes`);
});

/** POSTs `head` then `times` × `chunk` with chunked transfer encoding (no Content-Length),
 * stopping once an answer comes; `{status: "reset"}` if the connection was reset first. */
function postChunked(url, head, chunk, times) {
  return new Promise((resolve) => {
    const req = http.request(url, {
      method: "POST",
      headers: { "content-type": "text/plain", "transfer-encoding": "chunked" },
    });
    let answered = false;
    req.on("response", (resp) => {
      answered = true;
      let body = "";
      resp.setEncoding("utf8");
      resp.on("data", (d) => (body += d));
      resp.on("end", () => resolve({ status: resp.statusCode, body }));
      resp.on("error", () => resolve({ status: "reset" }));
    });
    req.on("error", () => answered || resolve({ status: "reset" }));
    (async () => {
      req.write(head);
      for (let i = 0; i < times && !answered && !req.destroyed; i++) {
        if (!req.write(chunk)) await new Promise((r) => req.once("drain", r));
      }
      if (!answered && !req.destroyed) req.end();
    })();
  });
}

test("one client past its rate limit gets 429 until the window passes", async () => {
  // The mechanism, on a collector of its own with a small per-client limit (every accepted
  // request and every refusal is queued work for the emulator: hundreds would slow the rest).
  // Windows of 60 s are aligned to the clock's minutes (as the local runtime counts them):
  // send one at a time until a single window has seen 10 more than the limit; a request that
  // straddles two windows is counted in neither, so a window ending mid-run changes nothing.
  const limit = 30;
  const small = await startCollector(run.emulator, {
    patch: (toml) => toml.replace(/(name = "RL_CLIENT"[^[]*?limit = )\d+/, `$1${limit}`),
  });
  try {
    const windowOf = () => Math.floor(Date.now() / 60_000);
    const byWindow = new Map();
    let full;
    let refusal;
    for (let i = 0; i < 3 * (limit + 10) && !full; i++) {
      const before = windowOf();
      const { status, json } = await post(small.url, batch([pageview()]));
      if (windowOf() !== before) continue;
      const statuses = byWindow.get(before) || [];
      statuses.push(status);
      if (status === 429) refusal = json;
      byWindow.set(before, statuses);
      if (statuses.length >= limit + 10) full = statuses;
    }
    assert.ok(full, "a window with more requests than the limit");
    const accepted = full.filter((s) => s === 202).length;
    const limited = full.filter((s) => s === 429).length;
    assert.ok(accepted <= limit, `${accepted} accepted`);
    assert.ok(limited >= 10, `${limited} limited`);
    assert.equal(accepted + limited, full.length, `only 202 and 429: ${[...new Set(full)]}`);
    assert.equal(full.at(-1), 429);
    assert.equal(refusal.error, "rate_limited");
  } finally {
    await small.stop();
  }
});

test("without a queue binding, a batch is written before its answer, or refused", async () => {
  // The collector reaches the emulator through a proxy the test takes down (an AWS outage).
  const aws = await startProxy(run.emulator.endpoint);
  const direct = await startCollector(run.emulator, {
    withoutQueue: true,
    vars: { AWS_ENDPOINT_URL: aws.url },
  });
  try {
    const status = await (await fetch(`${direct.url}/status`)).json();
    assert.equal(status.bindings.queue, false);
    const sent = batch([pageview({ url: "/direct" }), click({ url: "/direct" })]);
    assert.equal((await post(direct.url, sent)).status, 202);
    // Already there when the answer came: read once, no waiting.
    const items = await partition(run.emulator, `S#demo#${sent.sid}`);
    assert.deepEqual(items.map((i) => i.k).sort(), ["click", "pageview"]);

    // AWS down: no 202 for what cannot be written, so the sender keeps it and resends.
    await aws.down();
    const later = batch([pageview({ url: "/direct" })]);
    const refused = await post(direct.url, later);
    assert.equal(refused.status, 503, JSON.stringify(refused.json));
    assert.equal(refused.json.error, "upstream");
    await aws.up();
    assert.equal((await post(direct.url, later)).status, 202);
    const stored = await partition(run.emulator, `S#demo#${later.sid}`);
    assert.equal(stored.length, 1, "stored once");
  } finally {
    await direct.stop();
    await aws.stop();
  }
});

test("a queue batch out of calls to AWS sends the rest back, and every batch is stored once", async () => {
  // A cap of 12 calls per invocation (SUBREQUEST_LIMIT; the Free plan's is 50) holds two of
  // these messages (about 5 calls each: events, counters, archive, access log). Sent at once,
  // the twelve batches reach the consumer several at a time.
  const tight = await startCollector(run.emulator, { vars: { SUBREQUEST_LIMIT: "12" }, unlimited: true });
  try {
    const sent = Array.from({ length: 12 }, () =>
      batch([pageview({ url: "/tight" }), click({ url: "/tight" })]),
    );
    const answers = await Promise.all(sent.map((b) => post(tight.url, b)));
    assert.deepEqual(answers.map((a) => a.status), Array(12).fill(202));
    for (const b of sent) {
      const items = await sessionEvents(run.emulator, "demo", b.sid, 2, 60_000);
      assert.deepEqual(items.map((i) => i.k).sort(), ["click", "pageview"]);
      // Its visitor counted: its message's last write (a message sent back midway has its
      // events stored before its counters).
      await waitFor("the batch's visitor counted", async () =>
        (await partition(run.emulator, `V#demo#${b.vid}`)).length > 0,
      );
    }
    const output = tight.output();
    assert.match(output, /messages wait for a later batch/, "some waited");
    // None failed: a wait is not an attempt, so nothing nears the dead-letter queue.
    assert.doesNotMatch(output, /queue spoor-events message/);
    const stats = await fetch(`${tight.url}/v1/stats?site=demo&path=/tight`, { headers: readHeaders });
    assert.equal(stats.status, 200);
    assert.equal((await stats.json()).totals.pageviews, 12, "counted once each");
    // The whole site over 30 days is a query per day: more than a request may make here.
    const from = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10);
    const refused = await fetch(`${tight.url}/v1/stats?site=demo&from=${from}`, { headers: readHeaders });
    assert.equal(refused.status, 400);
    const error = await refused.json();
    assert.equal(error.field, "from");
    assert.match(error.message, /at most 12 days/);
  } finally {
    await tight.stop();
  }
});
