//! Syntax highlighting from the compiler's own lexer ([`egressc::lex`]):
//! the page colours exactly the tokens the parser will see, so an
//! unterminated string or a stray character looks wrong as it is typed.

use egressc::lex::{self, Kind};
use egressc::source::FileId;

use crate::Utf16;

/// The class of an identifier: `allow`/`deny` stand out, HTTP methods
/// (upper case) are their own class, other words are keywords.
fn ident_class(text: &str) -> &'static str {
    match text {
        "allow" => "allow",
        "deny" => "deny",
        _ if text.bytes().any(|b| b.is_ascii_uppercase())
            && text
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'-' || b == b'_') =>
        {
            "method"
        }
        _ => "kw",
    }
}

fn class(kind: Kind, text: &str) -> Option<&'static str> {
    Some(match kind {
        Kind::Ident => ident_class(text),
        Kind::Str => "str",
        Kind::Word => "num",
        Kind::Url => "url",
        Kind::LBrace | Kind::RBrace | Kind::Comma => "punct",
        Kind::Arrow | Kind::EqEq | Kind::NotEq | Kind::Eq | Kind::Tilde => "op",
        Kind::Eof => return None,
    })
}

/// `[[from, to, class], …]` in UTF-16 offsets, in text order.
pub fn highlight_json(text: &str) -> serde_json::Value {
    let lexed = lex::lex(FileId(0), text);
    let mut spans: Vec<(u32, u32, &'static str)> = lexed
        .tokens
        .iter()
        .filter_map(|t| class(t.kind, t.text).map(|c| (t.span.start, t.span.end, c)))
        .chain(
            lexed
                .comments
                .iter()
                .map(|c| (c.span.start, c.span.end, "comment")),
        )
        .filter(|(s, e, _)| e > s)
        .collect();
    spans.sort_unstable();
    let u = Utf16::new(text);
    serde_json::Value::Array(
        spans
            .into_iter()
            .map(|(s, e, c)| serde_json::json!([u.at(s as usize), u.at(e as usize), c]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_get_their_classes_in_utf16_offsets() {
        let text = "# é\npolicy \"p\" { allow GET path \"/x\" }";
        let v = highlight_json(text);
        let got: Vec<(u64, u64, String)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t[0].as_u64().unwrap(),
                    t[1].as_u64().unwrap(),
                    t[2].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let classes: Vec<&str> = got.iter().map(|t| t.2.as_str()).collect();
        assert_eq!(
            classes,
            [
                "comment", "kw", "str", "punct", "allow", "method", "kw", "str", "punct"
            ]
        );
        // The comment is 3 UTF-16 units (`é` is one); `policy` starts after the newline.
        assert_eq!(got[0], (0, 3, "comment".to_owned()));
        assert_eq!(got[1], (4, 10, "kw".to_owned()));
    }

    #[test]
    fn broken_text_still_highlights() {
        let v = highlight_json("policy \"unterminated {\n  allow");
        assert!(!v.as_array().unwrap().is_empty());
    }
}
