#!/usr/bin/env bash
# Builds the browser playground into playground/dist/ (`make playground`):
#
# 1. the `egress-playground` crate (egressc's library core + wasm-bindgen
#    exports) for wasm32-unknown-unknown in the `playground` profile (size);
# 2. wasm-bindgen (--target web) for the JavaScript glue, with the
#    wasm-bindgen-cli of exactly the crate's wasm-bindgen version
#    (`make setup` installs it);
# 3. the static page (playground/web) beside it.
#
# The folder is built aside and swapped in whole: a failed build leaves the
# previous dist/ as it was. Prints the module's size raw and gzipped and
# fails above the budget (1.5 MiB gzipped), writing dist/build.json.
set -euo pipefail
cd "$(dirname "$0")/.."
route=$(cat target/wasm-route 2>/dev/null || echo rustup)
target_dir=${CARGO_TARGET_DIR:-target}
budget=$((3 * 512 * 1024))

want=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' playground/Cargo.toml)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ -z "$want" ]; then
    echo "playground: playground/Cargo.toml pins no wasm-bindgen version (wasm-bindgen = \"=X.Y.Z\")" >&2
    exit 1
fi
if [ "$have" != "$want" ]; then
    echo "playground: wasm-bindgen-cli ${have:-is not installed}${have:+ is version $have}, the crate needs exactly $want; run \`make setup\`" >&2
    echo "  (or: cargo install wasm-bindgen-cli --version =$want --no-default-features --bin wasm-bindgen)" >&2
    exit 1
fi

build=(build -p egress-playground --lib --target wasm32-unknown-unknown --profile playground)
if [ "$route" = debian ]; then
    DEB_CARGO=${DEB_CARGO:-/usr/bin/cargo}
    export RUSTC_BOOTSTRAP=1 RUSTC=${DEB_RUSTC:-/usr/bin/rustc}
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=${WASM_LD:-wasm-ld}
    "$DEB_CARGO" "${build[@]}" -Z build-std=std,panic_abort
else
    cargo "${build[@]}"
fi
module=$target_dir/wasm32-unknown-unknown/playground/egress_playground.wasm

work=$(mktemp -d playground/.dist.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cp -r playground/web/. "$work/"
wasm-bindgen --target web --no-typescript --remove-name-section --out-dir "$work/pkg" "$module"

wasm=$work/pkg/egress_playground_bg.wasm
raw=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
js=$(cat "$work"/*.js "$work"/pkg/*.js | wc -c)
printf '{"wasm_bytes": %d, "wasm_gzip_bytes": %d, "js_bytes": %d, "wasm_bindgen": "%s", "built": "%s"}\n' \
    "$raw" "$gz" "$js" "$want" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$work/build.json"
printf 'playground: module %s bytes, %s gzipped (budget %s), JavaScript %s bytes\n' "$raw" "$gz" "$budget" "$js"
if [ "$gz" -gt "$budget" ]; then
    echo "playground: the module is over its budget of 1.5 MiB gzipped ($gz > $budget bytes); see docs/playground.md" >&2
    exit 1
fi
rm -rf playground/dist.old
[ -d playground/dist ] && mv playground/dist playground/dist.old
mv "$work" playground/dist
rm -rf playground/dist.old
trap - EXIT
echo "playground: built playground/dist/"
