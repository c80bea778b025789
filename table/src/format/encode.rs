//! Encoding: a [`TableSpec`] to the bytes the module docs describe.

use core::fmt;
use core::net::IpAddr;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use super::{
    ACTION_FALLBACK, FLAG_SNI_HOST_MATCH, HEADER, MAGIC, NEGATED, TRAILER, VERSION_MAJOR,
    VERSION_MINOR,
};
use crate::crc::crc32c;
use crate::spec::{
    Action, Cidr, DestSpec, HeaderSpec, HostKind, LogSetting, Mode, PathSpec, PatternKind,
    PolicySpec, Protocol, RuleSpec, SourceSpec, TableSpec, Target, ValueOp,
};
use crate::table::u32_of;

/// Why a spec could not be encoded (the compiler's checks rule these out; the
/// encoder repeats the ones that would otherwise produce an unreadable table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError(pub String);

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EncodeError {}

/// Encodes a table. The output is deterministic for a given spec, and
/// [`decode`](fn@super::decode) accepts it exactly when the spec satisfies the
/// invariants in the module docs; `encode` checks this by decoding its own
/// output.
pub fn encode(spec: &TableSpec) -> Result<Vec<u8>, EncodeError> {
    let bytes = encode_unchecked(spec)?;
    super::decode(&bytes).map_err(|e| EncodeError(format!("the table would not load: {e}")))?;
    Ok(bytes)
}

fn encode_unchecked(spec: &TableSpec) -> Result<Vec<u8>, EncodeError> {
    let mut e = Encoder::default();
    for (pi, p) in spec.policies.iter().enumerate() {
        e.policy(u32_of(pi), p)?;
    }
    let body = e.body();
    let mut out = Vec::with_capacity(HEADER + body.len() + TRAILER);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
    out.extend_from_slice(&VERSION_MINOR.to_le_bytes());
    out.extend_from_slice(&u32_of(body.len()).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_v(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7F) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The string pool, each distinct string stored once.
#[derive(Default)]
struct Strings {
    pool: Vec<u8>,
    interned: HashMap<Vec<u8>, (u32, u32)>,
}

impl Strings {
    /// Writes the Str of `s` to `out`, adding `s` to the pool if new.
    fn put(&mut self, out: &mut Vec<u8>, s: &[u8]) {
        let (off, len) = match self.interned.get(s) {
            Some(&r) => r,
            None => {
                let r = (u32_of(self.pool.len()), u32_of(s.len()));
                self.pool.extend_from_slice(s);
                self.interned.insert(s.to_vec(), r);
                r
            }
        };
        put_v(out, off);
        put_v(out, len);
    }
}

/// A section whose records are stored once each: their bytes, how many
/// there are, and the index of each distinct record.
#[derive(Default)]
struct Unique {
    bytes: Vec<u8>,
    index: HashMap<Vec<u8>, u32>,
}

impl Unique {
    /// The index of the record `rec`, added if new.
    fn add(&mut self, rec: Vec<u8>) -> u32 {
        let next = u32_of(self.index.len());
        match self.index.entry(rec) {
            Entry::Occupied(o) => *o.get(),
            Entry::Vacant(v) => {
                self.bytes.extend_from_slice(v.key());
                v.insert(next);
                next
            }
        }
    }

    fn write_to(&self, body: &mut Vec<u8>) {
        put_v(body, u32_of(self.index.len()));
        body.extend_from_slice(&self.bytes);
    }
}

/// A section of records written in order.
#[derive(Default)]
struct Section {
    bytes: Vec<u8>,
    count: u32,
}

impl Section {
    fn write_to(&self, body: &mut Vec<u8>) {
        put_v(body, self.count);
        body.extend_from_slice(&self.bytes);
    }
}

/// The sections as they are written, policy by policy. Hosts and CIDRs are
/// collected as maps and written at the end, sorted.
#[derive(Default)]
struct Encoder<'s> {
    strings: Strings,
    policies: Section,
    paths: Unique,
    sources: Unique,
    headers: Unique,
    bodies: Unique,
    rules: Section,
    last_line: u32,
    dests: Section,
    dfas: Vec<&'s [u8]>,
    dfa_index: HashMap<&'s [u8], u32>,
    host_dests: BTreeMap<(HostKind, &'s str), Vec<u32>>,
    cidr_dests: BTreeMap<Cidr, Vec<u32>>,
}

impl<'s> Encoder<'s> {
    fn policy(&mut self, pi: u32, p: &'s PolicySpec) -> Result<(), EncodeError> {
        let first_rule = self.rules.count;
        for d in &p.destinations {
            self.dest(pi, d);
        }
        // Rule ids are implicit: `<policy>/<n>` in table order.
        for (n, r) in p
            .destinations
            .iter()
            .flat_map(|d| d.rules.iter())
            .enumerate()
        {
            let want = format!("{}/{}", p.name, n + 1);
            if r.id != want {
                return Err(EncodeError(format!(
                    "rule {} of policy {} has id {:?}; the table format numbers rules {want}",
                    n + 1,
                    p.name,
                    r.id
                )));
            }
        }
        let rec = &mut self.policies.bytes;
        self.strings.put(rec, p.name.as_bytes());
        rec.push(match p.mode {
            Mode::Enforce => 0,
            Mode::Audit => 1,
        });
        rec.push(action_byte(p.default));
        rec.push(match p.log {
            LogSetting::None => 0,
            LogSetting::Denied => 1,
            LogSetting::All => 2,
        });
        rec.push(if p.require_sni_host_match {
            FLAG_SNI_HOST_MATCH
        } else {
            0
        });
        put_v(rec, self.rules.count - first_rule);
        self.policies.count += 1;
        Ok(())
    }

    fn dest(&mut self, pi: u32, d: &'s DestSpec) {
        let di = self.dests.count;
        for r in &d.rules {
            self.rule(r);
        }
        let rec = &mut self.dests.bytes;
        put_v(rec, pi);
        rec.push(match d.protocol {
            Protocol::Http => 0,
            Protocol::Tls => 1,
            Protocol::Tcp => 2,
        });
        put_v(rec, u32_of(d.ports.len()));
        for r in &d.ports {
            rec.extend_from_slice(&r.lo.to_le_bytes());
            rec.extend_from_slice(&r.hi.to_le_bytes());
        }
        put_v(rec, u32_of(d.rules.len()));
        self.dests.count += 1;
        for t in &d.targets {
            match t {
                Target::Host(h) => self
                    .host_dests
                    .entry((h.kind, h.name.as_str()))
                    .or_default()
                    .push(di),
                Target::Cidr(c) => self.cidr_dests.entry(*c).or_default().push(di),
            }
        }
    }

    fn rule(&mut self, r: &'s RuleSpec) {
        let mut body = vec![if r.fallback {
            ACTION_FALLBACK
        } else {
            action_byte(r.action)
        }];
        body.extend_from_slice(&r.methods.0.to_le_bytes());
        let mut paths = Vec::with_capacity(r.paths.len() + r.except_paths.len());
        for p in &r.paths {
            paths.push(self.path(p, 0));
        }
        for p in &r.except_paths {
            paths.push(self.path(p, NEGATED));
        }
        let mut sources = Vec::with_capacity(r.sources.len() + r.except_sources.len());
        for s in &r.sources {
            sources.push(self.source(s, 0));
        }
        for s in &r.except_sources {
            sources.push(self.source(s, NEGATED));
        }
        let headers: Vec<u32> = r.headers.iter().map(|h| self.header(h)).collect();
        for list in [paths, sources, headers] {
            put_v(&mut body, u32_of(list.len()));
            for i in list {
                put_v(&mut body, i);
            }
        }
        let b = self.bodies.add(body);
        put_v(&mut self.rules.bytes, b);
        let delta = if r.line >= self.last_line {
            (r.line - self.last_line).saturating_mul(2)
        } else {
            (self.last_line - r.line).saturating_mul(2) - 1
        };
        put_v(&mut self.rules.bytes, delta);
        self.last_line = r.line;
        self.rules.count += 1;
    }

    fn path(&mut self, path: &'s PathSpec, negated: u8) -> u32 {
        let (kind, text, dfa) = match path {
            PathSpec::Exact(t) => (0u8, t.as_str(), None),
            PathSpec::Prefix(t) => (1, t.as_str(), None),
            PathSpec::Suffix(t) => (4, t.as_str(), None),
            PathSpec::Pattern { kind, source, dfa } => {
                let simple = *kind == PatternKind::Template
                    && crate::template::simple_parts(source.as_bytes()).is_some();
                let kind = if *kind == PatternKind::Template { 2 } else { 3 };
                if simple {
                    (kind, source.as_str(), None)
                } else {
                    let next = u32_of(self.dfas.len());
                    let idx = *self.dfa_index.entry(dfa.as_slice()).or_insert(next);
                    if idx == next {
                        self.dfas.push(dfa);
                    }
                    (kind, source.as_str(), Some(idx))
                }
            }
        };
        let mut rec = vec![kind | negated];
        self.strings.put(&mut rec, text.as_bytes());
        put_v(&mut rec, dfa.map_or(0, |i| i + 1));
        self.paths.add(rec)
    }

    fn source(&mut self, s: &SourceSpec, negated: u8) -> u32 {
        let (kind, a, b) = match s {
            SourceSpec::Principal(p) => (0u8, p.as_str(), ""),
            SourceSpec::Namespace(n) => (1, n.as_str(), ""),
            SourceSpec::ServiceAccount { namespace, name } => {
                (2, namespace.as_str(), name.as_str())
            }
            SourceSpec::AnyPrincipal => (3, "", ""),
        };
        let mut rec = vec![kind | negated];
        self.strings.put(&mut rec, a.as_bytes());
        self.strings.put(&mut rec, b.as_bytes());
        self.sources.add(rec)
    }

    fn header(&mut self, h: &HeaderSpec) -> u32 {
        let (kind, v): (u8, &[u8]) = match h.value_test() {
            None if matches!(h, HeaderSpec::Present(_)) => (0, b""),
            None => (1, b""),
            Some((op, v, negated)) => {
                let kind = match op {
                    ValueOp::Equals => 2,
                    ValueOp::Prefix => 3,
                    ValueOp::Suffix => 4,
                };
                (kind | if negated { NEGATED } else { 0 }, v)
            }
        };
        let mut rec = vec![kind];
        self.strings.put(&mut rec, h.name().as_bytes());
        self.strings.put(&mut rec, v);
        self.headers.add(rec)
    }

    /// The body: every section, in order.
    fn body(self) -> Vec<u8> {
        let mut hosts = Section::default();
        for ((kind, name), ds) in &self.host_dests {
            hosts.bytes.push(match kind {
                HostKind::Exact => 0,
                HostKind::OneLabel => 1,
                HostKind::AnyDepth => 2,
            });
            put_v(&mut hosts.bytes, u32_of(name.len()));
            hosts.bytes.extend_from_slice(name.as_bytes());
            dest_list(&mut hosts.bytes, ds);
            hosts.count += 1;
        }
        let mut cidrs = Section::default();
        for (c, ds) in &self.cidr_dests {
            match c.addr {
                IpAddr::V4(a) => {
                    cidrs.bytes.extend_from_slice(&[4, c.prefix]);
                    cidrs.bytes.extend_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    cidrs.bytes.extend_from_slice(&[6, c.prefix]);
                    cidrs.bytes.extend_from_slice(&a.octets());
                }
            }
            dest_list(&mut cidrs.bytes, ds);
            cidrs.count += 1;
        }

        let mut body = Vec::new();
        put_v(&mut body, u32_of(self.strings.pool.len()));
        body.extend_from_slice(&self.strings.pool);
        self.policies.write_to(&mut body);
        self.paths.write_to(&mut body);
        put_v(&mut body, u32_of(self.dfas.len()));
        for d in &self.dfas {
            put_v(&mut body, u32_of(d.len()));
            body.extend_from_slice(d);
        }
        self.sources.write_to(&mut body);
        self.headers.write_to(&mut body);
        self.bodies.write_to(&mut body);
        self.rules.write_to(&mut body);
        self.dests.write_to(&mut body);
        hosts.write_to(&mut body);
        cidrs.write_to(&mut body);
        body
    }
}

/// Appends a destination list: its length, then the indexes.
fn dest_list(out: &mut Vec<u8>, ds: &[u32]) {
    put_v(out, u32_of(ds.len()));
    for &d in ds {
        put_v(out, d);
    }
}

fn action_byte(a: Action) -> u8 {
    match a {
        Action::Allow => 0,
        Action::Deny => 1,
    }
}
