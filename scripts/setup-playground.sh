#!/usr/bin/env bash
# Installs what the browser playground needs (`make playground`, and its
# browser test in `make test`), each only when missing:
#
# - wasm-bindgen-cli of exactly the version playground/Cargo.toml pins for
#   the wasm-bindgen crate (the two must agree), from crates.io with
#   `cargo install` (only the `wasm-bindgen` binary, without the TLS
#   features its test runner's downloads use; about 4 minutes on 2 cores);
# - Chromium, Debian's package `chromium`, for the headless browser test;
# - playwright-core from npm (playground/package-lock.json), which drives
#   that Chromium and downloads no browser of its own.
#
# Without apt-get or npm the browser test cannot run: this says so, and
# `make test` then skips that one step, loudly.
#
# `--build-only`: only wasm-bindgen-cli (what `make playground` needs to
# build the page; serving it needs nothing more).
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=false
[ "${1:-}" = --build-only ] && build_only=true

want=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' playground/Cargo.toml)
[ -n "$want" ] || { echo "setup: playground/Cargo.toml pins no wasm-bindgen version" >&2; exit 1; }
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" = "$want" ]; then
    echo "setup: wasm-bindgen-cli $want present"
else
    echo "setup: installing wasm-bindgen-cli $want${have:+ (found $have)} with cargo install (a few minutes)"
    args=(wasm-bindgen-cli --version "=$want" --no-default-features --bin wasm-bindgen --force)
    # Its published lock file may name a version the registry no longer
    # serves (0.2.130's names webpki-roots 1.0.11): then resolve afresh.
    log=$(mktemp)
    if ! cargo install --locked "${args[@]}" 2>"$log"; then
        echo "setup: cargo install --locked failed ($(grep -m1 '^error' "$log" || echo 'see above')); resolving its dependencies afresh"
        cargo install "${args[@]}" || {
            rm -f "$log"
            echo "setup: could not install wasm-bindgen-cli $want from crates.io (no network to the registry?)." >&2
            echo "  Fix: cargo install wasm-bindgen-cli --version =$want --no-default-features --bin wasm-bindgen" >&2
            exit 1
        }
    fi
    rm -f "$log"
    have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
    [ "$have" = "$want" ] || {
        echo "setup: installed wasm-bindgen-cli $want, but \`wasm-bindgen\` on PATH is ${have:-missing}: put \$CARGO_HOME/bin (~/.cargo/bin) first on PATH" >&2
        exit 1
    }
fi

$build_only && exit 0

chromium=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$chromium" ]; then
    echo "setup: Chromium present ($("$chromium" --version 2>/dev/null || echo "$chromium"))"
elif command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo -n"
    if [ -n "$SUDO" ] && ! command -v sudo >/dev/null 2>&1; then
        echo "setup: warning: no Chromium, and not root (no sudo) to install it: apt-get install chromium; the browser test will be skipped" >&2
    else
        echo "setup: installing Chromium (Debian package chromium) for the playground's browser test"
        if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null; }; then
            echo "setup: warning: apt-get install chromium failed; the browser test will be skipped" >&2
        fi
    fi
else
    echo "setup: warning: no Chromium at $chromium and no apt-get: install Chromium and set CHROMIUM=PATH; the browser test will be skipped" >&2
fi

if [ -f playground/node_modules/playwright-core/package.json ]; then
    echo "setup: playwright-core present"
elif command -v npm >/dev/null 2>&1; then
    echo "setup: installing playwright-core (npm ci, playground/package-lock.json)"
    if ! PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix playground --no-audit --no-fund --loglevel=error; then
        echo "setup: warning: npm ci failed (no route to the npm registry?); the browser test will be skipped" >&2
    fi
else
    echo "setup: warning: no npm (Node.js): the browser test will be skipped; install nodejs and npm" >&2
fi
