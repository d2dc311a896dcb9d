// The tracker's bytes: each file raw, gzip and brotli, and what a visitor's browser fetches
// on a first and on a repeat visit, from the cache headers the collector actually serves.
import { readFileSync } from "node:fs";
import path from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { root } from "../scripts/lib/emulator.mjs";
import { kb, table } from "./lib/format.mjs";

const FILES = ["t.js", "tracker.js", "tracker_bg.wasm"];

export async function bytes({ collector }) {
  const limits = JSON.parse(readFileSync(path.join(root, "tracker-wasm/size.json"), "utf8"));
  const rows = [];
  for (const file of FILES) {
    const body = readFileSync(path.join(root, "pkg", file));
    const res = await fetch(`${collector.url}/${file}`);
    await res.arrayBuffer();
    rows.push({
      file,
      raw: body.length,
      gzip: gzipSync(body, { level: 9 }).length,
      brotli: brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
      cache: res.headers.get("cache-control"),
      etag: Boolean(res.headers.get("etag")),
    });
  }
  const sum = (k) => rows.reduce((s, r) => s + r[k], 0);
  const total = { raw: sum("raw"), gzip: sum("gzip"), brotli: sum("brotli") };
  const loader = rows[0];
  const maxAge = (r) => Number(/max-age=(\d+)/.exec(r.cache || "")?.[1] || 0);
  const markdown = [
    table(
      ["file", "raw", "gzip", "brotli", "Cache-Control served"],
      [
        ...rows.map((r) => [`pkg/${r.file}`, kb(r.raw), kb(r.gzip), kb(r.brotli), `\`${r.cache}\``]),
        ["**total**", kb(total.raw), kb(total.gzip), kb(total.brotli), ""],
      ],
    ),
    "",
    table(
      ["visit", "requests", "bytes fetched (gzip / brotli)"],
      [
        ["first", "3", `${kb(total.gzip)} / ${kb(total.brotli)}`],
        [`repeat, within ${maxAge(loader)} s`, "0", "0 B"],
        [
          `repeat, later (the glue and wasm are versioned by URL, cached ${Math.round(maxAge(rows[1]) / 86400)} days)`,
          loader.etag ? "1 (the loader, revalidated by its ETag)" : "1 (the loader)",
          loader.etag
            ? `0 B if unchanged (304); ${kb(loader.gzip)} / ${kb(loader.brotli)} otherwise, + glue and wasm after a release`
            : `${kb(loader.gzip)} / ${kb(loader.brotli)}, + glue and wasm after a release`,
        ],
      ],
    ),
    "",
    `Budget: ${kb(limits.goalGzip)} gzip all-in. The build fails above a ceiling of ` +
      `${kb(limits.ceilingGzip)} (\`tracker-wasm/size.json\`, lowered but for fixes of lost or wrong data): the tracker is ` +
      `${total.gzip > limits.goalGzip ? `${kb(total.gzip - limits.goalGzip)} over the budget` : "within the budget"}.`,
  ].join("\n");
  return { data: { rows, total, limits }, markdown };
}
