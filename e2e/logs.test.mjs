// The server-side path through `wrangler dev` and the emulator: services' structured logs
// (authenticated, validated), incidents and their alerts, the collector's own access log,
// browser sessions joined with server logs, and the cron's traffic-surge alert.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { UpdateItemCommand } from "@aws-sdk/client-dynamodb";
import { LOG_KEY, readHeaders } from "../scripts/lib/collector.mjs";
import { waitFor } from "../scripts/lib/ports.mjs";
import { batch, click, pageview, post } from "./lib/batches.mjs";
import { drainAlerts, dynamo, partition, s3Keys, s3Text } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

const run = stack({ testScheduled: true });

async function sendLogs(body, { key = LOG_KEY, contentType = "application/json" } = {}) {
  const resp = await fetch(`${run.collector.url}/v1/logs`, {
    method: "POST",
    headers: { "content-type": contentType, ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: resp.status, json: await resp.json() };
}

const record = (extra = {}) => ({
  ts: Date.now() - 1000,
  level: "ERROR",
  service: "shop-api",
  message: "Timeout calling payments",
  ...extra,
});

test("without the service's key, nothing is accepted or written", async () => {
  const marker = `unauthorised-${randomUUID()}`;
  const body = [record({ message: marker })];
  assert.equal((await sendLogs(body, { key: null })).status, 401);
  const wrong = await sendLogs(body, { key: "not-the-key" });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.json.error, "unauthorized");
  const other = await sendLogs([record({ service: "billing", message: marker })]);
  assert.equal(other.status, 403, "a key sends its own service's logs only");
  const bad = await sendLogs([record({ level: "LOUD", message: marker })]);
  assert.equal(bad.status, 400);
  assert.equal(bad.json.field, "records[0].level");
  assert.equal((await sendLogs("{}", { contentType: "text/html" })).status, 415);

  // An accepted batch sent after them: once it is stored, nothing before it was.
  const ok = await sendLogs([record({ level: "INFO", message: "sentinel" })]);
  assert.equal(ok.status, 202);
  const keys = await waitFor("the accepted log batch in S3", async () => {
    const all = await s3Keys(run.emulator, "logs/service=shop-api/");
    return all.length > 0 && all;
  });
  for (const k of keys) assert.ok(!(await s3Text(run.emulator, k)).includes(marker));
});

test("a burst of 1,000 identical errors is one incident with count 1,000 and one alert", async () => {
  await drainAlerts(run.emulator);
  // Ten requests of a hundred, as NDJSON; the message varies only in numbers, which the
  // fingerprint ignores.
  for (let r = 0; r < 10; r++) {
    const lines = Array.from({ length: 100 }, (_, i) =>
      JSON.stringify(
        record({
          message: `Timeout calling payments after ${3000 + i} ms`,
          trace_id: `trace-${r}-${i}`,
          http: { method: "POST", path: "/checkout", status: 504, duration_ms: 3000 + i },
        }),
      ),
    ).join("\n");
    const { status, json } = await sendLogs(lines, { contentType: "application/x-ndjson" });
    assert.equal(status, 202, JSON.stringify(json));
    assert.equal(json.accepted, 100);
  }
  const incident = await waitFor(
    "one incident counting 1,000",
    async () => {
      const resp = await fetch(`${run.collector.url}/v1/incidents?service=shop-api`, {
        headers: readHeaders,
      });
      const { incidents } = await resp.json();
      const timeouts = incidents.filter((i) => i.message.startsWith("Timeout calling payments after"));
      return timeouts.length === 1 && timeouts[0].count === 1000 && timeouts[0];
    },
    { timeoutMs: 60_000, everyMs: 500 },
  );
  assert.equal(incident.severity, "CRITICAL", "a 504: the dependency is down");
  assert.equal(incident.kind, "server_error");
  assert.equal(incident.service, "shop-api");
  assert.ok(incident.trace_id && incident.message_id);
  const alerts = (await drainAlerts(run.emulator)).filter(
    (a) => a.message.kind === "server_error" && a.message.message.startsWith("Timeout calling payments after"),
  );
  assert.equal(alerts.length, 1);
  assert.deepEqual(alerts[0].attributes, {
    kind: "server_error",
    severity: "CRITICAL",
    service: "shop-api",
  });
});

test("the collector's own requests are logged like a backend's", async () => {
  await fetch(`${run.collector.url}/product`);
  await fetch(`${run.collector.url}/v1/nothing`);
  // An accepted batch carries its request's record in its own queue message.
  assert.equal((await post(run.collector.url, batch([pageview({ url: "/logged" })]))).status, 202);
  const records = await waitFor("the collector's access log in S3", async () => {
    const all = [];
    for (const k of await s3Keys(run.emulator, "logs/service=collector/")) {
      all.push(...(await s3Text(run.emulator, k)).trim().split("\n").map((l) => JSON.parse(l)));
    }
    const seen =
      all.some((r) => r.http.path === "/product") &&
      all.some((r) => r.http.status === 404) &&
      all.some((r) => r.http.path === "/v1/events" && r.http.status === 202);
    return seen && all;
  });
  const page = records.find((r) => r.http.path === "/product");
  assert.equal(page.level, "INFO");
  assert.equal(page.http.method, "GET");
  assert.equal(page.http.status, 200);
  assert.ok(page.http.duration_ms >= 0);
  assert.equal(records.find((r) => r.http.status === 404).level, "WARN");
  const accepted = records.find((r) => r.http.path === "/v1/events" && r.http.status === 202);
  assert.equal(accepted.http.method, "POST");
  assert.equal(accepted.message, "POST /v1/events 202");
});

test("a browser session and the server logs that carry its id are read together", async () => {
  const sent = batch([pageview({ url: "/checkout" }), click({ url: "/checkout" })]);
  assert.equal((await post(run.collector.url, sent)).status, 202);
  const logs = [
    record({ level: "INFO", message: "cart loaded", session_id: sent.sid }),
    record({ message: "card declined", session_id: sent.sid, trace_id: "t-declined" }),
  ];
  assert.equal((await sendLogs(logs)).status, 202);
  const session = await waitFor("the joined session", async () => {
    const resp = await fetch(`${run.collector.url}/v1/session?site=demo&sid=${sent.sid}`, {
      headers: readHeaders,
    });
    const body = await resp.json();
    return body.events.length === 2 && body.logs.length === 2 && body;
  });
  assert.deepEqual(session.logs.map((l) => l.message).sort(), ["card declined", "cart loaded"]);
  assert.deepEqual(session.events.map((e) => e.k).sort(), ["click", "pageview"]);
});

test("a scheduled run after a synthetic surge publishes exactly one surge alert", async () => {
  await drainAlerts(run.emulator);
  const window = 5 * 60_000;
  // Pinned times: the cron "runs" at `now`; its last complete window is the one before.
  const now = Math.floor(Date.now() / window) * window + 1000;
  const last = now - 1000 - window;
  const db = dynamo(run.emulator);
  const seed = (start, events) =>
    db.send(
      new UpdateItemCommand({
        TableName: run.emulator.table,
        Key: { pk: { S: "W#demo" }, sk: { S: String(start).padStart(15, "0") } },
        UpdateExpression: "ADD events :n",
        ExpressionAttributeValues: { ":n": { N: String(events) } },
      }),
    );
  for (let i = 1; i <= 12; i++) await seed(last - i * window, 20);
  await seed(last, 600);
  for (let i = 0; i < 2; i++) {
    const resp = await fetch(`${run.collector.url}/__scheduled?cron=*/5+*+*+*+*&time=${now}`);
    assert.equal(resp.status, 200);
  }
  const surges = await waitFor("the surge alert", async () => {
    const found = (await drainAlerts(run.emulator)).filter((a) => a.message.kind === "traffic_surge");
    return found.length > 0 && found;
  });
  assert.equal(surges.length, 1);
  assert.equal(surges[0].message.site, "demo");
  assert.equal(surges[0].message.count, await eventsIn(last), "the window's count, real traffic included");
  assert.deepEqual(surges[0].attributes, { kind: "traffic_surge", severity: "MEDIUM", site: "demo" });
  const incidents = await partition(run.emulator, "I#demo");
  assert.equal(incidents.filter((i) => i.kind === "traffic_surge").length, 1);

  async function eventsIn(start) {
    const rows = await partition(run.emulator, "W#demo");
    return rows.find((r) => r.sk === String(start).padStart(15, "0")).events;
  }
});
