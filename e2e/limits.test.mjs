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
  // wrangler.toml: 120 requests per 60 s per client. Send more, one at a time.
  const statuses = [];
  for (let i = 0; i < 130; i++) {
    statuses.push((await post(run.collector.url, batch([pageview()]))).status);
  }
  const accepted = statuses.filter((s) => s === 202).length;
  const limited = statuses.filter((s) => s === 429).length;
  assert.ok(accepted <= 120, `${accepted} accepted`);
  assert.ok(limited >= 10, `${limited} limited`);
  assert.equal(accepted + limited, 130, `only 202 and 429: ${[...new Set(statuses)]}`);
  assert.equal(statuses.at(-1), 429);
  const { json } = await post(run.collector.url, batch([pageview()]));
  assert.equal(json.error, "rate_limited");
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
