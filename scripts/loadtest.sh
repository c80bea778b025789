#!/usr/bin/env bash
# `make loadtest`: the same one-host allowlist served by Squid (Debian's
# package, `http_access` with a `dstdomain` ACL), by `egressc proxy`, and by
# `egressc proxy --bypass-filter` (the proxy without the filter, to isolate
# the filter's own cost), each driven by wrk on loopback for a fixed time
# against a local upstream that answers `200 ok`. Prints requests/s and
# p50/p99/p99.9 latency side by side. Not part of `make test`.
#
# Two phases: saturated (every connection sends its next request as soon as
# the last is answered: requests/s, and latency that is mostly queueing),
# then paced (each connection waits a random 0 to 2 × LOADTEST_PACED_DELAY_MS
# between requests, well below saturation: latency is the time one request
# takes through the proxy, which is what a client notices).
#
# LOADTEST_DURATION (default 10s), LOADTEST_CONNECTIONS (32),
# LOADTEST_THREADS (wrk threads, 1), LOADTEST_PACED_DELAY_MS (10),
# LOADTEST_PORT_BASE (18080: upstream; +1 egressc proxy, +2 bypassed,
# +3 Squid).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${LOADTEST_DURATION:-10s}
CONNS=${LOADTEST_CONNECTIONS:-32}
THREADS=${LOADTEST_THREADS:-1}
PACED_DELAY_MS=${LOADTEST_PACED_DELAY_MS:-10}
BASE=${LOADTEST_PORT_BASE:-18080}
UP=$BASE EGRESS=$((BASE + 1)) BYPASS=$((BASE + 2)) SQUID=$((BASE + 3))
TARGET_DIR=${CARGO_TARGET_DIR:-target}

missing=()
for tool in squid wrk curl; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "loadtest: missing ${missing[*]}; on Debian or Ubuntu: sudo apt-get install -y squid wrk curl" >&2
    exit 2
fi

echo "== building egressc and the load-test upstream (profile native)"
cargo build -q --profile native -p egressc
cargo build -q --profile native -p egress-proxy --example loadtest_upstream
EGRESSC=$TARGET_DIR/native/egressc
UPSTREAM=$TARGET_DIR/native/examples/loadtest_upstream

tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/loadtest.egress" <<EOF
policy "loadtest" {
  default deny
  destination "up.test" port $UP http {
    allow GET path "/"
  }
}
EOF

# Squid: no cache, no access log (egressc proxy logs only denials by
# default, and the load is all allowed), its own hosts file for up.test.
echo "127.0.0.1 up.test" >"$tmp/hosts"
cat >"$tmp/squid.conf" <<EOF
http_port 127.0.0.1:$SQUID
pid_filename $tmp/squid.pid
cache_log $tmp/cache.log
access_log none
cache deny all
cache_mem 8 MB
hosts_file $tmp/hosts
dns_nameservers 127.0.0.1
acl allowed dstdomain up.test
http_access allow allowed
http_access deny all
shutdown_lifetime 1 seconds
EOF
chmod 666 "$tmp"/hosts "$tmp"/squid.conf
touch "$tmp/cache.log" && chmod 666 "$tmp/cache.log"
chmod 777 "$tmp"

"$UPSTREAM" "127.0.0.1:$UP" 2>"$tmp/upstream.log" & pids+=($!)
"$EGRESSC" proxy "$tmp/loadtest.egress" --listen "127.0.0.1:$EGRESS" \
    --resolve up.test=127.0.0.1 --no-reload >"$tmp/audit-egress.log" 2>"$tmp/egress.log" & pids+=($!)
"$EGRESSC" proxy "$tmp/loadtest.egress" --listen "127.0.0.1:$BYPASS" \
    --resolve up.test=127.0.0.1 --no-reload --bypass-filter >"$tmp/audit-bypass.log" 2>"$tmp/bypass.log" & pids+=($!)
squid -N -f "$tmp/squid.conf" 2>"$tmp/squid.stderr" & pids+=($!)

# Each proxy must allow up.test and deny another host before it is measured.
check() {
    local name=$1 port=$2 deny=$3 code
    for _ in $(seq 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$port" "http://up.test:$UP/" || true)
        [ "$code" = 200 ] && break
        sleep 0.1
    done
    if [ "$code" != 200 ]; then
        echo "loadtest: $name does not forward http://up.test:$UP/ (got $code); its log:" >&2
        cat "$tmp"/*.log "$tmp"/*.stderr >&2 2>/dev/null || true
        exit 1
    fi
    if [ "$deny" = yes ]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' -x "http://127.0.0.1:$port" "http://other.test:$UP/" || true)
        if [ "$code" != 403 ]; then
            echo "loadtest: $name does not deny http://other.test:$UP/ (got $code)" >&2
            exit 1
        fi
    fi
}
check "egressc proxy" "$EGRESS" yes
check "egressc proxy --bypass-filter" "$BYPASS" no
check "squid" "$SQUID" yes

# wrk speaks to the proxy: an absolute-form target and the upstream's Host.
cat >"$tmp/proxy.lua" <<EOF
wrk.method = "GET"
wrk.path = "http://up.test:$UP/"
wrk.headers["Host"] = "up.test:$UP"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.3f %.3f %.3f %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout, summary.requests))
end
EOF

# Each connection waits a random time (uniform, mean PACED_DELAY_MS) before
# its next request, so the connections drift apart instead of sending in
# bursts of CONNS requests that would queue behind each other.
{ cat "$tmp/proxy.lua"; echo "delay = function() return math.random(0, 2 * $PACED_DELAY_MS) end"; } >"$tmp/paced.lua"

run() {
    local port=$1 script=$2
    wrk -t1 -c"$CONNS" -d2s -s "$tmp/$script" "http://127.0.0.1:$port/" >/dev/null # warm-up
    wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$tmp/$script" "http://127.0.0.1:$port/" | awk '/^RESULT/ {print $2, $3, $4, $5, $6, $7}'
}

table() {
    local script=$1
    printf '%-32s %10s %9s %9s %9s %8s %10s\n' proxy "req/s" "p50 ms" "p99 ms" "p99.9 ms" errors requests
    for row in "squid $(squid -v | head -1 | awk '{print $4}'):$SQUID" "egressc proxy:$EGRESS" "egressc proxy --bypass-filter:$BYPASS"; do
        name=${row%:*} port=${row##*:}
        read -r rps p50 p99 p999 errors total < <(run "$port" "$script")
        printf '%-32s %10s %9s %9s %9s %8s %10s\n' "$name" "$rps" "$p50" "$p99" "$p999" "$errors" "$total"
    done
}

echo "== saturated: wrk -t$THREADS -c$CONNS -d$DURATION through each proxy to a local upstream ($(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
table proxy.lua
echo
echo "== paced: the same, each connection waiting 0-$((2 * PACED_DELAY_MS)) ms (mean ${PACED_DELAY_MS}) between requests (at most about $((CONNS * 1000 / PACED_DELAY_MS)) req/s offered)"
table paced.lua
