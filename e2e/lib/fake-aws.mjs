// A stand-in for AWS that answers every call at once and remembers which events it was asked
// to store: for load runs, where the emulator's own speed (not the collector's) would set the
// pace. It speaks just enough of DynamoDB and S3 for the collector's write path.
import http from "node:http";
import { freePort } from "../../scripts/lib/ports.mjs";

export async function startFakeAws() {
  const port = await freePort();
  const stored = new Set(); // event ids put as raw items
  const calls = {};
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const target = req.headers["x-amz-target"] || `${req.method} s3`;
      calls[target] = (calls[target] || 0) + 1;
      if (target.endsWith("BatchWriteItem")) {
        for (const writes of Object.values(JSON.parse(body).RequestItems)) {
          for (const w of writes) {
            const item = w.PutRequest.Item;
            if (item.sk.S.startsWith("E#")) stored.add(item.id.S);
          }
        }
        res.writeHead(200, { "content-type": "application/x-amz-json-1.0" });
        return res.end('{"UnprocessedItems":{}}');
      }
      if (req.headers["x-amz-target"]) {
        res.writeHead(200, { "content-type": "application/x-amz-json-1.0" });
        return res.end("{}");
      }
      res.writeHead(200); // S3
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    stored,
    calls,
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}
