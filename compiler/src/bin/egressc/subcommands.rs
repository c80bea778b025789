//! The subcommands.

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};

use egress_table::plugin_config::Layer;
use egressc::diag::json_text;
use egressc::emit::{self, Format};
use egressc::{Diagnostic, Sources};

use crate::files;
use egressc::run::RunResult;

use crate::run::HostArgs;
use crate::{ErrorFormat, LayerArg, OutFormat, ReportFormat, SimFormat};

fn fail(msg: &str) -> u8 {
    eprintln!("egressc: error: {msg}");
    2
}

/// Prints diagnostics; returns whether compilation must stop.
pub(crate) fn report(
    diags: &[Diagnostic],
    sources: &Sources,
    format: ErrorFormat,
    deny_warnings: bool,
) -> bool {
    let mut stdout = std::io::stdout().lock();
    for d in diags {
        match format {
            ErrorFormat::Human => eprint!("{}", egressc::diag::render(d, sources)),
            ErrorFormat::Json => {
                let _ = writeln!(stdout, "{}", egressc::diag::render_json(d, sources));
            }
        }
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if format == ErrorFormat::Human && !diags.is_empty() {
        eprintln!(
            "{errors} error{}, {warnings} warning{}",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        );
    }
    errors > 0 || (deny_warnings && warnings > 0)
}

/// Reads and compiles `paths`, printing the diagnostics; the exit code when
/// that fails (2 unreadable files, 1 errors, or warnings under
/// `--deny-warnings`).
pub(crate) fn load_and_compile(
    paths: &[PathBuf],
    format: ErrorFormat,
    deny_warnings: bool,
    allow_empty: bool,
) -> Result<(Sources, egressc::Compiled), u8> {
    let sources = files::load(paths).map_err(|e| fail(&e))?;
    let outcome = egressc::compile_with(&sources, &egressc::Options { allow_empty });
    if report(&outcome.diagnostics, &sources, format, deny_warnings) {
        return Err(1);
    }
    match outcome.compiled {
        Some(compiled) => Ok((sources, compiled)),
        None => Err(1),
    }
}

pub fn check(paths: &[PathBuf], format: ErrorFormat, deny_warnings: bool, allow_empty: bool) -> u8 {
    match load_and_compile(paths, format, deny_warnings, allow_empty) {
        Ok(_) => 0,
        Err(code) => code,
    }
}

pub fn compile(
    paths: &[PathBuf],
    output: &Path,
    format: OutFormat,
    layer: LayerArg,
    error_format: ErrorFormat,
    deny_warnings: bool,
    allow_empty: bool,
) -> u8 {
    let (_, compiled) = match load_and_compile(paths, error_format, deny_warnings, allow_empty) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let fmt = match format {
        OutFormat::Table => Format::Table,
        OutFormat::Dump => Format::Dump,
        OutFormat::PluginConfig => Format::PluginConfig(match layer {
            LayerArg::Http => Layer::Http,
            LayerArg::Network => Layer::Network,
        }),
    };
    let bytes = match emit::emit(&compiled.spec, fmt) {
        Ok(b) => b,
        Err(e) => return fail(&format!("internal error while emitting the table: {}", e.0)),
    };
    match files::write_atomic(output, &bytes) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

pub fn fmt(paths: &[PathBuf], check: bool) -> u8 {
    let list = match files::expand(paths) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let mut code = 0;
    for p in list {
        let text = match files::read(&p) {
            Ok(t) => t,
            Err(e) => {
                code = fail(&e);
                continue;
            }
        };
        match egressc::fmt::format_source(&text) {
            Err(diags) => {
                let mut s = Sources::new();
                s.add(p.display().to_string(), text);
                report(&diags, &s, ErrorFormat::Human, false);
                eprintln!(
                    "egressc: {} was not formatted: fix the errors first",
                    p.display()
                );
                code = code.max(1);
            }
            Ok(out) if out == text => {}
            Ok(_) if check => {
                println!("{} is not formatted", p.display());
                code = code.max(1);
            }
            Ok(out) => {
                if let Err(e) = files::write_atomic(&p, out.as_bytes()) {
                    code = fail(&e);
                } else {
                    println!("formatted {}", p.display());
                }
            }
        }
    }
    code
}

fn compile_quiet(paths: &[PathBuf]) -> Result<(Sources, egressc::Compiled), u8> {
    let sources = files::load(paths).map_err(|e| fail(&e))?;
    let outcome = egressc::compile(&sources);
    let errors: Vec<Diagnostic> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        report(&errors, &sources, ErrorFormat::Human, false);
        return Err(1);
    }
    match outcome.compiled {
        Some(c) => Ok((sources, c)),
        None => Err(1),
    }
}

pub fn explain(
    paths: &[PathBuf],
    request: &str,
    format: ReportFormat,
    normalization: egressc::explain::PathNormalization,
) -> u8 {
    let (_, compiled) = match compile_quiet(paths) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let req = match egressc::sim::parse_line(request) {
        Ok(r) => r,
        Err(e) => return fail(&format!("--request: {e}")),
    };
    match egressc::explain::explain(&compiled.spec, &req, normalization) {
        Ok(e) => {
            match format {
                ReportFormat::Human => print!("{}", e.render()),
                ReportFormat::Json => println!("{}", json_text(e.to_json())),
            }
            0
        }
        Err(e) => fail(&e),
    }
}

/// The table of `compiled`, loaded into both filters of the local host.
fn runner_for(compiled: &egressc::Compiled, host: &HostArgs) -> Result<egressc::run::Runner, u8> {
    let table = table_bytes(compiled)?;
    crate::run::runner(host, &table).map_err(|e| fail(&e))
}

fn table_bytes(compiled: &egressc::Compiled) -> Result<Vec<u8>, u8> {
    emit::emit(&compiled.spec, Format::Table)
        .map_err(|e| fail(&format!("internal error while emitting the table: {}", e.0)))
}

fn result_json(r: &RunResult) -> serde_json::Value {
    serde_json::json!({
        "decision": r.record.decision,
        "status": r.status,
        "rule": r.record.rule,
        "policy": r.record.policy,
        "reason": r.record.reason,
        "audit": r.audit,
    })
}

pub fn simulate(
    paths: &[PathBuf],
    requests: &Path,
    host: &HostArgs,
    log: bool,
    metrics: bool,
    format: SimFormat,
) -> u8 {
    let (_, compiled) = match compile_quiet(paths) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut runner = match runner_for(&compiled, host) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let input: Box<dyn std::io::BufRead> = if requests.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(requests) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => return fail(&format!("cannot read {}: {e}", requests.display())),
        }
    };
    let mut out = std::io::stdout().lock();
    let mut bad_lines = 0;
    if format == SimFormat::Table {
        let _ = writeln!(
            out,
            "{:>3}  {:<52} {:<8} {:<6} decided by",
            "#", "request", "decision", "status"
        );
    }
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => return fail(&format!("{}: line {n}: {e}", requests.display())),
        };
        let parsed = if line.trim().is_empty() {
            Err("empty line: expected a JSON request".to_owned())
        } else {
            egressc::sim::parse_line(&line)
        };
        let result = parsed.and_then(|req| runner.run(&req).map(|r| (req, r)));
        match (&result, format) {
            (Err(e), SimFormat::Json) => {
                bad_lines += 1;
                eprintln!("{}:{n}: error: {e}", requests.display());
                let _ = writeln!(
                    out,
                    "{}",
                    json_text(serde_json::json!({"line": n, "error": e}))
                );
            }
            (Err(e), SimFormat::Table) => {
                bad_lines += 1;
                let _ = writeln!(out, "{n:>3}  error: {e}");
            }
            (Ok((req, r)), SimFormat::Json) => {
                let mut v = result_json(r);
                if let Some(o) = v.as_object_mut() {
                    o.insert("line".into(), n.into());
                    o.insert("request".into(), req.describe().into());
                    if log {
                        o.insert(
                            "log".into(),
                            r.logs
                                .iter()
                                .map(|l| format!("[{}] {}", l.level, l.message))
                                .collect::<Vec<_>>()
                                .into(),
                        );
                    }
                }
                let _ = writeln!(out, "{}", json_text(v));
            }
            (Ok((req, r)), SimFormat::Table) => {
                let status = r.status.map_or_else(
                    || {
                        if !r.record.allowed() {
                            "closed".to_owned()
                        } else {
                            "open".to_owned()
                        }
                    },
                    |s| s.to_string(),
                );
                let _ = writeln!(
                    out,
                    "{n:>3}  {:<52} {:<8} {:<6} {}",
                    req.describe(),
                    r.record.decision.as_str(),
                    status,
                    decided_by(r)
                );
                if log {
                    for l in &r.logs {
                        let _ = writeln!(out, "{:>5}log [{}] {}", "", l.level, l.message);
                    }
                }
            }
        }
    }
    if metrics {
        let m = runner.metrics();
        match format {
            SimFormat::Json => {
                let m: serde_json::Map<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (k, v.into())).collect();
                let _ = writeln!(out, "{}", json_text(serde_json::json!({"metrics": m})));
            }
            SimFormat::Table => {
                let _ = writeln!(out, "\nmetrics:");
                for (k, v) in m.into_iter().filter(|(_, v)| *v > 0) {
                    let _ = writeln!(out, "  {k} = {v}");
                }
            }
        }
    }
    if bad_lines > 0 { 1 } else { 0 }
}

pub fn test(paths: &[PathBuf], host: &HostArgs, format: ReportFormat) -> u8 {
    let list = match files::expand(paths) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let (mut passed, mut failed, mut files_failed) = (0usize, 0usize, 0usize);
    let mut out = std::io::stdout().lock();
    for path in &list {
        let (sources, compiled) = match compile_quiet(std::slice::from_ref(path)) {
            Ok(c) => c,
            Err(2) => return 2,
            Err(_) => {
                files_failed += 1;
                continue;
            }
        };
        let cases: usize = compiled
            .checked
            .policies
            .iter()
            .flat_map(|p| &p.tests)
            .map(|t| t.cases.len())
            .sum();
        if cases == 0 {
            if format == ReportFormat::Human {
                let _ = writeln!(out, "{}: no tests", path.display());
            }
            continue;
        }
        let mut runner = match runner_for(&compiled, host) {
            Ok(r) => r,
            Err(code) => return code,
        };
        if format == ReportFormat::Human {
            let _ = writeln!(out, "{}", path.display());
        }
        let file = sources.iter().next().map(|(_, f)| f);
        for p in &compiled.checked.policies {
            for t in &p.tests {
                if format == ReportFormat::Human {
                    let _ = writeln!(out, "  test \"{}\" (policy {})", t.name, p.name);
                }
                for c in &t.cases {
                    let line = file.map_or(0, |f| f.line_col(c.span.start).0);
                    let result = runner.run(&c.request);
                    let (ok, got) = match &result {
                        Ok(r) => {
                            let audit_ok = c
                                .expect_audit
                                .is_none_or(|a| r.audit.as_ref().map(|x| x.decision) == Some(a));
                            (r.record.decision == c.expect && audit_ok, describe(r))
                        }
                        Err(e) => (false, format!("error: {e}")),
                    };
                    let expected = match c.expect_audit {
                        Some(a) => format!("{}, audit {}", c.expect.as_str(), a.as_str()),
                        None => c.expect.as_str().to_owned(),
                    };
                    if ok {
                        passed += 1
                    } else {
                        failed += 1
                    }
                    match format {
                        ReportFormat::Human if ok => {
                            let _ = writeln!(out, "    ok    {} => {}", c.request.describe(), got);
                        }
                        ReportFormat::Human => {
                            let _ = writeln!(
                                out,
                                "    FAIL  {} (line {line})\n          expected {expected}\n          got      {got}",
                                c.request.describe()
                            );
                        }
                        ReportFormat::Json => {
                            let mut v = serde_json::json!({
                                "file": path.display().to_string(), "line": line, "policy": p.name, "test": t.name,
                                "request": c.request.describe(), "expected": expected, "passed": ok,
                            });
                            if let (Some(o), Ok(r)) = (v.as_object_mut(), &result) {
                                o.insert("actual".into(), result_json(r));
                            } else if let (Some(o), Err(e)) = (v.as_object_mut(), &result) {
                                o.insert("error".into(), e.clone().into());
                            }
                            let _ = writeln!(out, "{}", json_text(v));
                        }
                    }
                }
            }
        }
    }
    match format {
        ReportFormat::Human => {
            let _ = writeln!(
                out,
                "\n{passed} passed, {failed} failed{}",
                if files_failed > 0 {
                    format!(", {files_failed} file(s) did not compile")
                } else {
                    String::new()
                }
            );
        }
        ReportFormat::Json => {
            let _ = writeln!(
                out,
                "{}",
                json_text(
                    serde_json::json!({"summary": {"passed": passed, "failed": failed, "files_failed": files_failed}})
                )
            );
        }
    }
    if failed > 0 || files_failed > 0 { 1 } else { 0 }
}

fn describe(r: &RunResult) -> String {
    match r.status {
        Some(st) => format!("{} ({st}) {}", r.record.decision.as_str(), decided_by(r)),
        None => format!("{} {}", r.record.decision.as_str(), decided_by(r)),
    }
}

/// `by rule httpbin/1`, `by the default of policy httpbin`, or the refusal
/// reason; then the audit pool's would-be decision, if any.
fn decided_by(r: &RunResult) -> String {
    let mut s = match (&r.record.rule, &r.record.policy) {
        (Some(rule), _) => format!("by rule {rule}"),
        (None, Some(p)) if r.record.reason == "default" => {
            format!("by the default of policy {p}")
        }
        _ => format!("refused: {}", r.record.reason),
    };
    if let Some(a) = &r.audit {
        s.push_str(&format!("; audit: would {}", a.decision.as_str()));
        match (&a.rule, &a.policy) {
            (Some(rule), _) => s.push_str(&format!(" by rule {rule}")),
            (None, Some(p)) => s.push_str(&format!(" by the default of policy {p}")),
            _ => {}
        }
    }
    s
}
