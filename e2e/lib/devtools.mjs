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
    /** Starts V8's sampling profiler on the isolate; `stop()` resolves to the time (ms)
     * the isolate was busy — the wall time of samples in its code, which on a loaded
     * machine includes waits for a core — split into wasm, garbage
     * collection and the rest (JS glue, and the runtime's own code called from it); and
     * the profile itself. */
    async profile() {
      await send("Profiler.enable");
      await send("Profiler.setSamplingInterval", { interval: 200 });
      await send("Profiler.start");
      return {
        async stop() {
          const { profile } = await send("Profiler.stop");
          await send("Profiler.disable");
          return { ...busyTime(profile), profile };
        },
      };
    },
    close: () => ws.close(),
  };
}

/** Sampled time (ms) per kind of code in a V8 CPU profile. Busy is JavaScript, wasm and
 * garbage collection; `(program)` is left out with `(idle)`: workerd does not mark its isolates
 * idle, so time spent waiting for I/O is sampled as `(program)`. */
function busyTime({ nodes, samples, timeDeltas }) {
  const kind = new Map();
  for (const n of nodes) {
    const { functionName, url } = n.callFrame;
    const named = { "(idle)": "idle", "(program)": "program", "(garbage collector)": "gc" };
    kind.set(n.id, named[functionName] || (url.startsWith("wasm:") ? "wasm" : "other"));
  }
  const ms = { wasm: 0, gc: 0, other: 0, program: 0, idle: 0 };
  // Each delta is the time before its sample, spent in the code that sample caught.
  samples.forEach((id, i) => (ms[kind.get(id)] += (timeDeltas[i] || 0) / 1000));
  return { busy: ms.wasm + ms.gc + ms.other, ...ms };
}
