//! Stage 1, lexing: source text to tokens and comments.
//!
//! Tokens: identifiers (`[A-Za-z_][A-Za-z0-9_.-]*`, which covers keywords,
//! methods and `originate-tls`), strings (`"…"` with `\" \\ \n \t \xHH`
//! escapes, decoded to bytes), words that start with a digit (ports, ranges,
//! durations, addresses and CIDRs: `[0-9][0-9A-Za-z.:/_-]*`), URLs
//! (`http://…`, `https://…`, `tls://…`, `tcp://…`, up to the next
//! whitespace; used in tests), and the punctuation `{ } , => == != = ~`.
//! Comments run from `#` to the end of the line and are kept for the
//! formatter. Newlines carry no meaning.
//!
//! Tokens borrow the source: a [`Token`] is a slice of the text, its span,
//! its kind and whether it starts a line, and a string's value is decoded
//! only when the parser asks for it (borrowed when it has no escape). The
//! parser pulls tokens one at a time from a [`Lexer`], so a file is never
//! held as a list of tokens: the memory of lexing and parsing stays
//! proportional to the source, with a small constant, whatever the input
//! (a file of ten million `{` once took 1 GB).

use std::borrow::Cow;

use crate::diag::{Collector, Diagnostic};
use crate::source::{FileId, Span};

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An identifier or keyword.
    Ident,
    /// A quoted string.
    Str,
    /// A word starting with a digit.
    Word,
    /// `scheme://…`.
    Url,
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `,`
    Comma,
    /// `=>`
    Arrow,
    /// `==`
    EqEq,
    /// `!=`
    NotEq,
    /// `=`
    Eq,
    /// `~`
    Tilde,
    /// End of input.
    Eof,
}

impl Kind {
    /// How the token is described in "expected …" messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Ident => "a name",
            Self::Str => "a string",
            Self::Word => "a number",
            Self::Url => "a URL",
            Self::LBrace => "`{`",
            Self::RBrace => "`}`",
            Self::Comma => "`,`",
            Self::Arrow => "`=>`",
            Self::EqEq => "`==`",
            Self::NotEq => "`!=`",
            Self::Eq => "`=`",
            Self::Tilde => "`~`",
            Self::Eof => "the end of the file",
        }
    }
}

/// A token: a view of the source, owning nothing. It is copied freely and
/// kept small (see the size test below); a string's value is decoded only
/// when asked for, by [`Token::value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'src> {
    /// The source text (for strings: including the quotes).
    pub text: &'src str,
    /// Where.
    pub span: Span,
    /// What it is.
    pub kind: Kind,
    /// Whether a newline separates this token from the previous one.
    pub line_start: bool,
}

impl<'src> Token<'src> {
    /// For a string: its value, the escapes decoded (borrowed from the
    /// source when it has none). Empty for other tokens.
    pub fn value(&self) -> Cow<'src, [u8]> {
        if self.kind != Kind::Str {
            return Cow::Borrowed(&[]);
        }
        let mut chars = self.text.chars();
        match chars.next() {
            Some('"') => decode(chars.as_str()),
            Some(open) => match closers(open) {
                // 'single' or “typographic” quotes: what lies between them.
                // The lexer stops at the first closer, so a closer can only
                // be the last character.
                Some(closers) => {
                    let body = chars.as_str();
                    let body = body
                        .chars()
                        .next_back()
                        .filter(|c| closers.contains(c))
                        .and_then(|c| body.strip_suffix(c))
                        .unwrap_or(body);
                    Cow::Borrowed(body.as_bytes())
                }
                // An unquoted host pattern (`*.example.com`): the word.
                None => Cow::Borrowed(self.text.as_bytes()),
            },
            None => Cow::Borrowed(&[]),
        }
    }
}

/// The value of a `"…"` string from the text after its opening quote: up
/// to the closing quote (or the end of the token when it has none), the
/// escapes decoded as the lexer reads them (an unknown escape is kept as
/// written, a broken `\x` dropped).
fn decode(body: &str) -> Cow<'_, [u8]> {
    let b = body.as_bytes();
    if !b.contains(&b'\\') {
        let end = b.iter().position(|&c| c == b'"').unwrap_or(b.len());
        return Cow::Borrowed(b.get(..end).unwrap_or(b));
    }
    let mut out = Vec::with_capacity(b.len());
    let mut k = 0;
    while let Some(&c) = b.get(k) {
        match c {
            b'"' | b'\n' => break,
            b'\\' => match b.get(k + 1) {
                None | Some(b'\n') => break,
                Some(&e @ (b'"' | b'\\')) => {
                    out.push(e);
                    k += 2;
                }
                Some(b'n') => {
                    out.push(b'\n');
                    k += 2;
                }
                Some(b't') => {
                    out.push(b'\t');
                    k += 2;
                }
                Some(b'x') => match b.get(k + 2..k + 4).and_then(hex_byte) {
                    Some(v) => {
                        out.push(v);
                        k += 4;
                    }
                    None => k += 2,
                },
                Some(_) => {
                    // Kept as written; the character after is read as usual.
                    out.push(b'\\');
                    k += 1;
                }
            },
            _ => {
                out.push(c);
                k += 1;
            }
        }
    }
    Cow::Owned(out)
}

/// Two hex digits as a byte (`from_str_radix` alone would take "+1").
fn hex_byte(h: &[u8]) -> Option<u8> {
    if h.len() != 2 || !h.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
}

/// The characters that close a string opened with `open`, one of the
/// quotes of other languages ('single' or “typographic”).
fn closers(open: char) -> Option<&'static [char]> {
    match open {
        '\'' => Some(&['\'']),
        '\u{2018}' => Some(&['\u{2019}', '\u{2018}', '\'']),
        '\u{201c}' | '\u{201d}' | '\u{201e}' => Some(&['\u{201c}', '\u{201d}', '"']),
        _ => None,
    }
}

/// A `#` comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comment<'src> {
    /// Where (from `#` to the end of the line).
    pub span: Span,
    /// The text, including `#`, without trailing whitespace.
    pub text: &'src str,
    /// Whether only whitespace precedes it on its line.
    pub own_line: bool,
}

/// A whole file lexed at once ([`lex`]): for tests and tools. The compiler
/// itself pulls tokens one at a time from a [`Lexer`].
#[derive(Debug, Clone, Default)]
pub struct Lexed<'src> {
    /// Tokens, ending with [`Kind::Eof`].
    pub tokens: Vec<Token<'src>>,
    /// Comments in source order.
    pub comments: Vec<Comment<'src>>,
    /// Lexical errors (E01xx).
    pub errors: Vec<Diagnostic>,
    /// The file.
    pub file: FileId,
    /// The text lexed.
    pub text: &'src str,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}
fn is_ident(c: char) -> bool {
    // `.` lets an unquoted host name lex as one token, so the parser can say "quote it".
    c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'
}
/// Characters of an unquoted word (a number, port range or address).
pub(crate) fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/' | '_' | '-')
}

/// Lexes one file into a list of tokens, with its comments and errors.
pub fn lex(file: FileId, text: &str) -> Lexed<'_> {
    let mut lexer = Lexer::new(file, text).keep_comments();
    let mut tokens = Vec::new();
    loop {
        let t = lexer.next_token();
        tokens.push(t);
        if t.kind == Kind::Eof {
            break;
        }
    }
    let (errors, comments) = lexer.finish();
    Lexed {
        tokens,
        comments,
        errors,
        file,
        text,
    }
}

/// Lexes a file one token at a time ([`Lexer::next_token`]), collecting the
/// lexical errors (at most [`crate::diag::STAGE_ERROR_LIMIT`]) and, if
/// asked, the comments as it goes; [`Lexer::finish`] hands them over.
///
/// Tokenisation is context-free: lexing from the start of any token gives
/// the same tokens from there, which is how the parser looks further ahead
/// or back than its two tokens ([`Lexer::replay`]).
#[derive(Debug)]
pub struct Lexer<'src> {
    file: FileId,
    text: &'src str,
    /// The next byte (always at a character boundary).
    i: usize,
    /// Whether a newline came since the last token.
    newline: bool,
    /// Whether the current line has a token (for comments' `own_line`).
    line_has_token: bool,
    /// Whether the last token was `~`: a regex string follows (for the
    /// help of a bad escape).
    after_tilde: bool,
    /// Whether errors and comments are kept (not by a replay).
    record: bool,
    errors: Collector,
    comments: Option<Vec<Comment<'src>>>,
}

impl<'src> Lexer<'src> {
    /// A lexer at the start of `text`.
    pub fn new(file: FileId, text: &'src str) -> Self {
        Self {
            file,
            text,
            i: 0,
            newline: true,
            line_has_token: false,
            after_tilde: false,
            record: true,
            errors: Collector::default(),
            comments: None,
        }
    }

    /// Also collect the comments (for the formatter).
    #[must_use]
    pub fn keep_comments(mut self) -> Self {
        self.comments = Some(Vec::new());
        self
    }

    /// A lexer that reads `text` from byte `from`, the start of a token
    /// (`line_start` says whether that token starts a line), keeping no
    /// errors or comments: to look at tokens again, or further ahead,
    /// without storing them.
    pub fn replay(file: FileId, text: &'src str, from: usize, line_start: bool) -> Self {
        Self {
            i: from,
            newline: line_start,
            record: false,
            ..Self::new(file, text)
        }
    }

    /// The file being lexed.
    pub fn file(&self) -> FileId {
        self.file
    }

    /// The text being lexed.
    pub fn text(&self) -> &'src str {
        self.text
    }

    /// The next token; at the end, [`Kind::Eof`] (again and again).
    pub fn next_token(&mut self) -> Token<'src> {
        while let Some(c) = self.at(self.i) {
            if let Some(t) = self.step(c) {
                return t;
            }
        }
        let end = self.text.len();
        Token {
            text: "",
            span: Span::new(self.file, end, end),
            kind: Kind::Eof,
            line_start: true,
        }
    }

    /// Lexes the rest of the file and returns the errors (E01xx) and the
    /// comments (empty unless [`Lexer::keep_comments`]).
    pub fn finish(mut self) -> (Vec<Diagnostic>, Vec<Comment<'src>>) {
        while self.next_token().kind != Kind::Eof {}
        (
            self.errors.finish("lexical"),
            self.comments.unwrap_or_default(),
        )
    }

    /// The character at byte `i`.
    fn at(&self, i: usize) -> Option<char> {
        self.text.get(i..)?.chars().next()
    }

    fn slice(&self, a: usize, b: usize) -> &'src str {
        self.text.get(a..b).unwrap_or("")
    }

    fn span(&self, a: usize, b: usize) -> Span {
        Span::new(self.file, a, b)
    }

    /// Advances while `keep` holds for the next character.
    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        while let Some(c) = self.at(self.i) {
            if !keep(c) {
                break;
            }
            self.i += c.len_utf8();
        }
    }

    /// The token from `start` to the current position.
    fn token(&mut self, kind: Kind, start: usize) -> Token<'src> {
        let token = Token {
            text: self.slice(start, self.i),
            span: self.span(start, self.i),
            kind,
            line_start: self.newline,
        };
        self.newline = false;
        self.line_has_token = true;
        self.after_tilde = kind == Kind::Tilde;
        token
    }

    fn error(&mut self, d: Diagnostic) {
        if self.record {
            self.errors.push(d);
        }
    }

    /// Lexes what starts with `c`, the character at the current position:
    /// a token, or nothing (whitespace, a comment, an error).
    fn step(&mut self, c: char) -> Option<Token<'src>> {
        let start = self.i;
        match c {
            '\n' => {
                self.newline = true;
                self.line_has_token = false;
                self.i += 1;
            }
            c if c.is_whitespace() => self.i += c.len_utf8(),
            '#' => {
                self.skip_while(|c| c != '\n');
                let comment = Comment {
                    span: self.span(start, self.i),
                    text: self.slice(start, self.i).trim_end(),
                    own_line: !self.line_has_token,
                };
                if let Some(comments) = self.comments.as_mut().filter(|_| self.record) {
                    comments.push(comment);
                }
            }
            '"' => return Some(self.string()),
            c if is_ident_start(c) || (c.is_alphabetic() && !c.is_ascii()) => {
                return Some(self.ident());
            }
            '*' if matches!(self.at(start + 1), Some('.' | '*'))
                || self
                    .at(start + 1)
                    .is_some_and(|c| c.is_ascii_alphanumeric()) =>
            {
                return Some(self.unquoted_pattern());
            }
            '\'' | '\u{2018}' | '\u{201c}' | '\u{201d}' | '\u{201e}' => {
                return Some(self.odd_quotes(c));
            }
            '/' if self.at(start + 1) == Some('/') => {
                // A `//` comment: one error, and the line is skipped.
                self.skip_while(|c| c != '\n');
                let d = Diagnostic::error(
                    "E0103",
                    self.span(start, start + 2),
                    "comments start with `#`",
                )
                .label("not a comment in this language")
                .help("write `#` instead of `//`");
                self.error(d);
            }
            c if c.is_ascii_digit() => {
                self.skip_while(is_word);
                return Some(self.token(Kind::Word, start));
            }
            '{' | '}' | ',' | '~' => {
                self.i += 1;
                let kind = match c {
                    '{' => Kind::LBrace,
                    '}' => Kind::RBrace,
                    ',' => Kind::Comma,
                    _ => Kind::Tilde,
                };
                return Some(self.token(kind, start));
            }
            '=' => {
                let kind = match self.at(start + 1) {
                    Some('>') => Kind::Arrow,
                    Some('=') => Kind::EqEq,
                    _ => Kind::Eq,
                };
                self.i += if kind == Kind::Eq { 1 } else { 2 };
                return Some(self.token(kind, start));
            }
            '!' if self.at(start + 1) == Some('=') => {
                self.i += 2;
                return Some(self.token(Kind::NotEq, start));
            }
            c => self.unexpected(c),
        }
        None
    }

    /// A `"…"` string, its escapes checked (they are decoded by
    /// [`Token::value`]).
    fn string(&mut self) -> Token<'src> {
        let start = self.i;
        self.i += 1;
        let regex = self.after_tilde;
        let mut closed = false;
        while let Some(c) = self.at(self.i) {
            match c {
                '"' => {
                    closed = true;
                    self.i += 1;
                    break;
                }
                '\n' => break,
                '\\' => {
                    if !self.escape(regex) {
                        break;
                    }
                }
                c => self.i += c.len_utf8(),
            }
        }
        if !closed {
            let d = Diagnostic::error("E0101", self.span(start, self.i), "unterminated string")
                .label("this string has no closing `\"`")
                .help("strings end on the same line: add the closing quote");
            self.error(d);
        }
        self.token(Kind::Str, start)
    }

    /// The escape at the current `\`; false when the line ends there (the
    /// string is then unterminated).
    fn escape(&mut self, regex: bool) -> bool {
        let esc_start = self.i;
        self.i += 1;
        let Some(c) = self.at(self.i).filter(|&c| c != '\n') else {
            // Leave the newline alone: the string is unterminated.
            let d = Diagnostic::error(
                "E0102",
                self.span(esc_start, self.i),
                "a `\\` at the end of a line",
            )
            .label("nothing to escape")
            .help("strings end on the same line; to write a backslash, double it: `\\\\`");
            self.error(d);
            return false;
        };
        match c {
            '"' | '\\' | 'n' | 't' => {}
            'x' => {
                let hex = self.text.get(self.i + 1..self.i + 3).map(str::as_bytes);
                if hex.and_then(hex_byte).is_some() {
                    self.i += 2;
                } else {
                    let d = Diagnostic::error(
                        "E0102",
                        self.span(esc_start, self.i + 1),
                        "invalid `\\x` escape",
                    )
                    .label("expected two hex digits")
                    .help("write a byte as `\\xHH`, for example `\\xff`");
                    self.error(d);
                }
            }
            other => {
                // Kept as written (see `decode`), so a regex reads on as meant.
                let help = if regex {
                    format!(
                        "in a regex string, double the backslash: `\\\\{}`",
                        other.escape_debug()
                    )
                } else {
                    "the escapes are \\\" \\\\ \\n \\t and \\xHH; to write a backslash, double it"
                        .to_owned()
                };
                let d = Diagnostic::error(
                    "E0102",
                    self.span(esc_start, self.i + other.len_utf8()),
                    format!("unknown escape `\\{}`", other.escape_debug()),
                )
                .label("not an escape")
                .help(help);
                self.error(d);
            }
        }
        self.i += c.len_utf8();
        true
    }

    /// An identifier, or a URL or unquoted word that starts like one.
    fn ident(&mut self) -> Token<'src> {
        let start = self.i;
        // Non-ASCII letters stay in the word (`bücher.example`), so the
        // parser reports the word once, where it stands.
        self.skip_while(|c| is_ident(c) || (c.is_alphanumeric() && !c.is_ascii()));
        let i = self.i;
        if self.at(i) == Some(':') && self.at(i + 1) == Some('/') && self.at(i + 2) == Some('/') {
            self.skip_while(|c| !c.is_whitespace());
            self.token(Kind::Url, start)
        } else if matches!(self.at(i), Some(':' | '/')) {
            // An unquoted `fe80::/10`, `example.com:8443` or
            // `example.com/path`: one word, for one error.
            self.skip_while(is_word);
            self.token(Kind::Word, start)
        } else {
            self.token(Kind::Ident, start)
        }
    }

    /// An unquoted host pattern such as `*.example.com`: read as the string
    /// it should be, with one error.
    fn unquoted_pattern(&mut self) -> Token<'src> {
        let start = self.i;
        self.skip_while(|c| c == '*' || is_ident(c));
        let word = self.slice(start, self.i);
        let d = Diagnostic::error(
            "E0103",
            self.span(start, self.i),
            format!("unquoted host pattern `{word}`"),
        )
        .label("host patterns are strings")
        .help(format!("write \"{word}\""));
        self.error(d);
        self.token(Kind::Str, start)
    }

    /// 'single' or “typographic” quotes: read as a string, with one error.
    fn odd_quotes(&mut self, open: char) -> Token<'src> {
        let start = self.i;
        let closers = closers(open).unwrap_or(&[]);
        self.i += open.len_utf8();
        let content_start = self.i;
        self.skip_while(|c| c != '\n' && !closers.contains(&c));
        let content = self.slice(content_start, self.i);
        if let Some(c) = self.at(self.i).filter(|c| closers.contains(c)) {
            self.i += c.len_utf8();
        }
        let what = if open == '\'' {
            "single quotes"
        } else {
            "typographic quotes"
        };
        let d = Diagnostic::error(
            "E0103",
            self.span(start, self.i),
            format!("a string in {what}"),
        )
        .label("strings use plain double quotes")
        .help(format!("write \"{}\"", content.escape_debug()));
        self.error(d);
        self.token(Kind::Str, start)
    }

    /// A character that starts no token, with a hint for the usual mistakes.
    fn unexpected(&mut self, c: char) {
        let start = self.i;
        self.i += c.len_utf8();
        if !self.record {
            return;
        }
        let shown = if c.is_control()
            || c.is_whitespace()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{feff}')
        {
            format!("U+{:04X}", u32::from(c))
        } else {
            format!("`{c}`")
        };
        let d = Diagnostic::error(
            "E0103",
            self.span(start, self.i),
            format!("unexpected character {shown}"),
        )
        .label("not part of the language");
        let d = match c {
            ';' => d.help("statements end at the end of the line; remove the `;`"),
            '*' => {
                d.help("host patterns are strings: \"*.example.com\"; for every method write `any`")
            }
            '[' | ']' | '(' | ')' => {
                d.help("lists are written with commas, without brackets: `GET, POST`")
            }
            ':' => d.help("settings are written without `:`, e.g. `mode audit`"),
            '/' => d.help("paths are strings: path \"/api/\""),
            '\u{feff}' => d.help("a byte-order mark: save the file as UTF-8 without one"),
            '\u{200b}'..='\u{200f}' => d.help("an invisible character, probably pasted: delete it"),
            c if !c.is_ascii() => d.help("outside strings, only ASCII is allowed"),
            _ => d,
        };
        self.error(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Kind, String)> {
        lex(FileId(0), s)
            .tokens
            .into_iter()
            .map(|t| (t.kind, t.text.to_owned()))
            .collect()
    }

    #[test]
    fn tokens() {
        use Kind::*;
        assert_eq!(
            kinds(r#"destination "a.com" port 80, 8000-8999 http { allow GET path ~"^/x$" } # c"#),
            vec![
                (Ident, "destination".into()),
                (Str, "\"a.com\"".into()),
                (Ident, "port".into()),
                (Word, "80".into()),
                (Comma, ",".into()),
                (Word, "8000-8999".into()),
                (Ident, "http".into()),
                (LBrace, "{".into()),
                (Ident, "allow".into()),
                (Ident, "GET".into()),
                (Ident, "path".into()),
                (Tilde, "~".into()),
                (Str, "\"^/x$\"".into()),
                (RBrace, "}".into()),
                (Eof, String::new()),
            ]
        );
        assert_eq!(
            kinds("GET http://a.com/x?y=1 => allow")[1],
            (Url, "http://a.com/x?y=1".into())
        );
        assert_eq!(kinds("cidr 10.0.0.0/8")[1], (Word, "10.0.0.0/8".into()));
        assert_eq!(kinds("a == b")[1].0, EqEq);
        assert_eq!(kinds("a != b")[1].0, NotEq);
    }

    #[test]
    fn mistakes_from_other_languages_are_one_token_and_one_error() {
        use Kind::*;
        for (src, kind, value) in [
            ("*.example.com", Str, "*.example.com"),
            ("'example.com'", Str, "example.com"),
            ("\u{201c}example.com\u{201d}", Str, "example.com"),
        ] {
            let l = lex(FileId(0), src);
            assert_eq!(
                (l.tokens[0].kind, &*l.tokens[0].value()),
                (kind, value.as_bytes()),
                "{src}"
            );
            assert_eq!(l.errors.len(), 1, "{src}");
        }
        assert_eq!(
            kinds("fe80::/10 a.com:443 a.com/x"),
            vec![
                (Word, "fe80::/10".into()),
                (Word, "a.com:443".into()),
                (Word, "a.com/x".into()),
                (Eof, String::new()),
            ]
        );
        let l = lex(FileId(0), "// note\nallow");
        assert_eq!((l.errors.len(), l.tokens[0].text), (1, "allow"));
    }

    #[test]
    fn strings_and_errors() {
        let l = lex(FileId(0), r#""a\"b\x41\\" "bad\q" "open"#);
        assert_eq!(&*l.tokens[0].value(), b"a\"bA\\");
        assert_eq!(l.errors.len(), 2);
        assert_eq!(l.errors[0].code, "E0102");
        assert_eq!(l.errors[1].code, "E0101");
        let l = lex(FileId(0), "allow; 'x'");
        assert!(l.errors.iter().all(|e| e.code == "E0103"));
        // `from_str_radix` accepts a sign; an escape does not.
        let l = lex(FileId(0), r#""\x+1""#);
        assert_eq!(l.errors[0].code, "E0102");
        // A backslash at the end of a line does not continue the string.
        let l = lex(FileId(0), "\"a\\\nallow");
        assert_eq!(l.tokens[1].text, "allow");
        assert!(l.tokens[1].line_start);
        let c = lex(FileId(0), "# top\nallow # trailing\n");
        assert!(c.comments[0].own_line && !c.comments[1].own_line);
    }

    #[test]
    fn string_values_are_decoded_on_demand() {
        let value = |src: &str| {
            let l = lex(FileId(0), src);
            let t = l.tokens[0];
            assert_eq!(t.kind, Kind::Str, "{src}");
            (
                t.value().into_owned(),
                matches!(t.value(), Cow::Borrowed(_)),
            )
        };
        // Without an escape the value is a slice of the source.
        assert_eq!(value(r#""a.com""#), (b"a.com".to_vec(), true));
        assert_eq!(value(r#""open"#), (b"open".to_vec(), true));
        assert_eq!(value(r#""""#), (Vec::new(), true));
        // Escapes are decoded as the lexer reads them: an unknown one kept,
        // a broken `\x` dropped, a `\` at the end of the line ending it.
        assert_eq!(value(r#""\x41\n\t\\\"""#), (b"A\n\t\\\"".to_vec(), false));
        assert_eq!(value(r#""^\d+$""#), (br"^\d+$".to_vec(), false));
        assert_eq!(value(r#""\xZZ\x4""#), (b"ZZ4".to_vec(), false));
        assert_eq!(value(r#""\xff""#), (vec![0xff], false));
        assert_eq!(value("\"a\\é\""), ("a\\é".as_bytes().to_vec(), false));
        assert_eq!(value("\"ab\\\nc"), (b"ab".to_vec(), false));
        // Other languages' quotes: what lies between them.
        assert_eq!(value("'x'"), (b"x".to_vec(), true));
        assert_eq!(value("'x"), (b"x".to_vec(), true));
        assert_eq!(value("\u{2018}é\u{2019}"), ("é".as_bytes().to_vec(), true));
        assert_eq!(value("\u{201e}x\""), (b"x".to_vec(), true));
        assert_eq!(value("\u{201c}\u{201d}"), (Vec::new(), true));
        assert_eq!(value("*.a.com"), (b"*.a.com".to_vec(), true));
        // Other tokens have no value.
        assert!(lex(FileId(0), "allow").tokens[0].value().is_empty());
    }

    #[test]
    fn offsets_are_bytes_in_non_ascii_text() {
        let l = lex(FileId(0), "é \"ü\" \u{feff}x 'ö'");
        let spans: Vec<_> = l
            .tokens
            .iter()
            .map(|t| (t.kind, t.text, t.span.start, t.span.end))
            .collect();
        assert_eq!(
            spans,
            vec![
                (Kind::Ident, "é", 0, 2),
                (Kind::Str, "\"ü\"", 3, 7),
                (Kind::Ident, "x", 11, 12),
                (Kind::Str, "'ö'", 13, 17),
                (Kind::Eof, "", 17, 17),
            ]
        );
        // The byte-order mark: one error over its three bytes.
        assert_eq!((l.errors[0].span.start, l.errors[0].span.end), (8, 11));
    }

    /// The regression guard of issue 14: a token is a view of the source.
    /// It was 64 bytes plus two heap buffers (its text and its decoded
    /// bytes), about 100 bytes a token, so 10 MB of `{` took 1 GB; a
    /// `String` or `Vec` field brought back would grow it past this bound.
    #[test]
    fn a_token_is_small() {
        assert!(
            std::mem::size_of::<Token<'_>>() <= 32,
            "{}",
            std::mem::size_of::<Token<'_>>()
        );
        assert!(std::mem::size_of::<Comment<'_>>() <= 32);
    }

    /// A megabyte of `{`: a million tokens, each a slice of the source, and
    /// one error-free pass (no timing: that it completes, and the count).
    #[test]
    fn a_megabyte_of_braces() {
        let text = "{".repeat(1 << 20);
        let l = lex(FileId(0), &text);
        assert_eq!(l.tokens.len(), (1 << 20) + 1);
        assert!(l.errors.is_empty());
        assert!(l.tokens.iter().all(|t| t.text.len() <= 1));
        // Pulled one at a time, nothing is kept.
        let mut lexer = Lexer::new(FileId(0), &text);
        let mut n = 0usize;
        while lexer.next_token().kind != Kind::Eof {
            n += 1;
        }
        assert_eq!(n, 1 << 20);
    }

    #[test]
    fn lexical_errors_are_bounded() {
        let text = ";".repeat(10_000);
        let l = lex(FileId(0), &text);
        assert_eq!(l.errors.len(), crate::diag::STAGE_ERROR_LIMIT);
        let note = l.errors.last().and_then(|d| d.note.as_deref());
        assert_eq!(
            note,
            Some("9900 more lexical errors in this file not reported (at most 100 are)")
        );
    }

    #[test]
    fn a_replay_reads_the_same_tokens_and_records_nothing() {
        let text = "policy \"p\" {\n  # c\n  ~\"\\d\" ; x\n}";
        let l = lex(FileId(0), text);
        for (k, t) in l.tokens.iter().enumerate() {
            let mut r = Lexer::replay(FileId(0), text, t.span.start as usize, t.line_start);
            let again: Vec<Token<'_>> = std::iter::from_fn(|| Some(r.next_token()))
                .take(l.tokens.len() - k)
                .collect();
            assert_eq!(again, l.tokens[k..], "from token {k}");
            let (errors, comments) = r.finish();
            assert!(errors.is_empty() && comments.is_empty());
        }
    }
}
