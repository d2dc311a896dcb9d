#!/bin/sh
# Builds the collector Worker into collector/build/ (wrangler.toml's [build] command):
# worker-build (cargo + wasm-bindgen + esbuild, all local) → wasm-opt -Os.
# With SPOOR_PREBUILT=1 an existing build is used as is (tests build once, start many).
set -eu
. "$(dirname "$0")/tools.sh"
if [ -n "${SPOOR_PREBUILT:-}" ] && [ -f "$root/collector/build/index.js" ]; then
  exit 0
fi
cd "$root/collector"
worker-build --release
# shellcheck disable=SC2086
"$WASM_OPT" -Os $WASM_OPT_FEATURES build/index_bg.wasm -o build/index_bg.wasm
printf '  collector/build/index_bg.wasm %d bytes, %d gzip\n' \
  "$(wc -c < build/index_bg.wasm)" "$(gzip -9c build/index_bg.wasm | wc -c)"
