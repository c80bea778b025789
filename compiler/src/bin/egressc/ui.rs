//! What every subcommand shares about talking to people and scripts: the
//! global `--quiet` and `--color`, the `--format human|json` value, fatal
//! errors (exit 2) in either format, and colour.
//!
//! Exit codes, the same in every subcommand: 0 success; 1 the policy, a
//! test or a decision failed (errors, denied warnings, a failed test, a
//! deny under `explain --fail-on-deny`); 2 the command could not run (bad
//! arguments, unreadable or unwritable files, a missing filter module).

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use clap::ValueEnum;

/// `--color`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when writing to a terminal, unless `NO_COLOR` is set (or `TERM=dumb`).
    Auto,
    /// Always colour (also `CLICOLOR_FORCE=1`).
    Always,
    /// Never colour.
    Never,
}

/// How a subcommand prints what it reports: `--format human|json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For people: text, diagnostics on standard error.
    Human,
    /// For programs: JSON objects, one per line, on standard output.
    Json,
}

/// The `--format` value parser. `table` (the old name of `simulate`'s
/// readable output) is read as `human`. The output kinds `compile` once
/// took under `--format` get a pointer to `--emit` rather than a silently
/// different output.
pub fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "human" | "table" => Ok(Format::Human),
        "json" => Ok(Format::Json),
        "plugin-config" | "dump" => Err(format!(
            "`--format {s}`: `--format` chooses how messages are printed (human or json); what `compile` writes is `--emit {s}`"
        )),
        _ => Err("expected human or json".to_owned()),
    }
}

/// The global flags, once parsed.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// `--quiet`: only errors and failures.
    pub quiet: bool,
    /// Colour on standard error.
    pub color_err: bool,
    /// Colour on standard output.
    pub color_out: bool,
}

static UI: OnceLock<Ui> = OnceLock::new();

/// Records the global flags (once, at start).
pub fn init(quiet: bool, color: ColorChoice) {
    let env_set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    let decide = |tty: bool| match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            if env_set("NO_COLOR") {
                false
            } else if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0")
            {
                true
            } else {
                tty && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
            }
        }
    };
    let _ = UI.set(Ui {
        quiet,
        color_err: decide(std::io::stderr().is_terminal()),
        color_out: decide(std::io::stdout().is_terminal()),
    });
}

/// The global flags (defaults when `init` was not called).
pub fn get() -> Ui {
    UI.get().copied().unwrap_or(Ui {
        quiet: false,
        color_err: false,
        color_out: false,
    })
}

/// SGR styles used.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    /// Bold red: `error`, `FAIL`.
    Error,
    /// Bold yellow: `warning`.
    Warning,
    /// Bold cyan: `note`, `help`.
    Note,
    /// Green: `ok`.
    Good,
}

/// `text` in `style` when `on`.
pub fn paint(on: bool, style: Style, text: &str) -> String {
    if !on {
        return text.to_owned();
    }
    let code = match style {
        Style::Error => "1;31",
        Style::Warning => "1;33",
        Style::Note => "1;36",
        Style::Good => "32",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Colours a rendered diagnostic: the severity of its first line and the
/// `= help:` / `= note:` markers.
pub fn paint_diagnostic(on: bool, rendered: &str) -> String {
    if !on {
        return rendered.to_owned();
    }
    let mut out = String::with_capacity(rendered.len() + 32);
    for (i, line) in rendered.split_inclusive('\n').enumerate() {
        if i == 0 {
            let mut done = false;
            for (word, style) in [
                ("error", Style::Error),
                ("warning", Style::Warning),
                ("note", Style::Note),
            ] {
                let pat = format!(": {word}: ");
                let split = line.find(&pat).and_then(|at| line.split_at_checked(at + 2));
                if let Some((head, tail)) = split {
                    out.push_str(head);
                    out.push_str(&paint(true, style, word));
                    out.push_str(tail.strip_prefix(word).unwrap_or(tail));
                    done = true;
                    break;
                }
            }
            if !done {
                out.push_str(line);
            }
            continue;
        }
        let trimmed = line.trim_start();
        let indent = line
            .split_at_checked(line.len() - trimmed.len())
            .map_or("", |(i, _)| i);
        let mut done = false;
        for marker in ["= help:", "= note:"] {
            if let Some(rest) = trimmed.strip_prefix(marker) {
                out.push_str(indent);
                out.push_str(&paint(true, Style::Note, marker));
                out.push_str(rest);
                done = true;
                break;
            }
        }
        if !done {
            out.push_str(line);
        }
    }
    out
}

/// A fatal error (the command could not run): `egressc: error: MSG` on
/// standard error; exit code 2.
pub fn fail(msg: &str) -> u8 {
    eprintln!(
        "egressc: {}: {msg}",
        paint(get().color_err, Style::Error, "error")
    );
    2
}

/// A fatal error in the chosen format: under `--format json` one object
/// `{"error": MSG, "exit_code": 2}` on standard output, so a script that
/// reads JSON gets JSON for every outcome.
pub fn fail_as(format: Format, msg: &str) -> u8 {
    match format {
        Format::Human => fail(msg),
        Format::Json => {
            println!(
                "{}",
                egressc::diag::json_text(serde_json::json!({"error": msg, "exit_code": 2}))
            );
            2
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
mod tests {
    use super::*;

    #[test]
    fn painting_marks_the_severity_and_the_help() {
        let plain = "a.egress:1:2: error: bad [E0101]\n  |\n  = help: fix it\n";
        assert_eq!(paint_diagnostic(false, plain), plain);
        let c = paint_diagnostic(true, plain);
        assert!(c.starts_with("a.egress:1:2: \x1b[1;31merror\x1b[0m: bad [E0101]\n"));
        assert!(c.contains("  \x1b[1;36m= help:\x1b[0m fix it\n"));
    }

    #[test]
    fn old_compile_formats_point_to_emit() {
        assert_eq!(parse_format("table"), Ok(Format::Human));
        assert!(parse_format("dump").unwrap_err().contains("--emit dump"));
        assert!(parse_format("xml").is_err());
    }
}
