//! A policy: its name and its settings (`mode`, `default`, `log`,
//! `require`), and the destinations and tests it holds.

use std::collections::HashMap;

use egress_table::spec::{Action, LogSetting, Mode};

use super::case::check_test;
use super::dest::check_dest;
use super::{CPolicy, Ctx, one_of};
use crate::ast::{self, Item};
use crate::diag::{Diagnostic, did_you_mean};
use crate::source::Span;

/// Checks a policy: its name, then its items in order.
pub(super) fn check_policy(cx: &mut Ctx<'_>, p: &ast::Policy) -> CPolicy {
    check_name(cx, p);
    let mut cp = CPolicy {
        name: p.name.value.clone(),
        span: p.span,
        name_span: p.name.span,
        mode: Mode::Enforce,
        default: Action::Deny,
        default_span: None,
        log: LogSetting::Denied,
        log_span: None,
        sni_host_match: false,
        dests: Vec::new(),
        tests: Vec::new(),
    };
    let mut set: HashMap<&str, Span> = HashMap::new();
    for item in &p.items {
        match item {
            Item::Setting(s) => {
                if let Some(prev) = set.insert(s.key.value.as_str(), s.span) {
                    cx.err(
                        Diagnostic::error(
                            "E0306",
                            s.span,
                            format!("`{}` is set twice", s.key.value),
                        )
                        .label("second setting")
                        .with_label(prev, "first set here")
                        .help("keep one"),
                    );
                    continue;
                }
                apply_setting(cx, s, &mut cp);
            }
            Item::Destination(d) => {
                if let Some(cd) = check_dest(cx, d) {
                    cp.dests.push(cd);
                }
            }
            Item::Test(t) => cp.tests.push(check_test(cx, t)),
        }
    }
    cp
}

/// Checks that the policy's name can appear in metrics and logs (E0302).
fn check_name(cx: &mut Ctx<'_>, p: &ast::Policy) {
    if !egress_table::format::is_valid_name(p.name.value.as_bytes(), false) {
        // A suggestion: spaces and slashes become `-`, other characters go.
        let mut cleaned = String::new();
        for c in p.name.value.chars() {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                cleaned.push(c);
            } else if (c.is_whitespace() || c == '/' || c == ':') && !cleaned.ends_with('-') {
                cleaned.push('-');
            }
        }
        let cleaned: String = cleaned.trim_matches('-').chars().take(128).collect();
        cx.err(
            Diagnostic::error(
                "E0302",
                p.name.span,
                format!("invalid policy name \"{}\"", p.name.value),
            )
            .label("names appear in metrics and logs")
            .help(format!(
                "use 1–128 ASCII letters, digits, `_`, `-` or `.`, e.g. \"{}\"",
                if cleaned.is_empty() {
                    "my-policy"
                } else {
                    &cleaned
                }
            )),
        );
    }
}

/// Checks one setting's value (E0303–E0305, E0307) and records it in `cp`.
fn apply_setting(cx: &mut Ctx<'_>, s: &ast::Setting, cp: &mut CPolicy) {
    let v = s.value.value.as_str();
    let bad = |code, allowed: &[&str]| {
        Diagnostic::error(code, s.value.span, format!("unknown {} `{v}`", s.key.value))
            .label(format!("expected {}", one_of(allowed)))
            .maybe_help(did_you_mean(v, allowed))
    };
    if s.key.value == "log" {
        cp.log_span = Some(s.span);
    }
    match (s.key.value.as_str(), v) {
        ("mode", "enforce") => cp.mode = Mode::Enforce,
        ("mode", "audit") => cp.mode = Mode::Audit,
        ("mode", _) => {
            let mut d = bad("E0303", &["enforce", "audit"]);
            if matches!(v, "dry-run" | "dryrun" | "shadow" | "monitor" | "log") {
                d = d.help("a dry run is `mode audit`: decide and log, never block");
            }
            cx.err(d);
        }
        ("default", "allow") => {
            cp.default = Action::Allow;
            cp.default_span = Some(s.span);
        }
        ("default", "deny") => {
            cp.default = Action::Deny;
            cp.default_span = Some(s.span);
        }
        ("default", _) => {
            let mut d = bad("E0304", &["allow", "deny"]);
            if matches!(v, "permit" | "accept" | "pass" | "allowed" | "open") {
                d = d.help("write `default allow`");
            } else if matches!(v, "reject" | "block" | "forbid" | "drop" | "denied" | "closed") {
                d = d.help("write `default deny`");
            }
            cx.err(d);
        }
        ("log", "none") => cp.log = LogSetting::None,
        ("log", "denied") => cp.log = LogSetting::Denied,
        ("log", "all") => cp.log = LogSetting::All,
        ("log", _) => {
            let mut d = bad("E0305", &["none", "denied", "all"]);
            if matches!(v, "deny" | "denials" | "denies") {
                d = d.help("write `log denied`");
            }
            cx.err(d);
        }
        ("require", "sni-host-match") => cp.sni_host_match = true,
        _ => cx.err(
            bad("E0307", &["sni-host-match"])
                .or_help("the one requirement is `require sni-host-match` (deny requests whose TLS SNI and Host differ)"),
        ),
    }
}
