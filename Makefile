# The two commands a fresh machine needs: `make demo` and `make test`.
# Both install what is missing first (`make setup`).

CARGO ?= cargo
EGRESSC := target/native/egressc

.PHONY: all setup setup-wasm setup-playground wasm build install demo test lint unit e2e policy-tests bench plots fuzz fmt clean loadtest soak playground playground-build playground-test playground-screenshots bench-playground

# The property tests in `make test` run from a fixed seed, so a CI run is
# reproducible and a landing never depends on luck; `make fuzz` explores
# with fresh seeds and many more cases.
FUZZ_SEED ?= 20261121
FUZZ_CASES ?= 50000

all: build

# Everything: the wasm targets (all a build needs), then the playground's
# tools (wasm-bindgen-cli, Chromium, playwright-core), which only
# `make playground` and `make test` need.
setup: setup-wasm setup-playground

setup-wasm:
	@scripts/setup.sh

setup-playground:
	@scripts/setup-playground.sh

wasm: setup-wasm
	@scripts/build-wasm.sh

build: wasm
	$(CARGO) build --profile native -p egressc

# egressc (with the filter module built into it), its manual pages and
# shell completions, under PREFIX (default ~/.local).
PREFIX ?= $(HOME)/.local
install: wasm
	$(CARGO) install --locked --path compiler --profile native --root $(PREFIX)
	mkdir -p $(PREFIX)/share/man/man1 $(PREFIX)/share/bash-completion/completions \
		$(PREFIX)/share/zsh/site-functions $(PREFIX)/share/fish/vendor_completions.d
	$(PREFIX)/bin/egressc man -q -o $(PREFIX)/share/man/man1
	$(PREFIX)/bin/egressc completions bash > $(PREFIX)/share/bash-completion/completions/egressc
	$(PREFIX)/bin/egressc completions zsh > $(PREFIX)/share/zsh/site-functions/_egressc
	$(PREFIX)/bin/egressc completions fish > $(PREFIX)/share/fish/vendor_completions.d/egressc.fish
	@echo "installed $(PREFIX)/bin/egressc; add $(PREFIX)/bin to PATH if it is not there"

demo: build
	@scripts/demo.sh

# The wasm first: egressc embeds the filter module (compiler/build.rs), and
# would otherwise build it a second time, in its own target directory.
lint: wasm
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: wasm
	PROPTEST_RNG_SEED=$(FUZZ_SEED) $(CARGO) test --workspace

# The debug egressc that `cargo test --workspace` builds: with the same
# features as the tests (`cargo run -p egressc` alone resolves dependency
# features differently and would build wasmtime a second time); after
# `make unit` the first line has nothing to do.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
policy-tests: wasm
	$(CARGO) test --workspace --no-run -q
	$(TARGET_DIR)/debug/egressc test policies/

test: lint unit policy-tests playground-test

# The browser playground (docs/playground.md): builds playground/dist/ and
# serves it on http://127.0.0.1:$(PORT)/ (Ctrl+C stops).
PORT ?= 8000
playground: playground-build
	node playground/serve.mjs playground/dist --port $(PORT)

playground-build: wasm
	@scripts/setup-playground.sh --build-only
	@scripts/playground.sh

# Its end-to-end test in headless Chromium (playground/e2e/playground.test.mjs);
# compares the Istio tab and the table with the debug egressc that
# `policy-tests` built. Skipped, loudly, where setup could not install
# Chromium or playwright-core.
CHROMIUM ?= /usr/bin/chromium
playground-test: playground-build setup-playground
	$(CARGO) test --workspace --no-run -q
	@if [ -x "$(CHROMIUM)" ] && [ -f playground/node_modules/playwright-core/package.json ]; then \
		CHROMIUM=$(CHROMIUM) EGRESSC=$(TARGET_DIR)/debug/egressc node playground/e2e/playground.test.mjs && \
		CHROMIUM=$(CHROMIUM) EGRESS_BENCH_QUICK=1 node playground/e2e/measure.mjs; \
	else \
		echo "playground-test: SKIPPED the browser test: no Chromium at $(CHROMIUM) or no playwright-core (make setup installs both)" >&2; \
	fi

# The committed screenshots (playground/screenshots/, linked from the README
# and docs/playground.md), taken by the browser test.
playground-screenshots: playground-build setup-playground
	$(CARGO) test --workspace --no-run -q
	CHROMIUM=$(CHROMIUM) EGRESSC=$(TARGET_DIR)/debug/egressc EGRESS_SCREENSHOTS_DIR=playground/screenshots \
		node playground/e2e/playground.test.mjs

# First render (cold loads) and compile time per example in headless
# Chromium: bench/playground.json (docs/playground.md).
bench-playground: playground-build setup-playground
	@if [ -x "$(CHROMIUM)" ] && [ -f playground/node_modules/playwright-core/package.json ]; then \
		CHROMIUM=$(CHROMIUM) node playground/e2e/measure.mjs; \
	else \
		echo "bench-playground: SKIPPED: no Chromium at $(CHROMIUM) or no playwright-core (make setup installs both)" >&2; \
	fi

# Three benches: benches/filter.rs (the httpbin policy through the .wasm),
# benches/scale.rs (10 to 100,000 generated hosts: native, .wasm, naive and
# Cedar decisions, compile time, table size; docs/performance.md) and
# benches/hardening.rs (adversarial requests at Envoy's limits against the
# median decision; bench/hardening.json, docs/security.md). A few minutes;
# EGRESS_BENCH_QUICK=1 for a fast pass.
bench: build
	$(CARGO) bench -p egress-tests
	@echo "results: bench/results.json"
	$(MAKE) bench-playground

# The soak (issue 14, docs/security.md): EGRESS_SOAK_REQUESTS requests
# (default 10,000,000) of mixed shapes, allowed and denied, through one VM
# with a 10,000-host table; linear memory and the mean time per request
# every 500,000. Fails if memory grows after the first window; writes
# bench/soak.json. About 7 minutes on 2 vCPUs. (The worst-case table,
# bench/hardening.json, is part of `make bench`.)
soak: wasm
	EGRESS_SOAK=1 $(CARGO) bench -p egress-tests --bench hardening
	@echo "results: bench/soak.json"

# docs/scale-decisions.png and docs/scale-sizes.png drawn again from
# bench/results.json, without measuring anything.
plots:
	EGRESS_BENCH_REPLOT=1 $(CARGO) bench -p egress-tests --bench scale

# Squid, `egressc proxy` and `egressc proxy --bypass-filter` under wrk on
# loopback (needs squid and wrk: apt-get install squid wrk); prints the table
# that docs/performance.md records. Not part of `make test`.
loadtest: wasm
	@scripts/loadtest.sh

# Coverage-guided fuzzing first: each libFuzzer target of tests/src/fuzz.rs
# for FUZZ_SECONDS (scripts/fuzz.sh installs a nightly toolchain and
# cargo-fuzz if missing; a finding lands in fuzz/artifacts/, and once fixed
# goes to fuzz/regressions/, which `make test` replays). Then the proptest
# properties with random seeds and FUZZ_CASES cases; a failure prints the
# input, which then goes into the `regressions` test of its crate.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz: wasm
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh $(FUZZ_TARGETS)
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --profile native -p egressc --test fuzz
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --profile native -p egressc --test cedar
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --profile native -p egress-table
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --profile native -p egress-tests --test agreement

fmt:
	$(CARGO) fmt --all
	$(CARGO) run -q -p egressc -- fmt -q policies/

clean:
	$(CARGO) clean
