// The collector Worker in local workerd, through `wrangler dev`, wired to an emulator.
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ensureFree, freePort, waitFor } from "./ports.mjs";
import { start } from "./processes.mjs";
import { root } from "./emulator.mjs";

/** The API key of the demo's backend service `shop-api`, for POST /v1/logs (local only). */
export const LOG_KEY = randomBytes(16).toString("hex");
/** The read key of every site and service (`READ_KEYS` `*`), for the dashboard (local only). */
export const READ_KEY = randomBytes(16).toString("hex");
/** Headers that authorise a read of the collector's read API. */
export const readHeaders = { authorization: `Bearer ${READ_KEY}` };

/**
 * Starts `wrangler dev` on 127.0.0.1 with the emulator's endpoint and key passed as vars
 * (locally they stand in for `wrangler secret put`). Uses the build in collector/build (made
 * by `make build`) instead of rebuilding. Resolves to `{ url, stop() }` once `/status` says
 * the Worker is up and reaches its stores.
 */
export async function startCollector(
  emulator,
  {
    port,
    echo = false,
    vars = {},
    withoutQueue = false,
    withoutConsumer = false,
    unlimited = false,
    testScheduled = false,
    patch,
  } = {},
) {
  port = port ? await ensureFree(port, "collector") : await freePort();
  const inspector = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Each instance keeps its local queue state apart, so runs never see each other's messages.
  const state = await mkdtemp(path.join(os.tmpdir(), "spoor-wrangler-"));
  const allVars = {
    AWS_ENDPOINT_URL: emulator.endpoint,
    AWS_REGION: emulator.region,
    AWS_ACCESS_KEY_ID: emulator.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: emulator.credentials.secretAccessKey,
    TABLE: emulator.table,
    BUCKET: emulator.bucket,
    TOPIC_ARN: emulator.topicArn,
    DEAD_LETTER_QUEUE_URL: emulator.deadLetterQueueUrl,
    // A fresh key per run: the IP hash only has to be stable within a run here.
    IP_HASH_KEY: randomBytes(24).toString("hex"),
    LOG_KEYS: JSON.stringify({ "shop-api": LOG_KEY }),
    READ_KEYS: JSON.stringify({ "*": READ_KEY }),
    ...vars,
  };
  // A changed configuration is a copy beside the original, so relative paths stay right; it is
  // removed on stop. Without queue bindings the Worker writes within waitUntil instead;
  // without the consumers accepted batches stay queued (the edge alone); `unlimited` lifts the
  // rate limits (all local clients are 127.0.0.1); `patch(toml)` changes anything else.
  let config;
  if (withoutQueue || withoutConsumer || unlimited || patch) {
    let toml = await readFile(path.join(root, "wrangler.toml"), "utf8");
    const drop = (prefix) => toml.split(/^(?=\[)/m).filter((s) => !s.startsWith(prefix)).join("");
    if (withoutQueue) toml = drop("[[queues.");
    if (withoutConsumer) toml = drop("[[queues.consumers]]");
    if (unlimited) toml = toml.replace(/limit = \d+/g, "limit = 10000000");
    if (patch) toml = patch(toml);
    config = path.join(root, `wrangler.test-${process.pid}-${port}.toml`);
    await writeFile(config, toml);
  }
  const cleanup = async () => {
    await rm(state, { recursive: true, force: true });
    if (config) await rm(config, { force: true });
  };
  const wrangler = start(
    "wrangler",
    path.join(root, "node_modules/.bin/wrangler"),
    [
      "dev",
      ...(config ? ["--config", config] : []),
      "--ip", "127.0.0.1",
      "--port", String(port),
      "--inspector-port", String(inspector),
      "--show-interactive-dev-session=false",
      "--log-level", "warn",
      "--persist-to", state,
      // GET /__scheduled?cron=…&time=<ms> runs the cron handler at a chosen time.
      ...(testScheduled ? ["--test-scheduled"] : []),
      ...Object.entries(allVars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    {
      cwd: root,
      echo,
      env: { SPOOR_PREBUILT: "1", WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
    },
  );
  try {
    // Up once /status answers, healthy or not: some tests start it with broken stores.
    await waitFor(
      "collector (wrangler dev)",
      async () => Boolean((await (await fetch(`${url}/status`)).json()).version),
      { process: wrangler.child, timeoutMs: 90_000, everyMs: 250 },
    );
  } catch (e) {
    await wrangler.stop();
    await cleanup();
    throw new Error(`${e.message}\n--- wrangler output ---\n${wrangler.output()}`);
  }
  return {
    url,
    inspector,
    output: () => wrangler.output(),
    async stop() {
      await wrangler.stop();
      await cleanup();
    },
  };
}
