//! `egressc report`, and reading audit logs for it and `egressc learn`:
//! files (or `-`, standard input) of the filter's JSON audit lines, among
//! whatever else the proxy logged.

use std::path::{Path, PathBuf};

use egressc::audit_log::{self, Parsed};
use egressc::diag::json_text;
use egressc::report::{Log, report as build_report};

use crate::files;
use crate::ui::{self, Format, Style, fail_as, paint};

/// One log file, read and parsed.
#[derive(Debug)]
pub struct LogFile {
    /// The name given (`-` is standard input).
    pub name: String,
    /// What was found in it.
    pub parsed: Parsed,
}

/// Reads every log (`-`: standard input, once) lossily as UTF-8 (a log
/// pipeline may mangle bytes; audit lines are ASCII) and parses it. Fails
/// only when a file cannot be read.
pub fn read_logs(paths: &[PathBuf]) -> Result<Vec<LogFile>, String> {
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err("`-` (standard input) can be given only once".to_owned());
    }
    let mut out = Vec::new();
    for p in paths {
        let bytes = if p.as_os_str() == "-" {
            let mut b = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut b)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            b
        } else {
            std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?
        };
        let name = if p.as_os_str() == "-" {
            "<stdin>".to_owned()
        } else {
            p.display().to_string()
        };
        let parsed = audit_log::parse(&String::from_utf8_lossy(&bytes));
        out.push(LogFile { name, parsed });
    }
    Ok(out)
}

/// The error for logs with no valid audit line, saying how to get them
/// (or, when every line read was a malformed audit line, that they were);
/// `None` when there is one.
pub fn no_audit_lines(files: &[LogFile]) -> Option<String> {
    if files.iter().any(|f| !f.parsed.entries.is_empty()) {
        return None;
    }
    let lines: usize = files
        .iter()
        .map(|f| f.parsed.problems.len() + f.parsed.other_lines)
        .sum();
    let malformed: usize = files.iter().map(|f| f.parsed.problems.len()).sum();
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    if malformed > 0 && malformed == lines {
        return Some(format!(
            "no valid audit lines in {}: every line read ({malformed}) is a malformed audit line (reported above), so this is not a logging setting: check that egressc and the filter are the same version",
            names.join(", "),
        ));
    }
    Some(format!(
        "no audit lines in {} ({lines} line{} read{}): the filter writes a JSON line for each decision its policies' `log` setting selects, and with `log denied` (the default) allowed requests are never logged. Set `log all` in the policies the filter runs (or add a policy with `mode audit` and `log all`, which blocks nothing), raise the proxy's wasm log level to info (`istioctl proxy-config log POD --level wasm:info`), let the traffic run, and give this command the proxy's log (`kubectl logs deploy/WAYPOINT > audit.log`, or `egressc proxy --audit-log FILE`)",
        names.join(", "),
        if lines == 1 { "" } else { "s" },
        if malformed > 0 {
            format!(", {malformed} of them malformed audit lines")
        } else {
            String::new()
        }
    ))
}

/// Each log's invalid audit lines, `FILE:LINE: …` (`what` says what
/// happens to them: "skipped", "not learned").
pub fn problems(files: &[LogFile], what: &str) -> Vec<(String, usize, String)> {
    files
        .iter()
        .flat_map(|f| {
            f.parsed.problems.iter().map(move |p| {
                (
                    f.name.clone(),
                    p.line,
                    format!("not a valid audit line, {what}: {}", p.message),
                )
            })
        })
        .collect()
}

/// Prints [`problems`] as warnings on standard error (human) or as JSON
/// objects on standard output.
pub fn warn_problems(files: &[LogFile], what: &str, format: Format) {
    let ui = ui::get();
    if ui.quiet {
        return;
    }
    for (file, line, message) in problems(files, what) {
        match format {
            Format::Human => eprintln!(
                "{file}:{line}: {}: {message}",
                paint(ui.color_err, Style::Warning, "warning")
            ),
            Format::Json => println!(
                "{}",
                json_text(serde_json::json!({
                    "severity": "warning", "file": file, "line": line, "message": message,
                }))
            ),
        }
    }
}

/// `egressc report`.
pub fn report(
    logs: &[PathBuf],
    policy: &[PathBuf],
    top: usize,
    format: Format,
    output: &Path,
) -> u8 {
    let files = match read_logs(logs) {
        Ok(f) => f,
        Err(e) => return fail_as(format, &e),
    };
    // The JSON report is one object: its warnings go into its notes.
    if format == Format::Human {
        warn_problems(&files, "skipped", format);
    }
    if let Some(e) = no_audit_lines(&files) {
        return fail_as(format, &e);
    }
    let compiled = if policy.is_empty() {
        None
    } else {
        match crate::subcommands::compile_quiet(policy, format) {
            Ok((_, c)) => Some(c),
            Err(code) => return code,
        }
    };
    let views: Vec<Log<'_>> = files
        .iter()
        .map(|f| Log {
            name: &f.name,
            entries: &f.parsed.entries,
        })
        .collect();
    let mut r = build_report(&views, compiled.as_ref().map(|c| &c.spec), top);
    if format == Format::Json {
        let problems = problems(&files, "skipped");
        let shown = 20;
        for (file, line, message) in problems.iter().take(shown) {
            r.notes.push(format!("{file}:{line}: {message}"));
        }
        if problems.len() > shown {
            r.notes.push(format!(
                "and {} more invalid audit lines",
                problems.len() - shown
            ));
        }
    }
    let text = match format {
        Format::Human => r.render(),
        Format::Json => format!("{}\n", json_text(r.to_json())),
    };
    match files::write_atomic(output, text.as_bytes()) {
        Ok(()) => 0,
        Err(e) => fail_as(format, &e),
    }
}
