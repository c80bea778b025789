#!/usr/bin/env bash
# Builds the filter and the probe filter for both wasm targets, by the route
# scripts/setup.sh recorded in target/wasm-route.
#
# rustup route: plain `cargo build --release --target …`.
# debian route: Debian's cargo/rustc (1.96) build std from rust-web-src with
# -Z build-std (RUSTC_BOOTSTRAP=1) and link with wasm-ld; wasm32-wasip1 links
# against Debian's wasi-libc instead of the self-contained copy rustup ships.
# Same overrides as setup.sh: DEB_CARGO, DEB_RUSTC, WASM_LD, WASI_LIBC_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
route=$(cat target/wasm-route 2>/dev/null || echo rustup)
pkgs=(-p egress-filter -p probe-filter)
targets=(wasm32-wasip1 wasm32-unknown-unknown)

if [ -n "${CARGO_TARGET_DIR:-}" ] && [ "$(realpath -m "$CARGO_TARGET_DIR")" != "$(realpath -m target)" ]; then
    echo "build-wasm: warning: CARGO_TARGET_DIR=$CARGO_TARGET_DIR, but the tests and egressc read target/<target>/release/*.wasm in this workspace" >&2
fi

if [ "$route" = rustup ]; then
    for t in "${targets[@]}"; do
        cargo build --release --target "$t" "${pkgs[@]}"
    done
elif [ "$route" = debian ]; then
    DEB_CARGO=${DEB_CARGO:-/usr/bin/cargo}
    DEB_RUSTC=${DEB_RUSTC:-/usr/bin/rustc}
    WASM_LD=${WASM_LD:-wasm-ld}
    WASI_LIBC_DIR=${WASI_LIBC_DIR:-/usr/lib/wasm32-wasi}
    for f in "$DEB_CARGO" "$DEB_RUSTC"; do
        [ -x "$f" ] || { echo "build-wasm: $f not found (Debian route); run \`make setup\` (apt-get install rustc-web cargo-web rust-web-src lld wasi-libc)" >&2; exit 1; }
    done
    command -v "$WASM_LD" >/dev/null 2>&1 ||
        { echo "build-wasm: $WASM_LD not found; run \`make setup\` (apt-get install lld)" >&2; exit 1; }
    [ -f "$WASI_LIBC_DIR/libc.a" ] ||
        { echo "build-wasm: no $WASI_LIBC_DIR/libc.a, which wasm32-wasip1 links against; run \`make setup\` (apt-get install wasi-libc) or set WASI_LIBC_DIR" >&2; exit 1; }
    export RUSTC_BOOTSTRAP=1 RUSTC="$DEB_RUSTC"
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$WASM_LD"
    export CARGO_TARGET_WASM32_WASIP1_LINKER="$WASM_LD"
    # Debian ships neither rust-lld nor the self-contained wasi-libc that
    # rustup's wasm32-wasip1 std carries: link against the system's copy.
    wasip1_flags="-C link-self-contained=no -L native=$WASI_LIBC_DIR"
    for t in "${targets[@]}"; do
        flags=${RUSTFLAGS:-}
        [ "$t" = wasm32-wasip1 ] && flags="${flags:+$flags }$wasip1_flags"
        if ! RUSTFLAGS="$flags" "$DEB_CARGO" build --release --target "$t" \
            -Z build-std=std,panic_abort "${pkgs[@]}"; then
            echo "build-wasm: building $t on the Debian route failed (see above)." >&2
            echo "  -Z build-std compiles std from $("$DEB_RUSTC" --print sysroot)/lib/rustlib/src and downloads" >&2
            echo "  std's few crates.io dependencies on the first build, so it needs network or a filled cargo cache." >&2
            echo "  If rustup can add the targets now, \`make setup\` switches back to the primary route." >&2
            exit 1
        fi
    done
else
    echo "build-wasm: unknown route '$route' in target/wasm-route; run \`make setup\`" >&2
    exit 1
fi
for t in "${targets[@]}"; do
    for m in egress_filter probe_filter; do
        f=${CARGO_TARGET_DIR:-target}/$t/release/$m.wasm
        if [ -f "$f" ]; then
            printf 'built %s (%s bytes, %s route)\n' "$f" "$(stat -c %s "$f")" "$route"
        else
            echo "build-wasm: $f is missing after the build" >&2
            exit 1
        fi
    done
done
