//! One set of conventions across the subcommands (README "Conventions",
//! `egressc --help`): exit codes 0/1/2, `--format human|json` with JSON for
//! every outcome, `--quiet`, `--color`, `--deny-warnings` printing errors,
//! `fmt` on standard input and `--diff`, completions and manual pages, and
//! an installed copy that needs no checkout.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::common::{self, text};

const GOOD: &str = r#"policy "good" {
  default deny

  destination "httpbin.org" port 80 http {
    allow GET path "/get"
  }

  test "get" {
    GET http://httpbin.org/get => allow
    POST http://httpbin.org/post => deny
  }
}
"#;

/// A valid policy with one warning (W0404) and a test that fails.
const WARN_AND_FAIL: &str = r#"policy "warn" {
  default deny

  destination "**.example.com" port 443 tls
  destination "api.example.com" port 443 tls

  test "wrong" {
    tls://other.org:443 => allow
  }
}
"#;

const BROKEN: &str = r#"policy "broken" {
  mdoe enforce
}
"#;

const UNFORMATTED: &str =
    "policy \"u\" {\ndefault deny\n    destination \"a.com\" port 80 http\n}\n";

const ALLOWED: &str = r#"{"method":"GET","host":"httpbin.org","path":"/get"}"#;
const DENIED: &str = r#"{"method":"POST","host":"httpbin.org","path":"/post"}"#;

struct Fixture {
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = common::scratch("conventions", name);
        for (file, body) in [
            ("good.egress", GOOD),
            ("warn.egress", WARN_AND_FAIL),
            ("broken.egress", BROKEN),
            ("unformatted.egress", UNFORMATTED),
            ("requests.jsonl", &format!("{ALLOWED}\n{DENIED}\n") as &str),
            ("bad-requests.jsonl", &format!("{ALLOWED}\nnot json\n")),
        ] {
            std::fs::write(dir.join(file), body).unwrap();
        }
        Self { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        common::egressc_in(&self.dir, args)
    }
}

fn istio_yaml() -> String {
    common::repo()
        .join("compiler/tests/istio/samples-external-github.yaml")
        .display()
        .to_string()
}

#[test]
fn every_subcommand_exits_0_1_or_2_as_documented() {
    let f = Fixture::new("codes");
    let yaml = istio_yaml();
    let cases: &[(&[&str], i32)] = &[
        (&["check", "good.egress"], 0),
        (&["check", "warn.egress"], 0),
        (&["check", "--deny-warnings", "warn.egress"], 1),
        (&["check", "broken.egress"], 1),
        (&["check", "missing.egress"], 2),
        (&["check", "--no-such-flag", "good.egress"], 2),
        (&["compile", "good.egress", "-o", "t.table"], 0),
        (&["compile", "broken.egress", "-o", "t2.table"], 1),
        (
            &["compile", "good.egress", "--layer", "http", "-o", "t3"],
            2,
        ),
        (
            &[
                "compile",
                "good.egress",
                "--emit",
                "plugin-config",
                "--layer",
                "network",
                "-o",
                "n.json",
            ],
            0,
        ),
        (
            &[
                "compile",
                "good.egress",
                "--emit",
                "plugin-config",
                "--layer",
                "network",
                "--deny-warnings",
                "-o",
                "n2.json",
            ],
            1,
        ),
        (&["compile", "good.egress", "--format", "dump"], 2),
        (&["fmt", "--check", "good.egress"], 0),
        (&["fmt", "--check", "unformatted.egress"], 1),
        (&["fmt", "--diff", "unformatted.egress"], 1),
        (&["fmt", "--check", "broken.egress"], 1),
        (&["fmt", "--check", "missing.egress"], 2),
        (
            &[
                "explain",
                "good.egress",
                "--request",
                ALLOWED,
                "--fail-on-deny",
            ],
            0,
        ),
        (&["explain", "good.egress", "--request", DENIED], 0),
        (
            &[
                "explain",
                "good.egress",
                "--request",
                DENIED,
                "--fail-on-deny",
            ],
            1,
        ),
        (&["explain", "good.egress", "--request", "{"], 2),
        (&["explain", "broken.egress", "--request", ALLOWED], 1),
        (
            &["simulate", "good.egress", "--requests", "requests.jsonl"],
            0,
        ),
        (
            &[
                "simulate",
                "good.egress",
                "--requests",
                "bad-requests.jsonl",
            ],
            1,
        ),
        (
            &["simulate", "good.egress", "--requests", "missing.jsonl"],
            2,
        ),
        (&["test", "good.egress"], 0),
        (&["test", "warn.egress"], 1),
        (&["test", "broken.egress"], 1),
        (&["test", "missing.egress"], 2),
        (&["istio", "good.egress", "-o", "bundle.yaml"], 0),
        (&["istio", "broken.egress"], 1),
        (&["istio", "good.egress", "--namespace", "Not_A_Label"], 2),
        (&["posture", "restricted"], 0),
        (&["cedar", "good.egress", "-o", "cedar-out"], 0),
        (&["cedar", "broken.egress", "-o", "cedar-bad"], 1),
        (&["import", "istio", &yaml, "-o", "imported.egress"], 0),
        (&["import", "istio", "missing.yaml"], 2),
        (&["package", "--wasm", "missing.wasm", "-o", "layout"], 2),
        (&["proxy", "good.egress", "--listen", "0.0.0.0:1"], 2),
        (&["version"], 0),
        (&["completions", "bash"], 0),
        (&["man"], 0),
    ];
    let mut wrong = Vec::new();
    for (args, want) in cases {
        let out = f.run(args);
        if out.status.code() != Some(*want) {
            wrong.push(format!(
                "egressc {}: exit {:?}, documented {want}\n{}{}",
                args.join(" "),
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn json_is_json_for_every_outcome() {
    let f = Fixture::new("json");
    let yaml = istio_yaml();
    let cases: &[&[&str]] = &[
        &["check", "--format", "json", "warn.egress"],
        &["check", "--format", "json", "broken.egress"],
        &["check", "--format", "json", "missing.egress"],
        &["compile", "--format", "json", "broken.egress", "-o", "x"],
        &[
            "compile",
            "--format",
            "json",
            "good.egress",
            "--layer",
            "http",
            "-o",
            "x",
        ],
        &[
            "explain",
            "--format",
            "json",
            "good.egress",
            "--request",
            DENIED,
        ],
        &[
            "explain",
            "--format",
            "json",
            "broken.egress",
            "--request",
            DENIED,
        ],
        &[
            "explain",
            "--format",
            "json",
            "good.egress",
            "--request",
            "{",
        ],
        &[
            "simulate",
            "--format",
            "json",
            "good.egress",
            "--requests",
            "bad-requests.jsonl",
        ],
        &[
            "simulate",
            "--format",
            "json",
            "broken.egress",
            "--requests",
            "requests.jsonl",
        ],
        &["test", "--format", "json", "good.egress", "warn.egress"],
        &["test", "--format", "json", "broken.egress"],
        &["test", "--format", "json", "missing.egress"],
        &["istio", "--format", "json", "broken.egress"],
        &["cedar", "--format", "json", "broken.egress", "-o", "c"],
        &[
            "import", "istio", "--format", "json", &yaml, "-o", "i.egress",
        ],
        &["import", "istio", "--format", "json", "missing.yaml"],
    ];
    for args in cases {
        let out = f.run(args);
        let stdout = text(&out.stdout);
        let what = format!("egressc {}", args.join(" "));
        if out.status.code() != Some(0) {
            assert!(
                !stdout.trim().is_empty(),
                "{what}: a failure says why on stdout"
            );
        }
        for line in stdout.lines() {
            let v: Result<serde_json::Value, _> = serde_json::from_str(line);
            assert!(
                v.as_ref().is_ok_and(serde_json::Value::is_object),
                "{what}: not a JSON object: {line}"
            );
        }
        assert!(
            !text(&out.stderr).contains("error:"),
            "{what}: errors are JSON under --format json, not text:\n{}",
            text(&out.stderr)
        );
    }
    // The compile errors of `test --format json` are diagnostics.
    let out = f.run(&["test", "--format", "json", "broken.egress"]);
    let first: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(first["code"], "E0202");
    assert_eq!(first["severity"], "error");
}

#[test]
fn quiet_prints_only_errors_and_failures() {
    let f = Fixture::new("quiet");
    let out = f.run(&["-q", "check", "warn.egress"]);
    assert_eq!(
        (out.status.code(), text(&out.stderr)),
        (Some(0), String::new())
    );
    let out = f.run(&["test", "--quiet", "good.egress"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), String::new())
    );
    let out = f.run(&["test", "-q", "warn.egress"]);
    let s = text(&out.stdout);
    assert!(
        s.contains("FAIL  warn.egress:8: tls://other.org:443"),
        "{s}"
    );
    assert!(!s.contains("(line 8)"), "{s}");
    let out = f.run(&["fmt", "-q", "unformatted.egress"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), String::new())
    );
    // A denied warning is an error, so --quiet prints it.
    let out = f.run(&["check", "-q", "--deny-warnings", "warn.egress"]);
    assert!(text(&out.stderr).contains("[W0404]"));
}

#[test]
fn denied_warnings_are_printed_as_errors() {
    let f = Fixture::new("deny");
    let out = f.run(&["check", "--deny-warnings", "warn.egress"]);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(e.contains(": error: ") && e.contains("[W0404]"), "{e}");
    assert!(!e.contains(": warning: "), "{e}");
    assert!(
        e.contains("--deny-warnings makes this warning an error"),
        "{e}"
    );
    assert!(e.contains("1 error, 0 warnings (1 warning denied)"), "{e}");
    let out = f.run(&[
        "check",
        "--deny-warnings",
        "--format",
        "json",
        "warn.egress",
    ]);
    let v: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(
        (v["code"].as_str(), v["severity"].as_str()),
        (Some("W0404"), Some("error"))
    );
}

#[test]
fn color_follows_the_flag_and_no_color() {
    let f = Fixture::new("color");
    let always = f.run(&["check", "--color", "always", "warn.egress"]);
    assert!(text(&always.stderr).contains("\x1b[1;33mwarning\x1b[0m"));
    let never = f.run(&["check", "--color", "never", "warn.egress"]);
    assert!(!text(&never.stderr).contains('\x1b'));
    let forced = Command::new(env!("CARGO_BIN_EXE_egressc"))
        .args(["check", "warn.egress"])
        .current_dir(&f.dir)
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        !text(&forced.stderr).contains('\x1b'),
        "NO_COLOR wins over CLICOLOR_FORCE"
    );
    let forced = Command::new(env!("CARGO_BIN_EXE_egressc"))
        .args(["test", "good.egress"])
        .current_dir(&f.dir)
        .env("CLICOLOR_FORCE", "1")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(text(&forced.stdout).contains("\x1b[32mok\x1b[0m"));
}

fn with_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_egressc"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn fmt_reads_standard_input_and_shows_a_diff() {
    let f = Fixture::new("fmt");
    let formatted = "policy \"u\" {\n  default deny\n\n  destination \"a.com\" port 80 http\n}\n";
    for args in [&["fmt"][..], &["fmt", "-"]] {
        let out = with_stdin(&f.dir, args, UNFORMATTED);
        assert_eq!(
            (out.status.code(), text(&out.stdout)),
            (Some(0), formatted.to_owned())
        );
    }
    let out = with_stdin(&f.dir, &["fmt", "--check"], UNFORMATTED);
    assert_eq!(out.status.code(), Some(1));
    let out = with_stdin(&f.dir, &["fmt", "--check"], formatted);
    assert_eq!(out.status.code(), Some(0));
    let out = with_stdin(&f.dir, &["fmt"], BROKEN);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(1), String::new())
    );
    assert!(text(&out.stderr).contains("<stdin>:2:3: error"));

    // `-` is standard input for the subcommands that read policies, too.
    let out = with_stdin(&f.dir, &["check", "-"], GOOD);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = with_stdin(&f.dir, &["check", "-"], BROKEN);
    assert!(text(&out.stderr).starts_with("<stdin>:2:3: error"));
    let out = with_stdin(&f.dir, &["test", "-q", "-"], GOOD);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), String::new())
    );

    let out = f.run(&["fmt", "--diff", "unformatted.egress"]);
    assert_eq!(
        text(&out.stdout),
        "--- unformatted.egress\n+++ unformatted.egress\n@@ -1,4 +1,5 @@\n policy \"u\" {\n-default deny\n-    destination \"a.com\" port 80 http\n+  default deny\n+\n+  destination \"a.com\" port 80 http\n }\n"
    );
    assert_eq!(
        std::fs::read_to_string(f.dir.join("unformatted.egress")).unwrap(),
        UNFORMATTED,
        "--diff changes nothing"
    );
    let out = f.run(&["fmt", "--diff", "good.egress"]);
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), String::new())
    );
}

#[test]
fn compile_writes_to_standard_output_and_says_where_settings_go() {
    let f = Fixture::new("compile");
    let out = f.run(&["compile", "good.egress", "--emit", "plugin-config"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["layer"], "http");
    let out = f.run(&["compile", "good.egress"]);
    assert!(out.stdout.starts_with(b"EGRTABLE"), "the table, piped");
    // A plugin configuration for a filter no destination reaches: W0504.
    let out = f.run(&[
        "compile",
        "good.egress",
        "--emit",
        "plugin-config",
        "--layer",
        "network",
    ]);
    let e = text(&out.stderr);
    assert!(e.contains("[W0504]") && e.contains("--layer http"), "{e}");
    // Settings that live outside the table are reported, not dropped.
    std::fs::write(
        f.dir.join("tls.egress"),
        "policy \"o\" {\n  destination \"api.example.com\" port 80 http originate-tls 443 timeout 5s\n}\n",
    )
    .unwrap();
    let out = f.run(&["compile", "tls.egress", "-o", "o.table"]);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{e}");
    assert!(
        e.contains("note:") && e.contains("originate-tls") && e.contains("egressc istio"),
        "{e}"
    );
    let out = f.run(&["compile", "-q", "tls.egress", "-o", "o.table"]);
    assert_eq!(text(&out.stderr), "", "--quiet drops notes");
    let out = f.run(&["compile", "--deny-warnings", "tls.egress", "-o", "o.table"]);
    assert_eq!(out.status.code(), Some(0), "a note is not a warning");
}

#[test]
fn older_spellings_still_work() {
    let f = Fixture::new("old");
    let out = f.run(&["explain", "--policy", "good.egress", "--request", ALLOWED]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = f.run(&[
        "simulate",
        "--policy",
        "good.egress",
        "--requests",
        "requests.jsonl",
        "--format",
        "table",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("decided by"));
    let out = f.run(&["check", "--error-format", "json", "broken.egress"]);
    assert!(text(&out.stdout).contains("\"E0202\""));
    let out = f.run(&["posture", "restricted", "--format", "helm"]);
    assert!(text(&out.stdout).contains("outboundTrafficPolicy"));
    let out = f.run(&["compile", "good.egress", "--format", "plugin-config"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--emit plugin-config"));
}

#[test]
fn help_completions_and_manual_pages() {
    let f = Fixture::new("help");
    let help = text(&f.run(&["--help"]).stdout);
    for want in ["Exit codes:", "--format human|json", "NO_COLOR", "--quiet"] {
        assert!(help.contains(want), "{want}\n{help}");
    }
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = f.run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("simulate"), "{shell}");
    }
    let out = f.run(&["man", "-o", "man1"]);
    assert_eq!(out.status.code(), Some(0));
    for page in [
        "egressc.1",
        "egressc-check.1",
        "egressc-compile.1",
        "egressc-proxy.1",
    ] {
        let t = std::fs::read_to_string(f.dir.join("man1").join(page)).unwrap();
        assert!(t.contains(".TH"), "{page}");
    }
    let check = std::fs::read_to_string(f.dir.join("man1/egressc-check.1")).unwrap();
    assert!(check.contains("deny\\-warnings"), "{check}");
}

/// An installed `egressc` (here: the built binary, linked into an empty
/// directory and run from another) carries the filter module and reads
/// nothing relative to the checkout.
#[test]
fn an_installed_copy_needs_no_checkout() {
    let f = Fixture::new("installed");
    let bin_dir = f.dir.join("prefix/bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let installed = bin_dir.join("egressc");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_egressc"), &installed).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_egressc"), &installed).unwrap();
    }
    let policies = common::repo().join("policies").canonicalize().unwrap();
    let elsewhere = f.dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let out = Command::new(&installed)
        .args(["test", policies.to_str().unwrap()])
        .current_dir(&elsewhere)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains(" passed, 0 failed"));
    let _ = std::fs::remove_file(&installed);
}
