#!/usr/bin/env bash
# `make demo`: the example policies against their example requests, through
# the real filter (.wasm) in the local proxy-wasm host.
set -uo pipefail
cd "$(dirname "$0")/.."
E=target/native/egressc
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

# Each example file is its own deployment, so each is checked on its own
# (files given together are compiled together, and checked as one table).
for f in policies/*.egress; do step "Check $f" $E check "$f"; done
step "The httpbin policy, compiled (readable dump of the table the filter loads)" $E compile policies/httpbin.egress --emit dump
step "httpbin: example requests through the filter, with its log lines" \
    $E simulate policies/httpbin.egress --requests policies/requests/httpbin.jsonl --log
step "HTTPS by SNI and SSH by address: connections through the network filter" \
    $E simulate policies/github.egress policies/pypi.egress --requests policies/requests/connections.jsonl --log --metrics
step "Why was POST /post denied?" \
    $E explain policies/httpbin.egress --request '{"method":"POST","host":"httpbin.org","path":"/post"}'
step "Every test block in policies/, through the filter" $E test policies/
step "The Istio bundle for httpbin on an ambient egress waypoint (Istio's egress-gateway guide, with the filter)" \
    $E istio policies/httpbin.egress --attach waypoint --wasm-url oci://registry.example/egress-filter:0.1.0
rm -rf target/egress-filter-oci
step "The filter as an OCI image layout, ready to push" $E package -o target/egress-filter-oci
# Real traffic: curl through `egressc proxy` to a local upstream (Python's
# http.server), decided by the same filter module.
proxy_demo() {
    if ! command -v curl >/dev/null 2>&1 || ! command -v python3 >/dev/null 2>&1; then
        echo "(skipping the proxy demo: it needs curl and python3 for the client and the upstream)"
        return
    fi
    local d up px port=18080 listen=127.0.0.1:13128
    d=$(mktemp -d)
    cat >"$d/demo.egress" <<'POLICY'
policy "demo" {
  default deny
  log all
  destination "api.test" port 18080 http {
    allow GET path "/v1/{**}"
  }
}
POLICY
    mkdir -p "$d/www/v1" && echo ok >"$d/www/v1/items"
    python3 -m http.server "$port" --bind 127.0.0.1 --directory "$d/www" >/dev/null 2>&1 &
    up=$!
    $E proxy "$d/demo.egress" --listen "$listen" --no-reload \
        --resolve api.test=127.0.0.1 --resolve evil.test=127.0.0.1 >"$d/audit.log" 2>"$d/proxy.log" &
    px=$!
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/${listen%:*}/${listen#*:}") 2>/dev/null && break
        sleep 0.1
    done
    printf '\n\033[1m== %s\033[0m\n' "Real traffic through egressc proxy (policy $d/demo.egress, upstream: python3 -m http.server on 127.0.0.1:$port)"
    step "allowed: GET /v1/items" curl -sS -x "http://$listen" "http://api.test:$port/v1/items"
    step "denied: POST (the filter's 403 reaches the client)" curl -sS -i -x "http://$listen" -X POST "http://api.test:$port/v1/items"
    step "denied: a host the policy does not name" curl -sS -o /dev/null -w '%{http_code}\n' -x "http://$listen" "http://evil.test:$port/v1/items"
    kill -INT "$px" 2>/dev/null
    wait "$px" 2>/dev/null
    kill "$up" 2>/dev/null
    wait "$up" 2>/dev/null
    step "The proxy's audit lines (one JSON line per decision)" cat "$d/audit.log"
    step "The proxy's log" cat "$d/proxy.log"
    rm -rf "$d"
}
proxy_demo
# From observed traffic to a policy (docs/workflow.md): a day of a mesh
# still on ALLOW_ANY, logged by an audit policy (tests/fixtures/audit/).
step "What left the mesh: a report of the filter's audit lines" $E report tests/fixtures/audit/observe.log --top 5
step "A policy learned from that traffic (generalisations commented, a test block of observed requests and near misses)" \
  $E learn tests/fixtures/audit/observe.log -o target/learned.egress
step "The learned policy, first lines" head -n 30 target/learned.egress
step "Its tests, through the filter (the last lines)" sh -c "$E test target/learned.egress | tail -n 4"
step "What an edit would open (exit 1: something is newly allowed)" \
  $E diff tests/fixtures/audit/today.egress docs/examples/today-widened.egress
step "What a mistake looks like (this check fails on purpose)" $E check docs/examples/mistakes.egress
echo
echo "demo finished"
