//! YAML documents as plain trees ([`Node`]), with where each document
//! starts (for diagnostics), read with yaml-rust2.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;
use yaml_rust2::{Yaml, YamlLoader};

/// A YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string (or any other scalar, as written).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (keys as strings).
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Self::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A port-sized integer (also written as a string, as Istio allows).
    pub fn as_u16(&self) -> Option<u16> {
        match self {
            Self::Int(i) => u16::try_from(*i).ok(),
            Self::Str(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// A sequence's items.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match self {
            Self::Seq(v) => Some(v),
            _ => None,
        }
    }

    /// A mapping's entries.
    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match self {
            Self::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Whether this is `null` (an empty document).
    pub fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    fn from_yaml(y: &Yaml) -> Self {
        match y {
            Yaml::Real(s) | Yaml::String(s) => Self::Str(s.clone()),
            Yaml::Integer(i) => Self::Int(*i),
            Yaml::Boolean(b) => Self::Bool(*b),
            Yaml::Array(a) => Self::Seq(a.iter().map(Self::from_yaml).collect()),
            Yaml::Hash(h) => Self::Map(
                h.iter()
                    .map(|(k, v)| (scalar_text(k), Self::from_yaml(v)))
                    .collect(),
            ),
            Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Self::Null,
        }
    }
}

fn scalar_text(y: &Yaml) -> String {
    match y {
        Yaml::Real(s) | Yaml::String(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        _ => String::new(),
    }
}

/// Collects the loader's documents and where each starts.
struct Receiver {
    loader: YamlLoader,
    starts: Vec<usize>,
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if matches!(ev, Event::DocumentStart) {
            self.starts.push(mark.index());
        }
        self.loader.on_event(ev, mark);
    }
}

/// Byte offset of the `chars`-th character.
fn byte_offset(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(b, _)| b)
}

/// Every document of `text` with its start (a byte offset), or the error's
/// byte offset and message.
pub(crate) fn documents(text: &str) -> Result<Vec<(Node, usize)>, (usize, String)> {
    let mut r = Receiver {
        loader: YamlLoader::default(),
        starts: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut r, true) {
        return Err((byte_offset(text, e.marker().index()), e.info().to_owned()));
    }
    let docs = r.loader.documents();
    if docs.len() != r.starts.len() {
        return Err((
            0,
            "a document could not be loaded (an undefined alias?)".to_owned(),
        ));
    }
    Ok(docs
        .iter()
        .zip(&r.starts)
        .map(|(d, s)| (Node::from_yaml(d), byte_offset(text, *s)))
        .collect())
}
