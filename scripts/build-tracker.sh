#!/bin/sh
# Builds the tracker into pkg/ (an npm package, and what the collector serves):
# cargo (wasm32, no_std) → wasm-bindgen (ES module glue + js/page.js) → wasm-opt → short
# import names → js/api.js, the glue and page.js bundled and minified → minified loader t.js.
set -eu
. "$(dirname "$0")/tools.sh"
cd "$root"
# With the rust-src component installed, the few panic locations left in std name its local
# path instead of /rustc/<commit>/ (112 B more gzip): mapped back, every machine builds the
# same bytes. (Its own target directory, so the flag does not make the collector's shared
# dependencies rebuild.)
sysroot=$(rustc --print sysroot)
commit=$(rustc -vV | sed -n 's/^commit-hash: //p')
RUSTFLAGS="--remap-path-prefix=$sysroot/lib/rustlib/src/rust=/rustc/$commit" \
  cargo build -p tracker-wasm --features page --target wasm32-unknown-unknown --release \
  --target-dir target/page
raw=build/tracker-raw
rm -rf pkg "$raw" && mkdir -p pkg
wasm-bindgen --target web --out-dir "$raw" --out-name tracker \
  target/page/wasm32-unknown-unknown/release/tracker.wasm
# The passes were picked by measuring gzip size (flat code re-structured, whole-program flow
# analysis, -Oz until nothing changes: ~480 B gzip under a plain -Oz); the toolchain's
# custom sections (producers, target features) are no use to a browser.
# shellcheck disable=SC2086
"$WASM_OPT" --flatten --rereloop -Oz --gufa -Oz --converge --strip-producers --strip-target-features \
  $WASM_OPT_FEATURES "$raw/tracker_bg.wasm" -o pkg/tracker_bg.wasm
# Short import names in the wasm and the glue; then the package's entry (js/api.js), the glue
# and the hand-written DOM layer (js/page.js, which wasm-bindgen copied as a snippet) bundled
# into one minified module. Its types are written by hand (js/tracker.d.ts).
node scripts/shrink-glue.mjs pkg/tracker_bg.wasm "$raw/tracker.js"
"$ESBUILD_BIN" tracker-wasm/js/api.js --bundle --minify --format=esm --log-level=warning \
  --alias:spoor-glue="./$raw/tracker.js" --alias:spoor-page="./$(ls "$raw"/snippets/*/js/page.js)" \
  --outfile=pkg/tracker.js
cp tracker-wasm/js/tracker.d.ts pkg/
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
  "files": ["tracker.js", "tracker_bg.wasm", "tracker.d.ts", "t.js", "integrity.json"],
  "sideEffects": false,
  "license": "MIT"
}
JSON
node scripts/check-size.mjs
