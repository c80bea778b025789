//! Property values: a tree of typed values keyed by path segments, looked
//! up as Envoy's `Context::getProperty` walks a path and serialized as its
//! `serializeValue` does (the table is in `host/README.md`).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use egress_abi::{Status, pairs};

/// A typed property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A CEL string (bytes as Envoy hands them over; normally UTF-8).
    String(Vec<u8>),
    /// CEL bytes: raw bytes.
    Bytes(Vec<u8>),
    /// int64: 8 bytes LE.
    Int(i64),
    /// uint64: 8 bytes LE.
    UInt(u64),
    /// bool: 1 byte.
    Bool(bool),
    /// double: 8 bytes LE.
    Double(f64),
    /// duration: int64 nanoseconds (saturating).
    Duration(Duration),
    /// timestamp: int64 nanoseconds since the Unix epoch (saturating).
    Timestamp(SystemTime),
    /// A map with string keys, in this order.
    Map(Vec<(String, Value)>),
    /// A list.
    List(Vec<Value>),
    /// A serialized protobuf message (e.g. `xds.node`), handed over raw.
    Proto(Vec<u8>),
}

impl Value {
    /// Appends the value's Envoy encoding to `out`.
    pub fn serialize(&self, out: &mut Vec<u8>) {
        match self {
            Self::String(b) | Self::Bytes(b) | Self::Proto(b) => out.extend_from_slice(b),
            Self::Int(i) => out.extend_from_slice(&i.to_le_bytes()),
            Self::UInt(u) => out.extend_from_slice(&u.to_le_bytes()),
            Self::Bool(b) => out.push(u8::from(*b)),
            Self::Double(d) => out.extend_from_slice(&d.to_le_bytes()),
            Self::Duration(d) => out.extend_from_slice(&nanos(*d).to_le_bytes()),
            Self::Timestamp(t) => out.extend_from_slice(&unix_nanos(*t).to_le_bytes()),
            Self::Map(entries) => {
                let values: Vec<Vec<u8>> = entries.iter().map(|(_, v)| v.to_bytes()).collect();
                pairs::encode(
                    entries
                        .iter()
                        .zip(values.iter())
                        .map(|((k, _), v)| (k.as_bytes(), v.as_slice())),
                    out,
                );
            }
            Self::List(items) => {
                let keys: Vec<Vec<u8>> = items.iter().map(Value::to_bytes).collect();
                pairs::encode(keys.iter().map(|k| (k.as_slice(), &b""[..])), out);
            }
        }
    }

    /// The value's Envoy encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.serialize(&mut out);
        out
    }

    /// Looks `seg` up inside a map or list value.
    fn child(&self, seg: &[u8]) -> Option<&Value> {
        match self {
            Self::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_bytes() == seg)
                .map(|(_, v)| v),
            Self::List(items) => {
                let idx: usize = std::str::from_utf8(seg).ok()?.parse().ok()?;
                items.get(idx)
            }
            _ => None,
        }
    }
}

pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

pub(crate) fn unix_nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => nanos(d),
        Err(e) => nanos(e.duration()).saturating_neg(),
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.as_bytes().to_vec())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::String(s.into_bytes())
    }
}
impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Self::Bytes(b.to_vec())
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Self {
        Self::UInt(u)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Self::Double(d)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Node {
    value: Option<Value>,
    children: BTreeMap<Vec<u8>, Node>,
}

impl Node {
    fn serialize(&self, out: &mut Vec<u8>) {
        if let Some(v) = &self.value {
            v.serialize(out);
            return;
        }
        let values: Vec<Vec<u8>> = self
            .children
            .values()
            .map(|n| {
                let mut b = Vec::new();
                n.serialize(&mut b);
                b
            })
            .collect();
        pairs::encode(
            self.children
                .keys()
                .zip(values.iter())
                .map(|(k, v)| (k.as_slice(), v.as_slice())),
            out,
        );
    }
}

/// A tree of properties keyed by path segments.
///
/// ```
/// use egress_host::{Properties, Value};
/// let mut p = Properties::new();
/// p.set(&["filter_state", "io.istio.peer_principal"], "spiffe://cluster.local/ns/a/sa/b");
/// p.set(&["destination", "port"], Value::Int(443));
/// assert_eq!(p.get(&["destination", "port"]), Some(&Value::Int(443)));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties {
    root: Node,
}

/// The outcome of looking a path up in a [`Properties`] tree.
pub(crate) enum Found {
    /// The path ends at (or inside) a value: its bytes were appended.
    Written,
    /// The tree has no opinion on this path.
    Absent,
    /// The path runs into a value that has no such child: NOT_FOUND.
    Missing,
}

impl Properties {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value at `path` (replacing any subtree there).
    pub fn set<V: Into<Value>>(&mut self, path: &[&str], value: V) -> &mut Self {
        let mut node = &mut self.root;
        for seg in path {
            node = node.children.entry(seg.as_bytes().to_vec()).or_default();
        }
        node.value = Some(value.into());
        node.children.clear();
        self
    }

    /// Builder form of [`Properties::set`].
    #[must_use]
    pub fn with<V: Into<Value>>(mut self, path: &[&str], value: V) -> Self {
        self.set(path, value);
        self
    }

    /// Removes the value or subtree at `path`; returns whether anything was there.
    pub fn remove(&mut self, path: &[&str]) -> bool {
        let Some((last, parents)) = path.split_last() else {
            let had = self.root != Node::default();
            self.root = Node::default();
            return had;
        };
        let mut node = &mut self.root;
        for seg in parents {
            match node.children.get_mut(seg.as_bytes()) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.children.remove(last.as_bytes()).is_some()
    }

    /// The value set at exactly `path`, if any.
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        let mut node = &self.root;
        for seg in path {
            node = node.children.get(seg.as_bytes())?;
        }
        node.value.as_ref()
    }

    /// Copies every value of `other` over this tree.
    pub fn merge(&mut self, other: &Properties) {
        fn walk(dst: &mut Node, src: &Node) {
            if let Some(v) = &src.value {
                dst.value = Some(v.clone());
                dst.children.clear();
            }
            for (k, child) in &src.children {
                walk(dst.children.entry(k.clone()).or_default(), child);
            }
        }
        walk(&mut self.root, &other.root);
    }

    /// Whether the tree is empty.
    pub fn is_empty(&self) -> bool {
        self.root == Node::default()
    }

    /// Looks up a guest path (segments already split), appending the
    /// value's encoding to `out`.
    pub(crate) fn lookup(&self, segs: &[&[u8]], out: &mut Vec<u8>) -> Found {
        let mut node = &self.root;
        for (i, seg) in segs.iter().enumerate() {
            if let Some(v) = &node.value {
                return Self::inside(v, segs.get(i..).unwrap_or_default(), out);
            }
            match node.children.get(*seg) {
                Some(n) => node = n,
                None => return Found::Absent,
            }
        }
        if node.value.is_none() && node.children.is_empty() {
            return Found::Absent;
        }
        node.serialize(out);
        Found::Written
    }

    fn inside(v: &Value, rest: &[&[u8]], out: &mut Vec<u8>) -> Found {
        let mut cur = v;
        for seg in rest {
            match cur.child(seg) {
                Some(c) => cur = c,
                None => return Found::Missing,
            }
        }
        cur.serialize(out);
        Found::Written
    }
}

/// The segments of a property path, without allocating for the usual
/// short paths.
pub(crate) struct Segs<'a> {
    buf: [&'a [u8]; 12],
    n: usize,
    spill: Vec<&'a [u8]>,
}

impl<'a> Segs<'a> {
    pub(crate) fn as_slice(&self) -> &[&'a [u8]] {
        if self.spill.is_empty() {
            self.buf.get(..self.n).unwrap_or_default()
        } else {
            &self.spill
        }
    }

    fn push(&mut self, seg: &'a [u8]) {
        if !self.spill.is_empty() {
            self.spill.push(seg);
        } else if let Some(slot) = self.buf.get_mut(self.n) {
            *slot = seg;
            self.n += 1;
        } else {
            self.spill = self.buf.to_vec();
            self.spill.push(seg);
        }
    }
}

/// Splits a guest property path on NUL, as Envoy does (`Context::getProperty`
/// walks `path.find('\0')`; an empty path has no segments and a trailing NUL
/// ends the path).
pub(crate) fn split_path(path: &[u8]) -> Segs<'_> {
    let mut segs = Segs {
        buf: [&[]; 12],
        n: 0,
        spill: Vec::new(),
    };
    let mut start = 0;
    while start < path.len() {
        let end = path
            .get(start..)
            .and_then(|r| r.iter().position(|b| *b == 0))
            .map_or(path.len(), |p| start + p);
        segs.push(path.get(start..end).unwrap_or_default());
        start = end + 1;
    }
    segs
}

/// Status for a lookup that found nothing.
pub(crate) fn not_found<T>() -> Result<T, Status> {
    Err(Status::NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pairs::decode;

    #[test]
    fn encodings() {
        assert_eq!(Value::Int(443).to_bytes(), 443i64.to_le_bytes());
        assert_eq!(Value::UInt(7).to_bytes(), 7u64.to_le_bytes());
        assert_eq!(Value::Bool(true).to_bytes(), vec![1]);
        assert_eq!(
            Value::Duration(Duration::from_millis(2)).to_bytes(),
            2_000_000i64.to_le_bytes()
        );
        let list = Value::List(vec!["a".into(), "bc".into()]).to_bytes();
        assert_eq!(
            decode(&list).unwrap(),
            vec![(b"a".to_vec(), vec![]), (b"bc".to_vec(), vec![])]
        );
        let map = Value::Map(vec![("k".into(), Value::Int(1))]).to_bytes();
        assert_eq!(
            decode(&map).unwrap(),
            vec![(b"k".to_vec(), 1i64.to_le_bytes().to_vec())]
        );
    }

    #[test]
    fn lookups() {
        let p = Properties::new().with(&["a", "b"], "x").with(
            &["m"],
            Value::Map(vec![("k".into(), Value::List(vec![Value::Int(5)]))]),
        );
        let get = |segs: &[&[u8]]| {
            let mut out = Vec::new();
            match p.lookup(segs, &mut out) {
                Found::Written => Some(Some(out)),
                Found::Missing => Some(None),
                Found::Absent => None,
            }
        };
        assert_eq!(get(&[b"a", b"b"]), Some(Some(b"x".to_vec())));
        assert_eq!(get(&[b"a", b"c"]), None);
        assert_eq!(
            get(&[b"m", b"k", b"0"]),
            Some(Some(5i64.to_le_bytes().to_vec()))
        );
        assert_eq!(get(&[b"m", b"k", b"1"]), Some(None));
        assert_eq!(get(&[b"m", b"zz"]), Some(None));
        // A subtree without a value serializes as a map of its children.
        let b = get(&[b"a"]).unwrap().unwrap();
        assert_eq!(decode(&b).unwrap(), vec![(b"b".to_vec(), b"x".to_vec())]);
    }

    #[test]
    fn split() {
        assert_eq!(split_path(b"a\0b").as_slice(), [&b"a"[..], b"b"]);
        assert_eq!(split_path(b"a\0b\0").as_slice(), [&b"a"[..], b"b"]);
        assert!(split_path(b"").as_slice().is_empty());
        assert_eq!(split_path(b"a\0\0b").as_slice(), [&b"a"[..], b"", b"b"]);
        let long = [b"x".as_slice(); 20].join(&0u8);
        assert_eq!(split_path(&long).as_slice().len(), 20);
    }
}
