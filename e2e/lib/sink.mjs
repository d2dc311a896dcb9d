// What the tracker sent, as the page sent it: an init script wraps fetch and sendBeacon so
// each batch body posted to /v1/events is also beaconed to a sink on 127.0.0.1. (Playwright
// sees neither beacons nor their bodies, and a page that is closing keeps nothing.)
import http from "node:http";
import { inflateSync } from "node:zlib";
import { freePort } from "../../scripts/lib/ports.mjs";
import { toV1 } from "./wire.mjs";

export async function startSink() {
  const port = await freePort();
  const batches = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (d) => chunks.push(d));
    req.on("end", () => {
      try {
        // Compressed as the tracker sent it (see `watch`): inflated here.
        const raw = Buffer.concat(chunks);
        const json = req.url.includes("z=deflate") ? inflateSync(raw) : raw;
        const asSent = JSON.parse(json.toString("utf8"));
        // Read as v1 (the shape the collector stores); as sent, and the bytes it took on the
        // wire, alongside (not enumerable: they stay out of comparisons).
        const batch = toV1(asSent);
        Object.defineProperty(batch, "asSent", { value: asSent });
        Object.defineProperty(batch, "wireBytes", { value: raw.length });
        batches.push(batch);
      } catch {
        // not a batch
      }
      res.writeHead(204, { "access-control-allow-origin": "*" });
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${port}/sink`;
  return {
    batches,
    /** Event ids sent, by session id. */
    events() {
      const bySession = new Map();
      for (const b of batches) {
        const ids = bySession.get(b.sid) || new Map();
        for (const e of b.events) ids.set(e.id, e);
        bySession.set(b.sid, ids);
      }
      return bySession;
    },
    /** Call on a context before its pages load; copies the bodies posted to URLs that
     * contain `path`. */
    watch(context, path = "/v1/events") {
      return context.addInitScript(({ sink, path }) => {
        const beacon = Navigator.prototype.sendBeacon;
        const copy = (url, body) => {
          try {
            const compressed = String(url).includes("z=deflate");
            if (String(url).includes(path) && (typeof body === "string" || body instanceof ArrayBuffer)) {
              beacon.call(navigator, compressed ? sink + "?z=deflate" : sink, body);
            }
          } catch {
            // a copy must never get in the way
          }
        };
        Navigator.prototype.sendBeacon = function (url, body) {
          copy(url, body);
          return beacon.call(this, url, body);
        };
        const fetch = window.fetch;
        window.fetch = function (input, init) {
          copy(typeof input === "string" ? input : input.url, init && init.body);
          return fetch.apply(this, arguments);
        };
      }, { sink: url, path });
    },
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}
