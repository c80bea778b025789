#!/usr/bin/env bash
# Installs what a bare machine lacks to build and test this repository:
# the wasm targets for the filter (and rustfmt/clippy if missing).
#
# Primary route: `rustup target add` (a few seconds).
# Fallback (no rustup, or it cannot download): Debian's rustc-web, cargo-web,
# rust-web-src and lld, building std for wasm with -Z build-std
# (see ../shared/TOOLCHAIN.md). The route taken is recorded in
# target/wasm-route for scripts/build-wasm.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p target
targets=(wasm32-wasip1 wasm32-unknown-unknown)

installed() {
    command -v rustup >/dev/null 2>&1 || return 1
    local have
    have=$(rustup target list --installed 2>/dev/null) || return 1
    for t in "${targets[@]}"; do grep -qx "$t" <<<"$have" || return 1; done
}

components() {
    command -v rustup >/dev/null 2>&1 || return 0
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
}

if installed; then
    echo "setup: wasm targets present (rustup)"
    echo rustup > target/wasm-route
    components
    exit 0
fi

if command -v rustup >/dev/null 2>&1 && rustup target add "${targets[@]}"; then
    echo "setup: added ${targets[*]} with rustup"
    echo rustup > target/wasm-route
    components
    exit 0
fi

echo "setup: rustup could not add the wasm targets; falling back to Debian's toolchain and build-std" >&2
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update
$SUDO apt-get install -y rustc-web cargo-web rust-web-src lld
echo debian > target/wasm-route
echo "setup: Debian route ready (wasm32-unknown-unknown via -Z build-std)"
