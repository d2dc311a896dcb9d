#!/bin/sh
# Builds the benchmark's ceiling, bench/empty-worker, exactly as the collector is built.
set -eu
. "$(dirname "$0")/tools.sh"
cd "$root/bench/empty-worker"
worker-build --release
# shellcheck disable=SC2086
"$WASM_OPT" -Os $WASM_OPT_FEATURES build/index_bg.wasm -o build/index_bg.wasm
