//! A rule: its action, its methods and its conditions (`path`, `from`,
//! `when`, `except`).

use super::{COND_KEYWORDS, CodeAs, ITEM_KEYWORDS, NOT_METHODS, P, Parser, SOURCE_KINDS};
use crate::ast::*;
use crate::diag::{Diagnostic, did_you_mean};
use crate::lex::{Kind, Token};
use crate::source::Spanned;
use egress_table::spec::ValueOp;

impl Parser<'_, '_> {
    pub(super) fn action(&mut self, what: &str) -> P<Spanned<RuleAction>> {
        let t = self.peek();
        let action = match (t.kind, t.text) {
            (Kind::Ident, "allow") => RuleAction::Allow,
            (Kind::Ident, "deny") => RuleAction::Deny,
            (Kind::Word, "allow:" | "deny:") => {
                self.colon_error(t.text.trim_end_matches(':'));
                if t.text == "allow:" {
                    RuleAction::Allow
                } else {
                    RuleAction::Deny
                }
            }
            _ => {
                let mut d = self.unexpected(what);
                d.code = "E0203";
                if t.kind == Kind::Ident {
                    d = d.maybe_help(did_you_mean(t.text, &["allow", "deny"]));
                    if ITEM_KEYWORDS.contains(&t.text) {
                        d = d.help(
                            "a destination's block holds only rules; close it with `}` first",
                        );
                    } else if matches!(t.text, "permit" | "accept") {
                        d = d.help("write `allow`");
                    } else if matches!(t.text, "forbid" | "reject" | "block" | "drop") {
                        d = d.help("write `deny`");
                    }
                }
                self.error(d);
                self.bump();
                return Err(());
            }
        };
        self.bump();
        Ok(Spanned::new(action, t.span))
    }

    /// `otherwise deny`, after `otherwise`: nothing may follow on the rule.
    fn otherwise(&mut self) -> P<Rule> {
        let kw = self.bump().span;
        let t = self.peek();
        if !(t.kind == Kind::Ident && t.text == "deny") {
            let mut d = self.unexpected("`deny`");
            d.code = "E0213";
            d = d.help(if t.kind == Kind::Ident && t.text == "allow" {
                "only `otherwise deny` exists: the policy's `default` already says what an unmatched request gets; write an `allow` rule to allow"
            } else {
                "write `otherwise deny`: it denies what no rule of the destination allows"
            });
            self.error(d);
            return Err(());
        }
        let deny = self.bump().span;
        let n = self.peek();
        if n.kind != Kind::RBrace && n.kind != Kind::Eof && !n.line_start {
            self.error(
                Diagnostic::error(
                    "E0213",
                    n.span,
                    format!("`otherwise deny` takes no methods or conditions, found {}", n.kind.describe()),
                )
                .with_label(kw.to(deny), "applies when no other rule matches")
                .help("write the conditions in a `deny` rule of their own, and `otherwise deny` alone on its line"),
            );
            return Err(());
        }
        Ok(Rule {
            span: kw.to(deny),
            otherwise: Some(kw),
            action: Spanned::new(RuleAction::Deny, deny),
            methods: None,
            conds: Vec::new(),
        })
    }

    /// A list of methods: `GET, POST` (the first is the next token).
    fn method_list(&mut self) -> P<Vec<Spanned<String>>> {
        let mut list = Vec::new();
        loop {
            let m = self.peek();
            if m.kind != Kind::Ident {
                let d = self.unexpected("a method such as GET");
                self.error(d);
                return Err(());
            }
            self.bump();
            list.push(Spanned::new(m.text.to_owned(), m.span));
            if !self.eat_comma() {
                let n = self.peek();
                // Another method without a comma between; any other
                // word is left to the condition parser, which knows
                // more about misspelt conditions.
                let method_like = n.text.bytes().all(|b| b.is_ascii_uppercase())
                    || egress_table::spec::METHODS.contains(&n.text.to_ascii_uppercase().as_str());
                if n.kind == Kind::Ident
                    && !n.line_start
                    && !NOT_METHODS.contains(&n.text)
                    && method_like
                {
                    self.error(
                        Diagnostic::error(
                            "E0201",
                            n.span,
                            format!("expected `,` or a condition, found `{}`", n.text),
                        )
                        .label("methods are separated by commas")
                        .maybe_help(
                            did_you_mean(n.text, &COND_KEYWORDS)
                                .or_else(|| Some(format!("write `{}, {}`", m.text, n.text))),
                        ),
                    );
                    return Err(());
                }
                return Ok(list);
            }
        }
    }

    /// What a header condition tests, after its name: `present`,
    /// `absent`, `==`, `!=`, `[not] prefix` or `[not] suffix` (E0210).
    fn header_op(&mut self, name: &Spanned<String>) -> P<HeaderOp> {
        let op = self.peek();
        Ok(match (op.kind, op.text) {
            (Kind::Ident, "present") => HeaderOp::Present(self.bump().span),
            (Kind::Ident, "absent") => HeaderOp::Absent(self.bump().span),
            (Kind::EqEq, _) => {
                self.bump();
                HeaderOp::Equals(self.bytes("a header value")?)
            }
            (Kind::NotEq, _) => {
                let span = self.bump().span;
                HeaderOp::Compare {
                    span,
                    op: ValueOp::Equals,
                    negated: true,
                    value: self.bytes("a header value")?,
                }
            }
            (Kind::Ident, "prefix" | "suffix") => {
                let span = self.bump().span;
                HeaderOp::Compare {
                    span,
                    op: if op.text == "prefix" {
                        ValueOp::Prefix
                    } else {
                        ValueOp::Suffix
                    },
                    negated: false,
                    value: self.bytes("a header value")?,
                }
            }
            (Kind::Ident, "not")
                if self.peek2().kind == Kind::Ident
                    && matches!(self.peek2().text, "prefix" | "suffix") =>
            {
                let not = self.bump().span;
                let which = self.bump();
                HeaderOp::Compare {
                    span: not.to(which.span),
                    op: if which.text == "prefix" {
                        ValueOp::Prefix
                    } else {
                        ValueOp::Suffix
                    },
                    negated: true,
                    value: self.bytes("a header value")?,
                }
            }
            (Kind::Eq, _) => {
                // Report, then read it as `==`.
                self.error(
                    Diagnostic::error("E0210", op.span, "header comparisons use `==`")
                        .label("a single `=` sets a value (in tests)")
                        .help(format!("write header \"{}\" == ...", name.value)),
                );
                self.bump();
                HeaderOp::Equals(self.bytes("a header value")?)
            }
            _ => {
                let d = self.unexpected("present, absent, ==, !=, prefix or suffix");
                self.error(bad_header_op(d.code_as("E0210"), op, name));
                return Err(());
            }
        })
    }

    pub(super) fn rule(&mut self) -> P<Rule> {
        if self.at_kw("otherwise") {
            return self.otherwise();
        }
        let rule_start = self.peek();
        let action = self.action("`allow` or `deny`")?;
        let mut methods = None;
        let t = self.peek();
        if t.kind == Kind::Ident
            && !t.line_start
            && !NOT_METHODS.contains(&t.text)
            && !matches!(t.text, "allow" | "deny")
        {
            if t.text == "any" {
                self.bump();
                let n = self.peek();
                let after = self.peek2();
                let except_methods = n.kind == Kind::Ident
                    && n.text == "except"
                    && !n.line_start
                    && !(after.kind == Kind::Ident && NOT_METHODS.contains(&after.text));
                if except_methods {
                    let kw = self.bump().span;
                    methods = Some(Methods::AnyExcept(t.span.to(kw), self.method_list()?));
                } else {
                    methods = Some(Methods::Any(t.span));
                }
            } else {
                methods = Some(Methods::List(self.method_list()?));
            }
        }
        let mut conds = Vec::new();
        loop {
            let t = self.peek();
            if t.kind == Kind::Str && !t.line_start && conds.is_empty() {
                let d = self.bare_string(rule_start, t);
                self.error(d);
                return Err(());
            }
            let kw = if let Some(kw) = self.colon_keyword(&["path", "from", "when"]) {
                // `path: "/x"`: said, then read as `path "/x"`.
                self.colon_error(kw);
                kw
            } else if t.kind != Kind::Ident || matches!(t.text, "allow" | "deny") {
                break;
            } else {
                t.text
            };
            match kw {
                "path" => conds.push(self.path_cond()?),
                "from" => conds.push(self.source_cond()?),
                "when" => conds.push(self.when_cond()?),
                "except" if !t.line_start => conds.push(self.except_cond()?),
                other if t.line_start => {
                    // Not a continuation: the next rule starts with a typo.
                    let _ = other;
                    break;
                }
                other => {
                    let mut d = Diagnostic::error(
                        "E0208",
                        t.span,
                        format!("unknown rule condition `{other}`"),
                    )
                    .label("expected path, from or when")
                    .maybe_help(did_you_mean(other, &COND_KEYWORDS));
                    if other == "header" {
                        let name = Some(self.peek2())
                            .filter(|n| n.kind == Kind::Str)
                            .map_or("\"x-tenant\"", |n| n.text);
                        d = d.help(format!(
                            "header conditions start with `when`: when header {name} present"
                        ));
                    } else if matches!(other, "principal" | "namespace" | "serviceaccount") {
                        d = d.help(format!("sources start with `from`: from {other} \"...\""));
                    } else if other == "prefix" {
                        d = d.help("write path prefix \"/api/\"");
                    }
                    self.error(d);
                    return Err(());
                }
            }
        }
        let span = action.span.to(self.prev_span());
        Ok(Rule {
            span,
            otherwise: None,
            action,
            methods,
            conds,
        })
    }

    /// E0208 for a string where a condition should start (`allow GET
    /// "/get"`): the rule from `start` (its first token) rewritten with the
    /// keyword the string `s`, the current token, needs (`path`, or `from
    /// principal` for a principal). Both the rule and the strings are
    /// quoted up to [`super::QUOTED`] tokens.
    fn bare_string(&self, start: Token<'_>, s: Token<'_>) -> Diagnostic {
        let mut written = String::new();
        let mut whole = false;
        for t in self.replay(start) {
            if t.span.start >= s.span.start || t.kind == Kind::Eof {
                whole = true;
                break;
            }
            if t.kind != Kind::Comma && !written.is_empty() {
                written.push(' ');
            }
            written.push_str(t.text);
        }
        if !whole {
            written.push_str(" …");
        }
        let mut strings = vec![s.text];
        let mut rest = self.ahead();
        let mut whole = false;
        while let Some(c) = rest.next() {
            if c.kind != Kind::Comma {
                whole = true;
                break;
            }
            let Some(n) = rest.next() else { break };
            if n.kind != Kind::Str {
                whole = true;
                break;
            }
            strings.push(n.text);
        }
        if !whole {
            strings.push("…");
        }
        let principal = s.value().starts_with(b"spiffe://") || s.text.contains("/ns/");
        let (kw, what) = if principal {
            ("from principal", "a source")
        } else {
            ("path", "a path")
        };
        Diagnostic::error(
            "E0208",
            s.span,
            "expected `path`, `from` or `when` before a string",
        )
        .label(format!("{what} needs `{kw}` before it"))
        .help(format!("write `{written} {kw} {}`", strings.join(", ")))
    }

    /// `except path …` or `except from …`.
    fn except_cond(&mut self) -> P<Cond> {
        let kw = self.bump().span;
        let t = self.peek();
        let cond = match (t.kind, t.text) {
            (Kind::Ident, "path") => self.path_cond()?,
            (Kind::Ident, "from") => self.source_cond()?,
            _ => {
                let mut d = self.unexpected("`path` or `from` after `except`");
                d.code = "E0208";
                d = d.help(match (t.kind, t.text) {
                    (Kind::Ident, m) if egress_table::spec::METHODS.contains(&m) => {
                        "to leave out methods write `any except GET, POST` right after the action"
                    }
                    (Kind::Ident, "when" | "header") => {
                        "negate a header condition with `!=`, `not prefix` or `not suffix`, or use `absent`"
                    }
                    _ => "write except path \"/admin/{**}\" or except from namespace \"untrusted\"",
                });
                self.error(d);
                return Err(());
            }
        };
        Ok(match cond {
            Cond::Path(s, pats) => Cond::ExceptPath(kw.to(s), pats),
            Cond::From(s, items) => Cond::ExceptFrom(kw.to(s), items),
            other => other,
        })
    }

    fn path_cond(&mut self) -> P<Cond> {
        let start = self.bump().span;
        let mut pats = Vec::new();
        loop {
            let t = self.peek();
            let (form, first) = match (t.kind, t.text) {
                (Kind::Tilde, _) => (PathForm::Regex, self.bump().span),
                (Kind::Ident, "prefix") => (PathForm::Prefix, self.bump().span),
                (Kind::Ident, "suffix") => (PathForm::Suffix, self.bump().span),
                (Kind::Ident, "regex") => {
                    self.error(
                        Diagnostic::error("E0201", t.span, "regexes are written ~\"...\"")
                            .label("not a keyword")
                            .help("write path ~\"^/v2/items/[0-9]+$\""),
                    );
                    return Err(());
                }
                _ => (PathForm::Plain, t.span),
            };
            let text = self.string("a path string")?;
            pats.push(PathPat {
                span: first.to(text.span),
                form,
                text,
            });
            if !self.eat_comma() {
                break;
            }
        }
        Ok(Cond::Path(start.to(self.prev_span()), pats))
    }

    fn source_cond(&mut self) -> P<Cond> {
        let start = self.bump().span;
        let mut items = Vec::new();
        let mut kind: Option<Spanned<String>> = None;
        loop {
            let t = self.peek();
            if t.kind == Kind::Ident {
                self.bump();
                if !SOURCE_KINDS.contains(&t.text) {
                    let mut d = Diagnostic::error(
                        "E0209",
                        t.span,
                        format!("unknown source kind `{}`", t.text),
                    )
                    .label("expected principal, namespace or serviceaccount")
                    .maybe_help(did_you_mean(
                        t.text,
                        &[&SOURCE_KINDS[..], &["service-account", "sa", "ns"]].concat(),
                    ));
                    if matches!(t.text, "service-account" | "sa" | "serviceAccount") {
                        d = d.help("write serviceaccount \"namespace/name\"");
                    } else if t.text == "ns" {
                        d = d.help("write namespace \"name\"");
                    }
                    self.error(d);
                    return Err(());
                }
                kind = Some(Spanned::new(t.text.to_owned(), t.span));
            } else if kind.is_none() {
                let mut d = self.unexpected("principal, namespace or serviceaccount");
                d.code = "E0209";
                if t.kind == Kind::Str {
                    d = d.help(format!("say what the string is: from principal {}", t.text));
                }
                self.error(d);
                return Err(());
            }
            let value = self.string("a quoted source")?;
            if let Some(k) = &kind {
                items.push(SourceItem {
                    kind: k.clone(),
                    value,
                });
            }
            if !self.eat_comma() {
                break;
            }
        }
        Ok(Cond::From(start.to(self.prev_span()), items))
    }

    fn when_cond(&mut self) -> P<Cond> {
        let start = self.bump().span;
        let mut conds = Vec::new();
        loop {
            let h = self.peek();
            if !(h.kind == Kind::Ident && h.text == "header") {
                let mut d = self.unexpected("`header`");
                d.code = "E0210";
                let name = if h.kind == Kind::Str {
                    h.text
                } else {
                    "\"x-name\""
                };
                self.error(d.help(format!("write when header {name} present")));
                return Err(());
            }
            self.bump();
            let name = self.string("a header name")?;
            let op = self.header_op(&name)?;
            conds.push(HeaderCond {
                span: h.span.to(self.prev_span()),
                name,
                op,
            });
            if self.at_kw("and") {
                self.bump();
            } else {
                break;
            }
        }
        Ok(Cond::When(start.to(self.prev_span()), conds))
    }
}

/// E0210 for an unknown header test `op` on header `name`, with the likely
/// one.
fn bad_header_op(d: Diagnostic, op: Token<'_>, name: &Spanned<String>) -> Diagnostic {
    let h = &name.value;
    match (op.kind, op.text) {
        (Kind::Ident, "exists" | "exist" | "set" | "is-present" | "defined") => {
            d.help(format!("write header \"{h}\" present"))
        }
        (Kind::Ident, "missing" | "unset" | "undefined") => {
            d.help(format!("write header \"{h}\" absent"))
        }
        (Kind::Ident, "not") => d.help(format!(
            "write header \"{h}\" absent, != \"value\", not prefix \"value\" or not suffix \"value\""
        )),
        (Kind::Ident, "starts-with" | "startswith" | "begins-with") => {
            d.help(format!("write header \"{h}\" prefix \"value\""))
        }
        (Kind::Ident, "ends-with" | "endswith") => {
            d.help(format!("write header \"{h}\" suffix \"value\""))
        }
        (Kind::Ident, "is" | "equals" | "eq") => {
            d.help(format!("write header \"{h}\" == \"value\""))
        }
        (Kind::Str, _) => d.help(format!("write header \"{h}\" == {}", op.text)),
        (Kind::Ident, other) => d
            .maybe_help(did_you_mean(other, &["present", "absent"]))
            .or_help(format!(
                "write header \"{h}\" present, absent, or == \"value\""
            )),
        _ => d.help(format!(
            "write header \"{h}\" present, absent, or == \"value\""
        )),
    }
}
