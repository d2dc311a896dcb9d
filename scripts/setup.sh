#!/bin/sh
# Installs whatever the build, the demo and the tests need and is missing. Idempotent and quick
# the second time. Everything comes from a package registry (crates.io, npm, PyPI, Debian).
set -eu
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# Rust: the wasm target, and the CLIs pinned to what Cargo.lock / Cargo.toml use.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
bindgen=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"/\1/p;}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$bindgen" ]; then
  # The CLI must equal the crate version in Cargo.lock. (--locked fails on this registry.)
  say "installing wasm-bindgen-cli $bindgen (about 3 minutes)"
  cargo install wasm-bindgen-cli --version "$bindgen" --force
fi
worker_build=0.8.7
if [ "$(worker-build --version 2>/dev/null)" != "$worker_build" ]; then
  say "installing worker-build $worker_build (about 3 minutes)"
  cargo install worker-build --version "$worker_build" --force
fi

# npm: wrangler (workerd), binaryen (wasm-opt), esbuild, playwright-core, AWS SDK clients.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
fi

# Python: moto's server, the local AWS emulator.
moto=5.2.5
if [ "$(.venv/bin/python -c 'import moto; print(moto.__version__)' 2>/dev/null)" != "$moto" ]; then
  say "installing the AWS emulator (moto[server] $moto) into .venv"
  python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check "moto[server]==$moto"
fi

# Debian: Chromium and its driver, for the browser tests.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  say "installing chromium and chromium-driver from Debian"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi
