// The test harness's own proxies: the one that lets one request at a time through to the
// emulator must not stall every later request when a client leaves mid-answer (a collector
// stopped while its consumer wrote to AWS once left a whole test file waiting for ever).
import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { freePort } from "../scripts/lib/ports.mjs";
import { startSerialProxy } from "../scripts/lib/proxy.mjs";

test("the serial proxy serves the next request after a client leaves mid-answer", async () => {
  let finish;
  const upstream = http.createServer((req, res) => {
    res.writeHead(200);
    res.write("first part");
    // The rest comes once the client has gone.
    finish = () => res.end("rest");
    if (req.url === "/b") finish();
  });
  await new Promise((r) => upstream.listen(0, "127.0.0.1", r));
  const port = await freePort();
  const proxy = await startSerialProxy(port, upstream.address().port);
  try {
    await new Promise((resolve) => {
      const req = http.get(`http://127.0.0.1:${port}/a`, (res) =>
        res.once("data", () => {
          req.destroy();
          setTimeout(() => (finish(), resolve()), 50);
        }),
      );
      req.on("error", () => {});
    });
    const next = await fetch(`http://127.0.0.1:${port}/b`, { signal: AbortSignal.timeout(5000) });
    assert.equal(await next.text(), "first partrest");
  } finally {
    await proxy.stop();
    upstream.close();
  }
});
