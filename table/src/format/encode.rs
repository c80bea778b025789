//! Encoding: a [`TableSpec`] to the bytes the module docs describe.

use core::fmt;
use core::net::IpAddr;
use std::collections::{BTreeMap, HashMap};

use super::{
    ACTION_FALLBACK, FLAG_SNI_HOST_MATCH, HEADER, MAGIC, NEGATED, NO_DFA, TRAILER, VERSION_MAJOR,
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
    let bytes = encode_unchecked(spec);
    super::decode(&bytes).map_err(|e| EncodeError(format!("the table would not load: {e}")))?;
    Ok(bytes)
}

fn encode_unchecked(spec: &TableSpec) -> Vec<u8> {
    let mut e = Encoder::default();
    for (pi, p) in spec.policies.iter().enumerate() {
        e.policy(u32_of(pi), p);
    }
    let body = e.body();
    let mut out = Vec::with_capacity(HEADER + body.len() + TRAILER);
    out.extend_from_slice(&MAGIC);
    put_u16(&mut out, VERSION_MAJOR);
    put_u16(&mut out, spec.minor_version());
    put_u32(&mut out, u32_of(body.len()));
    out.extend_from_slice(&body);
    let crc = crc32c(&out);
    put_u32(&mut out, crc);
    out
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The string pool, each distinct string stored once.
#[derive(Default)]
struct Strings {
    pool: Vec<u8>,
    interned: HashMap<Vec<u8>, (u32, u32)>,
}

impl Strings {
    /// The Str (offset, length) of `s`, added to the pool if new.
    fn intern(&mut self, s: &[u8]) -> (u32, u32) {
        if let Some(&r) = self.interned.get(s) {
            return r;
        }
        let r = (u32_of(self.pool.len()), u32_of(s.len()));
        self.pool.extend_from_slice(s);
        self.interned.insert(s.to_vec(), r);
        r
    }
}

/// A section of fixed-size records: their bytes and how many there are.
#[derive(Default)]
struct Section {
    bytes: Vec<u8>,
    count: u32,
}

impl Section {
    fn u8(&mut self, v: u8) {
        self.bytes.push(v);
    }
    fn u16(&mut self, v: u16) {
        put_u16(&mut self.bytes, v);
    }
    fn u32(&mut self, v: u32) {
        put_u32(&mut self.bytes, v);
    }
    /// A Str or a Span.
    fn pair(&mut self, (a, b): (u32, u32)) {
        self.u32(a);
        self.u32(b);
    }
    /// Ends a record.
    fn done(&mut self) {
        self.count += 1;
    }
    /// Appends the section to `body`: its count, then its records.
    fn write_to(&self, body: &mut Vec<u8>) {
        put_u32(body, self.count);
        body.extend_from_slice(&self.bytes);
    }
}

/// The sections as they are written, policy by policy. Hosts, CIDRs and
/// dest refs are collected as maps and written at the end, sorted.
#[derive(Default)]
struct Encoder<'s> {
    strings: Strings,
    policies: Section,
    rules: Section,
    paths: Section,
    sources: Section,
    headers: Section,
    ports: Section,
    dests: Section,
    dfas: Vec<&'s [u8]>,
    dfa_index: HashMap<&'s [u8], u32>,
    host_dests: BTreeMap<(HostKind, &'s str), Vec<u32>>,
    cidr_dests: BTreeMap<Cidr, Vec<u32>>,
}

impl<'s> Encoder<'s> {
    fn policy(&mut self, pi: u32, p: &'s PolicySpec) {
        let name = self.strings.intern(p.name.as_bytes());
        let rec = &mut self.policies;
        rec.pair(name);
        rec.u8(match p.mode {
            Mode::Enforce => 0,
            Mode::Audit => 1,
        });
        rec.u8(action_byte(p.default));
        rec.u8(match p.log {
            LogSetting::None => 0,
            LogSetting::Denied => 1,
            LogSetting::All => 2,
        });
        rec.u8(if p.require_sni_host_match {
            FLAG_SNI_HOST_MATCH
        } else {
            0
        });
        rec.done();
        for d in &p.destinations {
            self.dest(pi, d);
        }
    }

    fn dest(&mut self, pi: u32, d: &'s DestSpec) {
        let di = self.dests.count;
        self.dests.u32(pi);
        self.dests.u8(match d.protocol {
            Protocol::Http => 0,
            Protocol::Tls => 1,
            Protocol::Tcp => 2,
        });
        let start = self.ports.count;
        for r in &d.ports {
            self.ports.u16(r.lo);
            self.ports.u16(r.hi);
            self.ports.done();
        }
        self.dests.pair((start, self.ports.count));
        let start = self.rules.count;
        for r in &d.rules {
            self.rule(pi, r);
        }
        self.dests.pair((start, self.rules.count));
        self.dests.done();
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

    fn rule(&mut self, pi: u32, r: &'s RuleSpec) {
        self.rules.u32(pi);
        self.rules.u8(if r.fallback {
            ACTION_FALLBACK
        } else {
            action_byte(r.action)
        });
        self.rules.u8(0);
        self.rules.u16(r.methods.0);
        let id = self.strings.intern(r.id.as_bytes());
        self.rules.pair(id);
        self.rules.u32(r.line);
        let start = self.paths.count;
        for path in &r.paths {
            self.path(path, 0);
        }
        for path in &r.except_paths {
            self.path(path, NEGATED);
        }
        self.rules.pair((start, self.paths.count));
        let start = self.sources.count;
        for s in &r.sources {
            self.source(s, 0);
        }
        for s in &r.except_sources {
            self.source(s, NEGATED);
        }
        self.rules.pair((start, self.sources.count));
        let start = self.headers.count;
        for h in &r.headers {
            self.header(h);
        }
        self.rules.pair((start, self.headers.count));
        self.rules.done();
    }

    fn path(&mut self, path: &'s PathSpec, negated: u8) {
        let (kind, text, dfa) = match path {
            PathSpec::Exact(t) => (0u8, t.as_str(), NO_DFA),
            PathSpec::Prefix(t) => (1, t.as_str(), NO_DFA),
            PathSpec::Suffix(t) => (4, t.as_str(), NO_DFA),
            PathSpec::Pattern { kind, source, dfa } => {
                let next = u32_of(self.dfas.len());
                let idx = *self.dfa_index.entry(dfa.as_slice()).or_insert(next);
                if idx == next {
                    self.dfas.push(dfa);
                }
                let kind = if *kind == PatternKind::Template { 2 } else { 3 };
                (kind, source.as_str(), idx)
            }
        };
        self.paths.u8(kind | negated);
        let t = self.strings.intern(text.as_bytes());
        self.paths.pair(t);
        self.paths.u32(dfa);
        self.paths.done();
    }

    fn source(&mut self, s: &SourceSpec, negated: u8) {
        let (kind, a, b) = match s {
            SourceSpec::Principal(p) => (0u8, p.as_str(), ""),
            SourceSpec::Namespace(n) => (1, n.as_str(), ""),
            SourceSpec::ServiceAccount { namespace, name } => {
                (2, namespace.as_str(), name.as_str())
            }
            SourceSpec::AnyPrincipal => (3, "", ""),
        };
        self.sources.u8(kind | negated);
        let a = self.strings.intern(a.as_bytes());
        let b = self.strings.intern(b.as_bytes());
        self.sources.pair(a);
        self.sources.pair(b);
        self.sources.done();
    }

    fn header(&mut self, h: &HeaderSpec) {
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
        self.headers.u8(kind);
        let n = self.strings.intern(h.name().as_bytes());
        let v = self.strings.intern(v);
        self.headers.pair(n);
        self.headers.pair(v);
        self.headers.done();
    }

    /// The body: every section, in order.
    fn body(mut self) -> Vec<u8> {
        let mut refs = Section::default();
        let mut hosts = Section::default();
        for ((kind, name), ds) in &self.host_dests {
            hosts.u8(match kind {
                HostKind::Exact => 0,
                HostKind::OneLabel => 1,
                HostKind::AnyDepth => 2,
            });
            let n = self.strings.intern(name.as_bytes());
            hosts.pair(n);
            hosts.pair(dest_refs(&mut refs, ds));
            hosts.done();
        }
        let mut cidrs = Section::default();
        for (c, ds) in &self.cidr_dests {
            let mut addr = [0u8; 16];
            let family = match c.addr {
                IpAddr::V4(a) => {
                    for (d, s) in addr.iter_mut().zip(a.octets()) {
                        *d = s;
                    }
                    4
                }
                IpAddr::V6(a) => {
                    addr = a.octets();
                    6
                }
            };
            cidrs.u8(family);
            cidrs.u8(c.prefix);
            cidrs.bytes.extend_from_slice(&addr);
            cidrs.pair(dest_refs(&mut refs, ds));
            cidrs.done();
        }

        let mut body = Vec::new();
        put_u32(&mut body, u32_of(self.strings.pool.len()));
        body.extend_from_slice(&self.strings.pool);
        self.policies.write_to(&mut body);
        self.rules.write_to(&mut body);
        self.paths.write_to(&mut body);
        put_u32(&mut body, u32_of(self.dfas.len()));
        for d in &self.dfas {
            put_u32(&mut body, u32_of(d.len()));
            body.extend_from_slice(d);
        }
        for s in [
            &self.sources,
            &self.headers,
            &self.ports,
            &self.dests,
            &hosts,
            &cidrs,
            &refs,
        ] {
            s.write_to(&mut body);
        }
        body
    }
}

/// Appends `ds` to the dest refs; returns their Span.
fn dest_refs(refs: &mut Section, ds: &[u32]) -> (u32, u32) {
    let start = refs.count;
    for &d in ds {
        refs.u32(d);
        refs.done();
    }
    (start, refs.count)
}

fn action_byte(a: Action) -> u8 {
    match a {
        Action::Allow => 0,
        Action::Deny => 1,
    }
}
