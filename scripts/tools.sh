# Sourced by the build scripts: where the installed tools are, and the flags they need.
# Every tool comes from a package registry (see scripts/setup.sh); nothing is downloaded here.
root="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"
# worker-build would download these from GitHub; point it at the installed ones.
export WASM_BINDGEN_BIN="$HOME/.cargo/bin/wasm-bindgen"
export ESBUILD_BIN="$root/node_modules/.bin/esbuild"
WASM_OPT="$root/node_modules/.bin/wasm-opt"
# wasm-bindgen 0.2.130 emits exception-handling instructions; --all-features would make a
# module workerd refuses, so the features are listed one by one.
WASM_OPT_FEATURES="--enable-exception-handling --enable-reference-types --enable-bulk-memory \
--enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-multivalue"
