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
//! rule        = ("allow" | "deny") [ methods ] { condition } | "otherwise" "deny"
//! methods     = "any" [ "except" METHOD { "," METHOD } ] | METHOD { "," METHOD }
//! condition   = [ "except" ] "path" pattern { "," pattern }
//!             | [ "except" ] "from" KIND STRING { "," [ KIND ] STRING }
//!             | "when" header { "and" header }
//! pattern     = STRING | "prefix" STRING | "suffix" STRING | "~" STRING
//! header      = "header" STRING ( "present" | "absent" | "==" STRING | "!=" STRING
//!             | [ "not" ] ( "prefix" | "suffix" ) STRING )
//! test        = "test" STRING "{" { case } "}"
//! case        = [ METHOD ] URL { "from" STRING | "header" STRING "=" STRING | "sni" STRING }
//!               "=>" ("allow" | "deny") [ "," "audit" ("allow" | "deny") ]
//! ```
//!
//! Errors (E02xx) are collected, not returned on the first: after an error
//! the parser skips to the next line that starts a setting, destination,
//! test or rule, so one run reports every independent mistake (up to
//! [`crate::diag::STAGE_ERROR_LIMIT`] a file).
//!
//! The parser pulls its tokens one at a time from a [`Lexer`] and holds
//! three: the previous, the current and the next. The few messages that
//! quote more of a line (a rule rewritten with its missing keyword, a line
//! without its YAML colons) lex that stretch again ([`Lexer::replay`]),
//! reading at most [`QUOTED`] tokens. Nothing the parser keeps grows with
//! the input but the tree and (bounded) diagnostics.

use crate::ast::*;
use crate::diag::{Collector, Diagnostic, did_you_mean};
use crate::lex::{Kind, Lexed, Lexer, Token};
use crate::source::{Span, Spanned};

mod case;
mod dest;
mod policy;
mod rule;

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
pub const COND_KEYWORDS: [&str; 4] = ["path", "from", "when", "except"];
/// Source kinds.
pub const SOURCE_KINDS: [&str; 3] = ["principal", "namespace", "serviceaccount"];
/// Words that belong to a condition, never to a method list: the method list
/// ends before them and the condition parser says what is missing.
const NOT_METHODS: [&str; 12] = [
    "path",
    "from",
    "when",
    "except",
    "header",
    "prefix",
    "suffix",
    "regex",
    "principal",
    "namespace",
    "serviceaccount",
    "otherwise",
];
/// Words that start a rule: where the parser resumes after an error in one.
const RULE_STARTS: [&str; 3] = ["allow", "deny", "otherwise"];

/// The most tokens a message quotes from the input (a line rewritten as
/// help, a list repeated): past it the quote ends with `…`. It bounds the
/// work and text of each such message, which would otherwise be
/// quadratic on a long line of repeated mistakes.
pub const QUOTED: usize = 40;

struct Parser<'l, 'src> {
    lexer: &'l mut Lexer<'src>,
    /// The token before `cur` (none at the start).
    prev: Option<Token<'src>>,
    /// The current token.
    cur: Token<'src>,
    /// The token after it.
    next: Token<'src>,
    /// How many tokens were consumed.
    pos: usize,
    diags: Collector,
}

type P<T> = Result<T, ()>;

/// Parses a lexed file (the text it was lexed from, lexed again token by
/// token; its lexical errors are in `lexed.errors`). Always returns a tree
/// (possibly partial) and the errors found.
pub fn parse(lexed: &Lexed<'_>) -> (File, Vec<Diagnostic>) {
    parse_tokens(&mut Lexer::new(lexed.file, lexed.text))
}

/// Parses the tokens `lexer` produces, pulling them one at a time: the
/// tree (possibly partial) and the syntax errors. The lexer is left at the
/// end of the file, with the lexical errors (and comments, if kept) for
/// [`Lexer::finish`].
pub fn parse_tokens(lexer: &mut Lexer<'_>) -> (File, Vec<Diagnostic>) {
    let mut p = Parser::new(lexer);
    let file = p.file();
    (file, p.diags.finish("syntax"))
}

impl<'l, 'src> Parser<'l, 'src> {
    fn new(lexer: &'l mut Lexer<'src>) -> Self {
        let cur = lexer.next_token();
        let next = lexer.next_token();
        Self {
            lexer,
            prev: None,
            cur,
            next,
            pos: 0,
            diags: Collector::default(),
        }
    }

    fn peek(&self) -> Token<'src> {
        self.cur
    }
    fn peek2(&self) -> Token<'src> {
        self.next
    }
    fn bump(&mut self) -> Token<'src> {
        let t = self.cur;
        if t.kind != Kind::Eof {
            self.prev = Some(t);
            self.cur = self.next;
            self.next = self.lexer.next_token();
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
    /// The token before the current one (the current one at the start).
    fn prev_token(&self) -> Token<'src> {
        self.prev.unwrap_or(self.cur)
    }
    fn prev_span_text(&self) -> &'src str {
        self.prev_token().text
    }
    fn prev_span(&self) -> Span {
        self.prev_token().span
    }

    /// The tokens from `from` (a token already read) on, lexed again; at
    /// most [`QUOTED`], and none past the end of the file.
    fn replay(&self, from: Token<'_>) -> impl Iterator<Item = Token<'src>> + use<'src> {
        let mut lexer = Lexer::replay(
            self.lexer.file(),
            self.lexer.text(),
            from.span.start as usize,
            from.line_start,
        );
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let t = lexer.next_token();
            done = t.kind == Kind::Eof;
            Some(t)
        })
        .take(QUOTED)
    }

    /// The tokens after the current one (see [`Self::replay`]).
    fn ahead(&self) -> impl Iterator<Item = Token<'src>> + use<'src> {
        self.replay(self.next)
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Whether the next token starts an item of a file or policy (`policy`,
    /// `destination` or `test` at the start of a line): inside a block, the
    /// block's `}` was forgotten.
    fn at_item_start(&self) -> bool {
        let t = self.peek();
        t.kind == Kind::Ident && t.line_start && matches!(t.text, "policy" | "destination" | "test")
    }

    /// E0204 for a block opened at `open` whose `}` was forgotten before the
    /// next token (an item start, [`Self::at_item_start`]); returns where the
    /// block ends: the token before.
    fn unclosed_before_item(&mut self, open: Span, what: String, inside: &str) -> Span {
        let t = self.peek();
        let close = self.prev_span();
        self.error(unclosed(
            open,
            what,
            t.span,
            format!("`{}` cannot appear inside {inside}", t.text),
            format!("add `}}` before this `{}`", t.text),
        ));
        close
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

    fn expect(&mut self, kind: Kind, what: &str) -> P<Token<'src>> {
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
                    String::from_utf8_lossy(&t.value()).into_owned(),
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
                Ok(Spanned::new(t.text.to_owned(), t.span))
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
            return Ok(Spanned::new(t.value().into_owned(), t.span));
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
                        && starts.contains(&t.text) =>
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
                d = d.maybe_help(did_you_mean(t.text, &["policy"]));
                if ITEM_KEYWORDS.contains(&t.text) {
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
                            && (t.text == "policy" || ITEM_KEYWORDS.contains(&t.text)) =>
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

    /// A YAML habit, `KEYWORD:` (the lexer reads `default:` as one word):
    /// the keyword, if the next token is such a word and the keyword is
    /// one of `kws`.
    fn colon_keyword(&self, kws: &[&'static str]) -> Option<&'static str> {
        let t = self.peek();
        if t.kind != Kind::Word {
            return None;
        }
        let stem = t.text.strip_suffix(':')?;
        kws.iter().copied().find(|k| *k == stem)
    }

    /// E0201 for `KEYWORD:` (see [`Self::colon_keyword`]), at the next
    /// token, with the line rewritten without the colon as the help.
    fn colon_error(&mut self, kw: &str) {
        let t = self.peek();
        let mut fix = kw.to_owned();
        let mut whole = false;
        for n in self.ahead() {
            if n.line_start || matches!(n.kind, Kind::LBrace | Kind::RBrace | Kind::Eof) {
                whole = true;
                break;
            }
            if n.kind != Kind::Comma {
                fix.push(' ');
            }
            let word = n.text;
            fix.push_str(match word.strip_suffix(':') {
                Some(kw)
                    if n.kind == Kind::Word
                        && kw.starts_with(|c: char| c.is_ascii_alphabetic()) =>
                {
                    kw
                }
                _ => word,
            });
        }
        if !whole {
            fix.push_str(" …");
        }
        self.error(
            Diagnostic::error("E0201", t.span, format!("`{kw}` takes no colon"))
                .label("remove the `:`")
                .help(format!("write `{fix}`"))
                .note("policy files are not YAML: a keyword is followed by its value, without `:`"),
        );
    }

    fn eat_comma(&mut self) -> bool {
        if self.at(Kind::Comma) {
            self.bump();
            true
        } else {
            false
        }
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
    fn yaml_colons_are_reported_and_read_without_them() {
        let (f, d) = parse_str(
            "policy \"p\" {\n  default: deny\n  mode:audit\n  destination \"a.com\" port: 80 http {\n    allow: GET path: \"/x\"\n  }\n}\n",
        );
        let codes: Vec<_> = d.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec!["E0201"; 5], "{d:#?}");
        assert_eq!(d[0].help.as_deref(), Some("write `default deny`"));
        assert_eq!(d[1].help.as_deref(), Some("write `mode audit`"));
        assert_eq!(f.policies[0].items.len(), 3);
        let Item::Destination(dest) = &f.policies[0].items[2] else {
            panic!()
        };
        assert_eq!(dest.clauses.len(), 2);
        assert_eq!(dest.block.as_ref().unwrap().1.len(), 1);
    }

    #[test]
    fn a_bare_string_after_the_methods_needs_its_keyword() {
        let (_, d) = parse_str(
            "policy \"p\" {\n  destination \"a.com\" port 80 http {\n    allow GET \"/get\"\n    deny POST, PUT \"/x\", \"/y\"\n    allow any \"/z\"\n  }\n}\n",
        );
        let helps: Vec<_> = d
            .iter()
            .map(|d| (d.code, d.help.clone().unwrap()))
            .collect();
        assert_eq!(
            helps,
            vec![
                ("E0208", "write `allow GET path \"/get\"`".to_owned()),
                (
                    "E0208",
                    "write `deny POST, PUT path \"/x\", \"/y\"`".to_owned()
                ),
                ("E0208", "write `allow any path \"/z\"`".to_owned()),
            ]
        );
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

    /// A megabyte of `{` (issue 14): one error, and the parser's look-ahead
    /// is two tokens whatever the input.
    #[test]
    fn a_megabyte_of_braces_is_one_error() {
        let text = "{".repeat(1 << 20);
        let mut lexer = Lexer::new(FileId(0), &text);
        let (file, errors) = parse_tokens(&mut lexer);
        let (lex_errors, _) = lexer.finish();
        assert!(file.policies.is_empty() && lex_errors.is_empty());
        let codes: Vec<_> = errors.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["E0212"]);
    }

    #[test]
    fn parsing_a_lexed_file_reads_its_text() {
        let text = "policy \"p\" {\n  mode: audit\n  destination \"a.com\" port 80 http { allow GET \"/x\" }\n}\n";
        let mut lexer = Lexer::new(FileId(0), text);
        let streamed = parse_tokens(&mut lexer);
        assert_eq!(format!("{:?}", parse_str(text)), format!("{streamed:?}"));
    }

    #[test]
    fn syntax_errors_are_bounded() {
        let (_, d) = parse_str(&"}".repeat(10_000));
        assert_eq!(d.len(), crate::diag::STAGE_ERROR_LIMIT);
        assert_eq!(
            d.last().and_then(|d| d.note.as_deref()),
            Some("9900 more syntax errors in this file not reported (at most 100 are)")
        );
        // A dropped error is not recoded in place of the last kept one.
        let text = format!(
            "policy \"p\" {{\n{}  test \"t\" {{\n    GET http://a.com/ => alow\n  }}\n}}\n",
            "  mode\n".repeat(250)
        );
        let (_, d) = parse_str(&text);
        assert_eq!(d.len(), crate::diag::STAGE_ERROR_LIMIT);
        assert!(d.iter().all(|d| d.code == "E0201"), "{d:#?}");
    }

    /// Messages that quote a stretch of the input quote at most `QUOTED`
    /// tokens of it: a line of ten thousand repeated mistakes costs ten
    /// thousand bounded messages, not ten thousand copies of the line.
    #[test]
    fn quoted_input_is_bounded() {
        let longest = |d: &[Diagnostic]| {
            d.iter()
                .filter_map(|d| d.help.as_deref())
                .map(str::len)
                .max()
                .unwrap_or(0)
        };
        let line = "port: 1 ".repeat(10_000);
        let (_, d) = parse_str(&format!(
            "policy \"p\" {{\n  destination \"a.com\" {line}tls\n}}\n"
        ));
        assert_eq!(d.len(), crate::diag::STAGE_ERROR_LIMIT);
        assert!(longest(&d) < 200, "{}", longest(&d));
        assert_eq!(
            d[0].help.as_deref().map(|h| h.ends_with(" port 1 port …`")),
            Some(true),
            "{:?}",
            d[0].help
        );
        // The rest of a short line is quoted whole, as before.
        let (_, d) = parse_str("policy \"p\" {\n  destination \"a.com\" port: 1 tls\n}\n");
        assert_eq!(d[0].help.as_deref(), Some("write `port 1 tls`"));

        let methods = vec!["GET"; 10_000].join(", ");
        let (_, d) = parse_str(&format!(
            "policy \"p\" {{\n  destination \"a.com\" port 80 http {{\n    allow {methods} \"/x\"\n  }}\n}}\n"
        ));
        assert_eq!(d.len(), 1, "{d:#?}");
        let help = d[0].help.as_deref().unwrap_or("");
        assert!(
            help.len() < 300 && help.contains("GET, GET … path \"/x\""),
            "{help}"
        );

        let paths = vec!["\"/x\""; 10_000].join(", ");
        let (_, d) = parse_str(&format!(
            "policy \"p\" {{\n  destination \"a.com\" port 80 http {{\n    allow GET {paths}\n  }}\n}}\n"
        ));
        let help = d[0].help.as_deref().unwrap_or("");
        assert!(help.len() < 300 && help.ends_with("\"/x\", …`"), "{help}");

        let ports = vec!["1"; 10_000].join(", ");
        let (_, d) = parse_str(&format!(
            "policy \"p\" {{\n  destination \"a.com\" ports {ports}\n}}\n"
        ));
        let help = d[0].help.as_deref().unwrap_or("");
        assert!(help.len() < 300 && help.contains("1, 1, …`"), "{help}");
    }
}
