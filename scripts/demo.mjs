// `make demo`: the AWS emulator and the collector (in local workerd) on 127.0.0.1, serving the
// demo shop; prints where to look and runs until Ctrl-C, which stops everything it started.
// Ports: SPOOR_PORT (collector, default 8787) and SPOOR_AWS_PORT (emulator, default 4566).
import { READ_KEY, startCollector } from "./lib/collector.mjs";
import { startEmulator } from "./lib/emulator.mjs";
import { ensureFree } from "./lib/ports.mjs";

const port = Number(process.env.SPOOR_PORT || 8787);
const awsPort = Number(process.env.SPOOR_AWS_PORT || 4566);

let emulator;
let collector;
try {
  // Both ports are checked before anything starts, so a clash leaves nothing behind.
  await ensureFree(port, "collector, SPOOR_PORT");
  await ensureFree(awsPort, "AWS emulator, SPOOR_AWS_PORT");
  console.log(`starting the AWS emulator on 127.0.0.1:${awsPort} …`);
  emulator = await startEmulator({ port: awsPort });
  console.log(`starting the collector (wrangler dev) on 127.0.0.1:${port} …`);
  collector = await startCollector(emulator, { port, echo: true });
} catch (e) {
  console.error(`\nmake demo: ${e.message}`);
  await collector?.stop();
  await emulator?.stop();
  process.exit(1);
}

console.log(`
  Demo shop    ${collector.url}/
  Dashboard    ${collector.url}/dashboard/#key=${READ_KEY}
               (the read key is new each run; the link hands it to the dashboard)
  Collector    ${collector.url}/v1/events   (status: ${collector.url}/status)
  Tracker      ${collector.url}/t.js
  AWS emulator ${emulator.endpoint}   table ${emulator.table}, bucket ${emulator.bucket}
               topic ${emulator.topicArn}
               key ${emulator.credentials.accessKeyId} / ${emulator.credentials.secretAccessKey}
               e.g. AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… aws --endpoint-url ${emulator.endpoint} dynamodb scan --table-name ${emulator.table}

Press Ctrl-C to stop.`);

async function shutdown() {
  console.log("\nstopping …");
  await collector.stop();
  await emulator.stop();
  process.exit(0);
}
process.removeAllListeners("SIGINT");
process.removeAllListeners("SIGTERM");
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
