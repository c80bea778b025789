//! Stage 1, lexing: source text to tokens and comments.
//!
//! Tokens: identifiers (`[A-Za-z_][A-Za-z0-9_.-]*`, which covers keywords,
//! methods and `originate-tls`), strings (`"…"` with `\" \\ \n \t \xHH`
//! escapes, decoded to bytes), words that start with a digit (ports, ranges,
//! durations, addresses and CIDRs: `[0-9][0-9A-Za-z.:/_-]*`), URLs
//! (`http://…`, `https://…`, `tls://…`, `tcp://…`, up to the next
//! whitespace; used in tests), and the punctuation `{ } , => == = ~`.
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
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '/' | '_' | '-')
}

/// Lexes one file.
pub fn lex(file: FileId, text: &str) -> Lexed {
    let mut out = Lexed::default();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let off = |i: usize| chars.get(i).map_or(text.len(), |&(o, _)| o);
    let slice = |a: usize, b: usize| text.get(off(a)..off(b)).unwrap_or("").to_owned();
    let mut i = 0;
    let mut newline = true;
    let mut line_has_token = false;
    while let Some(c) = at(i) {
        let start = i;
        let push = |out: &mut Lexed, kind, end: usize, bytes: Vec<u8>, newline: &mut bool| {
            out.tokens.push(Token {
                kind,
                span: Span::new(file, off(start), off(end)),
                text: slice(start, end),
                bytes,
                line_start: *newline,
            });
            *newline = false;
        };
        match c {
            '\n' => {
                newline = true;
                line_has_token = false;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '#' => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
                out.comments.push(Comment {
                    span: Span::new(file, off(start), off(i)),
                    text: slice(start, i).trim_end().to_owned(),
                    own_line: !line_has_token,
                });
            }
            '"' => {
                i += 1;
                let mut bytes = Vec::new();
                let mut closed = false;
                while let Some(c) = at(i) {
                    match c {
                        '"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        '\n' => break,
                        '\\' => {
                            let esc_start = i;
                            i += 1;
                            match at(i) {
                                Some('"') => bytes.push(b'"'),
                                Some('\\') => bytes.push(b'\\'),
                                Some('n') => bytes.push(b'\n'),
                                Some('t') => bytes.push(b'\t'),
                                Some('x') => {
                                    let h = slice(i + 1, i + 3);
                                    match u8::from_str_radix(&h, 16) {
                                        Ok(b) if h.len() == 2 => {
                                            bytes.push(b);
                                            i += 2;
                                        }
                                        _ => out.errors.push(
                                            Diagnostic::error(
                                                "E0102",
                                                Span::new(file, off(esc_start), off(i + 1)),
                                                "invalid `\\x` escape",
                                            )
                                            .label("expected two hex digits")
                                            .help("write a byte as `\\xHH`, for example `\\xff`"),
                                        ),
                                    }
                                }
                                other => {
                                    out.errors.push(
                                        Diagnostic::error("E0102", Span::new(file, off(esc_start), off(i + 1)), format!("unknown escape `\\{}`", other.map(String::from).unwrap_or_default()))
                                            .label("not an escape")
                                            .help("the escapes are \\\" \\\\ \\n \\t and \\xHH; to write a backslash, double it"),
                                    );
                                }
                            }
                            i += 1;
                        }
                        c => {
                            let mut buf = [0u8; 4];
                            bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                            i += 1;
                        }
                    }
                }
                if !closed {
                    out.errors.push(
                        Diagnostic::error(
                            "E0101",
                            Span::new(file, off(start), off(i)),
                            "unterminated string",
                        )
                        .label("this string has no closing `\"`")
                        .help("strings end on the same line: add the closing quote"),
                    );
                }
                push(&mut out, Kind::Str, i, bytes, &mut newline);
                line_has_token = true;
            }
            c if is_ident_start(c) => {
                while at(i).is_some_and(is_ident) {
                    i += 1;
                }
                if at(i) == Some(':') && at(i + 1) == Some('/') && at(i + 2) == Some('/') {
                    while at(i).is_some_and(|c| !c.is_whitespace()) {
                        i += 1;
                    }
                    push(&mut out, Kind::Url, i, Vec::new(), &mut newline);
                } else {
                    push(&mut out, Kind::Ident, i, Vec::new(), &mut newline);
                }
                line_has_token = true;
            }
            c if c.is_ascii_digit() => {
                while at(i).is_some_and(is_word) {
                    i += 1;
                }
                push(&mut out, Kind::Word, i, Vec::new(), &mut newline);
                line_has_token = true;
            }
            '{' | '}' | ',' | '~' => {
                i += 1;
                let kind = match c {
                    '{' => Kind::LBrace,
                    '}' => Kind::RBrace,
                    ',' => Kind::Comma,
                    _ => Kind::Tilde,
                };
                push(&mut out, kind, i, Vec::new(), &mut newline);
                line_has_token = true;
            }
            '=' => {
                let kind = match at(i + 1) {
                    Some('>') => Kind::Arrow,
                    Some('=') => Kind::EqEq,
                    _ => Kind::Eq,
                };
                i += if kind == Kind::Eq { 1 } else { 2 };
                push(&mut out, kind, i, Vec::new(), &mut newline);
                line_has_token = true;
            }
            c => {
                i += 1;
                let mut d = Diagnostic::error(
                    "E0103",
                    Span::new(file, off(start), off(i)),
                    format!("unexpected character `{c}`"),
                )
                .label("not part of the language");
                d = match c {
                    ';' => d.help("statements end at the end of the line; remove the `;`"),
                    '\'' => d.help("strings use double quotes: \"...\""),
                    '/' if at(i) == Some('/') => d.help("comments start with `#`"),
                    '*' => d.help("host patterns are strings: \"*.example.com\""),
                    '[' | ']' | '(' | ')' => d.help("lists are written with commas, without brackets: `GET, POST`"),
                    c if !c.is_ascii() => d.help("names outside strings are ASCII; host names go in quotes (non-ASCII hosts in their punycode form)"),
                    _ => d,
                };
                out.errors.push(d);
            }
        }
    }
    out.tokens.push(Token {
        kind: Kind::Eof,
        span: Span::new(file, text.len(), text.len()),
        text: String::new(),
        bytes: Vec::new(),
        line_start: true,
    });
    out
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
        let c = lex(FileId(0), "# top\nallow # trailing\n");
        assert!(c.comments[0].own_line && !c.comments[1].own_line);
    }
}
