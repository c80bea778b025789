//! The browser playground's core: the compiler's own stages and decision
//! path, exported to JavaScript with wasm-bindgen.
//!
//! Everything here is `egressc`'s library — [`egressc::compile`],
//! [`egressc::fmt`], [`egressc::explain`], [`egressc::testrun`],
//! [`egressc::istio`], [`egressc::cedar`] — run on a policy text the page hands in; nothing is
//! reimplemented. Each export takes strings and returns one JSON text, so
//! the page needs no generated types, and the same functions are tested
//! natively (`cargo test -p egress-playground`) and in a real browser
//! (`playground/e2e/`).
//!
//! Positions in the JSON are UTF-16 code-unit offsets (what a JavaScript
//! string and a `<textarea>` count), plus 1-based line and column for
//! display.

use wasm_bindgen::prelude::wasm_bindgen;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}
mod export;
mod highlight;
mod request;
mod view;

pub use embedded::{EXAMPLES, FILTER_WASM};
pub use export::{export_json, table_bytes};
pub use highlight::highlight_json;
pub use request::request_from_form;
pub use view::{analyse_json, decide_json, format_json, istio_json};

/// The compiler's version and the table format it writes.
#[wasm_bindgen]
pub fn version() -> String {
    serde_json::json!({
        "egressc": egressc::VERSION,
        "format": format!("{}.{}", egress_table::format::VERSION_MAJOR, egress_table::format::VERSION_MINOR),
        "filter_sha256": egressc::oci::sha256_hex(FILTER_WASM),
    })
    .to_string()
}

/// The example policies (`policies/*.egress`): `[{"name", "text"}]`.
#[wasm_bindgen]
pub fn examples() -> String {
    serde_json::Value::Array(
        EXAMPLES
            .iter()
            .map(|(name, text)| serde_json::json!({"name": name, "text": text}))
            .collect(),
    )
    .to_string()
}

/// Token classes for syntax highlighting: `[[from, to, class], …]`.
#[wasm_bindgen]
pub fn highlight(text: &str) -> String {
    highlight_json(text).to_string()
}

/// Compiles `text` (named `name` in what is written) and returns its
/// diagnostics, and when it compiles, its test results and table summary.
#[wasm_bindgen]
pub fn analyse(name: &str, text: &str) -> String {
    analyse_json(name, text).to_string()
}

/// `egressc fmt` on `text`: `{"text"}`, or `{"diagnostics"}` when it does not parse.
#[wasm_bindgen]
pub fn format(text: &str) -> String {
    format_json(text).to_string()
}

/// `egressc explain` for the request the form describes (JSON).
#[wasm_bindgen]
pub fn decide(name: &str, text: &str, form: &str) -> String {
    decide_json(name, text, form).to_string()
}

/// `egressc istio` with the options the form gives (JSON).
#[wasm_bindgen]
pub fn istio(name: &str, text: &str, options: &str) -> String {
    istio_json(name, text, options).to_string()
}

/// The Cedar export and the `pluginConfig` texts (JSON). (Not `export`: a
/// word JavaScript reserves, which wasm-bindgen would rename.)
#[wasm_bindgen]
pub fn exported(name: &str, text: &str) -> String {
    export_json(name, text).to_string()
}

/// The binary table (empty when the policy does not compile).
#[wasm_bindgen]
pub fn table(name: &str, text: &str) -> Vec<u8> {
    table_bytes(name, text)
}

/// Offsets into a text, from bytes (Rust) to UTF-16 code units
/// (JavaScript): built once per text, then any offset in a few hundred
/// steps (a checkpoint every [`Utf16::STEP`] bytes), in any order.
#[derive(Debug)]
pub(crate) struct Utf16<'a> {
    text: &'a str,
    /// (byte offset, UTF-16 offset) at char boundaries, ascending.
    marks: Vec<(usize, usize)>,
}

impl<'a> Utf16<'a> {
    const STEP: usize = 256;

    pub(crate) fn new(text: &'a str) -> Self {
        let mut marks = vec![(0, 0)];
        let (mut byte, mut unit) = (0, 0);
        for (i, c) in text.char_indices() {
            if i >= byte + Self::STEP {
                marks.push((i, unit));
                byte = i;
            }
            unit += c.len_utf16();
        }
        Self { text, marks }
    }

    /// The UTF-16 offset of byte offset `at` (clamped to the text, and to
    /// the start of the character it falls in).
    pub(crate) fn at(&self, at: usize) -> usize {
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        let i = self
            .marks
            .partition_point(|(b, _)| *b <= at)
            .saturating_sub(1);
        let (byte, unit) = self.marks.get(i).copied().unwrap_or((0, 0));
        unit + self
            .text
            .get(byte..at)
            .map_or(0, |s| s.encode_utf16().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_offsets_count_what_javascript_counts() {
        let text = "a\u{e9}\u{1f600}b";
        let u = Utf16::new(text);
        assert_eq!(u.at(0), 0);
        assert_eq!(u.at(1), 1);
        assert_eq!(u.at(3), 2);
        assert_eq!(u.at(7), 4);
        assert_eq!(u.at(8), 5);
        // Backwards, inside a character, past the end.
        assert_eq!(u.at(2), 1);
        assert_eq!(u.at(100), 5);
        // Past a checkpoint, in a long text.
        let long = "\u{e9}".repeat(1000) + "x";
        let u = Utf16::new(&long);
        assert_eq!(u.at(2000), 1000);
        assert_eq!(u.at(1001), 500);
        assert_eq!(u.at(2001), 1001);
    }

    #[test]
    fn every_example_is_embedded_and_reported() {
        assert!(EXAMPLES.len() >= 5);
        assert!(EXAMPLES.iter().any(|(n, _)| *n == "httpbin.egress"));
        assert_eq!(FILTER_WASM.get(..4), Some(b"\0asm".as_slice()));
        let v: serde_json::Value = serde_json::from_str(&version()).unwrap_or_default();
        assert_eq!(v["egressc"], egressc::VERSION);
    }
}
