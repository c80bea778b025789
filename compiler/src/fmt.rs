//! `egressc fmt`: one canonical layout for a policy file, keeping comments.
//!
//! The canonical form: two-space indentation; in each policy the settings
//! first (mode, default, log, require), then destinations and tests in the
//! order written, separated by one blank line (one-line destinations in a
//! row stay together); destination clauses in the
//! order port, protocol, originate-tls, timeout, service; rule conditions in the order
//! path, from, when; `any` written out on HTTP rules that name no method;
//! strings re-escaped the same way. Comments stay with the line they
//! precede, or at the end of the line they follow. Formatting is idempotent.

use std::fmt::Write as _;

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::lex::{Comment, Lexer, is_word};
use crate::parse::parse_tokens;
use crate::source::{FileId, Span};
use egress_table::spec::ValueOp;

/// Formats a file. Refuses (with the errors) a file that does not parse.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    let mut lexer = Lexer::new(FileId(0), text).keep_comments();
    let (file, mut errors) = parse_tokens(&mut lexer);
    let (lex_errors, comments) = lexer.finish();
    errors.splice(0..0, lex_errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut f = Formatter { units: Vec::new() };
    f.file(&file);
    Ok(f.render(&comments))
}

/// One output line (or group of lines) tied to the source it came from.
struct Unit {
    indent: usize,
    text: String,
    span: Span,
    blank_before: bool,
    /// Leading comments of a closing brace go one level deeper.
    closes: bool,
}

struct Formatter {
    units: Vec<Unit>,
}

/// Re-escapes bytes as a policy-language string.
pub fn quote(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    let text = String::from_utf8_lossy(bytes);
    if text.as_bytes() == bytes {
        for c in text.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                '\n' => s.push_str("\\n"),
                '\t' => s.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(s, "\\x{:02x}", c as u32);
                }
                c => s.push(c),
            }
        }
    } else {
        for &b in bytes {
            match b {
                b'"' => s.push_str("\\\""),
                b'\\' => s.push_str("\\\\"),
                b'\n' => s.push_str("\\n"),
                b'\t' => s.push_str("\\t"),
                0x20..=0x7e => s.push(char::from(b)),
                _ => {
                    let _ = write!(s, "\\x{b:02x}");
                }
            }
        }
    }
    s.push('"');
    s
}

fn q(s: &str) -> String {
    quote(s.as_bytes())
}

impl Formatter {
    fn push(&mut self, indent: usize, text: String, span: Span, blank_before: bool) {
        self.units.push(Unit {
            indent,
            text,
            span,
            blank_before,
            closes: false,
        });
    }

    fn close(&mut self, indent: usize, span: Span) {
        self.units.push(Unit {
            indent,
            text: "}".into(),
            span,
            blank_before: false,
            closes: true,
        });
    }

    fn file(&mut self, f: &File) {
        for (i, p) in f.policies.iter().enumerate() {
            self.push(
                0,
                format!("policy {} {{", q(&p.name.value)),
                p.span.to(p.name.span),
                i > 0,
            );
            let order = ["mode", "default", "log", "require"];
            let mut settings: Vec<&Setting> = p
                .items
                .iter()
                .filter_map(|it| {
                    if let Item::Setting(s) = it {
                        Some(s)
                    } else {
                        None
                    }
                })
                .collect();
            settings.sort_by_key(|s| {
                order
                    .iter()
                    .position(|k| *k == s.key.value)
                    .unwrap_or(order.len())
            });
            for s in &settings {
                self.push(
                    1,
                    format!("{} {}", s.key.value, s.value.value),
                    s.span,
                    false,
                );
            }
            // One blank line between items, except that one-line destinations
            // (no rule block) written one after another stay together.
            let mut first = settings.is_empty();
            let mut prev_one_line = false;
            for it in &p.items {
                match it {
                    Item::Setting(_) => {}
                    Item::Destination(d) => {
                        let one_line = d.block.is_none();
                        let stays_together = one_line && prev_one_line;
                        self.destination(d, !first && !stays_together);
                        first = false;
                        prev_one_line = one_line;
                    }
                    Item::Test(t) => {
                        self.test(t, !first);
                        first = false;
                        prev_one_line = false;
                    }
                }
            }
            self.close(0, p.close);
        }
    }

    fn destination(&mut self, d: &Destination, blank: bool) {
        let mut s = String::from("destination ");
        match &d.targets {
            Targets::Hosts(h) => {
                s.push_str(&h.iter().map(|h| q(&h.value)).collect::<Vec<_>>().join(", "))
            }
            Targets::Cidrs(c) => {
                s.push_str("cidr ");
                s.push_str(
                    &c.iter()
                        .map(|c| {
                            // Bare only when it lexes back as the same one word.
                            if c.value.starts_with(|ch: char| ch.is_ascii_digit())
                                && c.value.chars().all(is_word)
                            {
                                c.value.clone()
                            } else {
                                q(&c.value)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
        }
        let rank = |c: &DestClause| match c {
            DestClause::Port(..) => 0,
            DestClause::Protocol(_) => 1,
            DestClause::OriginateTls(..) => 2,
            DestClause::Timeout(..) => 3,
            DestClause::Service(..) => 4,
        };
        let mut clauses: Vec<&DestClause> = d.clauses.iter().collect();
        clauses.sort_by_key(|c| rank(c));
        let mut http = true;
        for c in clauses {
            match c {
                DestClause::Port(_, ports) => {
                    let _ = write!(
                        s,
                        " port {}",
                        ports
                            .iter()
                            .map(|p| p.value.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                DestClause::Protocol(p) => {
                    http = p.value == "http";
                    let _ = write!(s, " {}", p.value);
                }
                DestClause::OriginateTls(_, port) => {
                    s.push_str(" originate-tls");
                    if let Some(p) = port {
                        let _ = write!(s, " {}", p.value);
                    }
                }
                DestClause::Timeout(_, t) => {
                    let _ = write!(s, " timeout {}", t.value);
                }
                DestClause::Service(_, names) => {
                    let _ = write!(
                        s,
                        " service {}",
                        names
                            .iter()
                            .map(|n| q(&n.value))
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
        }
        let head_end = d.block.as_ref().map_or(d.span, |(open, _, _)| *open);
        match &d.block {
            None => self.push(1, s, d.keyword.to(head_end), blank),
            Some((_, rules, close)) => {
                s.push_str(" {");
                self.push(1, s, d.keyword.to(head_end), blank);
                for r in rules {
                    let text = rule(r, http);
                    self.push(2, text, r.span, false);
                }
                self.close(1, *close);
            }
        }
    }

    fn test(&mut self, t: &Test, blank: bool) {
        self.push(
            1,
            format!("test {} {{", q(&t.name.value)),
            t.span.to(t.name.span),
            blank,
        );
        for c in &t.cases {
            let mut s = String::new();
            if let Some(m) = &c.method {
                let _ = write!(s, "{} ", m.value);
            }
            s.push_str(&c.url.value);
            let rank = |o: &CaseOpt| match o {
                CaseOpt::From(..) => 0,
                CaseOpt::Header(..) => 1,
                CaseOpt::Sni(..) => 2,
            };
            let mut opts: Vec<&CaseOpt> = c.opts.iter().collect();
            opts.sort_by_key(|o| rank(o));
            for o in opts {
                match o {
                    CaseOpt::From(_, p) => {
                        let _ = write!(s, " from {}", q(&p.value));
                    }
                    CaseOpt::Header(_, n, v) => {
                        let _ = write!(s, " header {} = {}", q(&n.value), quote(&v.value));
                    }
                    CaseOpt::Sni(_, v) => {
                        let _ = write!(s, " sni {}", q(&v.value));
                    }
                }
            }
            let _ = write!(s, " => {}", act(c.expect.value));
            if let Some(a) = &c.expect_audit {
                let _ = write!(s, ", audit {}", act(a.value));
            }
            self.push(2, s, c.span, false);
        }
        let close = Span {
            file: t.span.file,
            start: t.span.end.saturating_sub(1),
            end: t.span.end,
        };
        self.close(1, close);
    }

    fn render(&self, comments: &[Comment]) -> String {
        // Attach each comment to a unit: an own-line comment to the next unit
        // in source order; a trailing comment to the unit on whose line it sits.
        let mut by_pos: Vec<usize> = (0..self.units.len()).collect();
        by_pos.sort_by_key(|&i| self.units.get(i).map_or(0, |u| u.span.start));
        let mut leading: Vec<Vec<&str>> = vec![Vec::new(); self.units.len()];
        let mut trailing: Vec<Vec<&str>> = vec![Vec::new(); self.units.len()];
        let mut after_all: Vec<&str> = Vec::new();
        for c in comments {
            if c.own_line {
                match by_pos.iter().find(|&&i| {
                    self.units
                        .get(i)
                        .is_some_and(|u| u.span.start >= c.span.end)
                }) {
                    Some(&i) => leading.get_mut(i).into_iter().for_each(|v| v.push(c.text)),
                    None => after_all.push(c.text),
                }
            } else {
                let owner = by_pos.iter().rev().find(|&&i| {
                    self.units
                        .get(i)
                        .is_some_and(|u| u.span.start <= c.span.start)
                });
                match owner {
                    Some(&i) => trailing.get_mut(i).into_iter().for_each(|v| v.push(c.text)),
                    None => after_all.push(c.text),
                }
            }
        }
        let mut out = String::new();
        for (i, u) in self.units.iter().enumerate() {
            let lead = leading.get(i).map(Vec::as_slice).unwrap_or(&[]);
            if u.blank_before && !out.is_empty() {
                out.push('\n');
            }
            for c in lead {
                let indent = if u.closes { u.indent + 1 } else { u.indent };
                let _ = writeln!(out, "{}{c}", "  ".repeat(indent));
            }
            let _ = write!(out, "{}{}", "  ".repeat(u.indent), u.text);
            if let Some(t) = trailing.get(i).filter(|t| !t.is_empty()) {
                let _ = write!(out, "  {}", t.join(" "));
            }
            out.push('\n');
        }
        for c in after_all {
            let _ = writeln!(out, "{c}");
        }
        out
    }
}

fn act(a: RuleAction) -> &'static str {
    match a {
        RuleAction::Allow => "allow",
        RuleAction::Deny => "deny",
    }
}

fn rule(r: &Rule, http: bool) -> String {
    if r.otherwise.is_some() {
        return "otherwise deny".to_owned();
    }
    let mut s = String::from(act(r.action.value));
    let names = |ms: &[crate::source::Spanned<String>]| {
        ms.iter()
            .map(|m| m.value.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match &r.methods {
        Some(Methods::List(ms)) => {
            let _ = write!(s, " {}", names(ms));
        }
        Some(Methods::AnyExcept(_, ms)) => {
            let _ = write!(s, " any except {}", names(ms));
        }
        Some(Methods::Any(_)) | None if http => s.push_str(" any"),
        _ => {}
    }
    let rank = |c: &Cond| match c {
        Cond::Path(..) => 0,
        Cond::ExceptPath(..) => 1,
        Cond::From(..) => 2,
        Cond::ExceptFrom(..) => 3,
        Cond::When(..) => 4,
    };
    let mut conds: Vec<&Cond> = r.conds.iter().collect();
    conds.sort_by_key(|c| rank(c));
    for c in conds {
        match c {
            Cond::Path(_, pats) | Cond::ExceptPath(_, pats) => {
                let ps: Vec<String> = pats
                    .iter()
                    .map(|p| match p.form {
                        PathForm::Plain => q(&p.text.value),
                        PathForm::Prefix => format!("prefix {}", q(&p.text.value)),
                        PathForm::Suffix => format!("suffix {}", q(&p.text.value)),
                        PathForm::Regex => format!("~{}", q(&p.text.value)),
                    })
                    .collect();
                let _ = write!(s, " {} {}", c.keyword(), ps.join(", "));
            }
            Cond::From(_, items) | Cond::ExceptFrom(_, items) => {
                let _ = write!(s, " {}", c.keyword());
                let mut last: Option<&str> = None;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    if last != Some(it.kind.value.as_str()) {
                        let _ = write!(s, " {}", it.kind.value);
                        last = Some(&it.kind.value);
                    }
                    let _ = write!(s, " {}", q(&it.value.value));
                }
            }
            Cond::When(_, hs) => {
                let parts: Vec<String> = hs
                    .iter()
                    .map(|h| match &h.op {
                        HeaderOp::Present(_) => format!("header {} present", q(&h.name.value)),
                        HeaderOp::Absent(_) => format!("header {} absent", q(&h.name.value)),
                        HeaderOp::Equals(v) => {
                            format!("header {} == {}", q(&h.name.value), quote(&v.value))
                        }
                        HeaderOp::Compare {
                            op, negated, value, ..
                        } => {
                            let op = match (op, negated) {
                                (ValueOp::Equals, _) => "!=",
                                (ValueOp::Prefix, false) => "prefix",
                                (ValueOp::Prefix, true) => "not prefix",
                                (ValueOp::Suffix, false) => "suffix",
                                (ValueOp::Suffix, true) => "not suffix",
                            };
                            format!("header {} {op} {}", q(&h.name.value), quote(&value.value))
                        }
                    })
                    .collect();
                let _ = write!(s, " when {}", parts.join(" and "));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_and_idempotent() {
        let src = r#"# file comment
policy "api" {   # trailing
  destination "api.example.com" http port 80 {
    # about the deny
    deny  path "/v1/admin/{**}"
    allow GET,POST path "/v1/{**}" when header "x-tenant" present
    allow from namespace "a", "b", principal "cluster.local/ns/x/sa/y"
    # before close
  }
  default deny
  mode enforce
  test "t" { GET http://api.example.com/v1/a header "x-tenant" = "\xff" from "p" => allow }
}
"#;
        let out = format_source(src).unwrap();
        assert_eq!(
            out,
            r#"# file comment
policy "api" {  # trailing
  mode enforce
  default deny

  destination "api.example.com" port 80 http {
    # about the deny
    deny any path "/v1/admin/{**}"
    allow GET, POST path "/v1/{**}" when header "x-tenant" present
    allow any from namespace "a", "b", principal "cluster.local/ns/x/sa/y"
    # before close
  }

  test "t" {
    GET http://api.example.com/v1/a from "p" header "x-tenant" = "\xff" => allow
  }
}
"#
        );
        assert_eq!(format_source(&out).unwrap(), out);
    }

    #[test]
    fn refuses_broken_files() {
        assert!(format_source("policy \"x\" { mdoe enforce }").is_err());
    }
}
