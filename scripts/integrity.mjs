// Subresource Integrity for the tracker. `node scripts/integrity.mjs inject` writes the hashes
// of the glue and the wasm into the loader (which then loads them only if they match), and a
// release version made of both, which the loader puts in their URLs (cache busting);
// `node scripts/integrity.mjs record` writes pkg/integrity.json with all three, the loader's
// being what sites put in `<script integrity=…>`.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../pkg");
const sri = (file) =>
  `sha384-${createHash("sha384").update(readFileSync(path.join(pkg, file))).digest("base64")}`;
const version = () =>
  createHash("sha256")
    .update(readFileSync(path.join(pkg, "tracker.js")))
    .update(readFileSync(path.join(pkg, "tracker_bg.wasm")))
    .digest("hex")
    .slice(0, 12);

const step = process.argv[2];
if (step === "inject") {
  const loader = path.join(pkg, "t.js");
  const text = readFileSync(loader, "utf8")
    .replace("__GLUE_SRI__", sri("tracker.js"))
    .replace("__WASM_SRI__", sri("tracker_bg.wasm"))
    .replaceAll("__VERSION__", version());
  if (/__(GLUE_SRI|WASM_SRI|VERSION)__/.test(text)) {
    throw new Error("the loader lacks its integrity placeholders");
  }
  writeFileSync(loader, text);
} else if (step === "record") {
  const hashes = Object.fromEntries(
    ["t.js", "tracker.js", "tracker_bg.wasm"].map((f) => [f, sri(f)]),
  );
  writeFileSync(path.join(pkg, "integrity.json"), `${JSON.stringify(hashes, null, 2)}\n`);
  console.log(`  <script integrity="${hashes["t.js"]}" crossorigin="anonymous" …>`);
} else {
  throw new Error("usage: node scripts/integrity.mjs inject|record");
}
