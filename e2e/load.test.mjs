// Load, bounded and on loopback: many simulated visitors send valid batches for a fixed time
// with a slice of invalid ones mixed in. Valid input never gets a 5xx, every invalid request
// its 4xx, the Worker's memory stays flat, and no event is lost.
//
// Two runs, because the local emulator writes far slower than the collector accepts (moto
// deep-copies its tables for every transaction: ~10 batches/s here, falling as they grow):
// - as fast as it goes, the whole path (HTTP, validation, enrichment, queue, consumer, AWS
//   calls) against a stand-in for AWS that answers at once: every accepted event must reach
//   it, and the isolate's memory must stay flat;
// - a steady 5 batches/s through the whole path into the emulator: the counters in DynamoDB
//   must add up to exactly what was accepted.
// LOAD_SECONDS sets the length of each of the first run's two rounds (10 in make test, 60 in
// make reliability); the figures are printed as JSON lines, quoted in RELIABILITY.md.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import autocannon from "autocannon";
import { startCollector } from "../scripts/lib/collector.mjs";
import { waitFor } from "../scripts/lib/ports.mjs";
import { workerdPids } from "../scripts/lib/processes.mjs";
import { attachDevtools } from "./lib/devtools.mjs";
import { startFakeAws } from "./lib/fake-aws.mjs";
import { partition } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const SECONDS = Number(process.env.LOAD_SECONDS || 10);
const VISITORS = 200;
const EVENTS_PER_BATCH = 5;

// Rate limits far above the load: this measures the collector, not its limiter.
const vars = { SITES: JSON.stringify({ load: ["*"] }), LOG_REQUESTS: "off" };
const run = stack({ vars, unlimited: true });

const visitors = Array.from({ length: VISITORS }, () => ({ vid: randomUUID(), sid: randomUUID() }));

function validBody() {
  const v = visitors[Math.floor(Math.random() * VISITORS)];
  const now = Date.now();
  const events = [{ id: randomUUID(), k: "pageview", ts: now - 500, url: "/load", title: "Load" }];
  for (let i = 1; i < EVENTS_PER_BATCH; i++) {
    events.push({
      id: randomUUID(), k: "click", ts: now - 500 + i, url: "/load", x: Math.random(),
      y: Math.floor(Math.random() * 3000), yr: Math.random(), sel: "main>button", ex: 0.5,
      ey: 0.5, tag: "button", txt: "Go", href: null, rage: false, dead: false,
    });
  }
  return JSON.stringify({
    v: 1, site: "load", batch: randomUUID(), sent: now, vid: v.vid, sid: v.sid,
    ctx: { vw: 1280, vh: 720, dpr: 1, lang: "en" }, events,
  });
}

const INVALID = [
  () => "{ not json",
  () => validBody().replace('"x":', '"x":"left","was":'),
  () => validBody().replace(/"ts":\d+/, `"ts":${Date.now() + 3_600_000}`),
  () => validBody().replace('"site":"load"', '"site":"nope"'),
];

/** Resident memory of the workerd processes serving `url`, in KB (reported, not asserted:
 * under `wrangler dev` it includes the tooling's own proxy and buffers). */
function workerdRss(url) {
  return workerdPids(url)
    .map((pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] || 0))
    .reduce((a, b) => a + b, 0);
}

/** The isolate's memory: wasm linear memory (from /status) and JS heap (from the inspector). */
async function memory(collector, devtools) {
  const status = await (await fetch(`${collector.url}/status`)).json();
  const heap = await devtools.heapUsage();
  return { wasm: status.wasm_memory_bytes, heapUsed: heap.usedSize, rssKb: workerdRss(collector.url) };
}

const MB = 1024 * 1024;

/** Waits until every id in `sent` is stored at `aws`. The queue drains slower than HTTP
 * accepts, and by how much depends on the machine: so no fixed deadline, but a failure as
 * soon as 30 s pass without a single new event stored. Resolves to the time it took. */
async function drained(sent, aws) {
  const start = Date.now();
  let stored = -1;
  let progressAt = start;
  for (;;) {
    const missing = [...sent].filter((id) => !aws.stored.has(id)).length;
    if (missing === 0) return Date.now() - start;
    if (aws.stored.size !== stored) [stored, progressAt] = [aws.stored.size, Date.now()];
    assert.ok(Date.now() - progressAt < 30_000, `${missing} accepted events never reached AWS`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
let requestsMade = 0;

/** Sends for `seconds` (at `rate` requests/s if given); counts answers by validity and
 * status in `tally` (`valid_sent` counts valid batches sent, answered or not: requests in
 * flight when the run ends still reach the collector), and adds the ids of the events of
 * accepted batches to `sent`. */
function fire(url, seconds, tally, rate, sent = new Set()) {
  return autocannon({
    url: `${url}/v1/events`,
    connections: 20,
    duration: seconds,
    ...(rate ? { overallRate: rate } : {}),
    requests: [
      {
        method: "POST",
        headers: { "content-type": "text/plain;charset=UTF-8" },
        setupRequest(req, context) {
          const n = ++requestsMade;
          context.valid = n % 10 !== 0; // one request in ten is invalid, of every kind in turn
          req.body = context.valid ? validBody() : INVALID[(n / 10) % INVALID.length]();
          context.body = req.body;
          if (context.valid) tally.valid_sent = (tally.valid_sent || 0) + 1;
          return req;
        },
        onResponse(status, body, context) {
          const bucket = `${context.valid ? "valid" : "invalid"}_${status}`;
          tally[bucket] = (tally[bucket] || 0) + 1;
          if (context.valid && status === 202) {
            for (const e of JSON.parse(context.body).events) sent.add(e.id);
          }
        },
      },
    ],
  });
}

function check(tally, result) {
  const statuses = Object.keys(tally).filter((k) => k !== "valid_sent").sort();
  assert.deepEqual(
    statuses.filter((s) => s.startsWith("valid_")),
    ["valid_202"],
    `valid requests answered only 202: ${JSON.stringify(tally)}`,
  );
  assert.ok(
    statuses.filter((s) => s.startsWith("invalid_")).every((s) => /^invalid_4\d\d$/.test(s)),
    `invalid requests answered 4xx: ${JSON.stringify(tally)}`,
  );
  assert.equal(result.errors, 0, "no connection errors");
  return {
    sentValid: tally.valid_sent || 0,
    accepted: tally.valid_202 || 0,
    invalid: Object.entries(tally).filter(([k]) => k.startsWith("invalid_")).reduce((s, [, n]) => s + n, 0),
  };
}

test("as fast as it goes: valid input only 202, invalid only 4xx, nothing lost, memory flat", async () => {
  const aws = await startFakeAws();
  const fast = await startCollector(run.emulator, {
    vars: { ...vars, AWS_ENDPOINT_URL: aws.url, TOPIC_ARN: "" },
    unlimited: true,
  });
  const devtools = await attachDevtools(fast.inspector);
  try {
    const sent = new Set();
    // Round one warms the isolate and sets its high-water marks; round two, as long, must not
    // raise them further: a leak grows with every request, a high-water mark does not.
    const first = {};
    await fire(fast.url, SECONDS, first, 0, sent);
    await drained(sent, aws);
    const before = await memory(fast, devtools);
    const roundOneEvents = sent.size;
    const roundTwoStart = Date.now();
    const tally = {};
    const result = await fire(fast.url, SECONDS, tally, 0, sent);
    const { accepted, invalid } = check(tally, result);
    assert.ok(accepted > 100, `${accepted} batches accepted`);
    const drainMs = await drained(sent, aws);
    // The whole path's pace: events accepted in round two over the time until all were stored.
    const writtenPerS = Math.round(((sent.size - roundOneEvents) * 1000) / (Date.now() - roundTwoStart));
    const after = await memory(fast, devtools);
    // Wasm linear memory never shrinks, so it shows a leak in the Worker's Rust directly:
    // 400 bytes kept per request would add 2 MB over a round.
    const grown = after.wasm - before.wasm;
    assert.ok(
      grown <= Math.max(before.wasm * 0.25, 2 * MB),
      `wasm memory grew by ${grown} bytes over ${result.requests.total} requests (from ${before.wasm})`,
    );
    // The JS heap is collected, so its level is what counts: well below Workers' 128 MB.
    assert.ok(after.heapUsed < 100 * MB, `JS heap ${after.heapUsed} bytes in use`);
    console.log(
      `load figures: ${JSON.stringify({
        seconds: SECONDS,
        connections: 20,
        events_per_batch: EVENTS_PER_BATCH,
        requests: result.requests.total,
        req_per_s: result.requests.average,
        latency_p50_ms: result.latency.p50,
        latency_p99_ms: result.latency.p99,
        valid_accepted: accepted,
        invalid_4xx: invalid,
        events_accepted_and_written: sent.size,
        queue_drained_s_after_load: Math.round(drainMs / 1000),
        events_written_per_s: writtenPerS,
        wasm_bytes_before: before.wasm,
        wasm_bytes_after: after.wasm,
        js_heap_used_before: before.heapUsed,
        js_heap_used_after: after.heapUsed,
        workerd_rss_kb_before: before.rssKb,
        workerd_rss_kb_after: after.rssKb,
      })}`,
    );
  } finally {
    devtools.close();
    await fast.stop();
    await aws.stop();
  }
});

test("into the emulator at 5 batches/s: every accepted event counted once", async () => {
  const tally = {};
  const result = await fire(run.collector.url, 10, tally, 5);
  const { sentValid, accepted, invalid } = check(tally, result);
  assert.ok(accepted >= 40, `${accepted} batches accepted`);
  // Every accepted batch counted; none twice (at most the valid ones sent, answered or not).
  let previous = -1;
  const counted = await waitFor(
    "every accepted batch counted, and the count settled",
    async () => {
      const [c] = await partition(run.emulator, "C#load");
      const settled = c?.pageviews >= accepted && c.pageviews === previous;
      previous = c?.pageviews ?? -1;
      return settled && c.pageviews;
    },
    { timeoutMs: 120_000, everyMs: 3_000 },
  );
  assert.ok(counted <= sentValid, `${counted} counted, ${sentValid} sent`);
  const traffic = (await partition(run.emulator, "W#load")).reduce((s, w) => s + w.events, 0);
  assert.equal(traffic, counted * EVENTS_PER_BATCH, "each counted batch's events once");
  console.log(
    `load figures (whole path): ${JSON.stringify({
      seconds: 10,
      rate_per_s: 5,
      valid_accepted: accepted,
      batches_counted: counted,
      invalid_4xx: invalid,
      events_counted: traffic,
    })}`,
  );
});
