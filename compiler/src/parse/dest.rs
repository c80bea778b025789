//! A destination: its targets, its clauses and its block of rules.

use super::{CLAUSE_KEYWORDS, P, Parser, RULE_STARTS, unclosed};
use crate::ast::*;
use crate::diag::{Diagnostic, did_you_mean};
use crate::lex::Kind;
use crate::source::{Span, Spanned};

impl Parser<'_, '_> {
    /// `destination TARGETS CLAUSES [ { RULES } ]`.
    pub(super) fn destination(&mut self) -> P<Destination> {
        let keyword = self.bump().span;
        let targets = if self.at_kw("cidr") {
            self.cidr_targets()?
        } else {
            self.host_targets()?
        };
        let clauses = self.dest_clauses()?;
        let block = self.rule_block();
        let end = block
            .as_ref()
            .map_or_else(|| self.prev_span(), |(_, _, c)| *c);
        Ok(Destination {
            span: keyword.to(end),
            keyword,
            targets,
            clauses,
            block,
        })
    }

    /// `cidr ADDR, …`: address ranges, quoted or not (an unquoted IPv6
    /// range that starts with a letter is reported, E0206).
    fn cidr_targets(&mut self) -> P<Targets> {
        self.bump();
        let mut cidrs = Vec::new();
        loop {
            let t = self.peek();
            match t.kind {
                Kind::Word | Kind::Ident => {
                    self.bump();
                    if t.text.starts_with(|c: char| c.is_ascii_alphabetic()) && t.text.contains(':')
                    {
                        self.error(
                            Diagnostic::error(
                                "E0206",
                                t.span,
                                "an IPv6 range that starts with a letter must be quoted",
                            )
                            .label("add quotes")
                            .help(format!("write cidr \"{}\"", t.text)),
                        );
                    }
                    cidrs.push(Spanned::new(t.text.to_owned(), t.span));
                }
                Kind::Str => {
                    self.bump();
                    cidrs.push(Spanned::new(
                        String::from_utf8_lossy(&t.value()).into_owned(),
                        t.span,
                    ));
                }
                _ => {
                    let d = self.unexpected("an address range such as 10.0.0.0/8");
                    self.error(d);
                    return Err(());
                }
            }
            if !self.eat_comma() {
                break;
            }
        }
        Ok(Targets::Cidrs(cidrs))
    }

    /// `"HOST", …`: host names, with a keyword in place of the first
    /// (E0201) or a missing comma (E0201) reported.
    fn host_targets(&mut self) -> P<Targets> {
        let mut hosts = Vec::new();
        loop {
            let t = self.peek();
            if t.kind == Kind::Ident && CLAUSE_KEYWORDS.contains(&t.text) && hosts.is_empty() {
                self.error(
                    Diagnostic::error(
                        "E0201",
                        t.span,
                        "expected a host name or `cidr`, found a keyword",
                    )
                    .label("the destination's host comes first")
                    .help("write destination \"example.com\" port 443 tls"),
                );
                return Err(());
            }
            let host = self.string("a host name")?;
            let after = host.span;
            hosts.push(host);
            if !self.eat_comma() {
                let n = self.peek();
                if n.kind == Kind::Str && !n.line_start {
                    self.error(
                        Diagnostic::error(
                            "E0201",
                            n.span,
                            "expected `,` between host names, found a string",
                        )
                        .label("hosts are separated by commas")
                        .with_label(after, "add `,` after this")
                        .help(format!(
                            "write {}, {}",
                            self.prev_span_text(),
                            n.text
                        )),
                    );
                    continue;
                }
                break;
            }
        }
        Ok(Targets::Hosts(hosts))
    }

    /// The destination's clauses, up to its block or the next line that
    /// starts something else; an unknown clause is an error (E0207).
    fn dest_clauses(&mut self) -> P<Vec<DestClause>> {
        let mut clauses = Vec::new();
        loop {
            let t = self.peek();
            let kw = if let Some(kw) = self.colon_keyword(&CLAUSE_KEYWORDS) {
                // `port: 443`: said, then read as `port 443`.
                self.colon_error(kw);
                kw
            } else if t.kind != Kind::Ident || (t.line_start && !CLAUSE_KEYWORDS.contains(&t.text))
            {
                break;
            } else {
                t.text
            };
            match kw {
                "port" => clauses.push(self.port_clause()?),
                "http" | "tls" | "tcp" => {
                    self.bump();
                    clauses.push(DestClause::Protocol(Spanned::new(kw.to_owned(), t.span)));
                }
                "originate-tls" => {
                    self.bump();
                    let port = (self.at(Kind::Word)).then(|| {
                        let p = self.bump();
                        Spanned::new(p.text.to_owned(), p.span)
                    });
                    clauses.push(DestClause::OriginateTls(t.span.to(self.prev_span()), port));
                }
                "timeout" => {
                    self.bump();
                    let v = self.peek();
                    if v.kind != Kind::Word {
                        let d = self.unexpected("a duration such as 3s or 500ms");
                        self.error(d);
                        return Err(());
                    }
                    self.bump();
                    clauses.push(DestClause::Timeout(
                        t.span.to(v.span),
                        Spanned::new(v.text.to_owned(), v.span),
                    ));
                }
                "service" => {
                    self.bump();
                    let mut names = vec![self.string("a Kubernetes Service (\"NAMESPACE/NAME\")")?];
                    while self.eat_comma() {
                        names.push(self.string("a Kubernetes Service (\"NAMESPACE/NAME\")")?);
                    }
                    clauses.push(DestClause::Service(t.span.to(self.prev_span()), names));
                }
                other => {
                    let d = self.unknown_clause(t.span, other);
                    self.error(d);
                    return Err(());
                }
            }
        }
        Ok(clauses)
    }

    /// `port P, …`: numbers or ranges; a quoted port is reported (E0201) and
    /// read, a named one (`https`) is an error.
    fn port_clause(&mut self) -> P<DestClause> {
        let start = self.bump().span;
        let mut ports = Vec::new();
        loop {
            let p = self.peek();
            if p.kind == Kind::Str {
                // `port "443"`: say so, and read the number.
                self.bump();
                let value = String::from_utf8_lossy(&p.value()).into_owned();
                self.error(
                    Diagnostic::error("E0201", p.span, "a port is a number, not a string")
                        .label("remove the quotes")
                        .help(format!("write port {value}")),
                );
                ports.push(Spanned::new(value, p.span));
            } else if p.kind != Kind::Word {
                let mut d = self.unexpected("a port number or range such as 80 or 8000-8999");
                let named = match p.text {
                    "http" => Some("80"),
                    "https" | "tls" => Some("443"),
                    "ssh" => Some("22"),
                    _ => None,
                };
                if let Some(n) = named {
                    d = d.help(format!("ports are numbers: port {n}"));
                }
                self.error(d);
                return Err(());
            } else {
                self.bump();
                ports.push(Spanned::new(p.text.to_owned(), p.span));
            }
            if !self.eat_comma() {
                break;
            }
        }
        Ok(DestClause::Port(start.to(self.prev_span()), ports))
    }

    /// E0207 for an unknown destination clause, with what was likely meant.
    fn unknown_clause(&self, span: Span, other: &str) -> Diagnostic {
        let mut d = Diagnostic::error(
            "E0207",
            span,
            format!("unknown destination setting `{other}`"),
        )
        .label("expected port, http, tls, tcp, originate-tls, timeout or service")
        .maybe_help(did_you_mean(
            other,
            &[&CLAUSE_KEYWORDS[..], &["ports"]].concat(),
        ));
        if other == "ports" {
            // The list as written after `ports`.
            let mut list = Vec::new();
            let mut whole = false;
            for t in self.ahead() {
                match t.kind {
                    Kind::Word => list.push(t.text),
                    Kind::Comma => {}
                    _ => {
                        whole = true;
                        break;
                    }
                }
            }
            if !whole {
                list.push("…");
            }
            let list = if list.is_empty() {
                "80, 443".to_owned()
            } else {
                list.join(", ")
            };
            d = d.help(format!("write `port {list}`: one `port` takes a list"));
        } else if matches!(other, "protocol" | "proto") {
            d = d.help("write the protocol itself: `http`, `tls` or `tcp`");
        } else if matches!(other, "https" | "grpc" | "http2" | "h2") {
            d = d.help("use `tls` for HTTPS passed through (decided on SNI), or `http` when the proxy sees plain HTTP");
        } else if other.contains('.') {
            d = d.help(format!(
                "several hosts are separated by commas: \"a.com\", \"{other}\""
            ));
        }
        d
    }

    /// The destination's `{ RULES }`, if it has one; an unclosed block
    /// (E0204) ends at the end of the file or the next policy item.
    fn rule_block(&mut self) -> Option<(Span, Vec<Rule>, Span)> {
        let mut block = None;
        if self.at(Kind::LBrace) {
            let open = self.bump().span;
            let mut rules = Vec::new();
            loop {
                let t = self.peek();
                match t.kind {
                    Kind::RBrace => {
                        let close = self.bump().span;
                        block = Some((open, rules, close));
                        break;
                    }
                    Kind::Eof => {
                        let last = self.prev_span();
                        self.error(unclosed(
                            open,
                            "destination block is not closed",
                            last,
                            "the file ends after this",
                            "add `}` after the last rule",
                        ));
                        block = Some((open, rules, t.span));
                        break;
                    }
                    _ if self.at_item_start() => {
                        // A block holds only rules: a new policy item means
                        // its `}` was forgotten. Close it here.
                        let what = "destination block is not closed".to_owned();
                        let close = self.unclosed_before_item(open, what, "a rule block");
                        block = Some((open, rules, close));
                        break;
                    }
                    _ => match self.rule() {
                        Ok(r) => rules.push(r),
                        Err(()) => self.recover(&RULE_STARTS),
                    },
                }
            }
        }
        block
    }
}
