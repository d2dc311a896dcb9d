// Loopback ports for the servers the demo and the tests start.
import net from "node:net";

/** A port on 127.0.0.1 that is free right now (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Rejects with a clear message if something already listens on 127.0.0.1:port. */
export function ensureFree(port, what) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", (e) =>
      reject(
        new Error(
          e.code === "EADDRINUSE"
            ? `port ${port} (${what}) is already in use on 127.0.0.1: stop what holds it, or choose another port`
            : `cannot listen on 127.0.0.1:${port} (${what}): ${e.message}`,
        ),
      ),
    );
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(port)));
  });
}

/** Polls `probe` until it resolves truthy, or fails after `timeoutMs` naming `what`. */
export async function waitFor(what, probe, { timeoutMs = 60_000, everyMs = 100, process } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    if (process && process.exitCode !== null) {
      throw new Error(`${what}: the process exited with code ${process.exitCode}`);
    }
    try {
      const value = await probe();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms${last ? ` (last error: ${last.message})` : ""}`);
}
