#!/usr/bin/env python3
"""Extracts the CustomResourceDefinitions the Istio bundle tests validate
against, keeping only the API versions egressc emits (see README.md).

    python3 compiler/tests/istio/extract.py \
        ../shared/istio/crd-all.gen.yaml GATEWAY_API_CHECKOUT > /dev/null

Plain text processing (no YAML library): a CRD document is kept whole
except for its `spec.versions` list, of which only the wanted items stay.
"""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

ISTIO = {
    "serviceentries.networking.istio.io": "v1",
    "destinationrules.networking.istio.io": "v1",
    "virtualservices.networking.istio.io": "v1",
    "gateways.networking.istio.io": "v1",
    "wasmplugins.extensions.istio.io": "v1alpha1",
    "trafficextensions.extensions.istio.io": "v1alpha1",
    "telemetries.telemetry.istio.io": "v1",
}
GATEWAY_API_TAG = "v1.6.1"
GATEWAY_API_FILE = "config/crd/standard/gateway.networking.k8s.io_gateways.yaml"


def keep_version(doc: str, version: str) -> str:
    lines = doc.split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i] == "  versions:":
            out.append(lines[i])
            i += 1
            item = []
            items = []
            # The list runs until a non-empty line indented less than an item's
            # content (blank lines occur inside block scalars).
            while i < len(lines) and (
                lines[i].startswith("  - ") or lines[i].startswith("    ") or lines[i].strip() == ""
            ):
                if lines[i].startswith("  - ") and item:
                    items.append(item)
                    item = []
                item.append(lines[i])
                i += 1
            if item:
                items.append(item)
            kept = [it for it in items if f"    name: {version}" in it or f"  - name: {version}" in it]
            if len(kept) != 1:
                sys.exit(f"expected one version {version}, found {len(kept)}")
            out.extend(kept[0])
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def main() -> None:
    istio_all, gateway_api = Path(sys.argv[1]), Path(sys.argv[2])
    docs = istio_all.read_text().split("\n---\n")
    picked = {}
    for d in docs:
        for name, version in ISTIO.items():
            if f"\n  name: {name}\n" in d:
                body = d[d.index("apiVersion:"):]
                picked[name] = keep_version(body, version)
    missing = set(ISTIO) - set(picked)
    if missing:
        sys.exit(f"not found: {missing}")
    (HERE / "istio-crds.yaml").write_text(
        "# Extracted by extract.py from istio/istio manifests/charts/base/files/crd-all.gen.yaml\n"
        "# (see README.md): only the CRDs and API versions egressc emits.\n"
        + "\n---\n".join(picked[n] for n in ISTIO) + "\n"
    )
    gw = subprocess.run(
        ["git", "-C", str(gateway_api), "show", f"{GATEWAY_API_TAG}:{GATEWAY_API_FILE}"],
        check=True, capture_output=True, text=True,
    ).stdout
    (HERE / "gateway-api-gateways.yaml").write_text(
        f"# Extracted by extract.py from kubernetes-sigs/gateway-api {GATEWAY_API_TAG}\n"
        f"# {GATEWAY_API_FILE} (see README.md): only version v1.\n"
        + keep_version(gw[gw.index("apiVersion:"):], "v1")
    )


if __name__ == "__main__":
    main()
