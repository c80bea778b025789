//! The documentation's commands, run: every ```` ```console ```` block of
//! README.md, docs/tutorial.md and docs/workflow.md is a transcript that must still be true,
//! so the docs cannot drift from the tool.
//!
//! The transcript format:
//!
//! - `$ COMMAND` runs `COMMAND` with `sh` (a trailing `\` continues it on
//!   the next line) in a scratch copy of the repository's `policies/` (and
//!   of the audit-log fixtures, `tests/fixtures/audit/`, as `audit/`), with
//!   the `egressc` under test first on `PATH` and `NO_COLOR=1`. Standard
//!   error is merged into standard output.
//! - The lines after it, up to the next `$` or the end of the block, are
//!   its expected output. A line `...` stands for any number of lines, and
//!   `[..]` inside a line for any text. Trailing spaces do not count.
//! - A command ending in `# exits N` must exit with N; any other must
//!   exit 0.
//! - A fenced block whose info string has `file=NAME` (```` ```egress
//!   file=payments.egress ````) writes its text to NAME before the
//!   commands after it run.
//!
//! Commands that cannot run here (`kubectl`, `make`, `cargo install`) go
//! in ```` ```sh ```` blocks, which are not run.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::common::{self, text};

#[derive(Debug)]
enum Step {
    Write {
        name: String,
        body: String,
    },
    Run {
        line: usize,
        cmd: String,
        code: i32,
        expected: Vec<String>,
    },
}

/// The steps of a Markdown document, in order.
fn steps(doc: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut lines = doc.lines().enumerate().peekable();
    while let Some((_, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let info = info.trim();
        let mut block = Vec::new();
        for (n, l) in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            block.push((n + 1, l));
        }
        if let Some(name) = info
            .split_whitespace()
            .find_map(|w| w.strip_prefix("file="))
        {
            let body: String = block.iter().map(|(_, l)| format!("{l}\n")).collect();
            out.push(Step::Write {
                name: name.to_owned(),
                body,
            });
        } else if info == "console" {
            transcript(&block, &mut out);
        }
    }
    out
}

fn transcript(block: &[(usize, &str)], out: &mut Vec<Step>) {
    let mut i = 0;
    while let Some((n, l)) = block.get(i) {
        i += 1;
        let Some(first) = l.strip_prefix("$ ") else {
            panic!("line {n}: a console block starts each command with `$ `: {l}");
        };
        let mut cmd = first.to_owned();
        while cmd.ends_with('\\') {
            cmd.pop();
            match block.get(i) {
                Some((_, next)) => {
                    cmd.push_str(next.trim_start());
                    i += 1;
                }
                None => break,
            }
        }
        let mut code = 0;
        if let Some((head, tail)) = cmd.rsplit_once("# exits ")
            && let Ok(c) = tail.trim().parse()
        {
            code = c;
            cmd = head.trim_end().to_owned();
        }
        let mut expected = Vec::new();
        while let Some((_, l)) = block.get(i) {
            if l.starts_with("$ ") {
                break;
            }
            expected.push(l.trim_end().to_owned());
            i += 1;
        }
        out.push(Step::Run {
            line: *n,
            cmd,
            code,
            expected,
        });
    }
}

/// Whether `line` matches `pattern`, where `[..]` stands for any text.
fn line_matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split("[..]");
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (k, p) in parts.iter().enumerate() {
        if k + 1 == parts.len() {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Whether `actual` matches `expected`, where a line `...` stands for any
/// number of lines.
fn lines_match(expected: &[String], actual: &[&str]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if e == "..." => {
            (0..=actual.len()).any(|skip| lines_match(rest, &actual[skip..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(e, a) && lines_match(rest, more)),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// Runs a document's steps; the failures, described.
fn run_doc(rel: &str) -> (usize, Vec<String>) {
    let path = common::repo().join(rel);
    let doc = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let dir = common::scratch("docs", &rel.replace('/', "-"));
    copy_dir(&common::repo().join("policies"), &dir.join("policies"));
    copy_dir(
        &common::repo().join("tests/fixtures/audit"),
        &dir.join("audit"),
    );
    let bin_dir: PathBuf = Path::new(env!("CARGO_BIN_EXE_egressc"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path_var = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    let mut ran = 0;
    for step in steps(&doc) {
        match step {
            Step::Write { name, body } => {
                let p = dir.join(&name);
                if let Some(parent) = p.parent() {
                    std::fs::create_dir_all(parent).unwrap();
                }
                std::fs::write(p, body).unwrap();
            }
            Step::Run {
                line,
                cmd,
                code,
                expected,
            } => {
                ran += 1;
                let out = Command::new("sh")
                    .arg("-c")
                    .arg(format!("exec 2>&1\n{cmd}"))
                    .current_dir(&dir)
                    .env("PATH", &path_var)
                    .env("NO_COLOR", "1")
                    .env_remove("CLICOLOR_FORCE")
                    .env_remove("EGRESS_FILTER_WASM")
                    .output()
                    .unwrap();
                let got = text(&out.stdout);
                let actual: Vec<&str> = got.lines().map(str::trim_end).collect();
                let ok_code = out.status.code() == Some(code);
                if !ok_code || !lines_match(&expected, &actual) {
                    failures.push(format!(
                        "{rel}:{line}: $ {cmd}\n  exit {:?} (documented {code})\n  documented output:\n{}\n  actual output:\n{}",
                        out.status.code(),
                        indent(&expected.join("\n")),
                        indent(&got)
                    ));
                }
            }
        }
    }
    (ran, failures)
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    | {l}\n")).collect()
}

#[test]
fn transcripts_parse_and_match() {
    let doc = "x\n```console\n$ echo a \\\n  b   # exits 3\na b\n...\n$ true\n```\n```egress file=p.egress\npolicy\n```\n";
    let s = steps(doc);
    assert_eq!(s.len(), 3, "{s:?}");
    match &s[0] {
        Step::Run {
            cmd,
            code,
            expected,
            line,
        } => {
            assert_eq!((cmd.as_str(), *code, *line), ("echo a b", 3, 3));
            assert_eq!(expected, &["a b", "..."]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&s[2], Step::Write { name, body } if name == "p.egress" && body == "policy\n")
    );
    assert!(line_matches("a [..] c", "a bbb c"));
    assert!(line_matches("[..]", "anything"));
    assert!(!line_matches("a [..] c", "a b d"));
    let e = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert!(lines_match(&e(&["a", "...", "z"]), &["a", "b", "c", "z"]));
    assert!(lines_match(&e(&["..."]), &[]));
    assert!(!lines_match(&e(&["a"]), &["a", "b"]));
}

#[test]
fn the_readme_the_tutorial_and_the_workflow_are_true() {
    let mut all = Vec::new();
    for doc in ["README.md", "docs/tutorial.md", "docs/workflow.md"] {
        let (ran, failures) = run_doc(doc);
        assert!(ran > 0, "{doc} has no console transcript");
        all.extend(failures);
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
}
