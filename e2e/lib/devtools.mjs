// The Worker's isolate seen through `wrangler dev`'s inspector (Chrome DevTools Protocol).
//
// wrangler's inspector proxy turns on the Network domain and keeps every runtime message
// (each subrequest, with its body) until a DevTools client attaches: under load that buffer,
// not the Worker, is what grows. Attaching, turning Network off and staying attached keeps
// the tooling out of what a load test measures.
import WebSocket from "ws";

/** Attaches to the inspector on `port`; resolves once Network events are off. */
export async function attachDevtools(port) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const pending = new Map();
  let next = 0;
  // Events are read and dropped; only answers to our calls matter.
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data));
    const call = pending.get(msg.id);
    if (!call) return;
    pending.delete(msg.id);
    if (msg.error) call.reject(new Error(`${call.method}: ${msg.error.message}`));
    else call.resolve(msg.result);
  });
  const send = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++next;
      pending.set(id, { method, resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Network.disable");
  return {
    /** The isolate's JS heap: `{ usedSize, totalSize }` in bytes. */
    heapUsage: () => send("Runtime.getHeapUsage"),
    close: () => ws.close(),
  };
}
