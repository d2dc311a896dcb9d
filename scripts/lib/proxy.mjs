// Proxies on 127.0.0.1 between the parts of the local stack: one a test can take down (an
// outage), one that makes the collector fail, one that lets requests through one at a time.
import http from "node:http";
import net from "node:net";
import { freePort } from "./ports.mjs";

export async function startProxy(target) {
  const { hostname, port: targetPort } = new URL(target);
  const port = await freePort();
  const sockets = new Set();
  let server;
  const listen = () =>
    new Promise((resolve, reject) => {
      server = net.createServer((client) => {
        const upstream = net.connect(Number(targetPort), hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on("close", () => sockets.delete(s));
          s.on("error", () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    /** Refuses every connection (and cuts the open ones) until `up()`. */
    async down() {
      await new Promise((resolve) => {
        server.close(resolve);
        for (const s of sockets) s.destroy();
      });
    },
    up: listen,
    stop() {
      return this.down();
    },
  };
}

/**
 * An HTTP proxy in front of the collector that a test can make fail: while `failing` is
 * "503", every POST /v1/events is answered 503 (the collector failing); while it is
 * "unreachable", the connection is cut without an answer (the collector down, as a browser
 * sees it). Everything else passes through. Pages are loaded from the proxy, so the tracker
 * posts to it.
 */
export async function startFailingProxy(target) {
  const upstream = new URL(target);
  const port = await freePort();
  const proxy = { failing: false, refused: 0 };
  const server = http.createServer((req, res) => {
    if (proxy.failing && req.method === "POST" && req.url.startsWith("/v1/events")) {
      proxy.refused += 1;
      if (proxy.failing === "unreachable") {
        req.socket.destroy();
        return;
      }
      req.resume();
      res.writeHead(503, { "content-type": "application/json", "access-control-allow-origin": "*" });
      res.end('{"error":"upstream","message":"collector down (test)"}');
      return;
    }
    const out = http.request(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    out.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${port}`;
  proxy.stop = () => new Promise((resolve) => server.close(resolve));
  return proxy;
}

/**
 * Lets one request at a time through to the emulator. moto applies a DynamoDB transaction to
 * a copy of the table and, when the transaction is cancelled (a guard that finds its marker:
 * a redelivered batch), puts the copy back — undoing whatever other requests wrote meanwhile.
 * DynamoDB does not do that; one request at a time makes moto behave like it. (moto works
 * under one interpreter lock anyway, so little is lost.) Headers pass unchanged, so request
 * signatures, made for this address, still verify.
 */
export async function startSerialProxy(port, targetPort) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  let turn = Promise.resolve();
  const sockets = new Set();
  const server = http.createServer((req, res) => {
    const body = [];
    req.on("data", (c) => body.push(c));
    req.on("end", () => {
      turn = turn.then(
        () =>
          new Promise((done) => {
            // A client that left while waiting its turn (a collector stopped mid-request) is
            // not served; one that leaves mid-answer must not hold the turn either: its answer,
            // unpiped, would wait to be read for ever, and every later request behind it.
            if (res.destroyed) return done();
            const up = http.request(
              { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers, agent },
              (answer) => {
                res.writeHead(answer.statusCode, answer.headers);
                answer.pipe(res);
                answer.on("end", done);
                answer.on("error", done);
                answer.on("close", done);
                res.on("close", () => {
                  answer.resume();
                  done();
                });
              },
            );
            up.on("error", () => {
              if (!res.headersSent) res.writeHead(502);
              res.end();
              done();
            });
            up.end(Buffer.concat(body));
          }),
      );
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    stop: () =>
      new Promise((resolve) => {
        server.close(resolve);
        for (const s of sockets) s.destroy();
        agent.destroy();
      }),
  };
}
