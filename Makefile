# Spoor: the two commands are `make demo` (run the product) and `make test` (run every test).
# Both install what is missing first (scripts/setup.sh), so they work on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)
export CARGO_TERM_COLOR := never
# The wasm-bindgen-test runner drives Debian's Chromium through chromedriver.
export CHROMEDRIVER := /usr/bin/chromedriver
NODE_TEST := node --test --test-reporter=spec

.PHONY: help setup build tracker collector site demo test lint unit wasm-test e2e deploy-check \
	replay-dead-letters screenshot fuzz reliability bench clean

help:
	@echo "make demo   run the product locally (emulator + collector + demo site + dashboard)"
	@echo "make test   run every test (lint, native, wasm in Chromium, end to end)"
	@echo "make build  build the tracker (pkg/), the collector and the site (dist/)"

setup:
	@sh scripts/setup.sh

tracker: setup
	@echo "== tracker → pkg/"
	@sh scripts/build-tracker.sh

collector: setup
	@echo "== collector → collector/build/"
	@sh scripts/build-collector.sh

# What the Worker serves as static assets: the demo site, the dashboard, the tracker, and
# their headers.
site: tracker
	@rm -rf dist && mkdir -p dist
	@cp -R demo-site/. dist/
	@cp -R dashboard dist/dashboard
	@cp pkg/t.js pkg/tracker.js pkg/tracker_bg.wasm pkg/integrity.json dist/
	@cp collector/static/_headers dist/_headers
	@# The demo pages pin the tracker as a careful site would: <script integrity=…>.
	@sri=$$(node -p 'require("./pkg/integrity.json")["t.js"]'); \
	  sed -i "s|src=\"/t.js\" data-site=\"demo\"|src=\"/t.js\" integrity=\"$$sri\" crossorigin=\"anonymous\" data-site=\"demo\"|" dist/*.html

build: site collector

demo: build
	@node scripts/demo.mjs

lint: setup
	@echo "== cargo fmt --check, no secrets"
	cargo fmt --all --check
	@sh scripts/check-secrets.sh
	@echo "== cargo clippy (native and wasm32)"
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p tracker-wasm -p collector -p empty-worker --all-targets --target wasm32-unknown-unknown -- -D warnings
	cargo clippy -p tracker-wasm --features page --target wasm32-unknown-unknown -- -D warnings

unit: setup
	@echo "== cargo test (native)"
	cargo test --workspace

wasm-test: setup
	@echo "== wasm-bindgen-test (tracker DOM glue in headless Chromium)"
	cargo test -p tracker-wasm --target wasm32-unknown-unknown

e2e: build
	@echo "== end to end (headless Chromium → tracker → collector in workerd → emulator)"
	cargo build -q -p collector --bin replay-dead-letters
	$(NODE_TEST) e2e/

# The deployable bundle builds and wrangler accepts the configuration (offline).
deploy-check: build
	@echo "== wrangler deploy --dry-run"
	SPOOR_PREBUILT=1 WRANGLER_SEND_METRICS=false CI=true node_modules/.bin/wrangler deploy \
	  --dry-run --outdir build/dry-run 2>&1 | grep -E "Total Upload|bindings|dry-run"

test: lint unit wasm-test e2e deploy-check
	@echo "== all tests passed"

# The long fuzz run: 150,000 inputs per property, over 1,000,000 in all (make test runs 2,000).
fuzz: setup
	FUZZ_CASES=150000 cargo test --release -p collector --test fuzz -- --nocapture

# The runs RELIABILITY.md quotes: the fault tests and a minute of load (each prints its figures
# as a JSON line), then the long fuzz.
reliability: build
	cargo build -q -p collector --bin replay-dead-letters
	mkdir -p build
	LOAD_SECONDS=60 $(NODE_TEST) e2e/outage.test.mjs e2e/collector-down.test.mjs \
	  e2e/tracker-offline.test.mjs e2e/dead-letters.test.mjs e2e/load.test.mjs 2>&1 \
	  | tee build/reliability.log
	@grep -h "figures" build/reliability.log
	$(MAKE) fuzz

# Writes BENCHMARKS.md: tracker bytes, page cost and wire, the collector natively, in workerd
# against an empty Worker, its bundle, and its AWS calls and cost (bench/run.mjs).
bench: build
	mkdir -p build
	node bench/run.mjs

# Regenerates the dashboard screenshot shown in the README, from a scripted visit.
screenshot: build
	SPOOR_SCREENSHOT=$(CURDIR)/docs/dashboard.png $(NODE_TEST) e2e/dashboard.test.mjs

# Replays the batches waiting in the AWS dead-letter store; configuration from the environment
# (the Worker's variable names, see collector/src/bin/replay-dead-letters.rs).
replay-dead-letters:
	cargo run -q --release -p collector --bin replay-dead-letters

clean:
	cargo clean
	rm -rf pkg dist collector/build .wrangler
