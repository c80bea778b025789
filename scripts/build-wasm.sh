#!/usr/bin/env bash
# Builds the filter and the probe filter for both wasm targets, by the route
# scripts/setup.sh recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
route=$(cat target/wasm-route 2>/dev/null || echo rustup)
pkgs=(-p egress-filter -p probe-filter)
if [ "$route" = rustup ]; then
    for t in wasm32-wasip1 wasm32-unknown-unknown; do
        cargo build --release --target "$t" "${pkgs[@]}"
    done
else
    export RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld
    /usr/bin/cargo build --release --target wasm32-unknown-unknown -Z build-std=std,panic_abort "${pkgs[@]}"
    # wasm32-wasip1 needs wasi-libc, which the Debian route does not provide:
    # say so plainly rather than skip it silently.
    if ! /usr/bin/cargo build --release --target wasm32-wasip1 -Z build-std=std,panic_abort "${pkgs[@]}"; then
        echo "build-wasm: wasm32-wasip1 could not be built on the Debian route (no wasi-libc); the wasip1 tests will fail until rustup can add the target" >&2
        exit 1
    fi
fi
for t in wasm32-wasip1 wasm32-unknown-unknown; do
    f=target/$t/release/egress_filter.wasm
    [ -f "$f" ] && printf 'built %s (%s bytes)\n' "$f" "$(stat -c %s "$f")"
done
