#!/usr/bin/env bash
# Coverage-guided fuzzing: each target of tests/src/fuzz.rs under libFuzzer
# (cargo-fuzz) for FUZZ_SECONDS, one after another.
#
#   scripts/fuzz.sh [TARGET...]        (default: all six)
#   FUZZ_SECONDS=600 scripts/fuzz.sh decide
#
# Needs a nightly toolchain (libFuzzer's sanitizer-coverage instrumentation)
# and cargo-fuzz; both are installed here if missing. The filter target
# needs the filter .wasm (`make wasm`, which `make fuzz` runs first).
#
# Inputs: fuzz/seeds/TARGET (committed) and fuzz/corpus/TARGET (what
# libFuzzer found, kept between runs, not committed). A crash or a
# disagreement leaves the input in fuzz/artifacts/TARGET/ and fails the
# run; once fixed, copy the input to fuzz/regressions/TARGET/, where
# `make test` replays it for ever (tests/tests/hardening/corpus.rs).
#
# Sanitizer: none. The workspace denies unsafe code, so AddressSanitizer
# would only watch dependencies' unsafe code at half the speed; overflow
# checks and debug assertions are on (fuzz/Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
all=(source policy table plugin_config decide filter)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "fuzz: installing a nightly toolchain (rustup toolchain install nightly --profile minimal)"
    rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build -s none

mkdir -p logs
summary=()
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    echo "fuzz: $t for ${FUZZ_SECONDS}s"
    set +e
    cargo +nightly fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout=20 -rss_limit_mb=4096 \
        -max_len=65536 -print_final_stats=1 \
        >"logs/$t.log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "logs/$t.log" | tail -n1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "logs/$t.log" | tail -n1)
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "logs/$t.log" | tail -n1)
    summary+=("$(printf '%-14s %4ss  %12s execs  %8s/s  %s' "$t" "$FUZZ_SECONDS" "${execs:-?}" "${rate:-?}" "${cov:-?}")")
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        echo "fuzz: $t FAILED (exit $rc); the input is in fuzz/artifacts/$t/, the log in fuzz/logs/$t.log:"
        grep -E 'panicked|SUMMARY|Test unit written' "logs/$t.log" | head -n 5 || true
    fi
done

echo
echo "target          time         executions      rate  coverage (edges, features, corpus)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: findings in: ${failed[*]}"
    exit 1
fi
