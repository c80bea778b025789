#!/usr/bin/env bash
# Installs what a bare machine lacks to build and test this repository:
# the wasm targets for the filter (and rustfmt/clippy if missing).
#
# Primary route: `rustup target add` (a few seconds).
# Fallback (no rustup, or it cannot download): Debian 12's rustc-web,
# cargo-web and rust-web-src (1.96, from bookworm-security), building std for
# both wasm targets with -Z build-std, linked by wasm-ld (package lld);
# wasm32-wasip1 links against Debian's wasi-libc (/usr/lib/wasm32-wasi).
# See README.md ("Toolchain routes") and ../shared/TOOLCHAIN.md.
# The route taken is recorded in target/wasm-route for scripts/build-wasm.sh.
#
# Overrides for the fallback route: DEB_CARGO, DEB_RUSTC (default
# /usr/bin/cargo, /usr/bin/rustc), WASM_LD (default wasm-ld),
# WASI_LIBC_DIR (default /usr/lib/wasm32-wasi).
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

# ---------------------------------------------------------------------------
# Fallback: Debian's toolchain and -Z build-std.

rm -f target/wasm-route

DEB_CARGO=${DEB_CARGO:-/usr/bin/cargo}
DEB_RUSTC=${DEB_RUSTC:-/usr/bin/rustc}
WASM_LD=${WASM_LD:-wasm-ld}
WASI_LIBC_DIR=${WASI_LIBC_DIR:-/usr/lib/wasm32-wasi}
MIN_RUST=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n1)
MIN_RUST=${MIN_RUST:-1.95}
debs=(rustc-web cargo-web rust-web-src lld wasi-libc)
extra=()

die() {
    printf '%s\n' "$@" | sed 's/^/setup: /' >&2
    exit 1
}

# Prints what the Debian route still lacks, one item a line; nothing if ready.
missing() {
    local v sysroot
    [ -x "$DEB_CARGO" ] || echo "cargo at $DEB_CARGO (package cargo-web)"
    if [ -x "$DEB_RUSTC" ] && v=$("$DEB_RUSTC" -vV 2>/dev/null); then
        v=$(sed -n 's/^release: //p' <<<"$v")
        if [ "$(printf '%s\n%s\n' "$MIN_RUST" "${v%%-*}" | sort -V | head -n1)" != "$MIN_RUST" ]; then
            echo "rustc >= $MIN_RUST at $DEB_RUSTC (found $v; rustc-web 1.96 comes from bookworm-security)"
        fi
        sysroot=$("$DEB_RUSTC" --print sysroot)
        [ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ] ||
            echo "the standard library's source in $sysroot/lib/rustlib/src (package rust-web-src)"
    else
        echo "a working rustc at $DEB_RUSTC (package rustc-web)"
    fi
    command -v "$WASM_LD" >/dev/null 2>&1 || echo "the wasm linker $WASM_LD (package lld)"
    [ -f "$WASI_LIBC_DIR/libc.a" ] || echo "wasi-libc in $WASI_LIBC_DIR (package wasi-libc)"
}

# `make lint` runs `cargo fmt` and `cargo clippy` with the cargo on PATH;
# without rustup that is Debian's, whose fmt and clippy are separate packages.
if ! command -v rustup >/dev/null 2>&1; then
    cargo fmt --version >/dev/null 2>&1 || extra+=(rustfmt-web)
    cargo clippy --version >/dev/null 2>&1 || extra+=(rust-web-clippy)
    echo "setup: no rustup on PATH; falling back to Debian's toolchain and -Z build-std" >&2
else
    echo "setup: rustup could not add the wasm targets; falling back to Debian's toolchain and -Z build-std" >&2
fi

need=$(missing)
if [ -n "$need" ] || [ "${#extra[@]}" -gt 0 ]; then
    debs+=("${extra[@]}")
    command -v apt-get >/dev/null 2>&1 ||
        die "no apt-get: the fallback route needs Debian 12 (bookworm) packages: ${debs[*]}." \
            "Missing: ${need:-rustfmt/clippy}" \
            "Fix: install rustup (https://rustup.rs) and run: rustup target add ${targets[*]}"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run as root: apt-get install -y ${debs[*]}"
        SUDO="sudo"
    fi
    $SUDO apt-get update ||
        die "apt-get update failed (no network or no apt sources?); fix that, or add the targets with rustup"
    $SUDO apt-get install -y "${debs[@]}" ||
        die "apt-get install ${debs[*]} failed." \
            "rustc-web >= $MIN_RUST is in bookworm-security: check that /etc/apt/sources.list(.d) has" \
            "'deb http://deb.debian.org/debian-security bookworm-security main'"
    need=$(missing)
fi
if [ -n "$need" ]; then
    die "the Debian route is still missing:" "$need" \
        "Fix: apt-get install ${debs[*]} (rustc-web >= $MIN_RUST from bookworm-security)," \
        "or set DEB_CARGO / DEB_RUSTC / WASM_LD / WASI_LIBC_DIR, or use rustup: rustup target add ${targets[*]}"
fi
echo debian > target/wasm-route
echo "setup: Debian route ready: $("$DEB_RUSTC" -V) at $DEB_RUSTC, $WASM_LD, wasi-libc in $WASI_LIBC_DIR (both targets via -Z build-std)"
