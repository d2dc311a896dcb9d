// What the collector asks of AWS for a fixed workload, counted at an HTTP proxy in front of
// the emulator, and what that costs per million events at published prices — beside the
// per-click design of the VisitLogger seed (API Gateway → Lambda → PutItem + PutObject +
// Publish for every click).
import http from "node:http";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { startCollector } from "../scripts/lib/collector.mjs";
import { root } from "../scripts/lib/emulator.mjs";
import { freePort, waitFor } from "../scripts/lib/ports.mjs";
import { batch, click, pageview, post } from "../e2e/lib/batches.mjs";
import { partition, scanAll } from "../e2e/lib/stores.mjs";
import { num, table } from "./lib/format.mjs";

const VISITORS = 20;
const PAGES = 5; // per visitor, one batch each
const BATCHES = VISITORS * PAGES;
const EVENTS_PER_BATCH = 10;

// US East (N. Virginia) list prices, USD, as published by AWS and Cloudflare (2025), beyond
// free tiers and included amounts.
export const PRICES = {
  dynamodbWriteUnit: 0.625 / 1e6, // on-demand, per write request unit
  s3Put: 0.005 / 1e3, // S3 Standard PUT/POST
  snsPublish: 0.5 / 1e6,
  workersRequest: 0.3 / 1e6, // Workers Paid, beyond 10 M a month
  workersCpuMs: 0.02 / 1e6, // beyond 30 M CPU-ms a month
  queueOperation: 0.4 / 1e6, // per 64 KB written, read or deleted
  apiGatewayRest: 3.5 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  lambdaGbSecond: 0.0000166667,
};

/** An HTTP proxy in front of the emulator that counts each AWS call by service and action
 * (keeping the Host header, so signatures still verify) and keeps DynamoDB request bodies. */
async function countingProxy(target) {
  const upstream = new URL(target);
  const port = await freePort();
  const calls = {};
  const dynamodb = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(req.headers.authorization || "")?.[1];
      let action = req.headers["x-amz-target"]?.split(".").pop();
      if (service === "sns") action = new URLSearchParams(body.toString()).get("Action");
      if (service === "s3") {
        const key = decodeURIComponent(req.url.split("?")[0]).split("/").slice(2).join("/");
        action = `${req.method} ${key.split("/")[0]}/`;
      }
      const name = `${service} ${action}`;
      calls[name] = (calls[name] || 0) + 1;
      if (service === "dynamodb") dynamodb.push({ action, body: JSON.parse(body) });
      const out = http.request(
        { hostname: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode, answer.headers);
          answer.pipe(res);
        },
      );
      out.on("error", () => res.destroy());
      out.end(body);
    });
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    dynamodb,
    reset() {
      for (const k of Object.keys(calls)) delete calls[k];
      dynamodb.length = 0;
    },
    stop: () => new Promise((r) => server.close(r)),
  };
}

/** DynamoDB's size of an item, by its published rules (names + values; numbers ~1 byte per
 * two digits + 1; maps and lists 3 bytes + 1 per element). */
function itemSize(value) {
  if (typeof value === "string") return Buffer.byteLength(value);
  if (typeof value === "number" || typeof value === "bigint") {
    return Math.ceil(String(value).replace(/[-.]/g, "").replace(/^0+/, "").length / 2) + 1;
  }
  if (typeof value === "boolean" || value === null || value === undefined) return 1;
  if (Array.isArray(value)) return 3 + value.reduce((s, v) => s + 1 + itemSize(v), 0);
  return 3 + Object.entries(value).reduce((s, [k, v]) => s + 1 + Buffer.byteLength(k) + itemSize(v), 0);
}
const typed = (attr) => {
  const [type, v] = Object.entries(attr)[0];
  if (type === "M") return Object.fromEntries(Object.entries(v).map(([k, a]) => [k, typed(a)]));
  if (type === "L") return v.map(typed);
  if (type === "N") return Number(v);
  return v;
};
const units = (bytes) => Math.max(1, Math.ceil(bytes / 1024));

/** Write request units of the recorded DynamoDB calls: puts by their item's size, plus one
 * write per index the item is projected into (`recent` for events, `clicks` for clicks);
 * updates by the size of the item they update, as it stands at the end; transactions twice. */
function writeUnits(recorded, finalItems) {
  const sizeOf = new Map(finalItems.map((i) => [`${i.pk}\u0000${i.sk}`, itemSize(i)]));
  const put = (item) => {
    const plain = Object.fromEntries(Object.entries(item).map(([k, a]) => [k, typed(a)]));
    const u = units(itemSize(plain));
    return u * (1 + ("rpk" in plain ? 1 : 0) + ("cpk" in plain ? 1 : 0));
  };
  const update = (key) => units(sizeOf.get(`${typed(key.pk)}\u0000${typed(key.sk)}`) || 1);
  let total = 0;
  for (const { action, body } of recorded) {
    if (action === "BatchWriteItem") {
      for (const writes of Object.values(body.RequestItems)) {
        for (const w of writes) if (w.PutRequest) total += put(w.PutRequest.Item);
      }
    } else if (action === "TransactWriteItems") {
      for (const t of body.TransactItems) {
        total += 2 * (t.Put ? put(t.Put.Item) : update((t.Update || t.ConditionCheck || t.Delete).Key));
      }
    } else if (action === "PutItem") total += put(body.Item);
    else if (action === "UpdateItem") total += update(body.Key);
    else if (action === "DeleteItem") total += 1;
  }
  return total;
}

/** CPU time per batch for the cost table: the isolate's busy time per 50-event batch as
 * deployed (edge and consumer), from the last workerd section (`build/bench-workerd.json`) —
 * an upper bound for these 10-event batches, counting waits for a core as well. Without one,
 * the 1 ms goal, labelled so. */
function cpuPerBatch() {
  try {
    const { profiles } = JSON.parse(readFileSync(path.join(root, "build/bench-workerd.json"), "utf8"));
    const ms = profiles.collector.busyMsPerRequest;
    return { ms, label: `≤ ${num(ms, 2)} ms per batch, measured in workerd` };
  } catch {
    return { ms: 1, label: "1 ms per batch, the goal: no workerd measurement" };
  }
}

export async function awsCalls({ emulator }) {
  const proxy = await countingProxy(emulator.endpoint);
  const collector = await startCollector(emulator, {
    vars: { AWS_ENDPOINT_URL: proxy.url, SITES: JSON.stringify({ bench: ["*"] }) },
    unlimited: true,
  });
  try {
    proxy.reset(); // not the start-up checks
    for (let v = 0; v < VISITORS; v++) {
      const ids = { sid: randomUUID(), vid: randomUUID() };
      for (let p = 0; p < PAGES; p++) {
        const url = `/page-${p}`;
        const events = [
          pageview({ url }),
          ...Array.from({ length: 6 }, (_, i) => click({ url, x: 0.1 * i, y: 100 * i })),
          { k: "scroll", url, max: 0.8, marks: [25, 50, 75] },
          { k: "dwell", url, engaged_ms: 12_000, visible_ms: 20_000, total_ms: 21_000 },
          { k: "custom", url, name: "cart_add", props: { product: "11" } },
        ];
        const { status } = await post(collector.url, batch(events, { site: "bench", ...ids }));
        if (status !== 202) throw new Error(`workload batch answered ${status}`);
      }
    }
    // Done when every batch is counted and the access log of each request is written too.
    await waitFor(
      "the workload written",
      async () => {
        const [c] = await partition(emulator, "C#bench");
        return c?.pageviews === BATCHES && (proxy.calls["s3 PUT logs/"] || 0) >= BATCHES;
      },
      { timeoutMs: 180_000, everyMs: 1_000 },
    );
    await new Promise((r) => setTimeout(r, 3_000)); // nothing left in flight
  } finally {
    await collector.stop();
    await proxy.stop();
  }
  const events = BATCHES * EVENTS_PER_BATCH;
  const items = (await scanAll(emulator)).filter((i) => /bench/.test(i.pk));
  const wru = writeUnits(proxy.dynamodb, items);
  const calls = Object.entries(proxy.calls).sort();
  const s3Events = proxy.calls["s3 PUT events/"] || 0;
  const s3Logs = proxy.calls["s3 PUT logs/"] || 0;
  const sns = proxy.calls["sns Publish"] || 0;
  const perMillion = 1e6 / events;
  // Spoor: one Worker request and one queue message (the batch with its access-log record)
  // per batch, written, read and deleted; CPU as measured in workerd (see cpuPerBatch).
  const cpu = cpuPerBatch();
  const spoor = [
    ["Workers requests", (BATCHES * perMillion) * PRICES.workersRequest],
    [`Workers CPU (${cpu.label})`, BATCHES * cpu.ms * perMillion * PRICES.workersCpuMs],
    ["Queues operations (1 message × 3 per batch)", BATCHES * 3 * perMillion * PRICES.queueOperation],
    ["DynamoDB write units", wru * perMillion * PRICES.dynamodbWriteUnit],
    ["S3 PUT (events)", s3Events * perMillion * PRICES.s3Put],
    ["S3 PUT (access log; `LOG_REQUESTS=errors` removes it)", s3Logs * perMillion * PRICES.s3Put],
    ["SNS Publish", sns * perMillion * PRICES.snsPublish],
  ];
  // The seed: every click is its own request through API Gateway and Lambda (128 MB, 100 ms
  // billed), one PutItem (1 write unit), one PutObject, one Publish.
  const seed = [
    ["API Gateway (REST) requests", PRICES.apiGatewayRest * 1e6],
    ["Lambda requests + 128 MB × 100 ms", (PRICES.lambdaRequest + 0.125 * 0.1 * PRICES.lambdaGbSecond) * 1e6],
    ["DynamoDB PutItem (1 write unit)", PRICES.dynamodbWriteUnit * 1e6],
    ["S3 PutObject", PRICES.s3Put * 1e6],
    ["SNS Publish", PRICES.snsPublish * 1e6],
  ];
  const usd = (x) => `$${x.toFixed(2)}`;
  const sum = (rows) => rows.reduce((s, [, x]) => s + x, 0);
  const markdown = [
    `Workload: ${VISITORS} visitors × ${PAGES} pages, one batch of ${EVENTS_PER_BATCH} events per page ` +
      `(a pageview, 6 clicks, scroll, dwell, a custom event): ${BATCHES} requests, ${events} events, ` +
      "through `wrangler dev` with its queue, as deployed.",
    "",
    table(
      ["AWS call", "count", "per 1,000 events"],
      calls.map(([name, n]) => [`\`${name}\``, num(n), num((n * 1000) / events, 1)]),
    ),
    "",
    `DynamoDB write request units (puts by item size, plus one per index the item is projected ` +
      `into; transactional writes count twice; updates at the final size of their item): ` +
      `${num(wru)}, ${num(wru / events, 2)} per event.`,
    "",
    "Cost per million events at list prices (US East, beyond free tiers):",
    "",
    table(
      ["Spoor (batches of 10 events)", "USD", "VisitLogger seed (per click)", "USD"],
      Array.from({ length: Math.max(spoor.length, seed.length) + 1 }, (_, i) => {
        if (i === Math.max(spoor.length, seed.length)) {
          return ["**total**", `**${usd(sum(spoor))}**`, "**total**", `**${usd(sum(seed))}**`];
        }
        return [spoor[i]?.[0] || "", spoor[i] ? usd(spoor[i][1]) : "", seed[i]?.[0] || "", seed[i] ? usd(seed[i][1]) : ""];
      }),
    ),
    "",
    "Storage, data transfer and reads are left out of both. Batching is what pays: the seed's " +
      "fixed costs (a request, an invocation, an object) are paid per click, Spoor's per batch.",
  ].join("\n");
  return { data: { calls: proxy.calls, wru, events, spoor, seed }, markdown };
}
