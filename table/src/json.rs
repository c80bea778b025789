//! A small, strict JSON reader (RFC 8259) for the `pluginConfig` envelope.
//!
//! The filter reads exactly one JSON document in its life (per
//! configuration): a flat object of a few strings. A general JSON library
//! costs tens of KiB of `.wasm` for that, so this module reads JSON itself:
//!
//! - The whole document is validated: every JSON value is accepted (numbers,
//!   `true`/`false`/`null`, arrays, nested objects, strings with every escape
//!   including `\uXXXX` surrogate pairs) and everything else is refused,
//!   with the byte offset, line and column, what was expected and what was
//!   found.
//! - Only the top level is materialised: if it is an object, its members'
//!   keys and string values are unescaped (borrowed from the input when they
//!   hold no escape, so the big base64 table is never copied); any other
//!   value is handed back as its validated source text.
//!
//! Stricter than `serde_json` (and allowed by RFC 8259, which leaves these
//! to the implementation):
//!
//! - A key that appears twice in the top-level object is refused
//!   (`key "table" appears twice`), where `serde_json` keeps the last.
//!   Keys of nested objects are validated but not compared.
//! - Nesting deeper than [`MAX_DEPTH`] arrays and objects is refused
//!   (`serde_json`: 127). The reader does not recurse, so no input can
//!   exhaust the stack.
//! - A UTF-8 byte order mark is refused with its own message (RFC 8259 §8.1:
//!   implementations must not add one).
//! - Unpaired surrogate escapes (`"\uD800"`) are refused, as `serde_json`
//!   does when reading a string.
//!
//! More lenient in one respect: a number is accepted whatever its magnitude
//! (`1e400`), since it is only validated, never converted; `serde_json`
//! refuses numbers beyond the range of `f64`.

use std::borrow::Cow;
use std::fmt;

/// The deepest nesting of arrays and objects accepted (the top-level object
/// counts as one).
pub const MAX_DEPTH: usize = 64;

/// A value in the top-level object (or the top-level value itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// A string, unescaped.
    String(Cow<'a, str>),
    /// Any other value (number, `true`, `false`, `null`, array, object),
    /// validated, as its source text.
    Other(&'a str),
}

/// A member of the top-level object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    /// The key, unescaped.
    pub key: Cow<'a, str>,
    /// The value.
    pub value: Value<'a>,
}

/// A parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Document<'a> {
    /// The top level is an object: its members, in document order, each key
    /// once.
    Object(Vec<Member<'a>>),
    /// The top level is some other value.
    Other(Value<'a>),
}

/// Why a document was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Byte offset into the input.
    pub offset: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in bytes.
    pub column: usize,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Expected this, found that byte (`None`: the end of the input).
    Expected(&'static str, Option<u8>),
    Bom,
    TooDeep,
    Duplicate(String),
    Control(u8),
    Utf8,
    Surrogate,
    Escape(Option<u8>),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at byte {} (line {}, column {}): ",
            self.offset, self.line, self.column
        )?;
        match &self.kind {
            Kind::Expected(what, found) => write!(f, "expected {what}, found {}", Found(*found)),
            Kind::Bom => {
                f.write_str("a UTF-8 byte order mark; remove it, JSON must not start with one")
            }
            Kind::TooDeep => write!(f, "arrays and objects nested more than {MAX_DEPTH} deep"),
            Kind::Duplicate(key) => write!(f, "key {key:?} appears twice"),
            Kind::Control(b) => write!(f, "control character 0x{b:02x} in a string; escape it"),
            Kind::Utf8 => f.write_str("invalid UTF-8 in a string"),
            Kind::Surrogate => f.write_str("a \\u escape that is an unpaired UTF-16 surrogate"),
            Kind::Escape(found) => write!(
                f,
                "expected an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t or \\u and 4 hex digits), found {}",
                Found(*found)
            ),
        }
    }
}

impl std::error::Error for Error {}

struct Found(Option<u8>);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("the end of the input"),
            Some(b) if b.is_ascii_graphic() || b == b' ' => write!(f, "'{}'", char::from(b)),
            Some(b) => write!(f, "byte 0x{b:02x}"),
        }
    }
}

/// Parses one JSON document. See the module documentation for what is
/// accepted.
pub fn parse(input: &[u8]) -> Result<Document<'_>, Error> {
    let mut p = Parser { s: input, pos: 0 };
    if input.starts_with(b"\xEF\xBB\xBF") {
        return Err(p.error(Kind::Bom));
    }
    p.ws();
    let doc = if p.peek() == Some(b'{') {
        Document::Object(p.object()?)
    } else {
        Document::Other(p.value(0)?)
    };
    p.ws();
    if p.peek().is_some() {
        return Err(p.expected("the end of the input after the value"));
    }
    Ok(doc)
}

/// Whether no byte of `w` ends a run of plain string text: none is `"`,
/// `\\` or a control character below 0x20. (The usual zero-byte test on
/// `w` xor the byte; a borrow can only flag a byte after one that matched,
/// so a plain word is never taken for a stop, and a word with a stop never
/// passes.)
#[inline]
fn plain_word(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) | below_space) == 0
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn error(&self, kind: Kind) -> Error {
        let before = self.s.get(..self.pos).unwrap_or(self.s);
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        Error {
            offset: self.pos,
            line: 1 + before.iter().filter(|&&b| b == b'\n').count(),
            column: 1 + self.pos - line_start,
            kind,
        }
    }

    fn expected(&self, what: &'static str) -> Error {
        self.error(Kind::Expected(what, self.peek()))
    }

    /// Consumes `b` or fails with "expected `what`".
    fn eat(&mut self, b: u8, what: &'static str) -> Result<(), Error> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    /// The validated text `start..end`.
    fn text(&self, start: usize, end: usize) -> Result<&'a str, Error> {
        let bytes = self.s.get(start..end).unwrap_or_default();
        core::str::from_utf8(bytes).map_err(|e| {
            let at = Parser {
                s: self.s,
                pos: start + e.valid_up_to(),
            };
            at.error(Kind::Utf8)
        })
    }

    /// The top-level object, at its `{`.
    fn object(&mut self) -> Result<Vec<Member<'a>>, Error> {
        self.pos += 1;
        let mut members: Vec<Member<'a>> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(members);
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.expected("a string key"));
            }
            let key_at = self.pos;
            let key = self.string(true)?;
            if members.iter().any(|m| m.key == key) {
                let at = Parser {
                    s: self.s,
                    pos: key_at,
                };
                return Err(at.error(Kind::Duplicate(key.into_owned())));
            }
            self.ws();
            self.eat(b':', "':' after the key")?;
            self.ws();
            let value = self.value(1)?;
            members.push(Member { key, value });
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(members);
                }
                _ => return Err(self.expected("',' or '}' after an object member")),
            }
        }
    }

    /// A value, after white space, inside `depth` open arrays and objects.
    fn value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        if self.peek() == Some(b'"') {
            return Ok(Value::String(self.string(true)?));
        }
        let start = self.pos;
        self.skip_value(depth)?;
        Ok(Value::Other(self.text(start, self.pos)?))
    }

    /// Validates one value, without recursion: `open` holds one bit per
    /// array or object opened here, set for an object.
    fn skip_value(&mut self, depth: usize) -> Result<(), Error> {
        let mut open: u64 = 0;
        let mut n: usize = 0;
        loop {
            // A value is expected here.
            self.ws();
            match self.peek() {
                Some(c @ (b'[' | b'{')) => {
                    if depth + n >= MAX_DEPTH {
                        return Err(self.error(Kind::TooDeep));
                    }
                    let is_object = c == b'{';
                    // `n < MAX_DEPTH <= 64`: the shift is in range.
                    open = (open & !(1 << n)) | (u64::from(is_object) << n);
                    n += 1;
                    self.pos += 1;
                    self.ws();
                    if self.peek() == Some(if is_object { b'}' } else { b']' }) {
                        self.pos += 1;
                        n -= 1;
                    } else if is_object {
                        self.key()?;
                        continue;
                    } else {
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string(false)?;
                }
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                _ => return Err(self.expected("a value")),
            }
            // After a value: close containers until one wants another value.
            loop {
                let Some(top) = n.checked_sub(1) else {
                    return Ok(());
                };
                let is_object = open >> top & 1 == 1;
                self.ws();
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if is_object {
                            self.ws();
                            self.key()?;
                        }
                        break;
                    }
                    Some(b'}') if is_object => {
                        self.pos += 1;
                        n = top;
                    }
                    Some(b']') if !is_object => {
                        self.pos += 1;
                        n = top;
                    }
                    _ if is_object => {
                        return Err(self.expected("',' or '}' after an object member"));
                    }
                    _ => return Err(self.expected("',' or ']' after an array element")),
                }
            }
        }
    }

    /// A key of a nested object and its ':', at the key.
    fn key(&mut self) -> Result<(), Error> {
        if self.peek() != Some(b'"') {
            return Err(self.expected("a string key"));
        }
        self.string(false)?;
        self.ws();
        self.eat(b':', "':' after the key")
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), Error> {
        if self.s.get(self.pos..).unwrap_or_default().starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.expected("a value"))
        }
    }

    fn digits(&mut self, what: &'static str) -> Result<(), Error> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(self.expected(what));
        }
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        Ok(())
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), Error> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else {
            self.digits("a digit")?;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.digits("a digit after the decimal point")?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits("a digit in the exponent")?;
        }
        Ok(())
    }

    /// A string, at its opening quote; unescaped when `keep`, else only
    /// validated (and the empty string returned).
    fn string(&mut self, keep: bool) -> Result<Cow<'a, str>, Error> {
        self.pos += 1;
        let mut owned: Option<String> = None;
        let mut run = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.expected("'\"' to end the string")),
                Some(b'"') => {
                    let tail = self.text(run, self.pos)?;
                    self.pos += 1;
                    return Ok(match owned {
                        Some(mut o) => {
                            o.push_str(tail);
                            Cow::Owned(o)
                        }
                        None if keep => Cow::Borrowed(tail),
                        None => Cow::Borrowed(""),
                    });
                }
                Some(b'\\') => {
                    let head = self.text(run, self.pos)?;
                    let c = self.escape()?;
                    if keep {
                        let o = owned.get_or_insert_with(String::new);
                        o.push_str(head);
                        o.push(c);
                    }
                    run = self.pos;
                }
                Some(b @ 0..=0x1f) => return Err(self.error(Kind::Control(b))),
                Some(_) => {
                    self.pos += 1;
                    // Eight bytes at a time over runs with nothing to
                    // stop at (a base64 table is one such run).
                    while let Some(w) = self
                        .s
                        .get(self.pos..self.pos + 8)
                        .and_then(|c| <[u8; 8]>::try_from(c).ok())
                    {
                        if !plain_word(u64::from_le_bytes(w)) {
                            break;
                        }
                        self.pos += 8;
                    }
                }
            }
        }
    }

    /// An escape, at its backslash.
    fn escape(&mut self) -> Result<char, Error> {
        self.pos += 1;
        let c = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let at = self.pos - 1;
                self.pos += 1;
                let hi = self.hex4()?;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        if self
                            .s
                            .get(self.pos..)
                            .unwrap_or_default()
                            .starts_with(b"\\u")
                        {
                            self.pos += 2;
                            let lo = self.hex4()?;
                            if !(0xDC00..=0xDFFF).contains(&lo) {
                                return Err(self.surrogate(at));
                            }
                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            return Err(self.surrogate(at));
                        }
                    }
                    0xDC00..=0xDFFF => return Err(self.surrogate(at)),
                    _ => hi,
                };
                return char::from_u32(code).ok_or_else(|| self.surrogate(at));
            }
            found => return Err(self.error(Kind::Escape(found))),
        };
        self.pos += 1;
        Ok(c)
    }

    fn surrogate(&self, at: usize) -> Error {
        Parser { s: self.s, pos: at }.error(Kind::Surrogate)
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut v = 0;
        for _ in 0..4 {
            let d = self
                .peek()
                .and_then(|b| char::from(b).to_digit(16))
                .ok_or_else(|| self.expected("a hex digit in a \\u escape"))?;
            v = v << 4 | d;
            self.pos += 1;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    proptest::proptest! {
        /// The word test says exactly what the byte-by-byte test says.
        #[test]
        fn plain_word_is_bytewise(w in proptest::prelude::any::<[u8; 8]>(), at in 0usize..8, b in proptest::prelude::any::<u8>()) {
            let bytewise = |w: &[u8; 8]| w.iter().all(|&b| b != b'"' && b != b'\\' && b >= 0x20);
            let mut v = w;
            v[at] = b;
            for x in [w, v] {
                proptest::prop_assert_eq!(super::plain_word(u64::from_le_bytes(x)), bytewise(&x));
            }
        }
    }

    use super::*;
    use proptest::prelude::*;

    fn err(input: &[u8]) -> Error {
        parse(input).unwrap_err()
    }

    fn object(input: &str) -> Vec<Member<'_>> {
        match parse(input.as_bytes()).unwrap() {
            Document::Object(m) => m,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn envelope() {
        let m =
            object(" {\"table\" : \"QUJD\", \"layer\":\"http\",\n \"n\": [1, {\"a\": null}]}\n");
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].key, "table");
        assert_eq!(m[0].value, Value::String(Cow::Borrowed("QUJD")));
        assert!(matches!(m[0].value, Value::String(Cow::Borrowed(_))));
        assert_eq!(m[2].value, Value::Other("[1, {\"a\": null}]"));
        assert!(object("{}").is_empty());
        assert_eq!(
            parse(b"\"a\\u00e9\\ud83d\\ude00\\/\\n\"").unwrap(),
            Document::Other(Value::String(Cow::Owned("a\u{e9}\u{1F600}/\n".into())))
        );
        assert_eq!(
            parse(b" -0.5e+3 ").unwrap(),
            Document::Other(Value::Other("-0.5e+3"))
        );
        assert_eq!(
            parse(b"1e400").unwrap(),
            Document::Other(Value::Other("1e400"))
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = err(b"{\"table\": \"AA\",\n  \"layer\" \"http\"}");
        assert_eq!((e.offset, e.line, e.column), (26, 2, 11));
        assert_eq!(
            e.to_string(),
            "at byte 26 (line 2, column 11): expected ':' after the key, found '\"'"
        );
        let e = err(br#"{"table":"AA","table":"BB"}"#);
        assert_eq!(e.offset, 14);
        assert!(
            e.to_string().ends_with("key \"table\" appears twice"),
            "{e}"
        );
        // Also when spelt differently.
        assert!(
            err(br#"{"table":1,"t\u0061ble":2}"#)
                .to_string()
                .contains("appears twice")
        );
        assert!(
            err(b"{} x")
                .to_string()
                .contains("expected the end of the input after the value, found 'x'")
        );
        assert!(
            err(b"\xEF\xBB\xBF{}")
                .to_string()
                .contains("byte order mark")
        );
        assert!(
            err(b"")
                .to_string()
                .contains("expected a value, found the end of the input")
        );
        assert!(err(b"{\"a\":1").to_string().contains("',' or '}'"));
        assert!(err(b"[1 2]").to_string().contains("',' or ']'"));
        assert!(err(b"{\"a\":01}").to_string().contains("',' or '}'"));
        assert!(err(b"1.").to_string().contains("after the decimal point"));
        assert!(err(b"\"\\ud800\"").to_string().contains("surrogate"));
        assert!(err(b"\"\\udc00\"").to_string().contains("surrogate"));
        assert!(err(b"\"\\ud800\\u0041\"").to_string().contains("surrogate"));
        assert!(err(b"\"\\x\"").to_string().contains("expected an escape"));
        assert!(err(b"\"\\u12g4\"").to_string().contains("hex digit"));
        assert!(
            err(b"\"a\nb\"")
                .to_string()
                .contains("control character 0x0a")
        );
        let e = err(b"[\"ab\xffc\"]");
        assert_eq!(e.offset, 4);
        assert!(e.to_string().contains("invalid UTF-8"));
        assert!(
            err(b"{\"a\" :tru}")
                .to_string()
                .contains("expected a value, found 't'")
        );
        assert!(err(b"{1:2}").to_string().contains("a string key"));
        assert!(err(b"[{\"a\":1,}]").to_string().contains("a string key"));
    }

    #[test]
    fn nesting_is_limited_without_recursion() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(deep(MAX_DEPTH).as_bytes()).is_ok());
        assert!(
            err(deep(MAX_DEPTH + 1).as_bytes())
                .to_string()
                .contains("nested more than 64")
        );
        let obj = |n: usize| format!("{}{}", "{\"a\":".repeat(n - 1) + "{", "}".repeat(n));
        assert!(parse(obj(MAX_DEPTH).as_bytes()).is_ok());
        assert!(parse(obj(MAX_DEPTH + 1).as_bytes()).is_err());
        let e = err("[".repeat(100_000).as_bytes());
        assert_eq!(e.offset, MAX_DEPTH);
        assert!(e.to_string().contains("nested more than"));
        let e = err(format!("{{\"a\":{}", "[{\"b\":".repeat(50_000)).as_bytes());
        assert!(e.to_string().contains("nested more than"));
    }

    // --- Differential testing against serde_json. ---

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value as J;
        let leaf = prop_oneof![
            Just(J::Null),
            any::<bool>().prop_map(J::Bool),
            any::<i64>().prop_map(J::from),
            any::<u64>().prop_map(J::from),
            (-1e300f64..1e300).prop_map(J::from),
            any::<String>().prop_map(J::String),
            "[a-z\"\\\\/]{0,6}".prop_map(J::String),
        ];
        leaf.prop_recursive(6, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(J::Array),
                prop::collection::vec(("[a-c\"\\\\é]{0,3}", inner), 0..6)
                    .prop_map(|kv| J::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn next(seed: &mut u64) -> u32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as u32
    }

    /// Serialises `v` with white space and escapes chosen by `seed`, so
    /// that every escape form turns up.
    fn write(v: &serde_json::Value, seed: &mut u64, out: &mut String) {
        use serde_json::Value as J;
        let ws = |r: u32, out: &mut String| {
            out.push_str(match r % 8 {
                0 => " ",
                1 => "\n\t",
                2 => "\r\n ",
                _ => "",
            })
        };
        ws(next(seed), out);
        match v {
            J::String(s) => {
                out.push('"');
                for c in s.chars() {
                    let r = next(seed);
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        c if (c as u32) < 0x20 || r.is_multiple_of(4) => {
                            let mut buf = [0u16; 2];
                            for u in c.encode_utf16(&mut buf) {
                                out.push_str(&if r.is_multiple_of(8) {
                                    format!("\\u{u:04X}")
                                } else {
                                    format!("\\u{u:04x}")
                                });
                            }
                        }
                        '/' if r.is_multiple_of(2) => out.push_str("\\/"),
                        c => out.push(c),
                    }
                }
                out.push('"');
            }
            J::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, seed, out);
                }
                out.push(']');
            }
            J::Object(o) => {
                out.push('{');
                for (i, (k, x)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(&J::String(k.clone()), seed, out);
                    out.push(':');
                    write(x, seed, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
        ws(next(seed), out);
    }

    /// Our verdict agrees with serde_json's, but for the documented
    /// differences, and the values agree.
    fn agree(input: &[u8]) -> Result<(), TestCaseError> {
        use serde_json::Value as J;
        let ours = parse(input);
        let theirs = serde_json::from_slice::<J>(input);
        match (ours, theirs) {
            (Ok(doc), Ok(v)) => {
                let same = |ours: &Value<'_>, theirs: &J| match ours {
                    Value::String(s) => theirs.as_str() == Some(s.as_ref()),
                    Value::Other(raw) => {
                        serde_json::from_str::<J>(raw).ok().as_ref() == Some(theirs)
                    }
                };
                match doc {
                    Document::Object(members) => {
                        let obj = v.as_object();
                        prop_assert!(obj.is_some());
                        let obj = obj.unwrap();
                        prop_assert_eq!(members.len(), obj.len());
                        for m in &members {
                            let t = obj.get(m.key.as_ref());
                            prop_assert!(t.is_some_and(|t| same(&m.value, t)), "{:?}", m);
                        }
                    }
                    Document::Other(value) => {
                        prop_assert!(!v.is_object());
                        prop_assert!(same(&value, &v), "{:?} vs {}", value, v);
                    }
                }
            }
            (Err(e), Err(_)) => {
                let _ = e.to_string();
            }
            (Err(e), Ok(_)) => prop_assert!(
                matches!(e.kind, Kind::Duplicate(_)),
                "we refuse what serde_json accepts: {} in {:?}",
                e,
                String::from_utf8_lossy(input)
            ),
            (Ok(_), Err(e)) => prop_assert!(
                e.to_string().contains("number out of range"),
                "we accept what serde_json refuses ({}): {:?}",
                e,
                String::from_utf8_lossy(input)
            ),
        }
        Ok(())
    }

    const INTERESTING: &[u8] =
        b"\"\\{}[]:,-+.eE0123456789 \t\n\r/utfnrlb'x\x00\x1f\x7f\xc3\xa9\xed\xa0\x80\xef\xbb\xbfDd";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn agrees_with_serde_json(v in arb_json(), seed in any::<u64>()) {
            let mut text = String::new();
            write(&v, &mut { seed }, &mut text);
            agree(text.as_bytes())?;
            let top = serde_json::json!({ "table": v.clone(), "layer": "http" });
            let mut text = String::new();
            write(&top, &mut { seed }, &mut text);
            agree(text.as_bytes())?;
            agree(v.to_string().as_bytes())?;
        }

        #[test]
        fn agrees_with_serde_json_on_mutants(
            v in arb_json(),
            seed in any::<u64>(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut text = String::new();
            write(&serde_json::json!({ "k": v, "s": "a\\\"é" }), &mut { seed }, &mut text);
            let mut bytes = text.into_bytes();
            for (at, op, pick, random) in edits {
                let b = if random % 4 == 0 { random } else { *pick.get(INTERESTING) };
                let i = at.index(bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => bytes[i] = b,
                    1 if i < bytes.len() => { bytes.remove(i); }
                    _ => bytes.insert(i, b),
                }
            }
            agree(&bytes)?;
        }
    }

    #[test]
    fn agrees_with_serde_json_on_corner_cases() {
        for case in [
            &b""[..],
            b" ",
            b"{",
            b"}",
            b"{}",
            b"[]",
            b"[,]",
            b"[1,]",
            b"{\"a\"}",
            b"{\"a\":}",
            b"0",
            b"-",
            b"-0",
            b"00",
            b"01",
            b"1.5e",
            b"1e+",
            b".5",
            b"+1",
            b"1E5",
            b"-0.0e-0",
            b"tru",
            b"true",
            b"truex",
            b"nul",
            b"null",
            b"NaN",
            b"Infinity",
            b"\"\\u\"",
            b"\"\\uD83D\\uDE00\"",
            b"\"\\uDE00\\uD83D\"",
            b"\"\\uD83D\"",
            b"\"\x7f\"",
            b"\"\xed\xa0\x80\"",
            b"\"\xc0\x80\"",
            b"\"\xf4\x90\x80\x80\"",
            b"\xEF\xBB\xBF{}",
            b"{\"a\":1}{}",
            b"[1]\x00",
            b"\x0c{}",
            b"{} ",
            b"\"\\'\"",
            b"[\"\\/\"]",
        ] {
            agree(case).unwrap();
        }
    }
}
