// Child processes the demo and the tests start, and stop again whatever happens.
import { execFileSync, spawn } from "node:child_process";

const running = new Set();

function stopAll() {
  for (const child of running) {
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      // already gone
    }
  }
}
process.on("exit", stopAll);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    stopAll();
    process.exit(130);
  });
}

/**
 * Starts `cmd` in its own process group (so stopping it stops its children too, such as
 * workerd under wrangler) and keeps the last lines of its output for error messages.
 */
export function start(name, cmd, args, { env = {}, cwd, echo = false } = {}) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const tail = [];
  const keep = (chunk) => {
    const text = chunk.toString();
    if (echo) process.stderr.write(text.replace(/^/gm, `[${name}] `));
    tail.push(...text.split("\n").filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 40));
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  running.add(child);
  child.on("exit", () => running.delete(child));
  const exited = new Promise((resolve) => child.on("exit", resolve));
  return {
    child,
    name,
    /** The last lines it printed, to explain a failure. */
    output: () => tail.join("\n"),
    /** Stops it and its children; resolves when it has exited. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * The workerd processes of the `wrangler dev` serving `url`: the one listening there (wrangler's
 * entry proxy) and its siblings (the runtime running the Worker), children of one wrangler.
 */
export function workerdPids(url) {
  const port = new URL(url).port;
  const ps = execFileSync("ps", ["-eo", "pid=,ppid=,args="]).toString().trim().split("\n");
  const rows = ps.map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)).filter(Boolean);
  const entry = rows.find((r) => r[3].includes("workerd") && r[3].includes(`entry=127.0.0.1:${port} `));
  if (!entry) throw new Error(`no workerd serves ${url}`);
  return rows.filter((r) => r[2] === entry[2] && r[3].includes("workerd")).map((r) => Number(r[1]));
}
