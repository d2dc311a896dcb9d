// Limits that protect the collector, tried from outside through `wrangler dev`. Its own
// collector instance: using up a client's rate limit must not disturb other tests.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startCollector } from "../scripts/lib/collector.mjs";
import { batch, click, pageview, post } from "./lib/batches.mjs";
import { sessionEvents } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const run = stack();

test("a body without a declared length is still cut at 64 KB", async () => {
  const big = JSON.stringify(batch([pageview({ title: "x".repeat(1500) })])).padEnd(70 * 1024);
  const body = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(big));
      controller.close();
    },
  });
  const resp = await fetch(`${run.collector.url}/v1/events`, {
    method: "POST",
    headers: { "content-type": "text/plain" },
    body,
    duplex: "half",
  });
  assert.equal(resp.status, 413);
  assert.equal((await resp.json()).error, "too_large");
});

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

test("without a queue binding, accepted batches are written after the answer", async () => {
  const direct = await startCollector(run.emulator, { withoutQueue: true });
  try {
    const status = await (await fetch(`${direct.url}/status`)).json();
    assert.equal(status.bindings.queue, false);
    const sent = batch([pageview({ url: "/direct" }), click({ url: "/direct" })]);
    assert.equal((await post(direct.url, sent)).status, 202);
    const items = await sessionEvents(run.emulator, "demo", sent.sid, 2);
    assert.deepEqual(items.map((i) => i.k).sort(), ["click", "pageview"]);
  } finally {
    await direct.stop();
  }
});
