// A permanent failure (a table that does not exist) through `wrangler dev`: the batch is
// acknowledged, retried, moved to the dead-letter queue and kept in the AWS dead-letter store,
// visible in /status; `make replay-dead-letters` then writes it, once.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { root } from "../scripts/lib/emulator.mjs";
import { waitFor } from "../scripts/lib/ports.mjs";
import { batch, click, pageview, post } from "./lib/batches.mjs";
import { partition } from "./lib/stores.mjs";
import { stack } from "./lib/stack.mjs";

// The collector's own access log is off here: with no table, every request's log would be a
// dead letter too.
const run = stack({
  vars: { TABLE: "spoor-no-such-table", RETRY_DELAY_SECONDS: "0", LOG_REQUESTS: "off" },
});

test("a batch that cannot be written lands in the dead-letter store and is replayed once", async () => {
  const sent = batch([pageview({ url: "/dead" }), click({ url: "/dead" })]);
  assert.equal((await post(run.collector.url, sent)).status, 202);

  const status = await waitFor(
    "the batch in the dead-letter store",
    async () => {
      const s = await (await fetch(`${run.collector.url}/status`)).json();
      return s.dead_letters === 1 && s;
    },
    { timeoutMs: 60_000, everyMs: 500 },
  );
  assert.equal(status.ok, false, "the missing table shows in /status");
  assert.match(status.dynamodb, /ResourceNotFound/);

  const env = {
    ...process.env,
    AWS_ENDPOINT_URL: run.emulator.endpoint,
    AWS_REGION: run.emulator.region,
    AWS_ACCESS_KEY_ID: run.emulator.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: run.emulator.credentials.secretAccessKey,
    TABLE: run.emulator.table,
    BUCKET: run.emulator.bucket,
    DEAD_LETTER_QUEUE_URL: run.emulator.deadLetterQueueUrl,
  };
  const replay = path.join(root, "target/debug/replay-dead-letters");
  const exec = promisify(execFile);
  const first = await exec(replay, [], { env });
  assert.match(first.stdout, /1 batches replayed, 0 failed/);
  const second = await exec(replay, [], { env });
  assert.match(second.stdout, /0 batches replayed, 0 failed/);

  const items = await partition(run.emulator, `S#demo#${sent.sid}`);
  assert.deepEqual(items.map((i) => i.id).sort(), sent.events.map((e) => e.id).sort());
  const s = await (await fetch(`${run.collector.url}/status`)).json();
  assert.equal(s.dead_letters, 0);
});
