# The two commands a fresh machine needs: `make demo` and `make test`.
# Both install what is missing first (`make setup`).

CARGO ?= cargo
EGRESSC := target/native/egressc

.PHONY: all setup wasm build demo test lint unit e2e policy-tests bench fmt clean

all: build

setup:
	@scripts/setup.sh

wasm: setup
	@scripts/build-wasm.sh

build: wasm
	$(CARGO) build --profile native -p egressc

demo: build
	@scripts/demo.sh

lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: wasm
	$(CARGO) test --workspace

# `make test` uses the debug egressc that `cargo test` already built.
policy-tests: wasm
	$(CARGO) run -q -p egressc -- test policies/

test: lint unit policy-tests

bench: build
	$(CARGO) bench -p egress-tests

fmt:
	$(CARGO) fmt --all
	$(CARGO) run -q -p egressc -- fmt policies/

clean:
	$(CARGO) clean
