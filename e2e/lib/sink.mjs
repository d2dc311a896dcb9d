// What the tracker sent, as the page sent it: an init script wraps fetch and sendBeacon so
// each batch body posted to /v1/events is also beaconed to a sink on 127.0.0.1. (Playwright
// sees neither beacons nor their bodies, and a page that is closing keeps nothing.)
import http from "node:http";
import { freePort } from "../../scripts/lib/ports.mjs";

export async function startSink() {
  const port = await freePort();
  const batches = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      try {
        batches.push(JSON.parse(body));
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
            if (String(url).includes(path) && typeof body === "string") {
              beacon.call(navigator, sink, body);
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
