// Shrinks what wasm-bindgen emits for the page, without changing what it does:
// - renames the wasm imports the glue provides (`./tracker_bg.js` / `__wbg_num_f2d27251d333a631`
//   and more) and the modules they come from to short names, in the wasm's import section and
//   in the JS glue that provides them: their hashes are pure entropy that gzip cannot shrink;
// - shortens the glue's messages to developers (a failed fetch of the wasm, a server without
//   its MIME type, old arguments to init): ~150 B gzip of English that a page's visitors
//   download and never see;
// - the glue is then minified by esbuild (scripts/build-tracker.sh).
// Usage: node scripts/shrink-glue.mjs pkg/tracker_bg.wasm pkg/tracker.js
import { readFileSync, writeFileSync } from "node:fs";

const [wasmPath, jsPath] = process.argv.slice(2);
const wasm = readFileSync(wasmPath);
let js = readFileSync(jsPath, "utf8");

function readU32(buf, pos) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++];
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result >>> 0, pos];
    shift += 7;
  }
}

function writeU32(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return Buffer.from(out);
}

function readName(buf, pos) {
  const [len, start] = readU32(buf, pos);
  return [buf.subarray(start, start + len).toString("utf8"), start + len];
}

const encodeName = (s) => Buffer.concat([writeU32(Buffer.byteLength(s)), Buffer.from(s)]);

/** Skips one import description (what kind of thing is imported), returning its bytes. */
function readDesc(buf, pos) {
  const start = pos;
  const kind = buf[pos++];
  const leb = () => {
    [, pos] = readU32(buf, pos);
  };
  const limits = () => {
    const flags = buf[pos++];
    leb();
    if (flags & 1) leb();
  };
  if (kind === 0) leb(); // function: type index
  else if (kind === 1) {
    pos++; // table: reference type
    limits();
  } else if (kind === 2) limits(); // memory
  else if (kind === 3) pos += 2; // global: value type, mutability
  else if (kind === 4) {
    pos++; // tag: attribute
    leb();
  } else throw new Error(`unknown import kind ${kind}`);
  return [buf.subarray(start, pos), pos];
}

/** Short names: a, b, …, z, aa, ab, … (never a JS keyword: they are object keys anyway). */
function shortName(i) {
  let s = "";
  do {
    s = String.fromCharCode(97 + (i % 26)) + s;
    i = Math.floor(i / 26) - 1;
  } while (i >= 0);
  return s;
}

if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${wasmPath} is not wasm`);
const parts = [wasm.subarray(0, 8)];
let pos = 8;
const renamed = new Map();
const modules = new Map();
while (pos < wasm.length) {
  const id = wasm[pos];
  const [size, body] = readU32(wasm, pos + 1);
  const end = body + size;
  if (id !== 2) {
    parts.push(wasm.subarray(pos, end));
    pos = end;
    continue;
  }
  let p = body;
  let count;
  [count, p] = readU32(wasm, p);
  const entries = [writeU32(count)];
  for (let i = 0; i < count; i++) {
    let module;
    let field;
    let desc;
    [module, p] = readName(wasm, p);
    [field, p] = readName(wasm, p);
    [desc, p] = readDesc(wasm, p);
    if (!modules.has(module)) modules.set(module, shortName(modules.size));
    // The glue's own imports have hashed names; a snippet's (js/page.js) are its export
    // names, short already, and imported straight from it.
    const glue = module === "./tracker_bg.js";
    if (glue && !renamed.has(field)) renamed.set(field, shortName(renamed.size));
    entries.push(encodeName(modules.get(module)), encodeName(glue ? renamed.get(field) : field), desc);
  }
  const content = Buffer.concat(entries);
  parts.push(Buffer.from([2]), writeU32(content.length), content);
  pos = end;
}

if (!renamed.size) throw new Error(`no imports of ./tracker_bg.js in ${wasmPath}: did wasm-bindgen's output name change?`);

// The glue provides each import as a key of an object per module: `name: function…` and
// `"./tracker_bg.js": import0`. Every renamed name is unique (hashed), so replacement is exact.
for (const [from, to] of renamed) {
  const key = new RegExp(`\\b${from}(?=\\s*:)`, "g");
  const before = js;
  js = js.replace(key, to);
  if (js === before) throw new Error(`import ${from} not found in ${jsPath}`);
}
// Module names as keys of the imports object (not in the `import … from` statements).
for (const [from, to] of modules) {
  const key = new RegExp(`${JSON.stringify(from).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}(?=\\s*:)`, "g");
  const before = js;
  js = js.replace(key, JSON.stringify(to));
  if (js === before) throw new Error(`module ${from} not found in ${jsPath}`);
  // wasm-bindgen lists a snippet once per import of it, all under the same key: keep one.
  let seen = false;
  js = js.replace(new RegExp(`\\s*${JSON.stringify(to)}: import\\d+,`, "g"), (m) => (seen ? "" : ((seen = true), m)));
}

// The warnings' texts (the exact strings of the pinned wasm-bindgen), and what says the same.
const warnings = [
  [
    "\"`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\\n\"",
    '"spoor: serve .wasm as application/wasm"',
  ],
  ["'using deprecated parameters for `initSync()`; pass a single object instead'", '"spoor: initSync({ module })"'],
  [
    "'using deprecated parameters for the initialization function; pass a single object instead'",
    '"spoor: init({ module_or_path })"',
  ],
  ["`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`", "`spoor: ${module.url}: ${module.status}`"],
];
for (const [from, to] of warnings) {
  if (!js.includes(from)) throw new Error(`warning ${from} not found in ${jsPath}: did wasm-bindgen's output change?`);
  js = js.replace(from, to);
}

writeFileSync(wasmPath, Buffer.concat(parts));
writeFileSync(jsPath, js);
