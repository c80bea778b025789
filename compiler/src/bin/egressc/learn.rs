//! `egressc learn`: reads audit logs, writes the learned policy
//! ([`egressc::learn`] does the work; this file reads and writes files).

use std::path::PathBuf;

use egressc::audit_log::Parsed;
use egressc::diag::json_text;
use egressc::learn::{self, LearnOptions};

use crate::ui::{self, Format, Style, fail_as, paint};
use crate::{files, logs};

/// `egressc learn`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct LearnArgs {
    /// Audit logs: the filter's JSON lines, bare or inside Envoy / kubectl log lines (`-` for standard input).
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Where the policy goes (`-`, the default, is standard output). Nothing is written on error.
    #[arg(short, long, default_value = "-")]
    pub output: PathBuf,
    /// Leave out (protocol, host, port) groups seen fewer than N times (they are listed in the header).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_count: u64,
    /// Distinct names (paths' values, principals) seen before a wildcard host (`{*}`/`{**}`, `namespace`) is proposed.
    #[arg(long, value_name = "K", default_value_t = learn::DEFAULT_WILDCARD_THRESHOLD as u64,
          value_parser = clap::value_parser!(u64).range(2..))]
    pub wildcard_threshold: u64,
    /// The policy's name.
    #[arg(long, default_value = "learned")]
    pub name: String,
    /// human: messages on standard error; json: one object per message and a summary, on standard output (with `-o -`, the summary holds the policy).
    #[arg(long, value_parser = ui::parse_format, default_value = "human", value_name = "human|json")]
    pub format: Format,
}

fn valid_name(n: &str) -> bool {
    (1..=128).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `egressc learn`.
pub fn learn(args: &LearnArgs) -> u8 {
    let format = args.format;
    let ui = ui::get();
    if !valid_name(&args.name) {
        return fail_as(
            format,
            &format!(
                "--name {:?}: a policy name is 1 to 128 ASCII letters, digits, `_`, `-` and `.`",
                args.name
            ),
        );
    }
    let files = match logs::read_logs(&args.logs) {
        Ok(f) => f,
        Err(e) => return fail_as(format, &e),
    };
    logs::warn_problems(&files, "not learned", format);
    if let Some(e) = logs::no_audit_lines(&files) {
        return fail_as(format, &e);
    }
    let parsed: Vec<Parsed> = files.into_iter().map(|f| f.parsed).collect();
    let options = LearnOptions {
        min_count: usize::try_from(args.min_count).unwrap_or(usize::MAX),
        wildcard_threshold: usize::try_from(args.wildcard_threshold).unwrap_or(usize::MAX),
        policy_name: args.name.clone(),
        ..LearnOptions::default()
    };
    let learned = learn::learn(&parsed, &options);
    if !learned.problems.is_empty() {
        for p in &learned.problems {
            match format {
                Format::Human => eprintln!("{}: {p}", paint(ui.color_err, Style::Error, "error")),
                Format::Json => println!(
                    "{}",
                    json_text(serde_json::json!({"severity": "error", "message": p}))
                ),
            }
        }
        if format == Format::Human {
            eprintln!("egressc: the learned policy is not right; nothing was written");
        }
        return 1;
    }
    let s = &learned.summary;
    // Exit 2, as for a log without audit lines: the input holds nothing to
    // learn from, and an empty deny-all policy would only look like a result.
    if s.learned == 0 {
        let why: Vec<String> = s
            .refused
            .iter()
            .map(|(r, n)| format!("{n} refused before the rules ({r})"))
            .chain(s.unusable.iter().map(|(r, n)| format!("{n} {r}")))
            .chain((s.truncated > 0).then(|| format!("{} cut short", s.truncated)))
            .chain((s.malformed > 0).then(|| format!("{} malformed", s.malformed)))
            .chain(
                (!learned.dropped.is_empty())
                    .then(|| format!("{} dropped by --min-count", learned.dropped.len())),
            )
            .collect();
        return fail_as(
            format,
            &format!(
                "nothing to learn: no audit line of {} can become a policy ({}); nothing was written",
                s.audit_lines,
                why.join(", ")
            ),
        );
    }
    let to_stdout = args.output.as_os_str() == "-";
    if !(to_stdout && format == Format::Json)
        && let Err(e) = files::write_atomic(&args.output, learned.text.as_bytes())
    {
        return fail_as(format, &e);
    }
    let dests = learned.destinations.len();
    let cases: usize = learned.cases.iter().map(Vec::len).sum();
    match format {
        Format::Human if !ui.quiet => {
            let skipped: usize = s.refused.values().sum::<usize>()
                + s.truncated
                + s.malformed
                + s.unusable.values().sum::<usize>();
            eprintln!(
                "learned {} request{} into {dests} destination{} with {cases} test case{} ({skipped} not learned, {} dropped by --min-count){}",
                s.learned,
                if s.learned == 1 { "" } else { "s" },
                if dests == 1 { "" } else { "s" },
                if cases == 1 { "" } else { "s" },
                learned.dropped.len(),
                if to_stdout {
                    String::new()
                } else {
                    format!("; wrote {}", args.output.display())
                }
            );
        }
        Format::Human => {}
        Format::Json => {
            let mut v = serde_json::json!({
                "learned": s.learned, "lines": s.lines, "audit_lines": s.audit_lines,
                "destinations": dests, "test_cases": cases,
                "dropped": learned.dropped.len(),
            });
            if let Some(o) = v.as_object_mut() {
                if to_stdout {
                    o.insert("policy".into(), learned.text.clone().into());
                } else {
                    o.insert("output".into(), args.output.display().to_string().into());
                }
            }
            println!("{}", json_text(serde_json::json!({ "summary": v })));
        }
    }
    0
}
