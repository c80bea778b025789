//! The mesh subcommands (`istio`, `posture`, `package`, `version`) and the
//! built-in filter module, run as users run them: exit codes (0 done, 1 the
//! policy failed, 2 the command could not run), messages, and files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::text;

/// `egressc ARGS` at the repository's root.
fn egressc(args: &[&str]) -> Output {
    common::egressc_in(&common::repo(), args)
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("mesh", name)
}

#[test]
fn istio_exit_codes_and_errors() {
    let d = scratch("istio");
    let ok = egressc(&[
        "istio",
        "policies/httpbin.egress",
        "--wasm-url",
        "oci://r.test/f:1",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("kind: WasmPlugin"));
    assert!(ok.stderr.is_empty(), "{}", text(&ok.stderr));
    // Without --wasm-url: a placeholder, and a note saying so.
    let note = egressc(&["istio", "policies/httpbin.egress"]);
    assert_eq!(note.status.code(), Some(0));
    assert!(text(&note.stderr).contains("placeholder oci://registry.example/"));
    // -o writes the file; a broken policy writes nothing and exits 1.
    let out = d.join("bundle.yaml");
    let w = egressc(&[
        "istio",
        "policies/httpbin.egress",
        "--wasm-url",
        "oci://r.test/f:1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(w.status.code(), Some(0));
    assert_eq!(std::fs::read(&out).unwrap(), ok.stdout);
    let broken = d.join("broken.egress");
    std::fs::write(
        &broken,
        "policy \"p\" {\n  destination \"a.com\" port 80 htp\n}\n",
    )
    .unwrap();
    let fresh = d.join("fresh.yaml");
    let b = egressc(&[
        "istio",
        broken.to_str().unwrap(),
        "-o",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(b.status.code(), Some(1));
    assert!(
        text(&b.stderr).contains("broken.egress:2:"),
        "{}",
        text(&b.stderr)
    );
    assert!(!fresh.exists());
    // Warnings (W0503, a catch-all host) are shown; --deny-warnings fails.
    let warn = egressc(&[
        "istio",
        "policies/audit.egress",
        "--wasm-url",
        "oci://r.test/f:1",
    ]);
    assert_eq!(warn.status.code(), Some(0));
    assert!(
        text(&warn.stderr).contains("[W0503]"),
        "{}",
        text(&warn.stderr)
    );
    let deny = egressc(&[
        "istio",
        "policies/audit.egress",
        "--deny-warnings",
        "-o",
        fresh.to_str().unwrap(),
    ]);
    assert_eq!(deny.status.code(), Some(1));
    assert!(!fresh.exists());
    let json = egressc(&[
        "istio",
        "policies/audit.egress",
        "--format",
        "json",
        "-o",
        fresh.to_str().unwrap(),
    ]);
    let first: serde_json::Value =
        serde_json::from_str(text(&json.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["code"], "W0503");
    assert_eq!(first["location"]["file"], "policies/audit.egress");
    // Bad arguments: exit 2 with what to write instead.
    let url = egressc(&[
        "istio",
        "policies/httpbin.egress",
        "--wasm-url",
        "ftp://x/y.wasm",
    ]);
    assert_eq!(url.status.code(), Some(2));
    assert!(
        text(&url.stderr).contains("expected oci://"),
        "{}",
        text(&url.stderr)
    );
    let pinned = egressc(&[
        "istio",
        "policies/httpbin.egress",
        "--wasm-url",
        "oci://r.test/f@sha256:abc",
    ]);
    assert_eq!(pinned.status.code(), Some(2));
    let digest = "ab".repeat(32);
    let good_pin = egressc(&[
        "istio",
        "policies/httpbin.egress",
        "--wasm-url",
        &format!("oci://r.test/f@sha256:{digest}"),
    ]);
    assert!(
        text(&good_pin.stdout).contains(&format!("sha256: {digest}\n")),
        "{}",
        text(&good_pin.stdout)
    );
    let ns = egressc(&[
        "istio",
        "policies/httpbin.egress",
        "--namespace",
        "Egress_NS",
    ]);
    assert_eq!(ns.status.code(), Some(2));
    assert!(
        text(&ns.stderr).contains("e.g. egress-ns"),
        "{}",
        text(&ns.stderr)
    );
    let attach = egressc(&["istio", "policies/httpbin.egress", "--attach", "ztunnel"]);
    assert_eq!(attach.status.code(), Some(2));
    let missing = egressc(&["istio", "policies/nope.egress"]);
    assert_eq!(missing.status.code(), Some(2));
    let bad_wasm = egressc(&[
        "istio",
        "policies/httpbin.egress",
        "--wasm",
        "policies/httpbin.egress",
    ]);
    assert_eq!(bad_wasm.status.code(), Some(2));
    assert!(text(&bad_wasm.stderr).contains("not a WebAssembly module"));
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn posture_in_every_form() {
    for (posture, mode) in [("restricted", "REGISTRY_ONLY"), ("allowed", "ALLOW_ANY")] {
        for format in ["istioctl", "helm", "configmap"] {
            let out = egressc(&["posture", posture, "--emit", format]);
            assert_eq!(out.status.code(), Some(0));
            let t = text(&out.stdout);
            assert!(t.contains(&format!("mode: {mode}")), "{t}");
            assert!(
                t.lines()
                    .next()
                    .unwrap()
                    .starts_with("# Mesh-wide outbound posture")
            );
        }
    }
    assert!(text(&egressc(&["posture", "restricted"]).stdout).contains("kind: IstioOperator"));
    assert!(
        text(&egressc(&["posture", "restricted", "--emit", "helm"]).stdout)
            .contains("helm upgrade istiod")
    );
    let d = scratch("posture");
    let f = d.join("posture.yaml");
    let out = egressc(&["posture", "restricted", "-o", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("REGISTRY_ONLY"),
        "says what it does"
    );
    assert!(
        std::fs::read_to_string(&f)
            .unwrap()
            .contains("outboundTrafficPolicy")
    );
    assert_eq!(egressc(&["posture", "open"]).status.code(), Some(2));
    assert_eq!(
        egressc(&["posture", "restricted", "--format", "kustomize"])
            .status
            .code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// `simulate` and `test` run the built-in module when neither --wasm nor
/// EGRESS_FILTER_WASM names one; --wasm still overrides.
#[test]
fn the_built_in_module_runs_and_wasm_overrides() {
    let t = egressc(&["test", "policies/httpbin.egress"]);
    assert_eq!(
        t.status.code(),
        Some(0),
        "{}{}",
        text(&t.stdout),
        text(&t.stderr)
    );
    let bad = egressc(&[
        "test",
        "policies/httpbin.egress",
        "--wasm",
        "policies/httpbin.egress",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("--wasm policies/httpbin.egress: not a WebAssembly module"));
    let env = Command::new(env!("CARGO_BIN_EXE_egressc"))
        .args(["test", "policies/httpbin.egress"])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("EGRESS_FILTER_WASM", "/no/such/filter.wasm")
        .output()
        .unwrap();
    assert_eq!(env.status.code(), Some(2));
    assert!(text(&env.stderr).contains("EGRESS_FILTER_WASM=/no/such/filter.wasm: no such file"));
}
