//! A test block and its cases: a request, options and the expected decision.

use super::{P, Parser, unclosed};
use crate::ast::*;
use crate::diag::{Diagnostic, did_you_mean};
use crate::lex::{Kind, Token};
use crate::source::Spanned;

impl Parser<'_, '_> {
    pub(super) fn test(&mut self) -> P<Test> {
        let start = self.bump().span;
        let name = self.string("a test name")?;
        let open = self.expect(Kind::LBrace, "`{`")?.span;
        let mut cases = Vec::new();
        loop {
            let t = self.peek();
            match t.kind {
                Kind::RBrace => {
                    let close = self.bump().span;
                    return Ok(Test {
                        span: start.to(close),
                        name,
                        cases,
                    });
                }
                Kind::Eof => {
                    let last = self.prev_span();
                    self.error(unclosed(
                        open,
                        format!("test \"{}\" is not closed", name.value),
                        last,
                        "the file ends after this",
                        "add `}` after the last case",
                    ));
                    return Ok(Test {
                        span: start.to(t.span),
                        name,
                        cases,
                    });
                }
                _ if self.at_item_start() => {
                    // A test holds only cases: its `}` was forgotten.
                    let what = format!("test \"{}\" is not closed", name.value);
                    let close = self.unclosed_before_item(open, what, "a test");
                    return Ok(Test {
                        span: start.to(close),
                        name,
                        cases,
                    });
                }
                _ => match self.case() {
                    Ok(c) => cases.push(c),
                    Err(()) => self.recover_case(),
                },
            }
        }
    }

    /// Skips to the next line (a new case) or the closing brace.
    fn recover_case(&mut self) {
        loop {
            let t = self.peek();
            if t.kind == Kind::Eof || t.kind == Kind::RBrace || t.line_start {
                return;
            }
            self.bump();
        }
    }

    /// A test case: `[METHOD] URL OPTIONS => DECISION [, audit DECISION]`
    /// (E0211).
    fn case(&mut self) -> P<Case> {
        let first = self.peek();
        let method = if first.kind == Kind::Ident && self.peek2().kind == Kind::Url {
            self.bump();
            Some(Spanned::new(first.text.to_owned(), first.span))
        } else {
            None
        };
        let url = self.peek();
        if url.kind != Kind::Url {
            let d = self.missing_scheme(first, url);
            self.bump();
            self.error(d);
            return Err(());
        }
        if let Some(m) = &method
            && !m.value.is_ascii()
        {
            self.error(
                Diagnostic::error(
                    "E0211",
                    m.span,
                    format!("`{}` is not an HTTP method", m.value),
                )
                .label("HTTP methods are ASCII")
                .maybe_help(did_you_mean(&m.value, &egress_table::spec::METHODS)),
            );
            return Err(());
        }
        self.bump();
        let url_s = Spanned::new(url.text.to_owned(), url.span);
        let opts = self.case_opts()?;
        let (expect, expect_audit) = self.case_expect()?;
        let start = method.as_ref().map_or(url.span, |m| m.span);
        Ok(Case {
            span: start.to(self.prev_span()),
            method,
            url: url_s,
            opts,
            expect,
            expect_audit,
        })
    }

    /// E0211 for a case without a URL: a URL without its scheme, or
    /// something else.
    fn missing_scheme(&mut self, first: Token<'_>, url: Token<'_>) -> Diagnostic {
        // `GET example.com/x` or `example.com:443`: a URL without its scheme.
        let hostish =
            |t: Token<'_>| matches!(t.kind, Kind::Word | Kind::Ident) && t.text.contains('.');
        let second = self.peek2();
        let (bad, with_method) =
            if first.kind == Kind::Ident && !second.line_start && hostish(second) {
                (second, Some(first.text))
            } else {
                (url, None)
            };
        if hostish(bad) {
            let fix = match with_method {
                Some(m) => format!("{m} http://{}", bad.text),
                None if bad.text.contains(':') => format!("tls://{}", bad.text),
                None => format!("GET http://{}", bad.text),
            };
            Diagnostic::error(
                "E0211",
                bad.span,
                format!("test URL `{}` has no scheme", bad.text),
            )
            .label("expected scheme://host")
            .help(format!(
                "write {fix} (the schemes are http, https, tls and tcp)"
            ))
        } else {
            let mut d = self.unexpected("a test request such as GET http://example.com/path");
            d.code = "E0211";
            d.help("a case is METHOD http://host/path, tls://host:port or tcp://address:port, then => allow or => deny")
        }
    }

    /// The case's options: `from`, `header NAME = VALUE` and `sni`.
    fn case_opts(&mut self) -> P<Vec<CaseOpt>> {
        let mut opts = Vec::new();
        loop {
            let t = self.peek();
            match (t.kind, t.text) {
                (Kind::Ident, "from") => {
                    self.bump();
                    if self.at_kw("principal") {
                        self.bump();
                    }
                    let v = self.string("a principal")?;
                    opts.push(CaseOpt::From(t.span.to(v.span), v));
                }
                (Kind::Ident, "header") => {
                    self.bump();
                    let name = self.string("a header name")?;
                    let eq = self.peek();
                    if eq.kind == Kind::EqEq || eq.kind == Kind::Eq {
                        self.bump();
                    } else {
                        let mut d = self.unexpected("`=`");
                        d.code = "E0211";
                        self.error(d.help(format!("write header \"{}\" = \"value\"", name.value)));
                        return Err(());
                    }
                    let v = self.bytes("a header value")?;
                    opts.push(CaseOpt::Header(t.span.to(v.span), name, v));
                }
                (Kind::Ident, "sni") => {
                    self.bump();
                    let v = self.string("an SNI host name")?;
                    opts.push(CaseOpt::Sni(t.span.to(v.span), v));
                }
                _ => break,
            }
        }
        Ok(opts)
    }

    /// `=> DECISION [, audit DECISION]` (E0211 when missing or malformed).
    fn case_expect(&mut self) -> P<(Spanned<RuleAction>, Option<Spanned<RuleAction>>)> {
        if !self.at(Kind::Arrow) {
            let n = self.peek();
            let d = if n.line_start || n.kind == Kind::RBrace || n.kind == Kind::Eof {
                // The line ends without a decision.
                Diagnostic::error(
                    "E0211",
                    self.prev_span(),
                    "test case has no expected decision",
                )
                .label("add `=> allow` or `=> deny` after this")
                .help("end each case with => allow or => deny")
            } else {
                let mut d = self.unexpected("`=>` and the expected decision");
                d.code = "E0211";
                if n.kind == Kind::Ident {
                    d = d.maybe_help(did_you_mean(n.text, &["from", "header", "sni"]));
                }
                if matches!(n.kind, Kind::Ident) && matches!(n.text, "allow" | "deny") {
                    d = d.help(format!("write => {}", n.text));
                }
                d.or_help("end each case with => allow or => deny")
            };
            self.error(d);
            return Err(());
        }
        self.bump();
        let expect = self.expect_action()?;
        let mut expect_audit = None;
        let audit_without_comma = self.at_kw("audit") && !self.peek().line_start;
        if audit_without_comma {
            let t = self.peek();
            self.error(
                Diagnostic::error("E0211", t.span, "expected `,` before `audit`")
                    .label("the audit expectation follows a comma")
                    .help(format!(
                        "write => {}, audit {}",
                        self.prev_span_text(),
                        Some(self.peek2())
                            .filter(|t| t.kind == Kind::Ident && !t.line_start)
                            .map_or("...", |t| t.text)
                    )),
            );
        }
        if self.at(Kind::Comma) || audit_without_comma {
            if !audit_without_comma {
                self.bump();
            }
            if !self.at_kw("audit") {
                let mut d = self.unexpected("`audit`");
                d.code = "E0211";
                self.error(d.help("write => allow, audit deny"));
                return Err(());
            }
            self.bump();
            expect_audit = Some(self.expect_action()?);
        }
        Ok((expect, expect_audit))
    }

    fn expect_action(&mut self) -> P<Spanned<RuleAction>> {
        let r = self.action("`allow` or `deny`");
        if r.is_err()
            && let Some(d) = self.diags.last_mut()
        {
            d.code = "E0211";
        }
        r
    }
}
