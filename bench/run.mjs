// `make bench`: every benchmark, one after the other on a quiet machine, written to
// BENCHMARKS.md with the command, the machine and the date. `node bench/run.mjs bytes page`
// runs some sections only, prints them, and replaces just those sections in BENCHMARKS.md.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { attachDevtools } from "../e2e/lib/devtools.mjs";
import { startCollector } from "../scripts/lib/collector.mjs";
import { root, startEmulator } from "../scripts/lib/emulator.mjs";
import { awsCalls } from "./aws-calls.mjs";
import { bundle } from "./bundle.mjs";
import { bytes } from "./bytes.mjs";
import { clickCost } from "./clicks.mjs";
import { native } from "./native.mjs";
import { page } from "./page.mjs";
import { phases } from "./phases.mjs";
import { workerd } from "./workerd.mjs";

const SECTIONS = [
  ["bytes", "Tracker: bytes", bytes],
  ["page", "Tracker: page cost and wire", page],
  ["phases", "Tracker: script time by phase", phases],
  ["clicks", "Tracker: a click, cold and warm", clickCost],
  ["native", "Collector: native throughput", native],
  ["workerd", "Collector: in workerd, against an empty Worker", workerd],
  ["bundle", "Collector: bundle and start-up", bundle],
  ["aws", "Collector: AWS calls and cost per million events", awsCalls],
];

const chosen = process.argv.slice(2);
const sections = chosen.length ? SECTIONS.filter(([id]) => chosen.includes(id)) : SECTIONS;
const version = (cmd, args) => {
  try {
    return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "ignore"] }).toString().trim().split("\n")[0];
  } catch {
    return "unknown";
  }
};
const cpu = /model name\s*:\s*(.*)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] || os.arch();
const machine =
  `${os.availableParallelism()} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GB RAM, ` +
  `${version("sh", ["-c", ". /etc/os-release && echo $PRETTY_NAME"])}; node ${process.version}, ` +
  `${version("/usr/bin/chromium", ["--version"])}, ${version("rustc", ["--version"])}, ` +
  `wrangler ${JSON.parse(readFileSync(path.join(root, "node_modules/wrangler/package.json"))).version}`;

const emulator = await startEmulator();
const collector = await startCollector(emulator, {
  vars: { SITES: JSON.stringify({ demo: ["*"], bench: ["*"] }) },
});
// Attached with Network events off, as every test stack is (e2e/lib/stack.mjs): otherwise
// wrangler's inspector proxy keeps every subrequest in memory, in the process serving the
// pages (a page load of the page bench once stalled past 30 s without it).
const devtools = await attachDevtools(collector.inspector);
const out = [];
try {
  for (const [id, title, run] of sections) {
    const started = Date.now();
    process.stderr.write(`== ${title}\n`);
    const result = await run({ emulator, collector });
    out.push({ id, title, ...result, seconds: Math.round((Date.now() - started) / 1000) });
    // Each section's figures, kept for later sections of this or a later run (the cost
    // table prices CPU at the workerd section's measurement).
    writeFileSync(path.join(root, `build/bench-${id}.json`), JSON.stringify(result.data ?? null));
    if (chosen.length) console.log(`\n## ${title}\n\n${result.markdown}\n`);
  }
} finally {
  devtools.close();
  await collector.stop();
  await emulator.stop();
}
writeFileSync(path.join(root, "build/bench.json"), JSON.stringify(out, null, 2));
const run = new Date().toISOString().slice(0, 16).replace("T", " ");
const section = (s) =>
  [`## ${s.title}`, "", s.markdown, "", `_${s.seconds} s; \`node bench/run.mjs ${s.id}\` reruns this section._`, ""].join("\n");
const file = path.join(root, "BENCHMARKS.md");
if (!chosen.length) {
  const md = [
    "# Benchmarks",
    "",
    "Written by `make bench` (`node bench/run.mjs`); do not edit by hand. Medians of repeated,",
    "alternating runs in one session; the machine is shared and noisy, so compare ratios within",
    "a table rather than absolute times across runs. A section rerun on its own says when.",
    "",
    `Machine: ${machine}. Run: ${run} UTC.`,
    "",
    ...out.map(section),
  ].join("\n");
  writeFileSync(file, md);
  process.stderr.write("BENCHMARKS.md written\n");
} else {
  // A section rerun replaces its own text and says when it ran; the others stay as they were.
  let md = readFileSync(file, "utf8");
  // A section new to the file goes after the one before it in SECTIONS.
  const after = (id) => {
    const earlier = SECTIONS.slice(0, SECTIONS.findIndex(([i]) => i === id)).reverse();
    for (const [, title] of earlier) {
      const at = md.indexOf(`## ${title}\n`);
      if (at >= 0) {
        const next = md.indexOf("\n## ", at + 1);
        return next < 0 ? md.length : next + 1;
      }
    }
    return md.length;
  };
  for (const s of out) {
    const text = section({ ...s, markdown: `_Rerun on its own: ${run} UTC._\n\n${s.markdown}` });
    const start = md.indexOf(`## ${s.title}\n`);
    if (start < 0) {
      const at = after(s.id);
      md = md.slice(0, at) + text + (at < md.length ? "\n" : "") + md.slice(at);
      continue;
    }
    const next = md.indexOf("\n## ", start + 1);
    const end = next < 0 ? md.length : next + 1;
    md = md.slice(0, start) + text + (next < 0 ? "" : "\n") + md.slice(end);
  }
  writeFileSync(file, md);
  process.stderr.write(`BENCHMARKS.md: ${out.map((s) => s.id).join(", ")} updated\n`);
}
