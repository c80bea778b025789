//! The `egressc` command line, run as users run it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
#[path = "cli/conventions.rs"]
mod conventions;
#[path = "cli/docs.rs"]
mod docs;
#[path = "cli/report.rs"]
mod report;

use common::text;

/// `egressc ARGS` in the compiler crate's directory.
fn egressc(args: &[&str]) -> Output {
    common::egressc_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("cli", name)
}

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

const BROKEN: &str = r#"policy "p" {
  mdoe enforce
  destination "a.com" port 80 http {
    alow GET
  }
}
"#;

#[test]
fn check_reports_every_error_with_file_line_col() {
    let d = scratch("check");
    let f = d.join("broken.egress");
    std::fs::write(&f, BROKEN).unwrap();
    let out = egressc(&["check", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:2:3: error: unknown policy item `mdoe`",
            f.display()
        )),
        "{err}"
    );
    assert!(err.contains("did you mean `mode`?"), "{err}");
    assert!(
        err.contains(&format!("{}:4:5: error:", f.display())),
        "{err}"
    );
    assert!(err.contains("did you mean `allow`?"), "{err}");
    assert!(err.contains("2 errors"), "{err}");
    let json = egressc(&["check", "--format", "json", f.to_str().unwrap()]);
    assert_eq!(json.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = text(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["code"], "E0202");
    assert_eq!(lines[0]["location"]["line"], 2);
    assert_eq!(
        egressc(&["check", policies().to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn compile_writes_atomically_and_nothing_on_error() {
    let d = scratch("compile");
    let out_path = d.join("out.table");
    let ok = egressc(&[
        "compile",
        policies().join("httpbin.egress").to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let bytes = std::fs::read(&out_path).unwrap();
    assert!(egress_table::Table::from_bytes(&bytes).is_ok());
    // A failing compile leaves the previous output untouched, and creates nothing new.
    let broken = d.join("broken.egress");
    std::fs::write(&broken, BROKEN).unwrap();
    let bad = egressc(&[
        "compile",
        broken.to_str().unwrap(),
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(std::fs::read(&out_path).unwrap(), bytes);
    let fresh = d.join("fresh.table");
    assert_eq!(
        egressc(&[
            "compile",
            broken.to_str().unwrap(),
            "-o",
            fresh.to_str().unwrap()
        ])
        .status
        .code(),
        Some(1)
    );
    assert!(!fresh.exists());
    let leftovers: Vec<_> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    // An unwritable destination is an I/O error (exit 2), not a partial file.
    let nodir = d.join("no/such/dir/out.table");
    assert_eq!(
        egressc(&[
            "compile",
            policies().join("httpbin.egress").to_str().unwrap(),
            "-o",
            nodir.to_str().unwrap()
        ])
        .status
        .code(),
        Some(2)
    );
    // plugin-config JSON and the dump.
    let pc = egressc(&[
        "compile",
        policies().join("github.egress").to_str().unwrap(),
        "--emit",
        "plugin-config",
        "--layer",
        "network",
        "-o",
        "-",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&pc.stdout).unwrap();
    assert_eq!(v["layer"], "network");
    let dump = egressc(&[
        "compile",
        policies().join("httpbin.egress").to_str().unwrap(),
        "--emit",
        "dump",
        "-o",
        "-",
    ]);
    assert!(
        text(&dump.stdout)
            .contains("[httpbin/2] allow any principal=\"cluster.local/ns/default/sa/admin\""),
        "{}",
        text(&dump.stdout)
    );
}

/// `-o /dev/null` (as docs/istio.md uses it) writes into the device: an
/// atomic rename over it would leave a regular file where `/dev/null` was,
/// and every later reader of `/dev/null` would read what was written there.
/// A symbolic link keeps pointing where it did, and the file it names gets
/// the output.
#[test]
fn outputs_that_are_not_regular_files_are_written_in_place() {
    use std::os::unix::fs::FileTypeExt as _;
    let httpbin = policies().join("httpbin.egress");
    let httpbin = httpbin.to_str().unwrap();
    for cmd in [
        &["compile", httpbin, "-o", "/dev/null"][..],
        &["istio", httpbin, "-o", "/dev/null"][..],
    ] {
        let out = egressc(cmd);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {}", text(&out.stderr));
        let kind = std::fs::symlink_metadata("/dev/null").unwrap().file_type();
        assert!(kind.is_char_device(), "{cmd:?} replaced /dev/null");
    }
    let d = scratch("symlink");
    let real = d.join("real.table");
    std::fs::write(&real, b"old").unwrap();
    let link = d.join("link.table");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let out = egressc(&["compile", httpbin, "-o", link.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(link.is_symlink(), "the link was replaced by a file");
    assert!(egress_table::Table::from_bytes(&std::fs::read(&real).unwrap()).is_ok());
    // A directory is named as such, and left alone.
    let out = egressc(&["compile", httpbin, "-o", d.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is a directory"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn missing_files_are_usage_errors() {
    let out = egressc(&["check", "/nonexistent/x.egress"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/x.egress"));
}

#[test]
fn fmt_check_and_rewrite() {
    let d = scratch("fmt");
    let f = d.join("p.egress");
    std::fs::write(
        &f,
        "policy \"p\" {   destination \"a.com\" http port 80 { allow GET,POST } # c\n}\n",
    )
    .unwrap();
    assert_eq!(
        egressc(&["fmt", "--check", f.to_str().unwrap()])
            .status
            .code(),
        Some(1)
    );
    assert_eq!(
        egressc(&["fmt", f.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let formatted = std::fs::read_to_string(&f).unwrap();
    assert!(
        formatted
            .contains("  destination \"a.com\" port 80 http {\n    allow GET, POST\n  }  # c\n"),
        "{formatted}"
    );
    assert_eq!(
        egressc(&["fmt", "--check", f.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        egressc(&["fmt", "--check", policies().to_str().unwrap()])
            .status
            .code(),
        Some(0),
        "the example policies are formatted"
    );
}

#[test]
fn explain_names_the_rule_and_the_misses() {
    let out = egressc(&[
        "explain",
        policies().join("httpbin.egress").to_str().unwrap(),
        "--request",
        r#"{"method":"POST","host":"httpbin.org","path":"/post"}"#,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    assert!(
        s.contains("deny by the default of policy \"httpbin\""),
        "{s}"
    );
    assert!(
        s.contains("httpbin/1") && s.contains("the method is not GET"),
        "{s}"
    );
    assert!(
        s.contains("httpbin/2") && s.contains("no source principal"),
        "{s}"
    );
}

#[test]
fn explain_names_negated_conditions_that_missed() {
    let negations =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/valid/negations.egress");
    let out = egressc(&[
        "explain",
        negations.to_str().unwrap(),
        "--request",
        r#"{"method":"POST","host":"api.example.com","path":"/admin/x","principal":"cluster.local/ns/untrusted/sa/app","headers":{"content-type":"application/json","x-debug":"0"}}"#,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let s = text(&out.stdout);
    for want in [
        "decision: deny by rule negations/2",
        "the method is one that `any except GET, HEAD, POST` leaves out",
        "principal \"cluster.local/ns/untrusted/sa/app\" matches one of its `except from` sources",
    ] {
        assert!(s.contains(want), "{want}\n{s}");
    }
    let out = egressc(&[
        "explain",
        negations.to_str().unwrap(),
        "--request",
        r#"{"method":"GET","host":"api.example.com","path":"/v1/a.json","headers":{"user-agent":"Mozilla/5","x-debug":"1"}}"#,
    ]);
    let s = text(&out.stdout);
    for want in [
        "decision: deny by rule negations/6",
        "path \"/v1/a.json\" matches one of its `except path` patterns",
        "header \"x-debug\" != \"0\"",
    ] {
        assert!(s.contains(want), "{want}\n{s}");
    }
}

fn filter_built() -> bool {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/wasm32-wasip1/release/egress_filter.wasm")
        .is_file()
}

#[test]
fn simulate_runs_each_line_and_reports_bad_ones() {
    assert!(filter_built(), "build the filter first: make wasm");
    let d = scratch("simulate");
    let reqs = d.join("r.jsonl");
    std::fs::write(
        &reqs,
        concat!(
            "{\"method\":\"GET\",\"host\":\"httpbin.org\",\"port\":80,\"path\":\"/get\"}\n",
            "{\"method\":\"GET\",\"hots\":\"httpbin.org\"}\n",
            "not json\n",
            "{\"method\":\"POST\",\"host\":\"httpbin.org\",\"path\":\"/post\",\"principal\":\"cluster.local/ns/default/sa/admin\"}\n",
            "{\"sni\":\"github.com\",\"port\":443}\n",
        ),
    )
    .unwrap();
    let out = egressc(&[
        "simulate",
        policies().join("httpbin.egress").to_str().unwrap(),
        "--requests",
        reqs.to_str().unwrap(),
        "--format",
        "json",
        "--log",
        "--metrics",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "malformed lines make the exit code 1"
    );
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "one line per input line, plus the metrics");
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(lines[0]["status"], 200);
    assert_eq!(lines[0]["rule"], "httpbin/1");
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("did you mean \"host\"")
    );
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[2]["error"].as_str().unwrap().contains("JSON"));
    assert_eq!(lines[3]["decision"], "allow");
    assert_eq!(lines[3]["rule"], "httpbin/2");
    assert_eq!(lines[4]["decision"], "deny");
    assert_eq!(lines[4]["status"], serde_json::Value::Null);
    assert!(
        lines[5]["metrics"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.ends_with("egress_decisions_total"))
    );
}

#[test]
fn simulate_input_errors_stay_on_their_line() {
    assert!(filter_built(), "build the filter first: make wasm");
    let d = scratch("simulate-input");
    let reqs = d.join("r.jsonl");
    let get = br#"{"method":"GET","host":"httpbin.org","path":"/get"}"#;
    let mut input = b"\xEF\xBB\xBF".to_vec();
    for line in [
        &get[..],
        b"{\"method\":\"GET\",\"host\":\"httpbin.org\",\"path\":\"/g\xffet\"}",
        br#"{"method":"GET","host":"httpbin.org","path":"/get","headers":{"x-a":"1","x-a":"2"}}"#,
        br#"{"method":"GET","host":"httpbin.org","path":"/get","scheme":"ftp"}"#,
        get,
    ] {
        input.extend_from_slice(line);
        input.extend_from_slice(b"\r\n");
    }
    std::fs::write(&reqs, input).unwrap();
    let out = egressc(&[
        "simulate",
        policies().join("httpbin.egress").to_str().unwrap(),
        "--requests",
        reqs.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "bad lines make the exit code 1");
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{}", text(&out.stdout));
    // The BOM before the first line and the CRLF endings are accepted.
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(lines[4]["decision"], "allow");
    let error = |i: usize| lines[i]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error(1).contains("not UTF-8"), "{}", error(1));
    assert!(error(2).contains("\"x-a\" appears twice"), "{}", error(2));
    assert!(error(3).contains("\"http\" or \"https\""), "{}", error(3));
}

#[test]
fn filter_settings_reach_the_plugin_config_and_every_run() {
    assert!(filter_built(), "build the filter first: make wasm");
    let d = scratch("filter-settings");
    let policy = d.join("p.egress");
    std::fs::write(
        &policy,
        "policy \"p\" {\n  destination \"a.example\" port 80 http {\n    allow GET path prefix \"/files/\"\n  }\n}\n",
    )
    .unwrap();
    let p = policy.to_str().unwrap();
    // compile writes them into the plugin configuration, and only there.
    let out = egressc(&[
        "compile",
        p,
        "--emit",
        "plugin-config",
        "--max-path-bytes",
        "9000",
        "--max-header-bytes",
        "100",
        "--authority-header",
        "Host",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(
        (
            v["max_path_bytes"].as_u64(),
            v["max_header_bytes"].as_u64(),
            v["authority_header"].as_str()
        ),
        (Some(9000), Some(100), Some("host"))
    );
    let plain = egressc(&["compile", p, "--emit", "plugin-config"]);
    assert!(
        !text(&plain.stdout).contains("max_path_bytes"),
        "defaults are left out"
    );
    let out = egressc(&["compile", p, "--emit", "dump", "--max-path-bytes", "9000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("apply only to --emit plugin-config"),
        "{}",
        text(&out.stderr)
    );
    for bad in [
        &["--max-path-bytes", "0"][..],
        &["--max-header-bytes", "8388609"],
        &["--authority-header", "x y"],
    ] {
        let mut args = vec!["compile", p, "--emit", "plugin-config"];
        args.extend_from_slice(bad);
        let out = egressc(&args);
        assert_ne!(out.status.code(), Some(0), "{bad:?}");
        assert!(
            text(&out.stderr).contains(bad[0]),
            "{bad:?}: {}",
            text(&out.stderr)
        );
    }
    // simulate and explain run the filter as it will be configured.
    let long = format!("/files/{}", "x".repeat(5000));
    let reqs = d.join("r.jsonl");
    std::fs::write(
        &reqs,
        format!("{{\"method\":\"GET\",\"host\":\"a.example\",\"path\":\"{long}\"}}\n"),
    )
    .unwrap();
    let simulate = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            p,
            "--requests",
            reqs.to_str().unwrap(),
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = egressc(&args);
        let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
        format!("{} {}", v["decision"], v["reason"])
    };
    assert_eq!(simulate(&[]), "\"deny\" \"path-too-long\"");
    assert_eq!(
        simulate(&["--max-path-bytes", "8192"]),
        "\"allow\" \"rule\""
    );
    let request = format!("{{\"method\":\"GET\",\"host\":\"a.example\",\"path\":\"{long}\"}}");
    let explain = |extra: &[&str]| {
        let mut args = vec!["explain", p, "--request", &request];
        args.extend_from_slice(extra);
        text(&egressc(&args).stdout)
    };
    assert!(
        explain(&[]).contains("refused before any rule: path-too-long"),
        "{}",
        explain(&[])
    );
    assert!(explain(&["--max-path-bytes", "8192"]).contains("decision: allow"));
    // A header value condition reads at most --max-header-bytes.
    std::fs::write(
        &policy,
        "policy \"p\" {\n  destination \"a.example\" port 80 http {\n    allow GET when header \"x-tenant\" == \"acme\"\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(
        &reqs,
        "{\"method\":\"GET\",\"host\":\"a.example\",\"path\":\"/\",\"headers\":{\"x-tenant\":\"acme, acme\"}}\n",
    )
    .unwrap();
    assert_eq!(simulate(&[]), "\"allow\" \"rule\"");
    assert_eq!(
        simulate(&["--max-header-bytes", "9"]),
        "\"deny\" \"default\""
    );
}

#[test]
fn simulate_reports_what_envoy_answers_before_the_filter() {
    assert!(filter_built(), "build the filter first: make wasm");
    let d = scratch("simulate-envoy");
    let policy = d.join("p.egress");
    std::fs::write(
        &policy,
        "policy \"p\" {\n  default deny\n  destination \"a.example\" port 80 http {\n    allow any path \"/public/{**}\"\n  }\n}\n",
    )
    .unwrap();
    let line = |method: &str, path: &str, headers: &str| {
        format!(
            "{{\"method\":\"{method}\",\"host\":\"a.example\",\"path\":\"{path}\",\"headers\":{{{headers}}}}}\n"
        )
    };
    // `n` headers besides Host: Envoy counts Host as one of its 100.
    let many = |n: usize| {
        (0..n)
            .map(|i| format!("\"x-{i}\":\"v\""))
            .collect::<Vec<_>>()
            .join(",")
    };
    // "GET /public/x HTTP/1.1\r\n" "Host: a.example\r\n" "x: …\r\n" "\r\n"
    let head = |len: usize| format!("\"x\":\"{}\"", "v".repeat(len - 24 - 17 - 5 - 2));
    let reqs = d.join("r.jsonl");
    std::fs::write(
        &reqs,
        [
            line("BREW", "/public/x", ""),
            line("GET", "/public/x", &many(99)),
            line("GET", "/public/x", &many(100)),
            line("GET", "/public/x", &head(60 * 1024)),
            line("GET", "/public/x", &head(60 * 1024 + 1)),
            line("GET", "/public/%%32%65%%32%65/private", ""),
            line("GET", "/public/%25%32%65%25%32%65/private", ""),
        ]
        .concat(),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "simulate",
            policy.to_str().unwrap(),
            "--requests",
            reqs.to_str().unwrap(),
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let out = egressc(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                format!("{} {} {}", v["decision"], v["status"], v["reason"])
            })
            .collect::<Vec<_>>()
    };
    let rejected = |status: u16| format!("\"deny\" {status} \"proxy-rejected\"");
    let allowed = "\"allow\" 200 \"rule\"".to_owned();
    let double = "\"deny\" 403 \"path-double-encoded\"".to_owned();
    assert_eq!(
        run(&[]),
        [
            rejected(400),
            allowed.clone(),
            rejected(431),
            allowed.clone(),
            rejected(431),
            double.clone(),
            double.clone(),
        ]
    );
    assert_eq!(
        run(&[
            "--allow-custom-methods",
            "--max-headers-count",
            "101",
            "--max-request-headers-kb",
            "61"
        ]),
        [
            allowed.clone(),
            allowed.clone(),
            allowed.clone(),
            allowed.clone(),
            allowed,
            double.clone(),
            double,
        ]
    );
    // explain takes the same settings and agrees.
    let explain = |extra: &[&str]| {
        let mut args = vec![
            "explain",
            policy.to_str().unwrap(),
            "--request",
            r#"{"method":"BREW","host":"a.example","path":"/public/x"}"#,
        ];
        args.extend_from_slice(extra);
        text(&egressc(&args).stdout)
    };
    assert!(
        explain(&[]).contains("refused by the proxy before any filter: 400 http1.codec_error"),
        "{}",
        explain(&[])
    );
    assert!(
        explain(&["--allow-custom-methods"]).contains("decision: allow"),
        "{}",
        explain(&["--allow-custom-methods"])
    );
    // Settings Envoy would refuse are usage errors.
    for bad in [
        &["--max-request-headers-kb", "0"][..],
        &["--max-request-headers-kb", "8193"],
        &["--max-headers-count", "0"],
    ] {
        let mut args = vec![
            "simulate",
            policy.to_str().unwrap(),
            "--requests",
            reqs.to_str().unwrap(),
        ];
        args.extend_from_slice(bad);
        let out = egressc(&args);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(text(&out.stderr).contains(bad[0]), "{}", text(&out.stderr));
    }
}

#[test]
fn test_command_passes_on_the_examples_and_fails_readably() {
    assert!(filter_built(), "build the filter first: make wasm");
    let ok = egressc(&["test", policies().to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stdout));
    assert!(text(&ok.stdout).contains(" 0 failed"));
    let d = scratch("test");
    let f = d.join("wrong.egress");
    std::fs::write(
        &f,
        "policy \"p\" {\n  destination \"a.com\" port 80 http {\n    allow GET\n  }\n\n  test \"t\" {\n    GET http://a.com/ => allow\n    POST http://a.com/ => allow\n  }\n}\n",
    )
    .unwrap();
    let bad = egressc(&["test", f.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    let s = text(&bad.stdout);
    assert!(s.contains("FAIL  POST http://a.com/ (line 8)"), "{s}");
    assert!(s.contains("expected allow"), "{s}");
    assert!(
        s.contains("got      deny (403) by the default of policy p"),
        "{s}"
    );
    assert!(s.contains("1 passed, 1 failed"), "{s}");
    let json = egressc(&["test", "--format", "json", f.to_str().unwrap()]);
    let last: serde_json::Value =
        serde_json::from_str(text(&json.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["summary"]["failed"], 1);
}

/// A file set without a policy would compile to a table that allows
/// everything: an error unless `--allow-empty` says it is meant.
#[test]
fn an_empty_policy_set_is_an_error_unless_allowed() {
    let d = scratch("empty");
    let f = d.join("comments.egress");
    std::fs::write(&f, "# nothing here yet\n").unwrap();
    let out_file = d.join("t.bin");
    for args in [
        vec!["check", f.to_str().unwrap()],
        vec![
            "compile",
            f.to_str().unwrap(),
            "-o",
            out_file.to_str().unwrap(),
            "--deny-warnings",
        ],
    ] {
        let out = egressc(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("no policy to compile [E0360]"), "{err}");
        assert!(err.contains("--allow-empty"), "{err}");
        assert!(!out_file.exists(), "nothing is written on error");
        let mut allowed = args.clone();
        allowed.push("--allow-empty");
        let out = egressc(&allowed);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{allowed:?}: {}",
            text(&out.stderr)
        );
    }
    assert!(out_file.exists());
}

#[test]
fn import_istio_writes_a_checked_policy_or_nothing() {
    let d = scratch("import");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/istio");
    let github = samples.join("samples-external-github.yaml");
    let out = egressc(&["import", "istio", github.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let policy = text(&out.stdout);
    assert!(
        policy.contains("default deny")
            && policy.contains("destination \"github.com\" port 443 tls"),
        "{policy}"
    );
    let f = d.join("github.egress");
    let out = egressc(&[
        "import",
        "istio",
        github.to_str().unwrap(),
        "--posture",
        "allowed",
        "-o",
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        std::fs::read_to_string(&f)
            .unwrap()
            .contains("default allow")
    );
    assert_eq!(
        egressc(&["check", f.to_str().unwrap()]).status.code(),
        Some(0)
    );
    assert_eq!(
        egressc(&["fmt", "--check", f.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    // Invalid YAML: an error with its position, and nothing written.
    let bad = d.join("bad.yaml");
    std::fs::write(&bad, "kind: ServiceEntry\nspec: {hosts: [a\n").unwrap();
    let g = d.join("bad.egress");
    let out = egressc(&[
        "import",
        "istio",
        bad.to_str().unwrap(),
        "-o",
        g.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("[E0601]"),
        "{}",
        text(&out.stderr)
    );
    assert!(!g.exists());
    // A warning stops the import only with --deny-warnings.
    let ap = d.join("ap.yaml");
    std::fs::write(&ap, "kind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules: [{to: [{operation: {hosts: [a.example]}}]}]\n").unwrap();
    assert_eq!(
        egressc(&["import", "istio", ap.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let out = egressc(&["import", "istio", ap.to_str().unwrap(), "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("ap.yaml:0:spec.rules[0].to[0].operation.hosts[0]"),
        "{}",
        text(&out.stderr)
    );
}
