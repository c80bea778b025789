//! `egressc report`, and reading audit logs for it and `egressc learn`:
//! files (or `-`, standard input) of the filter's JSON audit lines, among
//! whatever else the proxy logged.

use std::path::{Path, PathBuf};

use egressc::audit_log::{self, Parsed};
use egressc::diag::json_text;
use egressc::report::{Log, report as build_report};

use crate::files;
use crate::ui::{self, Format, fail_as};

/// One log file, read and parsed.
#[derive(Debug)]
pub struct LogFile {
    /// The name given (`-` is standard input).
    pub name: String,
    /// What was found in it.
    pub parsed: Parsed,
}

/// What to tell someone whose logs hold no audit line.
pub const NO_AUDIT_LINES: &str = "the filter writes an audit line for each decision its policies' `log` setting selects: `log denied` (the default) shows only denials, `log all` every request (raise the proxy's wasm log level to info to see allowed ones: `istioctl proxy-config log POD --level wasm:info`); collect them with `kubectl logs` of the waypoint or egress gateway, or `egressc proxy --audit-log FILE`";

/// Reads every log (lossily as UTF-8: a log pipeline may mangle bytes; audit
/// lines are ASCII), reporting lines that look like audit lines but are not
/// valid ones as warnings. Fails when a file cannot be read, or when no
/// audit line was found in any of them.
pub fn read_logs(paths: &[PathBuf], format: Format) -> Result<Vec<LogFile>, String> {
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
        let name = p.display().to_string();
        let parsed = audit_log::parse(&String::from_utf8_lossy(&bytes));
        warn_problems(&name, &parsed, format);
        out.push(LogFile { name, parsed });
    }
    let found: usize = out.iter().map(|l| l.parsed.entries.len()).sum();
    if found == 0 {
        let other: usize = out.iter().map(|l| l.parsed.other_lines).sum();
        let bad: usize = out.iter().map(|l| l.parsed.problems.len()).sum();
        return Err(format!(
            "no audit lines in {} ({other} other line(s){}): {NO_AUDIT_LINES}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            if bad > 0 {
                format!(", {bad} malformed audit line(s)")
            } else {
                String::new()
            }
        ));
    }
    Ok(out)
}

fn warn_problems(name: &str, parsed: &Parsed, format: Format) {
    if ui::get().quiet {
        return;
    }
    for p in &parsed.problems {
        let msg = format!(
            "{name}:{}: not a valid audit line, skipped: {}",
            p.line, p.message
        );
        match format {
            Format::Human => eprintln!("warning: {msg}"),
            Format::Json => println!(
                "{}",
                json_text(serde_json::json!({"severity": "warning", "message": msg}))
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
    let files = match read_logs(logs, format) {
        Ok(f) => f,
        Err(e) => return fail_as(format, &e),
    };
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
    let r = build_report(&views, compiled.as_ref().map(|c| &c.spec), top);
    let text = match format {
        Format::Human => r.render(),
        Format::Json => format!("{}\n", json_text(r.to_json())),
    };
    match files::write_atomic(output, text.as_bytes()) {
        Ok(()) => 0,
        Err(e) => fail_as(format, &e),
    }
}
