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

use crate::diag::Diagnostic;
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

/// A token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: Kind,
    /// Where.
    pub span: Span,
    /// The source text (for strings: including the quotes).
    pub text: String,
    /// For strings: the decoded bytes.
    pub bytes: Vec<u8>,
    /// Whether a newline separates this token from the previous one.
    pub line_start: bool,
}

/// A `#` comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Where (from `#` to the end of the line).
    pub span: Span,
    /// The text, including `#`.
    pub text: String,
    /// Whether only whitespace precedes it on its line.
    pub own_line: bool,
}

/// The lexer's output.
#[derive(Debug, Clone, Default)]
pub struct Lexed {
    /// Tokens, ending with [`Kind::Eof`].
    pub tokens: Vec<Token>,
    /// Comments in source order.
    pub comments: Vec<Comment>,
    /// Lexical errors (E01xx).
    pub errors: Vec<Diagnostic>,
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

/// Lexes one file.
pub fn lex(file: FileId, text: &str) -> Lexed {
    let mut lx = Lexer {
        file,
        text,
        // An ASCII file (the usual case) is indexed by byte: the table of
        // characters and their offsets would take 16 bytes a byte.
        chars: if text.is_ascii() {
            None
        } else {
            Some(text.char_indices().collect())
        },
        i: 0,
        newline: true,
        line_has_token: false,
        out: Lexed::default(),
    };
    while let Some(c) = lx.at(lx.i) {
        lx.step(c);
    }
    lx.out.tokens.push(Token {
        kind: Kind::Eof,
        span: Span::new(file, text.len(), text.len()),
        text: String::new(),
        bytes: Vec::new(),
        line_start: true,
    });
    lx.out
}

/// The lexer's state: a position in the file's characters, and whether the
/// line so far has a newline before it and a token on it.
struct Lexer<'t> {
    file: FileId,
    text: &'t str,
    /// The characters with their byte offsets; `None` when the text is
    /// ASCII, where character `i` is byte `i`.
    chars: Option<Vec<(usize, char)>>,
    /// The next character (an index into `chars`, or the text's bytes).
    i: usize,
    /// Whether a newline came since the last token.
    newline: bool,
    /// Whether the current line has a token (for comments' `own_line`).
    line_has_token: bool,
    out: Lexed,
}

impl Lexer<'_> {
    fn at(&self, i: usize) -> Option<char> {
        match &self.chars {
            None => self.text.as_bytes().get(i).map(|&b| char::from(b)),
            Some(chars) => chars.get(i).map(|&(_, c)| c),
        }
    }

    /// The byte offset of character `i` (the text's length past the end).
    fn off(&self, i: usize) -> usize {
        match &self.chars {
            None => i.min(self.text.len()),
            Some(chars) => chars.get(i).map_or(self.text.len(), |&(o, _)| o),
        }
    }

    fn slice(&self, a: usize, b: usize) -> String {
        self.text
            .get(self.off(a)..self.off(b))
            .unwrap_or("")
            .to_owned()
    }

    fn span(&self, a: usize, b: usize) -> Span {
        Span::new(self.file, self.off(a), self.off(b))
    }

    /// Advances while `keep` holds for the next character.
    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.at(self.i).is_some_and(&keep) {
            self.i += 1;
        }
    }

    /// A token from `start` to the current position.
    fn push(&mut self, kind: Kind, start: usize, bytes: Vec<u8>) {
        let token = Token {
            kind,
            span: self.span(start, self.i),
            text: self.slice(start, self.i),
            bytes,
            line_start: self.newline,
        };
        self.out.tokens.push(token);
        self.newline = false;
        self.line_has_token = true;
    }

    fn error(&mut self, d: Diagnostic) {
        self.out.errors.push(d);
    }

    /// Lexes what starts with `c`, the character at the current position.
    fn step(&mut self, c: char) {
        let start = self.i;
        match c {
            '\n' => {
                self.newline = true;
                self.line_has_token = false;
                self.i += 1;
            }
            c if c.is_whitespace() => self.i += 1,
            '#' => {
                self.skip_while(|c| c != '\n');
                let comment = Comment {
                    span: self.span(start, self.i),
                    text: self.slice(start, self.i).trim_end().to_owned(),
                    own_line: !self.line_has_token,
                };
                self.out.comments.push(comment);
            }
            '"' => self.string(),
            c if is_ident_start(c) || (c.is_alphabetic() && !c.is_ascii()) => self.ident(),
            '*' if matches!(self.at(start + 1), Some('.' | '*'))
                || self
                    .at(start + 1)
                    .is_some_and(|c| c.is_ascii_alphanumeric()) =>
            {
                self.unquoted_pattern();
            }
            '\'' | '\u{2018}' | '\u{201c}' | '\u{201d}' | '\u{201e}' => self.odd_quotes(c),
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
                self.push(Kind::Word, start, Vec::new());
            }
            '{' | '}' | ',' | '~' => {
                self.i += 1;
                let kind = match c {
                    '{' => Kind::LBrace,
                    '}' => Kind::RBrace,
                    ',' => Kind::Comma,
                    _ => Kind::Tilde,
                };
                self.push(kind, start, Vec::new());
            }
            '=' => {
                let kind = match self.at(start + 1) {
                    Some('>') => Kind::Arrow,
                    Some('=') => Kind::EqEq,
                    _ => Kind::Eq,
                };
                self.i += if kind == Kind::Eq { 1 } else { 2 };
                self.push(kind, start, Vec::new());
            }
            '!' if self.at(start + 1) == Some('=') => {
                self.i += 2;
                self.push(Kind::NotEq, start, Vec::new());
            }
            c => self.unexpected(c),
        }
    }

    /// A `"…"` string, its escapes decoded.
    fn string(&mut self) {
        let start = self.i;
        self.i += 1;
        let regex = self
            .out
            .tokens
            .last()
            .is_some_and(|t| t.kind == Kind::Tilde);
        let mut bytes = Vec::new();
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
                    if !self.escape(regex, &mut bytes) {
                        break;
                    }
                }
                c => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    self.i += 1;
                }
            }
        }
        if !closed {
            let d = Diagnostic::error("E0101", self.span(start, self.i), "unterminated string")
                .label("this string has no closing `\"`")
                .help("strings end on the same line: add the closing quote");
            self.error(d);
        }
        self.push(Kind::Str, start, bytes);
    }

    /// The escape at the current `\`; false when the line ends there (the
    /// string is then unterminated).
    fn escape(&mut self, regex: bool, bytes: &mut Vec<u8>) -> bool {
        let esc_start = self.i;
        self.i += 1;
        match self.at(self.i) {
            Some('"') => bytes.push(b'"'),
            Some('\\') => bytes.push(b'\\'),
            Some('n') => bytes.push(b'\n'),
            Some('t') => bytes.push(b'\t'),
            Some('\n') | None => {
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
            }
            Some('x') => {
                let h = self.slice(self.i + 1, self.i + 3);
                // `from_str_radix` alone would take "+1".
                let hex = h.len() == 2 && h.bytes().all(|b| b.is_ascii_hexdigit());
                match u8::from_str_radix(&h, 16) {
                    Ok(b) if hex => {
                        bytes.push(b);
                        self.i += 2;
                    }
                    _ => {
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
            }
            Some(other) => {
                // Keep what was written, so a regex reads on as meant.
                bytes.push(b'\\');
                let mut buf = [0u8; 4];
                bytes.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
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
                    self.span(esc_start, self.i + 1),
                    format!("unknown escape `\\{}`", other.escape_debug()),
                )
                .label("not an escape")
                .help(help);
                self.error(d);
            }
        }
        self.i += 1;
        true
    }

    /// An identifier, or a URL or unquoted word that starts like one.
    fn ident(&mut self) {
        let start = self.i;
        // Non-ASCII letters stay in the word (`bücher.example`), so the
        // parser reports the word once, where it stands.
        self.skip_while(|c| is_ident(c) || (c.is_alphanumeric() && !c.is_ascii()));
        let i = self.i;
        if self.at(i) == Some(':') && self.at(i + 1) == Some('/') && self.at(i + 2) == Some('/') {
            self.skip_while(|c| !c.is_whitespace());
            self.push(Kind::Url, start, Vec::new());
        } else if matches!(self.at(i), Some(':' | '/')) {
            // An unquoted `fe80::/10`, `example.com:8443` or
            // `example.com/path`: one word, for one error.
            self.skip_while(is_word);
            self.push(Kind::Word, start, Vec::new());
        } else {
            self.push(Kind::Ident, start, Vec::new());
        }
    }

    /// An unquoted host pattern such as `*.example.com`: read as the string
    /// it should be, with one error.
    fn unquoted_pattern(&mut self) {
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
        self.push(Kind::Str, start, word.into_bytes());
    }

    /// 'single' or “typographic” quotes: read as a string, with one error.
    fn odd_quotes(&mut self, open: char) {
        let start = self.i;
        let closers: &[char] = match open {
            '\'' => &['\''],
            '\u{2018}' => &['\u{2019}', '\u{2018}', '\''],
            _ => &['\u{201c}', '\u{201d}', '"'],
        };
        self.i += 1;
        self.skip_while(|c| c != '\n' && !closers.contains(&c));
        let content = self.slice(start + 1, self.i);
        if self.at(self.i).is_some_and(|c| closers.contains(&c)) {
            self.i += 1;
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
        self.push(Kind::Str, start, content.into_bytes());
    }

    /// A character that starts no token, with a hint for the usual mistakes.
    fn unexpected(&mut self, c: char) {
        let start = self.i;
        self.i += 1;
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
            .map(|t| (t.kind, t.text))
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
                (l.tokens[0].kind, l.tokens[0].bytes.as_slice()),
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
        assert_eq!((l.errors.len(), l.tokens[0].text.as_str()), (1, "allow"));
    }

    #[test]
    fn strings_and_errors() {
        let l = lex(FileId(0), r#""a\"b\x41\\" "bad\q" "open"#);
        assert_eq!(l.tokens[0].bytes, b"a\"bA\\");
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
}
