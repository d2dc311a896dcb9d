// The collector's own work per batch on one core, natively (collector/benches/pipeline.rs).
import { execFileSync } from "node:child_process";
import { root } from "../scripts/lib/emulator.mjs";
import { num, table } from "./lib/format.mjs";

export async function native() {
  const out = execFileSync("cargo", ["bench", "-q", "-p", "collector", "--bench", "pipeline"], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  }).toString();
  const r = JSON.parse(out.trim().split("\n").pop());
  const markdown = [
    `One ${r.events_per_batch}-event batch (${num(r.batch_bytes)} B in wire v1, ${num(r.batch_v2_bytes)} B in v2 as the tracker sends it; ` +
      `its queue message, which holds the v2 body as sent, ${num(r.queue_message_bytes)} B), release build, one thread, median of 15 samples of ~200 ms:`,
    "",
    table(
      ["stage", "µs per batch", "events per second per core"],
      [
        ["Worker: content type, parse + validate, enrich, queue message (v1 body)", num(r.edge_us_per_batch, 1), num(r.edge_events_per_s)],
        ["Worker: the same for the v2 body", num(r.edge_v2_us_per_batch, 1), num(r.edge_v2_events_per_s)],
        ["consumer: read the message (the body parsed again), raw items + DynamoDB JSON, S3 NDJSON, aggregates, transactions, alerts", num(r.consumer_us_per_batch, 1), num(r.consumer_events_per_s)],
        ["**both** (v2 body)", num(r.edge_v2_us_per_batch + r.consumer_us_per_batch, 1), `**${num(r.events_per_s_per_core)}**`],
      ],
    ),
  ].join("\n");
  return { data: r, markdown };
}
