//! The subcommands.

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};

use egress_table::plugin_config::Layer;
use egress_table::spec::Protocol;
use egressc::diag::{Severity, json_text};
use egressc::emit::{self, Format as Emitted};
use egressc::{Diagnostic, Sources};

use crate::files;
use egressc::run::RunResult;

use crate::run::HostArgs;
use crate::ui::{self, Format, Style, fail, fail_as, paint};
use crate::{DiagArgs, Emit, LayerArg};

/// Prints diagnostics; returns whether compilation must stop. Under
/// `--deny-warnings` a warning is printed as the error it has become; under
/// `--quiet` only errors are printed.
pub(crate) fn report(
    diags: &[Diagnostic],
    sources: &Sources,
    format: Format,
    deny_warnings: bool,
) -> bool {
    let ui = ui::get();
    let mut stdout = std::io::stdout().lock();
    let (mut errors, mut warnings, mut denied) = (0usize, 0usize, 0usize);
    for d in diags {
        let promoted;
        let d = if deny_warnings && d.severity == Severity::Warning {
            denied += 1;
            let mut p = d.clone();
            p.severity = Severity::Error;
            let why = "--deny-warnings makes this warning an error";
            p.note = Some(match p.note.take() {
                Some(n) => format!("{n}; {why}"),
                None => why.to_owned(),
            });
            promoted = p;
            &promoted
        } else {
            d
        };
        if d.is_error() {
            errors += 1;
        } else if d.severity == Severity::Warning {
            warnings += 1;
        }
        if ui.quiet && !d.is_error() {
            continue;
        }
        match format {
            Format::Human => eprint!(
                "{}",
                ui::paint_diagnostic(ui.color_err, &egressc::diag::render(d, sources))
            ),
            Format::Json => {
                let _ = writeln!(stdout, "{}", egressc::diag::render_json(d, sources));
            }
        }
    }
    let printed = if ui.quiet {
        errors > 0
    } else {
        errors + warnings > 0
    };
    if format == Format::Human && printed {
        eprintln!(
            "{errors} error{}, {warnings} warning{}{}",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" },
            match denied {
                0 => String::new(),
                n => format!(" ({n} warning{} denied)", if n == 1 { "" } else { "s" }),
            }
        );
    }
    errors > 0
}

/// Reads and compiles `paths`; the source set and the outcome, or the exit
/// code when the files cannot be read (2).
fn read_and_compile(paths: &[PathBuf], diag: &DiagArgs) -> Result<(Sources, egressc::Outcome), u8> {
    let sources = files::load(paths).map_err(|e| fail_as(diag.format, &e))?;
    let outcome = egressc::compile_with(
        &sources,
        &egressc::Options {
            allow_empty: diag.allow_empty,
        },
    );
    Ok((sources, outcome))
}

/// Prints the diagnostics of `outcome` and `extra` together; the compiled
/// policies, or exit code 1 (errors, or warnings under `--deny-warnings`).
fn finish(
    sources: &Sources,
    outcome: egressc::Outcome,
    extra: Vec<Diagnostic>,
    diag: &DiagArgs,
) -> Result<egressc::Compiled, u8> {
    let mut diags = outcome.diagnostics;
    if !extra.is_empty() {
        diags.extend(extra);
        egressc::diag::sort(&mut diags);
    }
    if report(&diags, sources, diag.format, diag.deny_warnings) {
        return Err(1);
    }
    outcome.compiled.ok_or(1)
}

/// Reads and compiles `paths`, printing the diagnostics; the exit code when
/// that fails (2 unreadable files, 1 errors, or warnings under
/// `--deny-warnings`).
pub(crate) fn load_and_compile(
    paths: &[PathBuf],
    diag: &DiagArgs,
) -> Result<(Sources, egressc::Compiled), u8> {
    let (sources, outcome) = read_and_compile(paths, diag)?;
    let compiled = finish(&sources, outcome, Vec::new(), diag)?;
    Ok((sources, compiled))
}

pub fn check(paths: &[PathBuf], diag: &DiagArgs) -> u8 {
    match load_and_compile(paths, diag) {
        Ok((sources, compiled)) => {
            if diag.format == Format::Human && !ui::get().quiet {
                let policies = &compiled.checked.policies;
                let dests: usize = policies.iter().map(|p| p.dests.len()).sum();
                let rules: usize = policies
                    .iter()
                    .flat_map(|p| &p.dests)
                    .map(|d| d.rules.len())
                    .sum();
                let tests: usize = policies
                    .iter()
                    .flat_map(|p| &p.tests)
                    .map(|t| t.cases.len())
                    .sum();
                eprintln!(
                    "{}: {}, {}, {}, {}, {} in one table",
                    paint(ui::get().color_err, Style::Good, "ok"),
                    plural(sources.iter().count(), "file"),
                    plural(policies.len(), "policy"),
                    plural(dests, "destination"),
                    plural(rules, "rule"),
                    plural(tests, "test case"),
                );
            }
            0
        }
        Err(code) => code,
    }
}

/// `1 policy`, `2 policies`, `3 rules`.
fn plural(n: usize, what: &str) -> String {
    match (n, what.strip_suffix('y')) {
        (1, _) => format!("1 {what}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {what}s"),
    }
}

/// W0504: a plugin configuration for a filter that none of the
/// destinations reach (an HTTP configuration for tls/tcp-only policies, or
/// the reverse).
fn unused_layer(compiled: &egressc::Compiled, layer: Layer) -> Option<Diagnostic> {
    let dests = || compiled.checked.policies.iter().flat_map(|p| &p.dests);
    let wanted = |proto: Protocol| match layer {
        Layer::Http => proto == Protocol::Http,
        Layer::Network => proto != Protocol::Http,
    };
    if dests().any(|d| wanted(d.protocol)) {
        return None;
    }
    let first = dests().next()?;
    let (this, other, flag, kind) = match layer {
        Layer::Http => (
            "the HTTP filter",
            "the network filter",
            "network",
            "NETWORK",
        ),
        Layer::Network => ("the network filter", "the HTTP filter", "http", "HTTP"),
    };
    Some(
        Diagnostic::warning(
            "W0504",
            first.span,
            format!(
                "this plugin configuration is for {this}, but no destination is decided by it"
            ),
        )
        .label(format!(
            "a `{}` destination: {other} decides it",
            first.protocol.as_str()
        ))
        .help(format!(
            "write {other}'s configuration with `--layer {flag}` (WasmPlugin type {kind}), or let `egressc istio` write one WasmPlugin per filter the policies need"
        )),
    )
}

pub fn compile(
    paths: &[PathBuf],
    output: &Path,
    emit: Emit,
    layer: Option<LayerArg>,
    filter: &crate::run::FilterArgs,
    diag: &DiagArgs,
) -> u8 {
    use std::io::IsTerminal as _;
    if layer.is_some() && emit != Emit::PluginConfig {
        return fail_as(
            diag.format,
            "--layer applies only to --emit plugin-config: the table (and its dump) holds the rules of both filters",
        );
    }
    if filter.given() && emit != Emit::PluginConfig {
        return fail_as(
            diag.format,
            "--max-path-bytes, --max-header-bytes and --authority-header apply only to --emit plugin-config: they are the filter's settings for the proxy, not part of the table",
        );
    }
    let options = match filter.options() {
        Ok(o) => o,
        Err(e) => return fail_as(diag.format, &e),
    };
    if emit == Emit::Table && output.as_os_str() == "-" && std::io::stdout().is_terminal() {
        return fail_as(
            diag.format,
            "the table is binary and standard output is a terminal: write it with -o FILE, pipe it, or see it with --emit dump",
        );
    }
    let layer = match layer {
        Some(LayerArg::Network) => Layer::Network,
        Some(LayerArg::Http) | None => Layer::Http,
    };
    let (sources, outcome) = match read_and_compile(paths, diag) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut extra = Vec::new();
    if let Some(c) = &outcome.compiled {
        if emit == Emit::PluginConfig {
            extra.extend(unused_layer(c, layer));
        }
        extra.extend(egressc::outside_table(&c.checked));
    }
    let compiled = match finish(&sources, outcome, extra, diag) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let what = match emit {
        Emit::Table => Emitted::Table,
        Emit::Dump => Emitted::Dump,
        Emit::PluginConfig => Emitted::PluginConfig(layer),
    };
    let bytes = match emit::emit_with(&compiled.spec, what, &options) {
        Ok(b) => b,
        Err(e) => {
            return fail_as(
                diag.format,
                &format!("internal error while emitting the table: {}", e.0),
            );
        }
    };
    match files::write_atomic(output, &bytes) {
        Ok(()) => 0,
        Err(e) => fail_as(diag.format, &e),
    }
}

/// `egressc fmt`: files in place (`--check`: report; `--diff`: show), or
/// standard input to standard output.
pub fn fmt(paths: &[PathBuf], check: bool, diff: bool) -> u8 {
    if paths.is_empty() || paths.iter().any(|p| p.as_os_str() == "-") {
        if paths.len() > 1 {
            return fail("`-` (standard input) cannot be formatted together with files");
        }
        return fmt_stdin(check, diff);
    }
    let list = match files::expand(paths) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let quiet = ui::get().quiet;
    let mut code = 0;
    for p in list {
        let text = match files::read(&p) {
            Ok(t) => t,
            Err(e) => {
                code = fail(&e);
                continue;
            }
        };
        let name = p.display().to_string();
        match format_or_report(&name, &text) {
            None => code = code.max(1),
            Some(out) if out == text => {}
            Some(out) if diff => {
                print!("{}", egressc::textdiff::unified(&name, &text, &out));
                code = code.max(1);
            }
            Some(_) if check => {
                println!("{name} is not formatted");
                code = code.max(1);
            }
            Some(out) => {
                if let Err(e) = files::write_atomic(&p, out.as_bytes()) {
                    code = fail(&e);
                } else if !quiet {
                    println!("formatted {name}");
                }
            }
        }
    }
    code
}

/// The formatted text, or `None` after printing why it cannot be formatted.
fn format_or_report(name: &str, text: &str) -> Option<String> {
    match egressc::fmt::format_source(text) {
        Ok(out) => Some(out),
        Err(diags) => {
            let mut s = Sources::new();
            s.add(name.to_owned(), text.to_owned());
            report(&diags, &s, Format::Human, false);
            eprintln!("egressc: {name} was not formatted: fix the errors first");
            None
        }
    }
}

fn fmt_stdin(check: bool, diff: bool) -> u8 {
    let text = match files::read_stdin() {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    let Some(out) = format_or_report("<stdin>", &text) else {
        return 1;
    };
    if diff {
        print!("{}", egressc::textdiff::unified("<stdin>", &text, &out));
        return u8::from(out != text);
    }
    if check {
        if out != text {
            println!("<stdin> is not formatted");
            return 1;
        }
        return 0;
    }
    match files::write_atomic(Path::new("-"), out.as_bytes()) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

/// Compiles for `explain`, `simulate` and `test`: only errors are printed
/// (in `format`); warnings are `check`'s business.
pub(crate) fn compile_quiet(
    paths: &[PathBuf],
    format: Format,
) -> Result<(Sources, egressc::Compiled), u8> {
    let sources = files::load(paths).map_err(|e| fail_as(format, &e))?;
    let outcome = egressc::compile(&sources);
    let errors: Vec<Diagnostic> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if !errors.is_empty() {
        report(&errors, &sources, format, false);
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
    format: Format,
    settings: egressc::explain::Settings,
    filter: &crate::run::FilterArgs,
    fail_on_deny: bool,
) -> u8 {
    let options = match filter.options() {
        Ok(o) => o,
        Err(e) => return fail_as(format, &e),
    };
    let (_, compiled) = match compile_quiet(paths, format) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let req = match egressc::sim::parse_line(request) {
        Ok(r) => r,
        Err(e) => return fail_as(format, &format!("--request: {e}")),
    };
    match egressc::explain::explain_with(&compiled.spec, &req, settings, &options) {
        Ok(e) => {
            match format {
                Format::Human => print!("{}", e.render()),
                Format::Json => println!("{}", json_text(e.to_json())),
            }
            u8::from(fail_on_deny && !e.enforced.record.allowed())
        }
        Err(e) => fail_as(format, &e),
    }
}

/// The table of `compiled`, loaded into both filters of the local host.
fn runner_for(
    compiled: &egressc::Compiled,
    host: &HostArgs,
    format: Format,
) -> Result<egressc::run::Runner, u8> {
    let table = emit::emit(&compiled.spec, Emitted::Table).map_err(|e| {
        fail_as(
            format,
            &format!("internal error while emitting the table: {}", e.0),
        )
    })?;
    crate::run::runner(host, &table).map_err(|e| fail_as(format, &e))
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
    format: Format,
) -> u8 {
    let (_, compiled) = match compile_quiet(paths, format) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut runner = match runner_for(&compiled, host, format) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let input: Box<dyn std::io::BufRead> = if requests.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(requests) {
            Ok(f) => Box::new(std::io::BufReader::new(f)),
            Err(e) => {
                return fail_as(format, &format!("cannot read {}: {e}", requests.display()));
            }
        }
    };
    let mut out = std::io::stdout().lock();
    let mut bad_lines = 0;
    // The readable table is aligned on its widest request, so it is printed
    // once every line has run.
    let mut rows: Vec<Row> = Vec::new();
    for (i, line) in input.split(b'\n').enumerate() {
        let n = i + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => return fail_as(format, &format!("{}: line {n}: {e}", requests.display())),
        };
        let line = if n == 1 {
            line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line)
        } else {
            &line
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let parsed = match std::str::from_utf8(line) {
            Err(e) => Err(format!(
                "not UTF-8 (byte {}): a request is a line of JSON text",
                e.valid_up_to()
            )),
            Ok(l) if l.trim().is_empty() => Err("empty line: expected a JSON request".to_owned()),
            Ok(l) => egressc::sim::parse_line(l),
        };
        let result = parsed.and_then(|req| runner.run(&req).map(|r| (req, r)));
        match (result, format) {
            (Err(e), Format::Json) => {
                bad_lines += 1;
                let _ = writeln!(
                    out,
                    "{}",
                    json_text(serde_json::json!({"line": n, "error": e}))
                );
            }
            (Err(e), Format::Human) => {
                bad_lines += 1;
                rows.push(Row::Error(n, e));
            }
            (Ok((req, r)), Format::Json) => {
                let mut v = result_json(&r);
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
            (Ok((req, r)), Format::Human) => {
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
                rows.push(Row::Decided {
                    n,
                    request: req.describe(),
                    decision: r.record.decision.as_str(),
                    status,
                    by: decided_by(&r),
                    logs: if log {
                        r.logs
                            .iter()
                            .map(|l| format!("[{}] {}", l.level, l.message))
                            .collect()
                    } else {
                        Vec::new()
                    },
                });
            }
        }
    }
    if format == Format::Human {
        print_rows(&mut out, &rows);
    }
    if metrics {
        let m = runner.metrics();
        match format {
            Format::Json => {
                let m: serde_json::Map<String, serde_json::Value> =
                    m.into_iter().map(|(k, v)| (k, v.into())).collect();
                let _ = writeln!(out, "{}", json_text(serde_json::json!({"metrics": m})));
            }
            Format::Human => {
                let _ = writeln!(out, "\nmetrics:");
                for (k, v) in m.into_iter().filter(|(_, v)| *v > 0) {
                    let _ = writeln!(out, "  {k} = {v}");
                }
            }
        }
    }
    if bad_lines > 0 { 1 } else { 0 }
}

/// A line of `simulate`'s readable table.
enum Row {
    /// A request and its decision.
    Decided {
        n: usize,
        request: String,
        decision: &'static str,
        status: String,
        by: String,
        logs: Vec<String>,
    },
    /// A line that could not run.
    Error(usize, String),
}

fn print_rows(out: &mut impl std::io::Write, rows: &[Row]) {
    let width = rows
        .iter()
        .filter_map(|r| match r {
            Row::Decided { request, .. } => Some(request.chars().count()),
            Row::Error(..) => None,
        })
        .max()
        .unwrap_or(0)
        .max("request".len());
    let _ = writeln!(
        out,
        "{:>3}  {:<width$}  {:<8} {:<6} decided by",
        "#", "request", "decision", "status"
    );
    for r in rows {
        match r {
            Row::Decided {
                n,
                request,
                decision,
                status,
                by,
                logs,
            } => {
                let _ = writeln!(
                    out,
                    "{n:>3}  {request:<width$}  {decision:<8} {status:<6} {by}"
                );
                for l in logs {
                    let _ = writeln!(out, "{:>5}log {l}", "");
                }
            }
            Row::Error(n, e) => {
                let _ = writeln!(out, "{n:>3}  error: {e}");
            }
        }
    }
}

pub fn test(paths: &[PathBuf], host: &HostArgs, format: Format) -> u8 {
    let list = match files::expand(paths) {
        Ok(l) => l,
        Err(e) => return fail_as(format, &e),
    };
    let ui = ui::get();
    let human = format == Format::Human;
    let (mut passed, mut failed, mut files_failed) = (0usize, 0usize, 0usize);
    let mut out = std::io::stdout().lock();
    for path in &list {
        let (sources, compiled) = match compile_quiet(std::slice::from_ref(path), format) {
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
            if human && !ui.quiet {
                let _ = writeln!(out, "{}: no tests", path.display());
            }
            continue;
        }
        let mut runner = match runner_for(&compiled, host, format) {
            Ok(r) => r,
            Err(code) => return code,
        };
        if human && !ui.quiet {
            let _ = writeln!(out, "{}", path.display());
        }
        let file = sources.iter().next().map(|(_, f)| f);
        for p in &compiled.checked.policies {
            for t in &p.tests {
                if human && !ui.quiet {
                    let _ = writeln!(out, "  test \"{}\" (policy {})", t.name, p.name);
                }
                for c in &t.cases {
                    let line = file.map_or(0, |f| f.line_col(c.span.start).0);
                    let result = runner.run(&c.request);
                    let (ok, got) = match &result {
                        Ok(r) => (
                            egressc::testrun::holds(
                                c,
                                r.record.decision,
                                r.audit.as_ref().map(|a| a.decision),
                            ),
                            describe(r),
                        ),
                        Err(e) => (false, format!("error: {e}")),
                    };
                    let expected = egressc::testrun::expected(c);
                    if ok {
                        passed += 1
                    } else {
                        failed += 1
                    }
                    match format {
                        Format::Human if ok => {
                            if !ui.quiet {
                                let _ = writeln!(
                                    out,
                                    "    {}    {} => {}",
                                    paint(ui.color_out, Style::Good, "ok"),
                                    c.request.describe(),
                                    got
                                );
                            }
                        }
                        Format::Human => {
                            // Under --quiet no file header precedes it.
                            let what = if ui.quiet {
                                format!("{}:{line}: {}", path.display(), c.request.describe())
                            } else {
                                format!("{} (line {line})", c.request.describe())
                            };
                            let _ = writeln!(
                                out,
                                "    {}  {what}\n          expected {expected}\n          got      {got}",
                                paint(ui.color_out, Style::Error, "FAIL"),
                            );
                        }
                        Format::Json => {
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
        Format::Human if ui.quiet && failed == 0 && files_failed == 0 => {}
        Format::Human => {
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
        Format::Json => {
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

/// What decided (the same words as the playground's test view).
fn decided_by(r: &RunResult) -> String {
    egressc::testrun::decided_by(&r.record, r.audit.as_ref())
}

/// `egressc diff OLD NEW`: 1 when a request is newly allowed (or the
/// candidates were capped, so the diff cannot prove none is), 0 otherwise,
/// 2 when a side cannot be read or does not compile.
pub fn diff(old: &Path, new: &Path, format: Format, output: &Path) -> u8 {
    use egressc::diff::{DiffError, Side};
    let load = |p: &Path| files::load(&[p.to_path_buf()]);
    let (a, b) = match (load(old), load(new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) => return fail_as(format, &format!("OLD: {e}")),
        (_, Err(e)) => return fail_as(format, &format!("NEW: {e}")),
    };
    let d = match egressc::diff::diff_sources(&a, &b) {
        Ok(d) => d,
        Err(DiffError::Compile(side, diags)) => {
            let (path, sources) = match side {
                Side::Old => (old, &a),
                Side::New => (new, &b),
            };
            let errors: Vec<Diagnostic> = diags.into_iter().filter(Diagnostic::is_error).collect();
            report(&errors, sources, format, false);
            return fail_as(
                format,
                &format!(
                    "{} ({}) does not compile: fix the errors above (`egressc check {}` shows them with warnings), then diff again",
                    side.as_str(),
                    path.display(),
                    path.display()
                ),
            );
        }
        Err(DiffError::Internal(e)) => return fail_as(format, &format!("internal error: {e}")),
    };
    let text = match format {
        Format::Human => d.render(ui::get().quiet),
        Format::Json => format!("{}\n", json_text(d.to_json())),
    };
    if let Err(e) = files::write_atomic(output, text.as_bytes()) {
        return fail(&e);
    }
    u8::from(d.gate())
}
