#!/bin/sh
# Builds the tracker into pkg/ (an npm package, and what the collector serves):
# cargo (wasm32, no_std) → wasm-bindgen (ES module glue + js/page.js) → wasm-opt -Oz → short
# import names, glue and page.js bundled and minified → minified loader t.js.
set -eu
. "$(dirname "$0")/tools.sh"
cd "$root"
cargo build -p tracker-wasm --features page --target wasm32-unknown-unknown --release
rm -rf pkg && mkdir -p pkg
wasm-bindgen --target web --out-dir pkg --out-name tracker \
  target/wasm32-unknown-unknown/release/tracker.wasm
# shellcheck disable=SC2086
"$WASM_OPT" -Oz $WASM_OPT_FEATURES pkg/tracker_bg.wasm -o pkg/tracker_bg.wasm
# Short import names in the wasm and the glue, then the glue and the hand-written DOM layer it
# imports (js/page.js, a wasm-bindgen snippet) bundled into one minified module (d.ts files
# keep the API).
node scripts/shrink-glue.mjs pkg/tracker_bg.wasm pkg/tracker.js
"$ESBUILD_BIN" pkg/tracker.js --bundle --minify --format=esm --log-level=warning --allow-overwrite \
  --outfile=pkg/tracker.js
rm -rf pkg/snippets
"$ESBUILD_BIN" tracker-wasm/loader/t.js --minify --log-level=warning --outfile=pkg/t.js
# The loader pins the glue and the wasm by hash; pkg/integrity.json has the loader's own.
node scripts/integrity.mjs inject
node scripts/integrity.mjs record
version=$(sed -n 's/^version = "\(.*\)"/\1/p' tracker-wasm/Cargo.toml | head -1)
cat > pkg/package.json <<JSON
{
  "name": "spoor-tracker",
  "version": "$version",
  "description": "Spoor's in-page analytics tracker (Rust compiled to WebAssembly)",
  "type": "module",
  "main": "tracker.js",
  "types": "tracker.d.ts",
  "files": ["tracker.js", "tracker_bg.wasm", "tracker.d.ts", "tracker_bg.wasm.d.ts", "t.js", "integrity.json"],
  "sideEffects": false,
  "license": "MIT"
}
JSON
node scripts/check-size.mjs
