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
step "The httpbin policy, compiled (readable dump of the table the filter loads)" $E compile policies/httpbin.egress --format dump -o -
step "httpbin: example requests through the filter, with its log lines" \
    $E simulate --policy policies/httpbin.egress --requests policies/requests/httpbin.jsonl --format table --log
step "HTTPS by SNI and SSH by address: connections through the network filter" \
    $E simulate --policy policies/github.egress policies/pypi.egress --requests policies/requests/connections.jsonl --format table --log --metrics
step "Why was POST /post denied?" \
    $E explain --policy policies/httpbin.egress --request '{"method":"POST","host":"httpbin.org","path":"/post"}'
step "Every test block in policies/, through the filter" $E test policies/
step "The Istio bundle for httpbin on an ambient egress waypoint (Istio's egress-gateway guide, with the filter)" \
    $E istio policies/httpbin.egress --attach waypoint --wasm-url oci://registry.example/egress-filter:0.1.0
rm -rf target/egress-filter-oci
step "The filter as an OCI image layout, ready to push" $E package -o target/egress-filter-oci
step "What a mistake looks like (this check fails on purpose)" $E check docs/examples/mistakes.egress
echo
echo "demo finished"
