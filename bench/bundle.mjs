// The collector's bundle: what `wrangler deploy` uploads, its size against the plan's limit,
// and how long V8 takes to compile its wasm at start-up, beside the empty Worker's.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { launchChromium } from "../e2e/lib/browser.mjs";
import { root } from "../scripts/lib/emulator.mjs";
import { kb, median, num, table } from "./lib/format.mjs";

const SAMPLES = 15;

/** Median V8 compile time of `bytes` in headless Chromium (a V8 as recent as workerd's; node
 * 20's lacks the exception-handling opcodes wasm-bindgen emits), each sample in a fresh
 * browser context, hence a fresh renderer: V8 caches a module it compiled within a process. */
async function compileMs(browser, bytes) {
  const samples = [];
  for (let i = 0; i < SAMPLES; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    // An origin for the page to fetch the wasm from, served from memory.
    await page.route("http://bench.invalid/", (r) => r.fulfill({ body: "", contentType: "text/html" }));
    await page.route("http://bench.invalid/w.wasm", (r) => r.fulfill({ body: bytes, contentType: "application/wasm" }));
    await page.goto("http://bench.invalid/");
    samples.push(
      await page.evaluate(async () => {
        const buf = await (await fetch("/w.wasm")).arrayBuffer();
        const t = performance.now();
        await WebAssembly.compile(buf);
        return performance.now() - t;
      }),
    );
    await context.close();
  }
  return median(samples);
}

async function measure(browser, label, dir) {
  const bytes = readFileSync(path.join(root, dir, "build/index_bg.wasm"));
  const js = readFileSync(path.join(root, dir, "build/index.js"));
  return {
    label,
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    jsGzip: gzipSync(js, { level: 9 }).length,
    compileMs: await compileMs(browser, bytes),
  };
}

export async function bundle() {
  if (!existsSync(path.join(root, "bench/empty-worker/build/index_bg.wasm"))) {
    execFileSync("sh", [path.join(root, "scripts/build-empty-worker.sh")], { stdio: "inherit" });
  }
  const browser = await launchChromium();
  const rows = [];
  try {
    rows.push(await measure(browser, "Spoor collector", "collector"));
    rows.push(await measure(browser, "empty Rust Worker", "bench/empty-worker"));
  } finally {
    await browser.close();
  }
  const c = rows[0];
  const markdown = [
    table(
      ["Worker", "wasm raw", "wasm gzip", "JS glue gzip", "V8 compile (start-up)"],
      rows.map((r) => [r.label, kb(r.raw), kb(r.gzip), kb(r.jsGzip), `${num(r.compileMs, 1)} ms`]),
    ),
    "",
    `Compressed, the collector is ${num(((c.gzip + c.jsGzip) / (3 * 1024 * 1024)) * 100, 1)} % of the ` +
      "free plan's 3 MB limit. It reflects the AWS client choice in ARCHITECTURE.md: DynamoDB, S3 " +
      "and SQS signed by hand with `aws-sigv4` over reqwest, SNS through `aws-sdk-sns` on the same " +
      `transport. Compile times: medians of ${SAMPLES} fresh renderers of headless Chromium.`,
  ].join("\n");
  return { data: rows, markdown };
}
