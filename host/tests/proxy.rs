//! What Envoy's connection manager does before the filter sees a request,
//! checked through the probe: path normalization in Istio's four modes, the
//! requests it refuses, and how Host becomes `:authority`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::*;
use egress_host::{HcmSettings, HostConfig, HttpRequest, PathNormalization};

fn vm(target: &str, mode: PathNormalization) -> egress_host::Vm {
    probe(
        target,
        HostConfig {
            hcm: mode.into(),
            ..HostConfig::default()
        },
    )
    .configured_vm(b"", b"")
    .unwrap()
}

fn forwarded(out: &egress_host::HttpOutcome, name: &str) -> Option<String> {
    out.forwarded_headers
        .as_ref()?
        .iter()
        .find(|(k, _)| k == name.as_bytes())
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

#[test]
fn the_filter_sees_and_forwards_the_normalized_path() {
    use PathNormalization::*;
    // (path, NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES); "400" = refused.
    let cases: &[(&str, [&str; 4])] = &[
        ("/a/b/../c", ["/a/b/../c", "/a/c", "/a/c", "/a/c"]),
        ("/a/./b", ["/a/./b", "/a/b", "/a/b", "/a/b"]),
        ("/a//b", ["/a//b", "/a//b", "/a/b", "/a/b"]),
        ("/a\\b", ["/a\\b", "/a/b", "/a/b", "/a/b"]),
        ("/%61%2Db%7e", ["/%61%2Db%7e", "/a-b~", "/a-b~", "/a-b~"]),
        ("/a%2Fb", ["/a%2Fb", "/a%2Fb", "/a%2Fb", "/a/b"]),
        (
            "/a%5C..%5Cb",
            ["/a%5C..%5Cb", "/a%5C..%5Cb", "/a%5C..%5Cb", "/b"],
        ),
        ("/%2e%2e/x", ["/%2e%2e/x", "/x", "/x", "/x"]),
        ("/a/%2541", ["/a/%2541", "/a/%2541", "/a/%2541", "/a/%2541"]),
        (
            "/x?a=/../b//c",
            [
                "/x?a=/../b//c",
                "/x?a=/../b//c",
                "/x?a=/../b//c",
                "/x?a=/../b//c",
            ],
        ),
        ("/a%00b", ["/a%00b", "400", "400", "400"]),
        ("/a#frag", ["400", "400", "400", "400"]),
    ];
    for t in TARGETS {
        for (i, mode) in [None, Base, MergeSlashes, DecodeAndMergeSlashes]
            .into_iter()
            .enumerate()
        {
            let mut vm = vm(t, mode);
            for (path, want) in cases {
                let out = vm
                    .http(&HttpRequest::new("GET", "a.example", path))
                    .unwrap();
                if want[i] == "400" {
                    assert_eq!(out.proxy_rejected, Some(400), "{t} {mode} {path}");
                    assert_eq!(
                        (out.status, out.details.as_str()),
                        (400, "path_normalization_failed"),
                        "{t} {mode} {path}"
                    );
                    assert!(
                        out.logs.is_empty() && out.request_action.is_none(),
                        "{t}: no filter callback ran"
                    );
                } else {
                    assert_eq!(
                        forwarded(&out, ":path").as_deref(),
                        Some(want[i]),
                        "{t} {mode} {path}"
                    );
                }
            }
        }
    }
}

#[test]
fn requests_the_connection_manager_refuses() {
    for t in TARGETS {
        let mut vm = vm(t, PathNormalization::Base);
        let status = |vm: &mut egress_host::Vm, r: HttpRequest| {
            let out = vm.http(&r).unwrap();
            (out.proxy_rejected, out.details)
        };
        assert_eq!(
            status(&mut vm, HttpRequest::new("get", "a", "/")),
            (Some(400), "http1.codec_error".into()),
            "{t}"
        );
        assert_eq!(
            status(
                &mut vm,
                HttpRequest::new("GET", "a", "/").without_authority()
            ),
            (Some(400), "missing_host_header".into())
        );
        assert_eq!(
            status(&mut vm, HttpRequest::new("GET", "a", "*")),
            (Some(404), "absolute_path".into())
        );
        assert_eq!(
            status(
                &mut vm,
                HttpRequest::new("GET", "a", "/").header("x", "a\r\nb")
            )
            .0,
            Some(400)
        );
        assert_eq!(
            status(
                &mut vm,
                HttpRequest::new("GET", "a", "/").header(":path", "/evil")
            )
            .0,
            Some(400),
            "{t}: no pseudo-headers in HTTP/1"
        );
        // Unusual but valid: a WebDAV method from Envoy's list, obs-text in a value.
        assert_eq!(
            status(&mut vm, HttpRequest::new("PROPFIND", "a", "/")).0,
            None
        );
        assert_eq!(
            status(
                &mut vm,
                HttpRequest::new("GET", "a", "/").header("x", b"\xff\xfe")
            )
            .0,
            None
        );
    }
}

/// `n` headers `x-0: v` … on a request that has a Host.
fn with_headers(n: usize) -> HttpRequest {
    (0..n).fold(HttpRequest::new("GET", "a", "/"), |r, i| {
        r.header(format!("x-{i}"), "v")
    })
}

#[test]
fn unknown_methods_and_oversized_heads_get_the_codecs_reply() {
    for t in TARGETS {
        let mut vm = vm(t, PathNormalization::Base);
        let refused = |vm: &mut egress_host::Vm, r: &HttpRequest| {
            let out = vm.http(r).unwrap();
            assert!(
                out.logs.is_empty() && out.request_action.is_none(),
                "{t}: no filter callback ran"
            );
            (
                out.proxy_rejected,
                out.details,
                String::from_utf8_lossy(&out.response_body).into_owned(),
            )
        };
        let bad = || {
            (
                Some(400),
                "http1.codec_error".to_owned(),
                "Bad Request".to_owned(),
            )
        };
        for m in ["BREW", "QUERY", "get"] {
            assert_eq!(
                refused(&mut vm, &HttpRequest::new(m, "a", "/")),
                bad(),
                "{t} {m}"
            );
        }
        // Host is one entry: 99 more headers make Envoy's 100.
        assert_eq!(vm.http(&with_headers(99)).unwrap().proxy_rejected, None);
        assert_eq!(
            refused(&mut vm, &with_headers(100)),
            (
                Some(431),
                "http1.too_many_headers".to_owned(),
                "Request Header Fields Too Large".to_owned()
            ),
            "{t}"
        );
        // "GET / HTTP/1.1\r\n" "Host: a\r\n" "x: …\r\n" "\r\n": 32 bytes besides the value.
        let head = |len: usize| HttpRequest::new("GET", "a", "/").header("x", "v".repeat(len - 32));
        assert_eq!(vm.http(&head(60 * 1024)).unwrap().proxy_rejected, None);
        assert_eq!(
            refused(&mut vm, &head(60 * 1024 + 1)).1,
            "http1.headers_too_large",
            "{t}"
        );
    }
}

#[test]
fn the_limits_and_custom_methods_are_settings() {
    for t in TARGETS {
        let mut vm = probe(
            t,
            HostConfig {
                hcm: HcmSettings {
                    allow_custom_methods: true,
                    max_request_headers_kb: 1,
                    max_headers_count: 3,
                    ..HcmSettings::default()
                },
                ..HostConfig::default()
            },
        )
        .configured_vm(b"", b"")
        .unwrap();
        let out = vm.http(&HttpRequest::new("BREW", "a", "/")).unwrap();
        assert_eq!(out.proxy_rejected, None, "{t}");
        assert_eq!(forwarded(&out, ":method").as_deref(), Some("BREW"));
        assert_eq!(vm.http(&with_headers(2)).unwrap().proxy_rejected, None);
        assert_eq!(
            vm.http(&with_headers(3)).unwrap().details,
            "http1.too_many_headers"
        );
        let out = vm
            .http(&HttpRequest::new("GET", "a", "/").header("x", "v".repeat(1024)))
            .unwrap();
        assert_eq!(
            (out.proxy_rejected, out.details.as_str()),
            (Some(431), "http1.headers_too_large"),
            "{t}"
        );
    }
    // Envoy refuses these settings; so does the host.
    for cfg in [
        HostConfig {
            hcm: HcmSettings {
                max_request_headers_kb: 0,
                ..HcmSettings::default()
            },
            ..HostConfig::default()
        },
        HostConfig {
            hcm: HcmSettings {
                max_request_headers_kb: 8193,
                ..HcmSettings::default()
            },
            ..HostConfig::default()
        },
        HostConfig {
            hcm: HcmSettings {
                max_headers_count: 0,
                ..HcmSettings::default()
            },
            ..HostConfig::default()
        },
    ] {
        let e = egress_host::Plugin::from_bytes(&probe_wasm(TARGETS[0]), cfg).unwrap_err();
        assert!(e.to_string().contains("Envoy"), "{e}");
    }
}

#[test]
fn nested_escapes_stay_escaped() {
    use PathNormalization::*;
    for t in TARGETS {
        for mode in [Base, MergeSlashes, DecodeAndMergeSlashes] {
            let mut vm = vm(t, mode);
            for path in ["/p/%%32%65%%32%65/x", "/p/%25%32%65%25%32%65/x"] {
                let out = vm.http(&HttpRequest::new("GET", "a", path)).unwrap();
                assert_eq!(
                    forwarded(&out, ":path").as_deref(),
                    Some("/p/%252e%252e/x"),
                    "{t} {mode} {path}"
                );
            }
        }
    }
}

#[test]
fn host_becomes_authority_as_in_envoys_header_map() {
    for t in TARGETS {
        let mut vm = vm(t, PathNormalization::Base);
        let out = vm
            .http(
                &HttpRequest::new("GET", "a.example", "/")
                    .header("Host", "b.example")
                    .header("X-Up", "  v  "),
            )
            .unwrap();
        let h = out.forwarded_headers.as_ref().unwrap();
        assert_eq!(
            forwarded(&out, ":authority").as_deref(),
            Some("a.example,b.example"),
            "{t}: a second Host is appended"
        );
        assert!(!h.iter().any(|(k, _)| k == b"host"), "{t}");
        assert_eq!(
            forwarded(&out, "x-up").as_deref(),
            Some("v"),
            "{t}: names lower-cased, blanks trimmed"
        );
        let out = vm
            .http(
                &HttpRequest::new("GET", "", "/")
                    .without_authority()
                    .header("HOST", "c.example:8080"),
            )
            .unwrap();
        assert_eq!(
            forwarded(&out, ":authority").as_deref(),
            Some("c.example:8080")
        );
        // Absolute-form request target.
        let out = vm
            .http(&HttpRequest::new("GET", "ignored", "http://d.example/p?q"))
            .unwrap();
        assert_eq!(
            (
                forwarded(&out, ":authority").as_deref(),
                forwarded(&out, ":path").as_deref()
            ),
            (Some("d.example"), Some("/p?q"))
        );
        // HTTPS scheme and the pseudo-header order.
        let out = vm
            .http(&HttpRequest::new("GET", "e.example", "/").with_scheme("https"))
            .unwrap();
        let names: Vec<&[u8]> = out
            .forwarded_headers
            .as_ref()
            .unwrap()
            .iter()
            .map(|(k, _)| k.as_slice())
            .collect();
        assert_eq!(
            names,
            [&b":authority"[..], b":path", b":method", b":scheme"]
        );
        assert_eq!(forwarded(&out, ":scheme").as_deref(), Some("https"));
    }
}
