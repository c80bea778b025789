//! Stage 2, parsing: tokens to a syntax tree ([`crate::ast`]).
//!
//! The grammar (newlines carry no meaning; keywords are contextual):
//!
//! ```text
//! file        = { policy }
//! policy      = "policy" STRING "{" { setting | destination | test } "}"
//! setting     = ("mode" | "default" | "log" | "require") NAME
//! destination = "destination" targets { clause } [ "{" { rule } "}" ]
//! targets     = STRING { "," STRING } | "cidr" ADDR { "," ADDR }
//! clause      = "port" PORT { "," PORT } | "http" | "tls" | "tcp"
//!             | "originate-tls" [ PORT ] | "timeout" DURATION
//!             | "service" STRING { "," STRING }
//! rule        = ("allow" | "deny") [ "any" | METHOD { "," METHOD } ] { condition }
//! condition   = "path" pattern { "," pattern }
//!             | "from" KIND STRING { "," [ KIND ] STRING }
//!             | "when" header { "and" header }
//! pattern     = STRING | "prefix" STRING | "~" STRING
//! header      = "header" STRING ( "present" | "absent" | "==" STRING )
//! test        = "test" STRING "{" { case } "}"
//! case        = [ METHOD ] URL { "from" STRING | "header" STRING "=" STRING | "sni" STRING }
//!               "=>" ("allow" | "deny") [ "," "audit" ("allow" | "deny") ]
//! ```
//!
//! Errors (E02xx) are collected, not returned on the first: after an error
//! the parser skips to the next line that starts a setting, destination,
//! test or rule, so one run reports every independent mistake.

use crate::ast::*;
use crate::diag::{Diagnostic, did_you_mean};
use crate::lex::{Kind, Lexed, Token};
use crate::source::{Span, Spanned};

/// Keywords that start an item inside a policy.
pub const ITEM_KEYWORDS: [&str; 6] = ["mode", "default", "log", "require", "destination", "test"];
/// Keywords that start a destination clause.
pub const CLAUSE_KEYWORDS: [&str; 7] = [
    "port",
    "http",
    "tls",
    "tcp",
    "originate-tls",
    "timeout",
    "service",
];
/// Keywords that start a rule condition.
pub const COND_KEYWORDS: [&str; 3] = ["path", "from", "when"];
/// Source kinds.
pub const SOURCE_KINDS: [&str; 3] = ["principal", "namespace", "serviceaccount"];
/// Words that belong to a condition, never to a method list: the method list
/// ends before them and the condition parser says what is missing.
const NOT_METHODS: [&str; 9] = [
    "path",
    "from",
    "when",
    "header",
    "prefix",
    "regex",
    "principal",
    "namespace",
    "serviceaccount",
];

struct Parser<'a> {
    toks: &'a [Token],
    pos: usize,
    diags: Vec<Diagnostic>,
}

type P<T> = Result<T, ()>;

/// Parses a lexed file. Always returns a tree (possibly partial) and the errors found.
pub fn parse(lexed: &Lexed) -> (File, Vec<Diagnostic>) {
    let mut p = Parser {
        toks: &lexed.tokens,
        pos: 0,
        diags: Vec::new(),
    };
    let file = p.file();
    (file, p.diags)
}

fn eof_token() -> &'static Token {
    static EOF: std::sync::OnceLock<Token> = std::sync::OnceLock::new();
    EOF.get_or_init(|| Token {
        kind: Kind::Eof,
        span: Span::default(),
        text: String::new(),
        bytes: Vec::new(),
        line_start: true,
    })
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &'a Token {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .unwrap_or_else(|| eof_token())
    }
    fn peek2(&self) -> &'a Token {
        self.toks
            .get(self.pos + 1)
            .or_else(|| self.toks.last())
            .unwrap_or_else(|| eof_token())
    }
    fn bump(&mut self) -> &'a Token {
        let t = self.peek();
        if t.kind != Kind::Eof {
            self.pos += 1;
        }
        t
    }
    fn at_kw(&self, kw: &str) -> bool {
        let t = self.peek();
        t.kind == Kind::Ident && t.text == kw
    }
    fn at(&self, kind: Kind) -> bool {
        self.peek().kind == kind
    }
    fn prev_span_text(&self) -> &'a str {
        self.toks
            .get(self.pos.saturating_sub(1))
            .map_or("", |t| t.text.as_str())
    }
    fn prev_span(&self) -> Span {
        self.toks
            .get(self.pos.saturating_sub(1))
            .map_or_else(|| self.peek().span, |t| t.span)
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn unexpected(&mut self, what: &str) -> Diagnostic {
        let t = self.peek();
        let found = if t.kind == Kind::Ident || t.kind == Kind::Word {
            format!("`{}`", t.text)
        } else {
            t.kind.describe().to_owned()
        };
        Diagnostic::error("E0201", t.span, format!("expected {what}, found {found}"))
            .label(format!("expected {what}"))
    }

    fn expect(&mut self, kind: Kind, what: &str) -> P<&'a Token> {
        if self.at(kind) {
            return Ok(self.bump());
        }
        let d = self.unexpected(what);
        self.error(d);
        Err(())
    }

    /// A quoted string; an unquoted name is accepted with an error saying to quote it.
    fn string(&mut self, what: &str) -> P<Spanned<String>> {
        let t = self.peek();
        match t.kind {
            Kind::Str => {
                self.bump();
                Ok(Spanned::new(
                    String::from_utf8_lossy(&t.bytes).into_owned(),
                    t.span,
                ))
            }
            Kind::Ident | Kind::Word => {
                self.bump();
                self.error(
                    Diagnostic::error("E0206", t.span, format!("{what} must be a quoted string"))
                        .label("add quotes")
                        .help(format!("write \"{}\"", t.text)),
                );
                Ok(Spanned::new(t.text.clone(), t.span))
            }
            _ => {
                let d = self.unexpected(what);
                self.error(d);
                Err(())
            }
        }
    }

    fn bytes(&mut self, what: &str) -> P<Spanned<Vec<u8>>> {
        let t = self.peek();
        if t.kind == Kind::Str {
            self.bump();
            return Ok(Spanned::new(t.bytes.clone(), t.span));
        }
        self.string(what)
            .map(|s| Spanned::new(s.value.into_bytes(), s.span))
    }

    /// Skips to the next token that can start an item of a block at this
    /// depth (a line-start keyword from `starts`), a `}` closing this block,
    /// or the end of the file.
    fn recover(&mut self, starts: &[&str]) {
        let mut depth = 0usize;
        let first = self.pos;
        loop {
            let t = self.peek();
            match t.kind {
                Kind::Eof => return,
                Kind::RBrace if depth == 0 => return,
                Kind::RBrace => depth -= 1,
                Kind::LBrace => depth += 1,
                Kind::Ident
                    if depth == 0
                        && t.line_start
                        && self.pos > first
                        && starts.contains(&t.text.as_str()) =>
                {
                    return;
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn file(&mut self) -> File {
        let mut file = File::default();
        while !self.at(Kind::Eof) {
            if self.at_kw("policy") {
                if let Ok(p) = self.policy() {
                    file.policies.push(p);
                }
                continue;
            }
            let t = self.peek();
            let mut d = self.unexpected("`policy`");
            d.code = "E0212";
            if t.text.starts_with("apiVersion") || t.text.starts_with("kind:") {
                d = d.help("this looks like Kubernetes YAML; a policy file is written in the policy language (see docs/language.md), and `egressc` emits the Istio resources");
            } else if t.kind == Kind::RBrace {
                d = d
                    .label("this `}` closes nothing")
                    .help("remove it; if a block above ends early, look for a `}` too many there");
            } else if t.kind == Kind::Ident {
                d = d.maybe_help(did_you_mean(&t.text, &["policy"]));
                if ITEM_KEYWORDS.contains(&t.text.as_str()) {
                    d = d.help(format!(
                        "`{}` belongs inside a policy: policy \"name\" {{ {} ... }}",
                        t.text, t.text
                    ));
                }
            }
            self.error(d);
            // Skip what follows, a `{ … }` block as a whole, up to the next
            // line that starts a policy (or a policy item, reported as out
            // of place), or a `}` that closes nothing.
            self.bump();
            let mut depth = 0usize;
            loop {
                let t = self.peek();
                match t.kind {
                    Kind::Eof => break,
                    Kind::RBrace if depth == 0 => break,
                    Kind::RBrace => depth -= 1,
                    Kind::LBrace => depth += 1,
                    Kind::Ident
                        if depth == 0
                            && t.line_start
                            && (t.text == "policy" || ITEM_KEYWORDS.contains(&t.text.as_str())) =>
                    {
                        break;
                    }
                    _ => {}
                }
                self.bump();
            }
        }
        file
    }

    fn policy(&mut self) -> P<Policy> {
        let start = self.bump().span;
        let name = match self.string("a policy name") {
            Ok(n) => n,
            Err(()) => {
                self.recover(&["policy"]);
                return Err(());
            }
        };
        let open = self.peek().span;
        if self.at(Kind::LBrace) {
            self.bump();
        } else if self.peek().kind == Kind::Ident
            && ITEM_KEYWORDS.contains(&self.peek().text.as_str())
        {
            // `policy "p"` and then its items: the `{` was forgotten. Say so
            // and read the items as if it were there.
            let d = self.unexpected("`{`");
            self.error(
                d.label("expected `{` before the policy's first item")
                    .with_label(name.span, "after this name")
                    .help(format!("write policy \"{}\" {{", name.value)),
            );
        } else {
            let d = self.unexpected("`{`");
            self.error(d);
            self.recover(&ITEM_KEYWORDS);
            if !self.at(Kind::LBrace) {
                return Err(());
            }
            self.bump();
        }
        let mut items = Vec::new();
        loop {
            let t = self.peek();
            match t.kind {
                Kind::RBrace => {
                    let close = self.bump().span;
                    return Ok(Policy {
                        span: start.to(close),
                        name,
                        items,
                        close,
                    });
                }
                Kind::Eof => {
                    let last = self.prev_span();
                    self.error(unclosed(
                        open,
                        format!("policy \"{}\" is not closed", name.value),
                        last,
                        "the file ends after this",
                        "add `}` after the policy's last item",
                    ));
                    return Ok(Policy {
                        span: start.to(t.span),
                        name,
                        items,
                        close: t.span,
                    });
                }
                Kind::Ident if t.text == "policy" && t.line_start => {
                    // The next policy starts: this one lacks its `}`.
                    self.error(unclosed(
                        open,
                        format!("policy \"{}\" is not closed", name.value),
                        t.span,
                        "the next policy starts here",
                        "add `}` before the next policy",
                    ));
                    return Ok(Policy {
                        span: start.to(self.prev_span()),
                        name,
                        items,
                        close: self.prev_span(),
                    });
                }
                Kind::Ident if t.text == "destination" => match self.destination() {
                    Ok(d) => items.push(Item::Destination(d)),
                    Err(()) => self.recover(&ITEM_KEYWORDS),
                },
                Kind::Ident if t.text == "test" => match self.test() {
                    Ok(x) => items.push(Item::Test(x)),
                    Err(()) => self.recover(&ITEM_KEYWORDS),
                },
                Kind::Ident
                    if matches!(t.text.as_str(), "mode" | "default" | "log" | "require") =>
                {
                    let key = self.bump();
                    let v = self.peek();
                    if v.kind == Kind::Ident && !v.line_start {
                        self.bump();
                        items.push(Item::Setting(Setting {
                            span: key.span.to(v.span),
                            key: Spanned::new(key.text.clone(), key.span),
                            value: Spanned::new(v.text.clone(), v.span),
                        }));
                    } else if v.kind == Kind::Str && !v.line_start {
                        self.bump();
                        let value = String::from_utf8_lossy(&v.bytes).into_owned();
                        self.error(
                            Diagnostic::error(
                                "E0201",
                                v.span,
                                format!("`{}` takes a name, not a string", key.text),
                            )
                            .label("remove the quotes")
                            .help(format!("write `{} {value}`", key.text)),
                        );
                        items.push(Item::Setting(Setting {
                            span: key.span.to(v.span),
                            key: Spanned::new(key.text.clone(), key.span),
                            value: Spanned::new(value, v.span),
                        }));
                    } else {
                        let hint = match key.text.as_str() {
                            "mode" => "enforce or audit",
                            "default" => "allow or deny",
                            "log" => "none, denied or all",
                            _ => "sni-host-match",
                        };
                        self.error(
                            Diagnostic::error(
                                "E0201",
                                key.span,
                                format!("`{}` needs a value", key.text),
                            )
                            .label(format!("expected {hint}"))
                            .help(format!(
                                "write `{} {}`",
                                key.text,
                                hint.split([',', ' ']).next().unwrap_or("")
                            )),
                        );
                        self.recover(&ITEM_KEYWORDS);
                    }
                }
                Kind::Ident => {
                    let mut d = Diagnostic::error(
                        "E0202",
                        t.span,
                        format!("unknown policy item `{}`", t.text),
                    )
                    .label("expected mode, default, log, require, destination or test")
                    .maybe_help(did_you_mean(&t.text, &ITEM_KEYWORDS));
                    if matches!(t.text.as_str(), "allow" | "deny") {
                        d = d.help(format!("rules go inside a destination's block: destination \"example.com\" port 80 http {{ {} ... }}", t.text));
                    }
                    self.error(d);
                    self.bump();
                    self.recover(&ITEM_KEYWORDS);
                }
                _ => {
                    let d = self.unexpected("a setting, `destination` or `test`");
                    self.error(d.code_as("E0202"));
                    self.bump();
                    self.recover(&ITEM_KEYWORDS);
                }
            }
        }
    }

    fn destination(&mut self) -> P<Destination> {
        let keyword = self.bump().span;
        let targets = if self.at_kw("cidr") {
            self.bump();
            let mut cidrs = Vec::new();
            loop {
                let t = self.peek();
                match t.kind {
                    Kind::Word | Kind::Ident => {
                        self.bump();
                        if t.text.starts_with(|c: char| c.is_ascii_alphabetic())
                            && t.text.contains(':')
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
                        cidrs.push(Spanned::new(t.text.clone(), t.span));
                    }
                    Kind::Str => {
                        self.bump();
                        cidrs.push(Spanned::new(
                            String::from_utf8_lossy(&t.bytes).into_owned(),
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
            Targets::Cidrs(cidrs)
        } else {
            let mut hosts = Vec::new();
            loop {
                let t = self.peek();
                if t.kind == Kind::Ident
                    && CLAUSE_KEYWORDS.contains(&t.text.as_str())
                    && hosts.is_empty()
                {
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
                                self.toks
                                    .get(self.pos.saturating_sub(1))
                                    .map_or("", |t| t.text.as_str()),
                                n.text
                            )),
                        );
                        continue;
                    }
                    break;
                }
            }
            Targets::Hosts(hosts)
        };
        let mut clauses = Vec::new();
        loop {
            let t = self.peek();
            if t.kind != Kind::Ident
                || (t.line_start && !CLAUSE_KEYWORDS.contains(&t.text.as_str()))
            {
                break;
            }
            match t.text.as_str() {
                "port" => {
                    let start = self.bump().span;
                    let mut ports = Vec::new();
                    loop {
                        let p = self.peek();
                        if p.kind == Kind::Str {
                            // `port "443"`: say so, and read the number.
                            self.bump();
                            let value = String::from_utf8_lossy(&p.bytes).into_owned();
                            self.error(
                                Diagnostic::error(
                                    "E0201",
                                    p.span,
                                    "a port is a number, not a string",
                                )
                                .label("remove the quotes")
                                .help(format!("write port {value}")),
                            );
                            ports.push(Spanned::new(value, p.span));
                        } else if p.kind != Kind::Word {
                            let mut d =
                                self.unexpected("a port number or range such as 80 or 8000-8999");
                            let named = match p.text.as_str() {
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
                            ports.push(Spanned::new(p.text.clone(), p.span));
                        }
                        if !self.eat_comma() {
                            break;
                        }
                    }
                    clauses.push(DestClause::Port(start.to(self.prev_span()), ports));
                }
                "http" | "tls" | "tcp" => {
                    self.bump();
                    clauses.push(DestClause::Protocol(Spanned::new(t.text.clone(), t.span)));
                }
                "originate-tls" => {
                    self.bump();
                    let port = (self.at(Kind::Word)).then(|| {
                        let p = self.bump();
                        Spanned::new(p.text.clone(), p.span)
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
                        Spanned::new(v.text.clone(), v.span),
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
                    let mut d = Diagnostic::error(
                        "E0207",
                        t.span,
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
                        for t in self.toks.iter().skip(self.pos + 1) {
                            match t.kind {
                                Kind::Word => list.push(t.text.as_str()),
                                Kind::Comma => {}
                                _ => break,
                            }
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
                    self.error(d);
                    return Err(());
                }
            }
        }
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
                    Kind::Ident
                        if t.line_start
                            && matches!(t.text.as_str(), "policy" | "destination" | "test") =>
                    {
                        // A block holds only rules: a new policy item means
                        // its `}` was forgotten. Close it here.
                        let close = self.prev_span();
                        self.error(unclosed(
                            open,
                            "destination block is not closed",
                            t.span,
                            format!("`{}` cannot appear inside a rule block", t.text),
                            format!("add `}}` before this `{}`", t.text),
                        ));
                        block = Some((open, rules, close));
                        break;
                    }
                    _ => match self.rule() {
                        Ok(r) => rules.push(r),
                        Err(()) => self.recover(&["allow", "deny"]),
                    },
                }
            }
        }
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

    fn eat_comma(&mut self) -> bool {
        if self.at(Kind::Comma) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn action(&mut self, what: &str) -> P<Spanned<RuleAction>> {
        let t = self.peek();
        let action = match (t.kind, t.text.as_str()) {
            (Kind::Ident, "allow") => RuleAction::Allow,
            (Kind::Ident, "deny") => RuleAction::Deny,
            _ => {
                let mut d = self.unexpected(what);
                d.code = "E0203";
                if t.kind == Kind::Ident {
                    d = d.maybe_help(did_you_mean(&t.text, &["allow", "deny"]));
                    if ITEM_KEYWORDS.contains(&t.text.as_str()) {
                        d = d.help(
                            "a destination's block holds only rules; close it with `}` first",
                        );
                    } else if matches!(t.text.as_str(), "permit" | "accept") {
                        d = d.help("write `allow`");
                    } else if matches!(t.text.as_str(), "forbid" | "reject" | "block" | "drop") {
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

    fn rule(&mut self) -> P<Rule> {
        let action = self.action("`allow` or `deny`")?;
        let mut methods = None;
        let t = self.peek();
        if t.kind == Kind::Ident
            && !t.line_start
            && !NOT_METHODS.contains(&t.text.as_str())
            && !matches!(t.text.as_str(), "allow" | "deny")
        {
            if t.text == "any" {
                self.bump();
                methods = Some(Methods::Any(t.span));
            } else {
                let mut list = Vec::new();
                loop {
                    let m = self.peek();
                    if m.kind != Kind::Ident {
                        let d = self.unexpected("a method such as GET");
                        self.error(d);
                        return Err(());
                    }
                    self.bump();
                    list.push(Spanned::new(m.text.clone(), m.span));
                    if !self.eat_comma() {
                        let n = self.peek();
                        // Another method without a comma between; any other
                        // word is left to the condition parser, which knows
                        // more about misspelt conditions.
                        let method_like = n.text.bytes().all(|b| b.is_ascii_uppercase())
                            || egress_table::spec::METHODS
                                .contains(&n.text.to_ascii_uppercase().as_str());
                        if n.kind == Kind::Ident
                            && !n.line_start
                            && !NOT_METHODS.contains(&n.text.as_str())
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
                                    did_you_mean(&n.text, &COND_KEYWORDS).or_else(|| {
                                        Some(format!("write `{}, {}`", m.text, n.text))
                                    }),
                                ),
                            );
                            return Err(());
                        }
                        break;
                    }
                }
                methods = Some(Methods::List(list));
            }
        }
        let mut conds = Vec::new();
        loop {
            let t = self.peek();
            if t.kind != Kind::Ident || matches!(t.text.as_str(), "allow" | "deny") {
                break;
            }
            match t.text.as_str() {
                "path" => conds.push(self.path_cond()?),
                "from" => conds.push(self.source_cond()?),
                "when" => conds.push(self.when_cond()?),
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
                        let name = self
                            .toks
                            .get(self.pos + 1)
                            .filter(|n| n.kind == Kind::Str)
                            .map_or("\"x-tenant\"", |n| n.text.as_str());
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
            action,
            methods,
            conds,
        })
    }

    fn path_cond(&mut self) -> P<Cond> {
        let start = self.bump().span;
        let mut pats = Vec::new();
        loop {
            let t = self.peek();
            let (form, first) = match (t.kind, t.text.as_str()) {
                (Kind::Tilde, _) => (PathForm::Regex, self.bump().span),
                (Kind::Ident, "prefix") => (PathForm::Prefix, self.bump().span),
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
                if !SOURCE_KINDS.contains(&t.text.as_str()) {
                    let mut d = Diagnostic::error(
                        "E0209",
                        t.span,
                        format!("unknown source kind `{}`", t.text),
                    )
                    .label("expected principal, namespace or serviceaccount")
                    .maybe_help(did_you_mean(
                        &t.text,
                        &[&SOURCE_KINDS[..], &["service-account", "sa", "ns"]].concat(),
                    ));
                    if matches!(t.text.as_str(), "service-account" | "sa" | "serviceAccount") {
                        d = d.help("write serviceaccount \"namespace/name\"");
                    } else if t.text == "ns" {
                        d = d.help("write namespace \"name\"");
                    }
                    self.error(d);
                    return Err(());
                }
                kind = Some(Spanned::new(t.text.clone(), t.span));
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
                    h.text.as_str()
                } else {
                    "\"x-name\""
                };
                self.error(d.help(format!("write when header {name} present")));
                return Err(());
            }
            self.bump();
            let name = self.string("a header name")?;
            let op = self.peek();
            let op = match (op.kind, op.text.as_str()) {
                (Kind::Ident, "present") => HeaderOp::Present(self.bump().span),
                (Kind::Ident, "absent") => HeaderOp::Absent(self.bump().span),
                (Kind::EqEq, _) => {
                    self.bump();
                    HeaderOp::Equals(self.bytes("a header value")?)
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
                    let mut d = self.unexpected("present, absent or ==");
                    d.code = "E0210";
                    let h = &name.value;
                    d = match (op.kind, op.text.as_str()) {
                        (Kind::Ident, "exists" | "exist" | "set" | "is-present" | "defined") => {
                            d.help(format!("write header \"{h}\" present"))
                        }
                        (Kind::Ident, "missing" | "unset" | "not" | "undefined") => {
                            d.help(format!("write header \"{h}\" absent"))
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
                    };
                    self.error(d);
                    return Err(());
                }
            };
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

    fn test(&mut self) -> P<Test> {
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
                Kind::Ident
                    if t.line_start
                        && matches!(t.text.as_str(), "policy" | "destination" | "test") =>
                {
                    // A test holds only cases: its `}` was forgotten.
                    let close = self.prev_span();
                    self.error(unclosed(
                        open,
                        format!("test \"{}\" is not closed", name.value),
                        t.span,
                        format!("`{}` cannot appear inside a test", t.text),
                        format!("add `}}` before this `{}`", t.text),
                    ));
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

    fn case(&mut self) -> P<Case> {
        let first = self.peek();
        let method = if first.kind == Kind::Ident && self.peek2().kind == Kind::Url {
            self.bump();
            Some(Spanned::new(first.text.clone(), first.span))
        } else {
            None
        };
        let url = self.peek();
        if url.kind != Kind::Url {
            // `GET example.com/x` or `example.com:443`: a URL without its scheme.
            let hostish =
                |t: &Token| matches!(t.kind, Kind::Word | Kind::Ident) && t.text.contains('.');
            let second = self.peek2();
            let (bad, with_method) =
                if first.kind == Kind::Ident && !second.line_start && hostish(second) {
                    (second, Some(first.text.as_str()))
                } else {
                    (url, None)
                };
            let d = if hostish(bad) {
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
            };
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
        let url_s = Spanned::new(url.text.clone(), url.span);
        let mut opts = Vec::new();
        loop {
            let t = self.peek();
            match (t.kind, t.text.as_str()) {
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
                    d = d.maybe_help(did_you_mean(&n.text, &["from", "header", "sni"]));
                }
                if matches!(n.kind, Kind::Ident) && matches!(n.text.as_str(), "allow" | "deny") {
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
                            .map_or("...", |t| t.text.as_str())
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

/// E0204: a block whose `{` (at `open`) has no matching `}`; `at` and
/// `there` say where that became clear.
fn unclosed(
    open: Span,
    what: impl Into<String>,
    at: Span,
    there: impl Into<String>,
    help: impl Into<String>,
) -> Diagnostic {
    Diagnostic::error("E0204", open, what)
        .label("this `{` has no matching `}`")
        .with_label(at, there)
        .help(help)
}

trait CodeAs {
    fn code_as(self, code: &'static str) -> Self;
}
impl CodeAs for Diagnostic {
    fn code_as(mut self, code: &'static str) -> Self {
        self.code = code;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::lex;
    use crate::source::FileId;

    fn parse_str(s: &str) -> (File, Vec<Diagnostic>) {
        parse(&lex(FileId(0), s))
    }

    #[test]
    fn httpbin() {
        let (f, d) = parse_str(
            r#"
policy "httpbin" {
  mode enforce
  default deny
  destination "httpbin.org" port 80 http {
    allow GET path "/get"
    allow any from principal "cluster.local/ns/default/sa/admin"
  }
  test "t" {
    GET http://httpbin.org/get => allow
    POST http://httpbin.org/post from "x" header "a" = "b" => deny, audit deny
  }
}"#,
        );
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(f.policies.len(), 1);
        assert_eq!(f.policies[0].items.len(), 4);
        let Item::Destination(dest) = &f.policies[0].items[2] else {
            panic!()
        };
        assert_eq!(dest.block.as_ref().unwrap().1.len(), 2);
        let Item::Test(t) = &f.policies[0].items[3] else {
            panic!()
        };
        assert_eq!(t.cases.len(), 2);
        assert_eq!(t.cases[1].opts.len(), 2);
    }

    #[test]
    fn reports_several_errors() {
        let (_, d) = parse_str(
            r#"
policy "p" {
  mdoe enforce
  destination "a.com" port 80 htp { allow GET }
  destination "b.com" port 80 http {
    alow GET
    allow GET path "/x" frmo principal "a"
  }
}"#,
        );
        let codes: Vec<_> = d.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec!["E0202", "E0207", "E0203", "E0208"], "{d:#?}");
    }
}
