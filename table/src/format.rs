//! The binary table format, version 2.0.
//!
//! A table is one byte string: a 16-byte header, a body of twelve sections in
//! a fixed order, and a 4-byte trailer. All integers are little-endian; there
//! is no padding anywhere.
//!
//! ```text
//! offset  size  field
//! 0       8     magic: the ASCII bytes "EGRTABLE"
//! 8       2     major version (2). A decoder refuses any other major version.
//! 10      2     minor version (0). A decoder refuses a minor version newer than its own.
//! 12      4     body length B: the number of bytes between header and trailer
//! 16      B     body: the sections below, in this order, with nothing between them
//! 16+B    4     CRC-32C (Castagnoli, see `crc`) of bytes 0 .. 16+B
//! ```
//!
//! Two compound fields recur: a **Str** is `u32 offset, u32 length` into the
//! string pool (8 bytes), and a **Span** is `u32 start, u32 end` (8 bytes), a
//! half-open range of records of another section. Every section but the first
//! and the regex section is `u32 count` followed by `count` fixed-size records:
//!
//! ```text
//! section    record                                                        bytes
//! STRINGS    u32 byte length, then the bytes (the pool)                      —
//! POLICIES   name Str · mode u8 (0 enforce, 1 audit) · default u8             12
//!            (0 allow, 1 deny) · log u8 (0 none, 1 denied, 2 all) ·
//!            flags u8 (bit 0: require SNI/Host agreement; others zero)
//! RULES      policy u32 · action u8 · reserved u8 (0) · methods u16 ·         44
//!            id Str · line u32 · paths Span · sources Span · headers Span
//! PATHS      kind u8 (0 exact, 1 prefix, 2 template, 3 regex) · text Str ·     13
//!            dfa u32 (index into REGEXES; 0xFFFFFFFF for exact and prefix)
//! REGEXES    u32 count, then per DFA: u32 length and the DFA's bytes            —
//!            (regex-automata 0.4 dense DFA, little-endian serialization)
//! SOURCES    kind u8 (0 principal, 1 namespace, 2 service account) ·          17
//!            a Str · b Str (service account name; empty otherwise)
//! HEADERS    kind u8 (0 present, 1 absent, 2 equals) · name Str · value Str     17
//! PORTS      lo u16 · hi u16 (inclusive)                                        4
//! DESTS      policy u32 · protocol u8 (0 http, 1 tls, 2 tcp) · ports Span ·     21
//!            rules Span
//! HOSTS      kind u8 (0 exact, 1 one label `*.`, 2 any depth `**.`) ·          17
//!            name Str · dests Span (into DEST_REFS)
//! CIDRS      family u8 (4 or 6) · prefix u8 · address [16] (IPv4 in the        26
//!            first 4 bytes, the rest zero) · dests Span (into DEST_REFS)
//! DEST_REFS  u32 index into DESTS                                               4
//! ```
//!
//! Path texts (exact and prefix) are patterns as the author wrote them
//! (passing [`crate::path::pattern_problem`]); they, template literals and
//! regexes are compared against a request path in **match form**
//! ([`crate::path`]: escapes decoded but for `%2F`, `%5C`, `%25`). The
//! decoder computes the match forms once at load time.
//!
//! Versions: **2.0** (this one) compares paths in match form; the byte
//! layout is that of **1.0**, which compared paths as raw text. Because the
//! same bytes would match different requests, a 2.x reader refuses 1.x
//! tables (recompile them), and a 1.x reader refuses 2.x tables.
//! `table/tests/golden/` holds tables of each version and the test that
//! pins which of them decode.
//!
//! Methods are a bit set: bit *i* is `spec::METHODS[i]` (GET, HEAD, POST, PUT,
//! DELETE, CONNECT, OPTIONS, TRACE, PATCH); `0xFFFF` is "any method".
//!
//! The layout is canonical: the rules of destination *i* directly follow those
//! of destination *i − 1* (so `rules` spans tile RULES from 0 to its end), and
//! likewise for ports in DESTS, for paths, sources and headers in RULES, and
//! for dest refs in HOSTS and then CIDRS. Hosts are sorted by (kind, name) and
//! unique; CIDRs are sorted and unique.
//!
//! [`decode`] checks everything above plus the meaning of every value (host
//! names normalised, header names lower case, L7 conditions only on `http`
//! destinations, each DFA deserializable and anchored, …) before it returns a
//! [`Table`]. It never panics, whatever the input: every error names the byte
//! offset and the field it failed on.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;

use crate::crc::crc32c;
use crate::dfa::PathDfa;
use crate::hash::Index;
use crate::spec::*;
use crate::table::*;

/// The first eight bytes of every table.
pub const MAGIC: [u8; 8] = *b"EGRTABLE";
/// The major version this crate writes and reads.
pub const VERSION_MAJOR: u16 = 2;
/// The minor version this crate writes (and the newest it reads).
pub const VERSION_MINOR: u16 = 0;
const HEADER: usize = 16;
const TRAILER: usize = 4;
const NO_DFA: u32 = u32::MAX;
const FLAG_SNI_HOST_MATCH: u8 = 1;

// ---------------------------------------------------------------- encoding

#[derive(Default)]
struct Writer {
    out: Vec<u8>,
    pool: Vec<u8>,
    interned: HashMap<Vec<u8>, (u32, u32)>,
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Writer {
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

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_pair(out: &mut Vec<u8>, (a, b): (u32, u32)) {
    put_u32(out, a);
    put_u32(out, b);
}

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
/// [`decode`] accepts it exactly when the spec satisfies the invariants in
/// the module docs; `encode` checks this by decoding its own output.
pub fn encode(spec: &TableSpec) -> Result<Vec<u8>, EncodeError> {
    let bytes = encode_unchecked(spec);
    decode(&bytes).map_err(|e| EncodeError(format!("the table would not load: {e}")))?;
    Ok(bytes)
}

fn encode_unchecked(spec: &TableSpec) -> Vec<u8> {
    let mut w = Writer::default();
    let mut policies = Vec::new();
    let mut rules = Vec::new();
    let mut paths = Vec::new();
    let mut sources = Vec::new();
    let mut headers = Vec::new();
    let mut ports = Vec::new();
    let mut dests = Vec::new();
    let mut dfas: Vec<&[u8]> = Vec::new();
    let mut dfa_index: HashMap<&[u8], u32> = HashMap::new();
    let mut host_dests: std::collections::BTreeMap<(HostKind, &str), Vec<u32>> = Default::default();
    let mut cidr_dests: std::collections::BTreeMap<Cidr, Vec<u32>> = Default::default();
    let (mut n_rules, mut n_paths, mut n_sources, mut n_headers, mut n_ports) =
        (0u32, 0u32, 0u32, 0u32, 0u32);

    for (pi, p) in spec.policies.iter().enumerate() {
        let pi = u32_of(pi);
        let name = w.intern(p.name.as_bytes());
        put_pair(&mut policies, name);
        policies.push(match p.mode {
            Mode::Enforce => 0,
            Mode::Audit => 1,
        });
        policies.push(action_byte(p.default));
        policies.push(match p.log {
            LogSetting::None => 0,
            LogSetting::Denied => 1,
            LogSetting::All => 2,
        });
        policies.push(if p.require_sni_host_match {
            FLAG_SNI_HOST_MATCH
        } else {
            0
        });

        for d in &p.destinations {
            let di = u32_of(dests.len() / 21);
            put_u32(&mut dests, pi);
            dests.push(match d.protocol {
                Protocol::Http => 0,
                Protocol::Tls => 1,
                Protocol::Tcp => 2,
            });
            let ports_start = n_ports;
            for r in &d.ports {
                put_u16(&mut ports, r.lo);
                put_u16(&mut ports, r.hi);
                n_ports += 1;
            }
            put_pair(&mut dests, (ports_start, n_ports));
            let rules_start = n_rules;
            for r in &d.rules {
                put_u32(&mut rules, pi);
                rules.push(action_byte(r.action));
                rules.push(0);
                put_u16(&mut rules, r.methods.0);
                let id = w.intern(r.id.as_bytes());
                put_pair(&mut rules, id);
                put_u32(&mut rules, r.line);
                let start = n_paths;
                for path in &r.paths {
                    let (kind, text, dfa) = match path {
                        PathSpec::Exact(t) => (0u8, t.as_str(), NO_DFA),
                        PathSpec::Prefix(t) => (1, t.as_str(), NO_DFA),
                        PathSpec::Pattern { kind, source, dfa } => {
                            let next = u32_of(dfas.len());
                            let idx = *dfa_index.entry(dfa.as_slice()).or_insert(next);
                            if idx == next {
                                dfas.push(dfa);
                            }
                            (
                                if *kind == PatternKind::Template { 2 } else { 3 },
                                source.as_str(),
                                idx,
                            )
                        }
                    };
                    paths.push(kind);
                    let t = w.intern(text.as_bytes());
                    put_pair(&mut paths, t);
                    put_u32(&mut paths, dfa);
                    n_paths += 1;
                }
                put_pair(&mut rules, (start, n_paths));
                let start = n_sources;
                for s in &r.sources {
                    let (kind, a, b) = match s {
                        SourceSpec::Principal(p) => (0u8, p.as_str(), ""),
                        SourceSpec::Namespace(n) => (1, n.as_str(), ""),
                        SourceSpec::ServiceAccount { namespace, name } => {
                            (2, namespace.as_str(), name.as_str())
                        }
                    };
                    sources.push(kind);
                    let a = w.intern(a.as_bytes());
                    let b = w.intern(b.as_bytes());
                    put_pair(&mut sources, a);
                    put_pair(&mut sources, b);
                    n_sources += 1;
                }
                put_pair(&mut rules, (start, n_sources));
                let start = n_headers;
                for h in &r.headers {
                    let (kind, v): (u8, &[u8]) = match h {
                        HeaderSpec::Present(_) => (0, b""),
                        HeaderSpec::Absent(_) => (1, b""),
                        HeaderSpec::Equals(_, v) => (2, v),
                    };
                    headers.push(kind);
                    let n = w.intern(h.name().as_bytes());
                    let v = w.intern(v);
                    put_pair(&mut headers, n);
                    put_pair(&mut headers, v);
                    n_headers += 1;
                }
                put_pair(&mut rules, (start, n_headers));
                n_rules += 1;
            }
            put_pair(&mut dests, (rules_start, n_rules));
            for t in &d.targets {
                match t {
                    Target::Host(h) => host_dests
                        .entry((h.kind, h.name.as_str()))
                        .or_default()
                        .push(di),
                    Target::Cidr(c) => cidr_dests.entry(*c).or_default().push(di),
                }
            }
        }
    }

    let mut refs: Vec<u32> = Vec::new();
    let mut hosts = Vec::new();
    for ((kind, name), ds) in &host_dests {
        hosts.push(match kind {
            HostKind::Exact => 0,
            HostKind::OneLabel => 1,
            HostKind::AnyDepth => 2,
        });
        let n = w.intern(name.as_bytes());
        put_pair(&mut hosts, n);
        let start = u32_of(refs.len());
        refs.extend(ds);
        put_pair(&mut hosts, (start, u32_of(refs.len())));
    }
    let mut cidrs = Vec::new();
    for (c, ds) in &cidr_dests {
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
        cidrs.push(family);
        cidrs.push(c.prefix);
        cidrs.extend_from_slice(&addr);
        let start = u32_of(refs.len());
        refs.extend(ds);
        put_pair(&mut cidrs, (start, u32_of(refs.len())));
    }

    let mut body = Vec::new();
    put_u32(&mut body, u32_of(w.pool.len()));
    body.extend_from_slice(&w.pool);
    let section = |body: &mut Vec<u8>, count: usize, recs: &[u8]| {
        put_u32(body, u32_of(count));
        body.extend_from_slice(recs);
    };
    section(&mut body, spec.policies.len(), &policies);
    section(&mut body, n_rules as usize, &rules);
    section(&mut body, n_paths as usize, &paths);
    put_u32(&mut body, u32_of(dfas.len()));
    for d in &dfas {
        put_u32(&mut body, u32_of(d.len()));
        body.extend_from_slice(d);
    }
    section(&mut body, n_sources as usize, &sources);
    section(&mut body, n_headers as usize, &headers);
    section(&mut body, n_ports as usize, &ports);
    section(&mut body, dests.len() / 21, &dests);
    section(&mut body, host_dests.len(), &hosts);
    section(&mut body, cidr_dests.len(), &cidrs);
    let mut refs_bytes = Vec::with_capacity(refs.len() * 4);
    for r in &refs {
        put_u32(&mut refs_bytes, *r);
    }
    section(&mut body, refs.len(), &refs_bytes);

    let mut out = Vec::with_capacity(HEADER + body.len() + TRAILER);
    out.extend_from_slice(&MAGIC);
    put_u16(&mut out, VERSION_MAJOR);
    put_u16(&mut out, VERSION_MINOR);
    put_u32(&mut out, u32_of(body.len()));
    out.extend_from_slice(&body);
    let crc = crc32c(&out);
    put_u32(&mut out, crc);
    w.out = out;
    w.out
}

fn action_byte(a: Action) -> u8 {
    match a {
        Action::Allow => 0,
        Action::Deny => 1,
    }
}

// ---------------------------------------------------------------- decoding

/// Why a byte string is not a valid table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset of the field that failed.
    pub offset: usize,
    /// The field, e.g. `rules[3].policy`.
    pub field: String,
    /// What was wrong with it.
    pub problem: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid table at byte {} ({}): {}",
            self.offset, self.field, self.problem
        )
    }
}

impl std::error::Error for DecodeError {}

/// Names a field in error messages. Copy-able and formatted only when an
/// error is reported, so decoding a valid table formats nothing.
#[derive(Clone, Copy)]
struct Field<'a> {
    section: &'a str,
    index: Option<usize>,
    name: &'a str,
}

impl<'a> Field<'a> {
    fn at(section: &'a str, index: usize, name: &'a str) -> Self {
        Self {
            section,
            index: Some(index),
            name,
        }
    }
}

impl<'a> From<&'a str> for Field<'a> {
    fn from(section: &'a str) -> Self {
        Self {
            section,
            index: None,
            name: "",
        }
    }
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.section)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        if !self.name.is_empty() {
            write!(f, ".{}", self.name)?;
        }
        Ok(())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

type R<T> = Result<T, DecodeError>;

fn err<T>(offset: usize, field: impl fmt::Display, problem: impl Into<String>) -> R<T> {
    Err(DecodeError {
        offset,
        field: field.to_string(),
        problem: problem.into(),
    })
}

impl<'a> Reader<'a> {
    fn take<'f>(&mut self, n: usize, field: impl Into<Field<'f>> + Copy) -> R<&'a [u8]> {
        let field: Field<'f> = field.into();
        let end = self.pos.checked_add(n);
        match end.and_then(|e| self.bytes.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => err(
                self.pos,
                field,
                format!(
                    "needs {n} bytes, {} left",
                    self.bytes.len().saturating_sub(self.pos)
                ),
            ),
        }
    }
    fn u8<'f>(&mut self, field: impl Into<Field<'f>> + Copy) -> R<u8> {
        Ok(self.take(1, field)?.first().copied().unwrap_or(0))
    }
    fn u16<'f>(&mut self, field: impl Into<Field<'f>> + Copy) -> R<u16> {
        let mut a = [0u8; 2];
        a.copy_from_slice(self.take(2, field)?);
        Ok(u16::from_le_bytes(a))
    }
    fn u32<'f>(&mut self, field: impl Into<Field<'f>> + Copy) -> R<u32> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4, field)?);
        Ok(u32::from_le_bytes(a))
    }
    /// A record count, checked against the bytes left so that no allocation
    /// can exceed the input's size.
    fn count<'f>(&mut self, record: usize, field: impl Into<Field<'f>> + Copy) -> R<usize> {
        let field: Field<'f> = field.into();
        let at = self.pos;
        let n = self.u32(field)? as usize;
        let left = self.bytes.len().saturating_sub(self.pos);
        if n.checked_mul(record).is_none_or(|need| need > left) {
            return err(
                at,
                field,
                format!("count {n} of {record}-byte records exceeds the {left} bytes left"),
            );
        }
        Ok(n)
    }
}

struct Ctx<'a> {
    pool: &'a [u8],
}

impl Ctx<'_> {
    fn str<'f>(&self, r: &mut Reader<'_>, field: impl Into<Field<'f>> + Copy) -> R<Str> {
        let field: Field<'f> = field.into();
        let at = r.pos;
        let off = r.u32(field)?;
        let len = r.u32(field)?;
        let end = u64::from(off) + u64::from(len);
        if end > self.pool.len() as u64 {
            return err(
                at,
                field,
                format!(
                    "string {off}+{len} outside the {}-byte pool",
                    self.pool.len()
                ),
            );
        }
        Ok(Str { off, len })
    }
    fn bytes(&self, s: Str) -> &[u8] {
        self.pool
            .get(s.off as usize..(s.off as usize).saturating_add(s.len as usize))
            .unwrap_or(&[])
    }
}

fn span<'f>(
    r: &mut Reader<'_>,
    field: impl Into<Field<'f>> + Copy,
    next: &mut u32,
    limit: usize,
) -> R<Span> {
    let field: Field<'f> = field.into();
    let at = r.pos;
    let start = r.u32(field)?;
    let end = r.u32(field)?;
    if start != *next {
        return err(
            at,
            field,
            format!("span starts at {start}, expected {next} (spans must tile their section)"),
        );
    }
    if end < start || end as usize > limit {
        return err(
            at,
            field,
            format!("span {start}..{end} is not within 0..{limit}"),
        );
    }
    *next = end;
    Ok(Span { start, end })
}

fn tiled(next: u32, len: usize, at: usize, field: &str) -> R<()> {
    if next as usize != len {
        return err(at, field, format!("spans cover {next} of {len} records"));
    }
    Ok(())
}

fn action_of<'f>(b: u8, at: usize, field: impl Into<Field<'f>> + Copy) -> R<Action> {
    let field: Field<'f> = field.into();
    match b {
        0 => Ok(Action::Allow),
        1 => Ok(Action::Deny),
        _ => err(at, field, format!("unknown action {b}")),
    }
}

pub use crate::host::is_normalized_host;

/// Whether `s` is a valid policy name or rule id: 1–128 bytes of ASCII
/// letters, digits, `_`, `-`, `.`, `/` (ids) or without `/` (names).
pub fn is_valid_name(s: &[u8], allow_slash: bool) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || b == b'_'
                || b == b'-'
                || b == b'.'
                || (allow_slash && b == b'/')
        })
}

/// Whether `s` is a lower-case HTTP header name (an RFC 9110 token).
pub fn is_header_name(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b"!#$%&'*+-.^_`|~".contains(&b)
                || (b == b':' && s.first() == Some(&b':'))
        })
}

/// Whether `s` can be a principal or namespace/service-account string in a
/// table: visible ASCII, no `spiffe://` prefix.
pub fn is_principal_text(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.iter().all(|&b| b.is_ascii_graphic())
        && !s.starts_with(b"spiffe://")
}

/// Decodes and validates a table. Never panics; see the module docs for what
/// is checked.
pub fn decode(bytes: &[u8]) -> Result<Table, DecodeError> {
    if bytes.len() < HEADER + TRAILER {
        return err(
            0,
            "header",
            format!(
                "{} bytes is too short to be a table (at least {})",
                bytes.len(),
                HEADER + TRAILER
            ),
        );
    }
    let mut r = Reader { bytes, pos: 0 };
    if r.take(8, "magic")? != MAGIC {
        return err(
            0,
            "magic",
            "not an egress table (the first 8 bytes are not \"EGRTABLE\")",
        );
    }
    let major = r.u16("version.major")?;
    let minor = r.u16("version.minor")?;
    if major < VERSION_MAJOR {
        return err(
            8,
            "version",
            format!(
                "table format {major}.{minor} was written by an older egressc; this reader understands {VERSION_MAJOR}.0 to {VERSION_MAJOR}.{VERSION_MINOR} (since 2.0 paths are compared with escapes decoded, so older tables would mean something else): recompile the policy with this egressc"
            ),
        );
    }
    if major != VERSION_MAJOR || minor > VERSION_MINOR {
        return err(
            8,
            "version",
            format!(
                "table format {major}.{minor} was written by a newer egressc; this reader understands {VERSION_MAJOR}.0 to {VERSION_MAJOR}.{VERSION_MINOR}: compile the policy with a matching egressc, or deploy a matching filter"
            ),
        );
    }
    let body_len = r.u32("body_length")? as usize;
    if body_len != bytes.len() - HEADER - TRAILER {
        return err(
            12,
            "body_length",
            format!(
                "says {body_len} bytes but the table has {}",
                bytes.len() - HEADER - TRAILER
            ),
        );
    }
    let (content, trailer) = bytes.split_at(HEADER + body_len);
    let mut crc_bytes = [0u8; 4];
    crc_bytes.copy_from_slice(trailer);
    let stored = u32::from_le_bytes(crc_bytes);
    let actual = crc32c(content);
    if stored != actual {
        return err(
            HEADER + body_len,
            "checksum",
            format!("stored CRC-32C {stored:08x}, computed {actual:08x}: the table is corrupted"),
        );
    }
    // From here on the reader must not run into the trailer.
    let mut r = Reader {
        bytes: content,
        pos: HEADER,
    };

    let pool_len = r.count(1, "strings.length")?;
    let pool = r.take(pool_len, "strings")?;
    let cx = Ctx { pool };

    // POLICIES
    let n = r.count(12, "policies.count")?;
    let mut policies = Vec::with_capacity(n);
    let mut names = std::collections::HashSet::new();
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("policies", i, x);
        let name = cx.str(&mut r, f("name"))?;
        if !is_valid_name(cx.bytes(name), false) {
            return err(at, f("name"), "not a valid policy name");
        }
        if !names.insert(cx.bytes(name)) {
            return err(at, f("name"), "duplicate policy name");
        }
        let at = r.pos;
        let mode = match r.u8(f("mode"))? {
            0 => Mode::Enforce,
            1 => Mode::Audit,
            m => return err(at, f("mode"), format!("unknown mode {m}")),
        };
        let default = action_of(r.u8(f("default"))?, at + 1, f("default"))?;
        let log = match r.u8(f("log"))? {
            0 => LogSetting::None,
            1 => LogSetting::Denied,
            2 => LogSetting::All,
            l => return err(at + 2, f("log"), format!("unknown log setting {l}")),
        };
        let flags = r.u8(f("flags"))?;
        if flags & !FLAG_SNI_HOST_MATCH != 0 {
            return err(
                at + 3,
                f("flags"),
                format!("unknown flag bits {flags:#04x}"),
            );
        }
        policies.push(Policy {
            name,
            mode,
            default,
            log,
            sni_host_match: flags & FLAG_SNI_HOST_MATCH != 0,
        });
    }

    // RULES (spans checked after the sections they point into are read)
    let n = r.count(44, "rules.count")?;
    let mut raw_rules = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("rules", i, x);
        let policy = r.u32(f("policy"))?;
        if policy as usize >= policies.len() {
            return err(
                at,
                f("policy"),
                format!("policy {policy} out of range ({} policies)", policies.len()),
            );
        }
        let action = action_of(r.u8(f("action"))?, at + 4, f("action"))?;
        if r.u8(f("reserved"))? != 0 {
            return err(at + 5, f("reserved"), "must be zero");
        }
        let methods = r.u16(f("methods"))?;
        if methods != MethodSet::ANY.0 && (methods == 0 || methods & !MethodSet::STANDARD_BITS != 0)
        {
            return err(
                at + 6,
                f("methods"),
                format!("invalid method set {methods:#06x}"),
            );
        }
        let id = cx.str(&mut r, f("id"))?;
        if !is_valid_name(cx.bytes(id), true) {
            return err(at + 8, f("id"), "not a valid rule id");
        }
        let line = r.u32(f("line"))?;
        let spans_at = r.pos;
        r.take(24, f("spans"))?;
        raw_rules.push((policy, action, methods, id, line, spans_at));
    }

    // PATHS
    let n = r.count(13, "paths.count")?;
    let mut raw_paths = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("paths", i, x);
        let kind = r.u8(f("kind"))?;
        let text = cx.str(&mut r, f("text"))?;
        let dfa = r.u32(f("dfa"))?;
        let t = cx.bytes(text);
        if t.is_empty() || core::str::from_utf8(t).is_err() {
            return err(at + 1, f("text"), "empty or not UTF-8");
        }
        match kind {
            0 | 1 => {
                if dfa != NO_DFA {
                    return err(at + 9, f("dfa"), "exact and prefix paths take no DFA");
                }
                if let Err(p) = crate::path::pattern_problem(t) {
                    return err(
                        at + 1,
                        f("text"),
                        format!(
                            "an exact or prefix path that can never match ({})",
                            p.as_str()
                        ),
                    );
                }
            }
            2 | 3 => {}
            k => return err(at, f("kind"), format!("unknown path kind {k}")),
        }
        raw_paths.push((kind, text, dfa, at));
    }

    // REGEXES
    let n = r.count(4, "regexes.count")?;
    let mut dfas = Vec::with_capacity(n);
    for i in 0..n {
        let len = r.count(1, Field::at("regexes", i, "length"))?;
        let at = r.pos;
        let b = r.take(len, Field::at("regexes", i, ""))?;
        match PathDfa::from_bytes(b) {
            Ok(d) => dfas.push(d),
            Err(e) => {
                return err(
                    at,
                    format!("regexes[{i}]"),
                    format!("DFA does not load: {}", e.0),
                );
            }
        }
    }
    let mut paths = Vec::with_capacity(raw_paths.len());
    // The match forms of exact and prefix paths, computed once here.
    let mut forms: Vec<u8> = Vec::new();
    let mut form_of = |text: Str| {
        let off = u32_of(forms.len());
        forms.extend(crate::path::MatchForm::new(cx.bytes(text)));
        Str {
            off,
            len: u32_of(forms.len()).saturating_sub(off),
        }
    };
    for (i, (kind, text, dfa, at)) in raw_paths.into_iter().enumerate() {
        paths.push(match kind {
            0 => Path::Exact {
                text,
                form: form_of(text),
            },
            1 => Path::Prefix {
                text,
                form: form_of(text),
            },
            _ => {
                if dfa as usize >= dfas.len() {
                    return err(
                        at + 9,
                        format!("paths[{i}].dfa"),
                        format!("DFA {dfa} out of range ({} DFAs)", dfas.len()),
                    );
                }
                Path::Dfa {
                    kind: if kind == 2 {
                        PatternKind::Template
                    } else {
                        PatternKind::Regex
                    },
                    text,
                    dfa,
                }
            }
        });
    }

    // SOURCES
    let n = r.count(17, "sources.count")?;
    let mut sources = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("sources", i, x);
        let kind = r.u8(f("kind"))?;
        let a = cx.str(&mut r, f("a"))?;
        let b = cx.str(&mut r, f("b"))?;
        if !is_principal_text(cx.bytes(a)) {
            return err(
                at + 1,
                f("a"),
                "not a valid principal, namespace or service account",
            );
        }
        let b_ok = if kind == 2 {
            is_principal_text(cx.bytes(b))
        } else {
            b.len == 0
        };
        if !b_ok {
            return err(
                at + 9,
                f("b"),
                "service account name missing, or present on another kind",
            );
        }
        sources.push(match kind {
            0 => Source::Principal(a),
            1 => Source::Namespace(a),
            2 => Source::ServiceAccount(a, b),
            k => return err(at, f("kind"), format!("unknown source kind {k}")),
        });
    }

    // HEADERS
    let n = r.count(17, "headers.count")?;
    let mut headers = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("headers", i, x);
        let kind = r.u8(f("kind"))?;
        let name = cx.str(&mut r, f("name"))?;
        let value = cx.str(&mut r, f("value"))?;
        if !is_header_name(cx.bytes(name)) {
            return err(at + 1, f("name"), "not a lower-case header name");
        }
        if kind != 2 && value.len != 0 {
            return err(at + 9, f("value"), "only an equals condition has a value");
        }
        headers.push(match kind {
            0 => Header::Present(name),
            1 => Header::Absent(name),
            2 => Header::Equals(name, value),
            k => return err(at, f("kind"), format!("unknown header condition kind {k}")),
        });
    }

    // Now the rule spans can be checked.
    let mut rules = Vec::with_capacity(raw_rules.len());
    let (mut np, mut ns, mut nh) = (0u32, 0u32, 0u32);
    for (i, (policy, action, methods, id, line, at)) in raw_rules.into_iter().enumerate() {
        let mut rr = Reader {
            bytes: content,
            pos: at,
        };
        let f = |x: &'static str| Field::at("rules", i, x);
        let p = span(&mut rr, f("paths"), &mut np, paths.len())?;
        let s = span(&mut rr, f("sources"), &mut ns, sources.len())?;
        let h = span(&mut rr, f("headers"), &mut nh, headers.len())?;
        rules.push(Rule {
            policy,
            action,
            methods,
            id,
            line,
            paths: p,
            sources: s,
            headers: h,
        });
    }
    tiled(np, paths.len(), r.pos, "rules.paths")?;
    tiled(ns, sources.len(), r.pos, "rules.sources")?;
    tiled(nh, headers.len(), r.pos, "rules.headers")?;

    // PORTS
    let n = r.count(4, "ports.count")?;
    let mut ports = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let lo = r.u16("ports.lo")?;
        let hi = r.u16("ports.hi")?;
        if lo == 0 || hi < lo {
            return err(
                at,
                format!("ports[{i}]"),
                format!("invalid port range {lo}-{hi}"),
            );
        }
        ports.push(PortRange { lo, hi });
    }

    // DESTS
    let n = r.count(21, "dests.count")?;
    let mut dests = Vec::with_capacity(n);
    let (mut nport, mut nrule) = (0u32, 0u32);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("dests", i, x);
        let policy = r.u32(f("policy"))?;
        if policy as usize >= policies.len() {
            return err(at, f("policy"), format!("policy {policy} out of range"));
        }
        let protocol = match r.u8(f("protocol"))? {
            0 => Protocol::Http,
            1 => Protocol::Tls,
            2 => Protocol::Tcp,
            p => return err(at + 4, f("protocol"), format!("unknown protocol {p}")),
        };
        let ps = span(&mut r, f("ports"), &mut nport, ports.len())?;
        if ps.len() == 0 {
            return err(at + 5, f("ports"), "a destination needs at least one port");
        }
        let rs = span(&mut r, f("rules"), &mut nrule, rules.len())?;
        for (k, rule) in rs.of(&rules).iter().enumerate() {
            let field = format!("rules[{}]", rs.start as usize + k);
            if rule.policy != policy {
                return err(at, field, "belongs to another policy than its destination");
            }
            if protocol != Protocol::Http
                && (rule.methods != MethodSet::ANY.0
                    || rule.paths.len() > 0
                    || rule.headers.len() > 0)
            {
                return err(
                    at,
                    field,
                    format!(
                        "method, path or header condition on a {} destination",
                        protocol.as_str()
                    ),
                );
            }
        }
        dests.push(Dest {
            policy,
            protocol,
            ports: ps,
            rules: rs,
        });
    }
    tiled(nport, ports.len(), r.pos, "dests.ports")?;
    tiled(nrule, rules.len(), r.pos, "dests.rules")?;

    // HOSTS and CIDRS share DEST_REFS, which comes last; read the records first.
    let n = r.count(17, "hosts.count")?;
    let mut raw_hosts = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("hosts", i, x);
        let kind = match r.u8(f("kind"))? {
            0 => HostKind::Exact,
            1 => HostKind::OneLabel,
            2 => HostKind::AnyDepth,
            k => return err(at, f("kind"), format!("unknown host kind {k}")),
        };
        let name = cx.str(&mut r, f("name"))?;
        let nb = cx.bytes(name);
        let name_ok = if nb.is_empty() {
            kind != HostKind::Exact
        } else {
            is_normalized_host(nb)
        };
        if !name_ok {
            return err(at + 1, f("name"), "not a normalised host name");
        }
        let dests_at = r.pos;
        r.take(8, f("dests"))?;
        raw_hosts.push((kind, name, dests_at));
    }
    for pair in raw_hosts.windows(2) {
        if let [(k1, n1, _), (k2, n2, at)] = pair
            && (k1, cx.bytes(*n1)) >= (k2, cx.bytes(*n2))
        {
            return err(
                at.saturating_sub(9),
                "hosts",
                "hosts are not sorted and unique",
            );
        }
    }
    let n = r.count(26, "cidrs.count")?;
    let mut raw_cidrs = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("cidrs", i, x);
        let family = r.u8(f("family"))?;
        let prefix = r.u8(f("prefix"))?;
        let mut addr = [0u8; 16];
        addr.copy_from_slice(r.take(16, f("address"))?);
        let ip = match family {
            4 => {
                if prefix > 32 || addr.iter().skip(4).any(|&b| b != 0) {
                    return err(at, format!("cidrs[{i}]"), "invalid IPv4 network");
                }
                IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
            }
            6 => {
                if prefix > 128 {
                    return err(at, format!("cidrs[{i}]"), "invalid IPv6 prefix");
                }
                IpAddr::V6(Ipv6Addr::from(addr))
            }
            x => return err(at, f("family"), format!("unknown address family {x}")),
        };
        let cidr = Cidr { addr: ip, prefix };
        if !cidr.contains(ip) || host_bits_set(&cidr) {
            return err(at, format!("cidrs[{i}]"), "host bits set below the prefix");
        }
        let dests_at = r.pos;
        r.take(8, f("dests"))?;
        raw_cidrs.push((cidr, dests_at));
    }
    for pair in raw_cidrs.windows(2) {
        if let [(c1, _), (c2, at)] = pair
            && c1 >= c2
        {
            return err(
                at.saturating_sub(18),
                "cidrs",
                "CIDRs are not sorted and unique",
            );
        }
    }
    let n = r.count(4, "dest_refs.count")?;
    let mut dest_refs = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let d = r.u32("dest_refs")?;
        if d as usize >= dests.len() {
            return err(
                at,
                format!("dest_refs[{i}]"),
                format!("destination {d} out of range"),
            );
        }
        dest_refs.push(d);
    }
    if r.pos != content.len() {
        return err(
            r.pos,
            "body",
            format!(
                "{} unexpected bytes after the last section",
                content.len() - r.pos
            ),
        );
    }

    let mut next = 0u32;
    let mut targets_per_dest = vec![0u32; dests.len()];
    // Reads the dests span of a host or CIDR record at `at` (they tile DEST_REFS).
    let mut dest_span = |at: usize, section: &'static str, i: usize, cidr: bool| -> R<Span> {
        let mut rr = Reader {
            bytes: content,
            pos: at,
        };
        let ds = span(
            &mut rr,
            Field::at(section, i, "dests"),
            &mut next,
            dest_refs.len(),
        )?;
        let field = Field::at(section, i, "");
        check_targets(
            ds,
            &dest_refs,
            &dests,
            &mut targets_per_dest,
            at,
            field,
            cidr,
        )?;
        Ok(ds)
    };
    let mut hosts = Vec::with_capacity(raw_hosts.len());
    for (i, (kind, name, at)) in raw_hosts.into_iter().enumerate() {
        let dests = dest_span(at, "hosts", i, false)?;
        hosts.push(Host { kind, name, dests });
    }
    let mut cidrs = Vec::with_capacity(raw_cidrs.len());
    for (i, (cidr, at)) in raw_cidrs.into_iter().enumerate() {
        let dests = dest_span(at, "cidrs", i, true)?;
        cidrs.push(CidrEntry { cidr, dests });
    }
    tiled(next, dest_refs.len(), r.pos, "dest_refs")?;
    if let Some(i) = targets_per_dest.iter().position(|&c| c == 0) {
        return err(
            HEADER,
            format!("dests[{i}]"),
            "destination has no host or CIDR",
        );
    }

    build(
        actual,
        (major, minor),
        pool.to_vec().into_boxed_slice(),
        forms.into_boxed_slice(),
        policies,
        rules,
        paths,
        dfas,
        sources,
        headers,
        ports,
        dests,
        hosts,
        cidrs,
        dest_refs,
    )
}

fn host_bits_set(c: &Cidr) -> bool {
    match c.addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(c.prefix)).unwrap_or(0);
            u32::from(a) & !mask != 0
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(c.prefix))
                .unwrap_or(0);
            u128::from(a) & !mask != 0
        }
    }
}

fn check_targets(
    ds: Span,
    refs: &[u32],
    dests: &[Dest],
    seen: &mut [u32],
    at: usize,
    field: Field<'_>,
    cidr: bool,
) -> R<()> {
    if ds.len() == 0 {
        return err(at, field, "lists no destination");
    }
    let list = ds.of(refs);
    for (k, &d) in list.iter().enumerate() {
        if list.get(..k).is_some_and(|before| before.contains(&d)) {
            return err(at, field, format!("lists destination {d} twice"));
        }
        let proto = dests.get(d as usize).map(|x| x.protocol);
        let fits = if cidr {
            proto == Some(Protocol::Tcp)
        } else {
            matches!(proto, Some(Protocol::Http | Protocol::Tls))
        };
        if !fits {
            return err(
                at,
                field,
                format!(
                    "a {} target on a destination of another protocol",
                    if cidr { "CIDR" } else { "host" }
                ),
            );
        }
        if let Some(c) = seen.get_mut(d as usize) {
            *c += 1;
        }
    }
    Ok(())
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site, assembling the table from its decoded parts"
)]
fn build(
    checksum: u32,
    version: (u16, u16),
    strings: Box<[u8]>,
    forms: Box<[u8]>,
    policies: Vec<Policy>,
    rules: Vec<Rule>,
    paths: Vec<Path>,
    dfas: Vec<PathDfa>,
    sources: Vec<Source>,
    headers: Vec<Header>,
    ports: Vec<PortRange>,
    dests: Vec<Dest>,
    hosts: Vec<Host>,
    cidrs: Vec<CidrEntry>,
    dest_refs: Vec<u32>,
) -> R<Table> {
    let count = |k: HostKind| hosts.iter().filter(|h| h.kind == k).count();
    let mut exact = Index::with_capacity(count(HostKind::Exact));
    let mut one_label = Index::with_capacity(count(HostKind::OneLabel));
    let mut any_depth = Index::with_capacity(count(HostKind::AnyDepth));
    let name_of = |i: u32| -> &[u8] {
        hosts
            .get(i as usize)
            .and_then(|h| {
                strings.get(
                    h.name.off as usize..(h.name.off as usize).saturating_add(h.name.len as usize),
                )
            })
            .unwrap_or(&[])
    };
    for (i, h) in hosts.iter().enumerate() {
        let idx = match h.kind {
            HostKind::Exact => &mut exact,
            HostKind::OneLabel => &mut one_label,
            HostKind::AnyDepth => &mut any_depth,
        };
        if idx.insert(name_of(u32_of(i)), u32_of(i), name_of).is_err() {
            return err(HEADER, format!("hosts[{i}]"), "duplicate host");
        }
    }
    let pool = |mode: Mode| {
        let mut facts = PoolFacts {
            any: false,
            default: Action::Allow,
            default_policy: 0,
            log: LogSetting::None,
            sni_host_match: false,
        };
        for (i, p) in policies.iter().enumerate() {
            if p.mode != mode {
                continue;
            }
            if !facts.any || (p.default == Action::Deny && facts.default == Action::Allow) {
                facts.default = p.default;
                facts.default_policy = u32_of(i);
            }
            facts.any = true;
            facts.log = facts.log.max(p.log);
            facts.sni_host_match |= p.sni_host_match;
        }
        facts
    };
    let enforce = pool(Mode::Enforce);
    let audit = pool(Mode::Audit);
    // The ports `tls` destinations cover, per pool: an audit policy's
    // destinations must not make the enforced pool refuse SNI-less connections.
    let tls_ports_of = |mode: Mode| {
        let mut out: Vec<PortRange> = Vec::new();
        for d in dests.iter().filter(|d| {
            d.protocol == Protocol::Tls
                && policies
                    .get(d.policy as usize)
                    .is_some_and(|p| p.mode == mode)
        }) {
            out.extend_from_slice(d.ports.of(&ports));
        }
        out.sort_unstable();
        out.dedup();
        out.into_boxed_slice()
    };
    let tls_ports = [tls_ports_of(Mode::Enforce), tls_ports_of(Mode::Audit)];
    Ok(Table {
        checksum,
        version,
        has_audit: policies.iter().any(|p| p.mode == Mode::Audit),
        uses_sources: !sources.is_empty(),
        uses_headers: !headers.is_empty(),
        strings,
        forms,
        policies: policies.into_boxed_slice(),
        rules: rules.into_boxed_slice(),
        paths: paths.into_boxed_slice(),
        dfas: dfas.into_boxed_slice(),
        sources: sources.into_boxed_slice(),
        headers: headers.into_boxed_slice(),
        ports: ports.into_boxed_slice(),
        dests: dests.into_boxed_slice(),
        hosts: hosts.into_boxed_slice(),
        cidrs: cidrs.into_boxed_slice(),
        dest_refs: dest_refs.into_boxed_slice(),
        exact,
        one_label,
        any_depth,
        enforce,
        audit,
        tls_ports,
    })
}
