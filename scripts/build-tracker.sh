#!/bin/sh
# Builds the tracker into pkg/ (an npm package, and what the collector serves):
# cargo (wasm32) → wasm-bindgen (ES module glue) → wasm-opt -Oz → minified loader t.js.
set -eu
. "$(dirname "$0")/tools.sh"
cd "$root"
cargo build -p tracker-wasm --features page --target wasm32-unknown-unknown --release
rm -rf pkg && mkdir -p pkg
wasm-bindgen --target web --out-dir pkg --out-name tracker \
  target/wasm32-unknown-unknown/release/tracker.wasm
# shellcheck disable=SC2086
"$WASM_OPT" -Oz $WASM_OPT_FEATURES pkg/tracker_bg.wasm -o pkg/tracker_bg.wasm
"$ESBUILD_BIN" tracker-wasm/loader/t.js --minify --log-level=warning --outfile=pkg/t.js
version=$(sed -n 's/^version = "\(.*\)"/\1/p' tracker-wasm/Cargo.toml | head -1)
cat > pkg/package.json <<JSON
{
  "name": "spoor-tracker",
  "version": "$version",
  "description": "Spoor's in-page analytics tracker (Rust compiled to WebAssembly)",
  "type": "module",
  "main": "tracker.js",
  "types": "tracker.d.ts",
  "files": ["tracker.js", "tracker_bg.wasm", "tracker.d.ts", "tracker_bg.wasm.d.ts", "t.js"],
  "sideEffects": false,
  "license": "MIT"
}
JSON
for f in t.js tracker.js tracker_bg.wasm; do
  printf '  pkg/%-16s %6d bytes, %5d gzip\n' "$f" "$(wc -c < "pkg/$f")" "$(gzip -9c "pkg/$f" | wc -c)"
done
