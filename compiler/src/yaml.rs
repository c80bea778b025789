//! A small YAML writer for the Kubernetes resources `egressc istio` emits:
//! block mappings and sequences in the order they were built, scalars
//! quoted whenever a YAML 1.1 or 1.2 reader could take them for anything but
//! a string, comments before each document, and the same bytes for the same
//! tree every time.
//!
//! Why not a YAML crate: `serde_yaml` is unmaintained (archived in 2024),
//! none of the serde-based writers can place comments (every emitted
//! document names the policy line it came from), and the subset needed here
//! — maps, sequences, strings, integers, booleans — is a page of code whose
//! output the tests parse back with an independent YAML reader
//! (`yaml-rust2`) and compare with the tree.

use std::fmt::Write as _;

/// A YAML value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A string, quoted when needed.
    Str(String),
    /// An integer.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// A block sequence (`[]` when empty).
    Seq(Vec<Node>),
    /// A block mapping in this order (`{}` when empty).
    Map(Vec<(String, Node)>),
}

impl Node {
    /// A string node.
    pub fn str(s: impl Into<String>) -> Self {
        Self::Str(s.into())
    }

    /// An empty mapping, to be filled with [`Node::with`].
    pub fn map() -> Self {
        Self::Map(Vec::new())
    }

    /// This mapping with `key: value` appended (a no-op on other nodes).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<Node>) -> Self {
        if let Self::Map(entries) = &mut self {
            entries.push((key.to_owned(), value.into()));
        }
        self
    }

    /// This mapping with `key: value` appended when `value` is `Some`.
    #[must_use]
    pub fn with_opt(self, key: &str, value: Option<impl Into<Node>>) -> Self {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Self::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A JSON value: mappings keep their order in the text, integers stay
    /// integers. Used for the size of an object as the API server stores it.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.json_into(&mut out);
        out
    }

    fn json_into(&self, out: &mut String) {
        match self {
            Self::Str(s) => out.push_str(&json_string(s)),
            Self::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Seq(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.json_into(out);
                }
                out.push(']');
            }
            Self::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&json_string(k));
                    out.push(':');
                    v.json_into(out);
                }
                out.push('}');
            }
        }
    }

    /// The node for a JSON value (object keys in the order serde_json keeps
    /// them, which is sorted). Floats become strings; `null` becomes `""`
    /// (neither occurs in what egressc emits).
    pub fn from_json(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Self::str(""),
            serde_json::Value::Bool(b) => Self::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Self::Int(i),
                None => Self::Str(n.to_string()),
            },
            serde_json::Value::String(s) => Self::str(s.as_str()),
            serde_json::Value::Array(a) => Self::Seq(a.iter().map(Self::from_json).collect()),
            // Keys in sorted order, whatever order the map keeps (serde_json's
            // `preserve_order`, which cedar-policy turns on, keeps insertion
            // order): the same input gives the same bytes in every build.
            serde_json::Value::Object(o) => {
                let mut entries: Vec<(String, Self)> = o
                    .iter()
                    .map(|(k, v)| (k.clone(), Self::from_json(v)))
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Self::Map(entries)
            }
        }
    }
}

impl From<&str> for Node {
    fn from(s: &str) -> Self {
        Self::str(s)
    }
}

impl From<String> for Node {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<i64> for Node {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<u16> for Node {
    fn from(i: u16) -> Self {
        Self::Int(i64::from(i))
    }
}

impl From<bool> for Node {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<Vec<Node>> for Node {
    fn from(v: Vec<Node>) -> Self {
        Self::Seq(v)
    }
}

/// One document of a multi-document stream: comment lines, then the body.
/// A document without a body is all comments: YAML readers see an empty
/// document and `kubectl apply` skips it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Lines written as `# line` before the body.
    pub comments: Vec<String>,
    /// The resource.
    pub body: Option<Node>,
}

/// `s` as a JSON string (which is also a valid YAML double-quoted scalar).
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Whether `s` can be written as a plain scalar and read back as the same
/// string by YAML 1.1 and 1.2 readers: it starts with a letter or `/`, holds
/// only characters with no meaning in plain scalars, and is none of the
/// words some reader takes for a boolean or null.
fn plain_ok(s: &str) -> bool {
    const SPECIAL: [&str; 12] = [
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "nan", "inf", "~",
    ];
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/-+=@%".contains(c) || c == ':')
        && !s.contains(": ")
        && !s.ends_with(':')
        && !s.contains("://")
        && !SPECIAL.contains(&s.to_ascii_lowercase().as_str())
}

/// A scalar as written: plain when safe, else double-quoted.
fn scalar(s: &str) -> String {
    if plain_ok(s) {
        s.to_owned()
    } else {
        json_string(s)
    }
}

/// Whether a node is written on the same line as its key.
fn inline(n: &Node) -> bool {
    match n {
        Node::Seq(v) => v.is_empty(),
        Node::Map(m) => m.is_empty(),
        _ => true,
    }
}

fn inline_text(n: &Node) -> String {
    match n {
        Node::Str(s) => scalar(s),
        Node::Int(i) => i.to_string(),
        Node::Bool(b) => b.to_string(),
        Node::Seq(_) => "[]".to_owned(),
        Node::Map(_) => "{}".to_owned(),
    }
}

fn write_node(out: &mut String, n: &Node, indent: usize) {
    let pad = " ".repeat(indent);
    match n {
        Node::Map(entries) if !entries.is_empty() => {
            for (k, v) in entries {
                if inline(v) {
                    let _ = writeln!(out, "{pad}{}: {}", scalar(k), inline_text(v));
                } else {
                    let _ = writeln!(out, "{pad}{}:", scalar(k));
                    write_node(out, v, indent + 2);
                }
            }
        }
        Node::Seq(items) if !items.is_empty() => {
            for item in items {
                if inline(item) {
                    let _ = writeln!(out, "{pad}- {}", inline_text(item));
                } else {
                    // The item's first line goes after `- `; the rest is
                    // indented to line up with it.
                    let mut inner = String::new();
                    write_node(&mut inner, item, indent + 2);
                    let first = inner.get(indent + 2..).unwrap_or("");
                    let _ = write!(out, "{pad}- {first}");
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", inline_text(other));
        }
    }
}

/// The block text of a node (no document marker), e.g. to show it inside a
/// comment.
pub fn to_text(n: &Node) -> String {
    let mut out = String::new();
    write_node(&mut out, n, 0);
    out
}

/// Writes a stream: an optional header comment, then each document after a
/// `---` line. Comment lines holding a line break are split.
pub fn render(header: &[String], docs: &[Document]) -> String {
    let mut out = String::new();
    let comment = |out: &mut String, line: &str| {
        for l in line.split('\n') {
            if l.is_empty() {
                out.push_str("#\n");
            } else {
                let _ = writeln!(out, "# {l}");
            }
        }
    };
    for h in header {
        comment(&mut out, h);
    }
    for d in docs {
        out.push_str("---\n");
        for c in &d.comments {
            comment(&mut out, c);
        }
        if let Some(body) = &d.body {
            write_node(&mut out, body, 0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::{Yaml, YamlLoader};

    /// The tree as the independent reader sees it, as JSON.
    fn reread(y: &Yaml) -> serde_json::Value {
        match y {
            Yaml::String(s) => serde_json::Value::String(s.clone()),
            Yaml::Integer(i) => (*i).into(),
            Yaml::Boolean(b) => (*b).into(),
            Yaml::Array(a) => a.iter().map(reread).collect(),
            Yaml::Hash(h) => serde_json::Value::Object(
                h.iter()
                    .map(|(k, v)| (k.as_str().unwrap().to_owned(), reread(v)))
                    .collect(),
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn json(n: &Node) -> serde_json::Value {
        serde_json::from_str(&n.to_json()).unwrap()
    }

    #[test]
    fn round_trips_through_an_independent_reader() {
        let tricky = [
            "",
            "true",
            "No",
            "null",
            "~",
            "0755",
            "1e3",
            "-1",
            ".5",
            "*.example.com",
            "**",
            "a: b",
            "ends:",
            "#x",
            "x #y",
            "@at",
            "`bt",
            "quote\"s",
            "back\\slash",
            "line\nbreak",
            "tab\there",
            "ümlaut",
            "http://x",
            "oci://r/x:1",
            "a,b",
            "[x]",
            "{y}",
            "&anchor",
            "!tag",
            "|",
            ">",
            "%",
            "- dash",
            "?",
            "RUdS+/==",
            "y",
            "N",
            "1.5",
            "2001:db8::1",
            "10.0.0.0/8",
            "\u{1}ctl",
            " lead",
            "trail ",
        ];
        let mut m = Node::map();
        for (i, t) in tricky.iter().enumerate() {
            m = m
                .with(&format!("k{i}"), *t)
                .with(t, i64::try_from(i).unwrap());
        }
        let tree = Node::map()
            .with("apiVersion", "v1")
            .with("empty-map", Node::map())
            .with("empty-seq", Node::Seq(vec![]))
            .with("flag", true)
            .with(
                "items",
                vec![
                    Node::map().with("a", 1i64).with("b", vec![Node::str("x")]),
                    Node::Seq(vec![Node::str("nested"), Node::Int(-3)]),
                    Node::str("plain"),
                    Node::map().with("deep", Node::map().with("er", Node::map())),
                ],
            )
            .with("tricky", m);
        let text = render(
            &["header".into()],
            &[
                Document {
                    comments: vec!["from a.egress:3".into(), "two\nlines".into()],
                    body: Some(tree.clone()),
                },
                Document {
                    comments: vec!["only comments".into()],
                    body: None,
                },
            ],
        );
        let docs = YamlLoader::load_from_str(&text).unwrap();
        assert_eq!(docs.len(), 2, "{text}");
        assert_eq!(reread(&docs[0]), json(&tree), "{text}");
        assert!(docs[1].is_null());
        assert!(text.starts_with("# header\n---\n# from a.egress:3\n# two\n# lines\n"));
    }

    #[test]
    fn plain_where_it_reads_back_as_a_string() {
        assert_eq!(scalar("httpbin.org"), "httpbin.org");
        assert_eq!(scalar("istio.io/use-waypoint"), "istio.io/use-waypoint");
        assert_eq!(scalar("*.example.com"), "\"*.example.com\"");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("3s"), "\"3s\"");
        assert_eq!(
            to_text(&Node::map().with("l", vec![Node::map().with("a", 1i64).with("b", 2i64)])),
            "l:\n  - a: 1\n    b: 2\n"
        );
    }
}
