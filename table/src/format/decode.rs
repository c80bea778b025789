//! Decoding: one function per section, in the order the sections are laid
//! out (each section refers only to sections before it), and [`decode`],
//! which strings them together and hands the parts to [`Table::assemble`].

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::HashSet;

use super::reader::{DecodeError, Field, Pool, R, Reader, action_of, err};
use super::{
    ACTION_FALLBACK, FLAG_SNI_HOST_MATCH, HEADER, MAGIC, NEGATED, TRAILER, VERSION_MAJOR,
    VERSION_MINOR, record,
};
use crate::assemble::{AssembleError, Parts, PathPart};
use crate::crc::crc32c;
use crate::dfa::PathDfa;
use crate::host::is_normalized_host;
use crate::names::{is_header_name, is_principal_text, is_valid_name};
use crate::spec::{
    Action, Cidr, HostKind, LogSetting, MethodSet, Mode, PatternKind, PortRange, Protocol, ValueOp,
};
use crate::table::{
    Body, CidrEntry, Dest, Header, Host, Policy, Rule, Source, Span, Str, Table, u32_of,
};

impl Table {
    /// Decodes and validates a table; see [`crate::format`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(bytes)
    }

    /// [`Table::from_bytes`] of a buffer the table may keep: the strings
    /// the table needs (the pool, then the host names) are moved to its
    /// front, and it is cut there and kept as the table's strings, so
    /// loading holds one copy of the table in memory and keeps only the
    /// bytes it reads afterwards (the filter's `on_configure`).
    pub fn from_vec(mut bytes: Vec<u8>) -> Result<Self, DecodeError> {
        let (mut parts, pool) = decode_parts(&bytes)?;
        keep_strings(&mut parts, pool, &mut bytes);
        parts.strings = bytes.into_boxed_slice();
        Table::assemble(parts).or_else(|e| match e {
            AssembleError::DuplicateHost(i) => err(HEADER, format!("hosts[{i}]"), "duplicate host"),
            AssembleError::Template(i) => err(
                HEADER,
                format!("paths[{i}]"),
                "a template without a DFA that is not simple (or is malformed)",
            ),
        })
    }
}

/// Decodes and validates a table. Never panics; see the module docs for what
/// is checked.
pub fn decode(bytes: &[u8]) -> Result<Table, DecodeError> {
    Table::from_vec(bytes.to_vec())
}

/// Moves the strings the table reads after loading to the front of
/// `bytes`, in place: the pool (`pool`: its offset and length in `bytes`;
/// Strs into it are already pool-relative), then each host's name (read
/// inline, with its offset in `bytes`, which is updated), and cuts `bytes`
/// after them. Each string moves towards the front (the pool comes before
/// the host names, and they are in table order), so none is overwritten
/// before it has moved.
fn keep_strings(parts: &mut Parts, pool: (usize, usize), bytes: &mut Vec<u8>) {
    let (start, len) = pool;
    let end = start.saturating_add(len).min(bytes.len());
    bytes.copy_within(start.min(end)..end, 0);
    let mut at = len;
    for h in &mut parts.hosts {
        let from = h.name.off as usize;
        let n = h.name.len as usize;
        if from.saturating_add(n) <= bytes.len() && at <= from {
            bytes.copy_within(from..from + n, at);
        }
        h.name.off = u32_of(at);
        at += n;
    }
    bytes.truncate(at);
    bytes.shrink_to_fit();
}

/// Every section decoded and checked: the parts (with an empty string
/// buffer, which [`keep_strings`] fills; Strs into the pool relative to
/// it, host names relative to `bytes`) and the pool's offset and length.
fn decode_parts(bytes: &[u8]) -> R<(Parts, (usize, usize))> {
    let (version, checksum, content) = header(bytes)?;
    // From here on the reader must not run into the trailer.
    let mut r = Reader::at(content, HEADER);
    let pool = strings(&mut r, content)?;
    let policies = policies(&mut r, pool)?;
    let paths = paths(&mut r, pool)?;
    let dfas = regexes(&mut r)?;
    let paths = path_dfas(paths, dfas.len())?;
    let (sources, source_negated) = sources(&mut r, pool)?;
    let headers = headers(&mut r, pool)?;
    let negated = Negated {
        paths: &paths.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
        sources: &source_negated,
        headers: headers.len(),
    };
    let bodies = bodies(&mut r, &negated)?;
    let rules = rules(&mut r, &bodies, &policies)?;
    let (dests, ports) = dests(&mut r, &policies, &rules, &bodies)?;
    let mut dest_refs = Vec::new();
    let mut targets_per_dest = vec![0u32; dests.len()];
    let mut refs = DestRefs {
        dests: &dests,
        refs: &mut dest_refs,
        seen: &mut targets_per_dest,
    };
    let hosts = hosts(&mut r, &mut refs)?;
    let cidrs = cidrs(&mut r, &mut refs)?;
    if r.left() != 0 {
        return err(
            r.pos,
            "body",
            format!("{} unexpected bytes after the last section", r.left()),
        );
    }
    if let Some(i) = targets_per_dest.iter().position(|&c| c == 0) {
        return err(
            HEADER,
            format!("dests[{i}]"),
            "destination has no host or CIDR",
        );
    }
    let (path_refs, source_refs, header_refs, bodies) = bodies.into_parts();
    let parts = Parts {
        checksum,
        version,
        strings: Box::default(),
        policies,
        rules,
        bodies,
        path_refs,
        source_refs,
        header_refs,
        paths: paths.into_iter().map(|(p, _)| p).collect(),
        dfas,
        sources,
        headers,
        ports,
        dests,
        hosts,
        cidrs,
        dest_refs,
    };
    Ok((parts, (pool.start, pool.len)))
}

/// The header and trailer: magic, version, body length and checksum. Returns
/// the version, the checksum and the bytes before the trailer.
fn header(bytes: &[u8]) -> R<((u16, u16), u32, &[u8])> {
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
    let mut r = Reader::at(bytes, 0);
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
                "table format {major}.{minor} was written by an older egressc; this reader understands {VERSION_MAJOR}.0 to {VERSION_MAJOR}.{VERSION_MINOR} (4.0 stores path DFAs in a form of its own): recompile the policy with this egressc"
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
    let content_len = bytes.len() - TRAILER;
    if body_len != content_len - HEADER {
        return err(
            12,
            "body_length",
            format!(
                "says {body_len} bytes but the table has {}",
                content_len - HEADER
            ),
        );
    }
    let (content, trailer) = bytes.split_at(content_len);
    let stored = Reader::at(trailer, 0).u32("checksum")?;
    let actual = crc32c(content);
    if stored != actual {
        return err(
            content_len,
            "checksum",
            format!("stored CRC-32C {stored:08x}, computed {actual:08x}: the table is corrupted"),
        );
    }
    Ok(((major, minor), actual, content))
}

/// STRINGS: the pool.
fn strings<'a>(r: &mut Reader<'a>, table: &'a [u8]) -> R<Pool<'a>> {
    let len = r.count(1, "strings.length")?;
    let start = r.pos;
    r.take(len, "strings")?;
    Ok(Pool { table, start, len })
}

/// POLICIES.
fn policies(r: &mut Reader<'_>, pool: Pool<'_>) -> R<Vec<Policy>> {
    let mut names = HashSet::new();
    let n = r.count(record::POLICY, "policies.count")?;
    let mut policies = Vec::with_capacity(n);
    let mut next_rule = 0u32;
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("policies", i, x);
        let name = pool.str(r, f("name"))?;
        if !is_valid_name(pool.bytes(name), false) {
            return err(at, f("name"), "not a valid policy name");
        }
        if !names.insert(pool.bytes(name)) {
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
        let n_rules = r.v(f("rules"))?;
        let rules = Span {
            start: next_rule,
            end: next_rule.saturating_add(n_rules),
        };
        next_rule = rules.end;
        policies.push(Policy {
            name,
            mode,
            default,
            log,
            sni_host_match: flags & FLAG_SNI_HOST_MATCH != 0,
            rules,
        });
    }
    Ok(policies)
}

/// A path, whether it is negated, and its DFA reference (checked by
/// [`path_dfas`]) with the offset to report.
type PathHead = (PathPart, bool, (u32, usize));

/// PATHS.
fn paths(r: &mut Reader<'_>, pool: Pool<'_>) -> R<Vec<PathHead>> {
    let n = r.count(record::PATH, "paths.count")?;
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("paths", i, x);
        let byte = r.u8(f("kind"))?;
        let (kind, negated) = (byte & !NEGATED, byte & NEGATED != 0);
        let text = pool.str(r, f("text"))?;
        let dfa_at = r.pos;
        let dfa = r.v(f("dfa"))?;
        let t = pool.bytes(text);
        if t.is_empty() || core::str::from_utf8(t).is_err() {
            return err(at + 1, f("text"), "empty or not UTF-8");
        }
        let part = match kind {
            0 | 1 | 4 => {
                if dfa != 0 {
                    return err(
                        dfa_at,
                        f("dfa"),
                        "exact, prefix and suffix paths take no DFA",
                    );
                }
                let problem = if kind == 4 {
                    crate::path::suffix_problem(t)
                } else {
                    crate::path::pattern_problem(t)
                };
                if let Err(p) = problem {
                    return err(
                        at + 1,
                        f("text"),
                        format!(
                            "an exact, prefix or suffix path that can never match ({})",
                            p.as_str()
                        ),
                    );
                }
                match kind {
                    0 => PathPart::Exact(text),
                    1 => PathPart::Prefix(text),
                    _ => PathPart::Suffix(text),
                }
            }
            2 if dfa == 0 => PathPart::Template(text),
            2 | 3 => {
                if dfa == 0 {
                    return err(dfa_at, f("dfa"), "a regex needs a DFA");
                }
                PathPart::Dfa {
                    kind: if kind == 2 {
                        PatternKind::Template
                    } else {
                        PatternKind::Regex
                    },
                    text,
                    dfa: dfa - 1,
                }
            }
            k => return err(at, f("kind"), format!("unknown path kind {k}")),
        };
        paths.push((part, negated, (dfa, dfa_at)));
    }
    Ok(paths)
}

/// REGEXES: each DFA read and checked.
fn regexes(r: &mut Reader<'_>) -> R<Vec<PathDfa>> {
    let n = r.count(record::REGEX, "regexes.count")?;
    let mut dfas = Vec::with_capacity(n);
    for i in 0..n {
        let len = r.count(1, Field::at("regexes", i, "length"))?;
        let at = r.pos;
        r.take(len, Field::at("regexes", i, ""))?;
        let mut one = Reader::at(r.bytes_to(at + len), at);
        dfas.push(dfa(&mut one, i)?);
    }
    Ok(dfas)
}

/// One DFA (REGEXES, after its length), which must fill the reader.
fn dfa(r: &mut Reader<'_>, i: usize) -> R<PathDfa> {
    let at = r.pos;
    let stride = usize::from(r.u8(Field::at("regexes", i, "classes"))?) + 1;
    let classes: [u8; 256] = r.array(Field::at("regexes", i, "byte classes"))?;
    let states = r.count(1 + stride, Field::at("regexes", i, "states"))?;
    let start = r.index(Field::at("regexes", i, "start"), states)?;
    let mut accept = Vec::with_capacity(states);
    let mut next = Vec::with_capacity(states * stride);
    for _ in 0..states {
        accept.push(match r.u8(Field::at("regexes", i, "accept"))? {
            0 => false,
            1 => true,
            b => {
                return err(
                    r.pos - 1,
                    Field::at("regexes", i, "accept"),
                    format!("{b} is neither 0 nor 1"),
                );
            }
        });
        for _ in 0..stride {
            next.push(r.index(Field::at("regexes", i, "next state"), states)?);
        }
    }
    if r.left() != 0 {
        return err(
            r.pos,
            Field::at("regexes", i, ""),
            format!("{} bytes after the DFA", r.left()),
        );
    }
    PathDfa::from_parts(classes, stride, start, accept, next).or_else(|e| {
        err(
            at,
            format!("regexes[{i}]"),
            format!("DFA does not load: {}", e.0),
        )
    })
}

/// [`PathDfa::from_bytes`]: one DFA's bytes alone.
pub(crate) fn dfa_from_bytes(bytes: &[u8]) -> R<PathDfa> {
    dfa(&mut Reader::at(bytes, 0), 0)
}

/// The paths, their DFA references checked against the `n_dfas` DFAs.
fn path_dfas(paths: Vec<PathHead>, n_dfas: usize) -> R<Vec<(PathPart, bool)>> {
    let mut out = Vec::with_capacity(paths.len());
    for (i, (part, negated, (dfa, at))) in paths.into_iter().enumerate() {
        if dfa as usize > n_dfas {
            return err(
                at,
                format!("paths[{i}].dfa"),
                format!("DFA {dfa} out of range ({n_dfas} DFAs)"),
            );
        }
        out.push((part, negated));
    }
    Ok(out)
}

/// The layout SOURCES and HEADERS share: kind u8 · Str · Str.
fn kind_and_strs(r: &mut Reader<'_>, pool: Pool<'_>, fields: [Field<'_>; 3]) -> R<(u8, Str, Str)> {
    let [kind, a, b] = fields;
    Ok((r.u8(kind)?, pool.str(r, a)?, pool.str(r, b)?))
}

/// SOURCES, and which of them are negated.
fn sources(r: &mut Reader<'_>, pool: Pool<'_>) -> R<(Vec<Source>, Vec<bool>)> {
    let n = r.count(record::SOURCE, "sources.count")?;
    let mut sources = Vec::with_capacity(n);
    let mut negated = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("sources", i, x);
        let (byte, a, b) = kind_and_strs(r, pool, [f("kind"), f("a"), f("b")])?;
        let (kind, neg) = (byte & !NEGATED, byte & NEGATED != 0);
        let a_ok = if kind == 3 {
            a.len == 0
        } else {
            is_principal_text(pool.bytes(a))
        };
        if !a_ok {
            return err(
                at + 1,
                f("a"),
                "not a valid principal, namespace or service account (or text on an any-principal source)",
            );
        }
        let b_ok = if kind == 2 {
            is_principal_text(pool.bytes(b))
        } else {
            b.len == 0
        };
        if !b_ok {
            return err(
                at + 1,
                f("b"),
                "service account name missing, or present on another kind",
            );
        }
        sources.push(match kind {
            0 => Source::Principal(a),
            1 => Source::Namespace(a),
            2 => Source::ServiceAccount(a, b),
            3 => Source::Any,
            k => return err(at, f("kind"), format!("unknown source kind {k}")),
        });
        negated.push(neg);
    }
    Ok((sources, negated))
}

/// HEADERS (header conditions).
fn headers(r: &mut Reader<'_>, pool: Pool<'_>) -> R<Vec<Header>> {
    let n = r.count(record::HEADER_CONDITION, "headers.count")?;
    let mut headers = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("headers", i, x);
        let (byte, name, value) = kind_and_strs(r, pool, [f("kind"), f("name"), f("value")])?;
        let (kind, negated) = (byte & !NEGATED, byte & NEGATED != 0);
        if !is_header_name(pool.bytes(name)) {
            return err(at + 1, f("name"), "not a lower-case header name");
        }
        let op = match kind {
            0 | 1 => None,
            2 => Some(ValueOp::Equals),
            3 => Some(ValueOp::Prefix),
            4 => Some(ValueOp::Suffix),
            k => return err(at, f("kind"), format!("unknown header condition kind {k}")),
        };
        if op.is_none() && (negated || value.len != 0) {
            return err(
                at,
                f("kind"),
                "present and absent take no value and no negation",
            );
        }
        if kind > 2 && value.len == 0 {
            return err(
                at + 1,
                f("value"),
                "a prefix or suffix condition needs a value",
            );
        }
        headers.push(match op {
            None if kind == 0 => Header::Present(name),
            None => Header::Absent(name),
            Some(op) => Header::Value {
                name,
                op,
                value,
                negated,
            },
        });
    }
    Ok(headers)
}

/// What a body's references are checked against: the negation flag of
/// each path and source, and the number of headers.
struct Negated<'a> {
    paths: &'a [bool],
    sources: &'a [bool],
    headers: usize,
}

/// BODIES, with the reference lists they point into.
#[derive(Default)]
struct Bodies {
    bodies: Vec<Body>,
    path_refs: Vec<u32>,
    source_refs: Vec<u32>,
    header_refs: Vec<u32>,
}

impl Bodies {
    fn into_parts(self) -> (Vec<u32>, Vec<u32>, Vec<u32>, Vec<Body>) {
        (
            self.path_refs,
            self.source_refs,
            self.header_refs,
            self.bodies,
        )
    }
}

/// Reads a list of indexes into `refs` (each below `flags.len()`); returns
/// the plain entries' span and the negated entries' span (`flags[i]`: entry
/// `i` is negated), which must come last.
fn ref_list(
    r: &mut Reader<'_>,
    refs: &mut Vec<u32>,
    flags: &[bool],
    field: Field<'_>,
) -> R<(Span, Span)> {
    let at = r.pos;
    let n = r.count(record::INDEX, field)?;
    let start = u32_of(refs.len());
    let mut plain = None;
    for _ in 0..n {
        let i = r.index(field, flags.len())?;
        let negated = flags.get(i as usize).copied().unwrap_or(false);
        match (negated, plain) {
            (true, None) => plain = Some(u32_of(refs.len())),
            (false, Some(_)) => return err(at, field, "a plain entry after a negated one"),
            _ => {}
        }
        refs.push(i);
    }
    let end = u32_of(refs.len());
    let mid = plain.unwrap_or(end);
    Ok((Span { start, end: mid }, Span { start: mid, end }))
}

/// BODIES.
fn bodies(r: &mut Reader<'_>, negated: &Negated<'_>) -> R<Bodies> {
    let n = r.count(record::BODY, "bodies.count")?;
    let mut out = Bodies {
        bodies: Vec::with_capacity(n),
        ..Bodies::default()
    };
    let no_flags = vec![false; negated.headers];
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("bodies", i, x);
        let (action, fallback) = match r.u8(f("action"))? {
            ACTION_FALLBACK => (Action::Deny, true),
            a => (action_of(a, at, f("action"))?, false),
        };
        let methods = r.u16(f("methods"))?;
        let set = MethodSet(methods);
        if !set.is_valid() {
            return err(
                at + 1,
                f("methods"),
                format!("invalid method set {methods:#06x}"),
            );
        }
        let (paths, except_paths) = ref_list(r, &mut out.path_refs, negated.paths, f("paths"))?;
        let (sources, except_sources) =
            ref_list(r, &mut out.source_refs, negated.sources, f("sources"))?;
        let (headers, _) = ref_list(r, &mut out.header_refs, &no_flags, f("headers"))?;
        let conditions =
            paths.len() + except_paths.len() + sources.len() + except_sources.len() + headers.len();
        if fallback && (!set.is_any() || conditions > 0) {
            return err(at, f("action"), "an otherwise-deny rule has no conditions");
        }
        out.bodies.push(Body {
            action,
            methods,
            paths,
            except_paths,
            sources,
            except_sources,
            headers,
            fallback,
        });
    }
    Ok(out)
}

/// RULES: each rule's body and line.
fn rules(r: &mut Reader<'_>, bodies: &Bodies, policies: &[Policy]) -> R<Vec<Rule>> {
    let n = r.count(record::RULE, "rules.count")?;
    let owned = policies.last().map_or(0, |p| p.rules.end as usize);
    if n != owned {
        return err(
            r.pos,
            "rules.count",
            format!("{n} rules, but the policies own {owned}"),
        );
    }
    let mut rules = Vec::with_capacity(n);
    let mut line = 0u32;
    for i in 0..n {
        let f = |x: &'static str| Field::at("rules", i, x);
        let body = r.index(f("body"), bodies.bodies.len())?;
        let at = r.pos;
        let z = r.v(f("line"))?;
        let next = if z % 2 == 0 {
            line.checked_add(z / 2)
        } else {
            line.checked_sub(z / 2 + 1)
        };
        line = match next {
            Some(l) => l,
            None => return err(at, f("line"), "line out of range"),
        };
        rules.push(Rule { body, line });
    }
    Ok(rules)
}

/// DESTS, and the port ranges they list (in one array their spans index).
/// A destination's rules lie within its policy's and carry L7 conditions
/// only on `http`.
fn dests(
    r: &mut Reader<'_>,
    policies: &[Policy],
    rules: &[Rule],
    bodies: &Bodies,
) -> R<(Vec<Dest>, Vec<PortRange>)> {
    let n = r.count(record::DEST, "dests.count")?;
    let mut dests = Vec::with_capacity(n);
    let mut ports = Vec::new();
    let mut next_rule = 0u32;
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("dests", i, x);
        let policy = r.index(f("policy"), policies.len())?;
        let protocol = match r.u8(f("protocol"))? {
            0 => Protocol::Http,
            1 => Protocol::Tls,
            2 => Protocol::Tcp,
            p => return err(at, f("protocol"), format!("unknown protocol {p}")),
        };
        let n_ports = r.count(4, f("ports"))?;
        if n_ports == 0 {
            return err(at, f("ports"), "a destination needs at least one port");
        }
        let start = u32_of(ports.len());
        for _ in 0..n_ports {
            let pat = r.pos;
            let lo = r.u16(f("ports"))?;
            let hi = r.u16(f("ports"))?;
            if lo == 0 || hi < lo {
                return err(pat, f("ports"), format!("invalid port range {lo}-{hi}"));
            }
            ports.push(PortRange { lo, hi });
        }
        let pspan = Span {
            start,
            end: u32_of(ports.len()),
        };
        let rat = r.pos;
        let n_rules = r.v(f("rules"))?;
        let rs = Span {
            start: next_rule,
            end: next_rule.saturating_add(n_rules),
        };
        next_rule = rs.end;
        let owner = policies
            .get(policy as usize)
            .map_or(Span::default(), |p| p.rules);
        if rs.len() > 0 && (rs.start < owner.start || rs.end > owner.end) {
            return err(
                rat,
                f("rules"),
                format!(
                    "rules {}..{} are not all of the destination's policy ({}..{})",
                    rs.start, rs.end, owner.start, owner.end
                ),
            );
        }
        if protocol != Protocol::Http {
            for (k, rule) in rs.of(rules).iter().enumerate() {
                let Some(b) = bodies.bodies.get(rule.body as usize) else {
                    continue;
                };
                if b.methods != MethodSet::ANY.0
                    || b.paths.len() + b.except_paths.len() > 0
                    || b.headers.len() > 0
                {
                    return err(
                        at,
                        format!("rules[{}]", rs.start as usize + k),
                        format!(
                            "method, path or header condition on a {} destination",
                            protocol.as_str()
                        ),
                    );
                }
            }
        }
        dests.push(Dest {
            policy,
            protocol,
            ports: pspan,
            rules: rs,
        });
    }
    if next_rule as usize != rules.len() {
        return err(
            r.pos,
            "dests.rules",
            format!("destinations own {next_rule} of {} rules", rules.len()),
        );
    }
    Ok((dests, ports))
}

/// The destination lists of hosts and CIDRs, read into one array.
struct DestRefs<'a> {
    dests: &'a [Dest],
    refs: &'a mut Vec<u32>,
    /// How many hosts and CIDRs list each destination.
    seen: &'a mut [u32],
}

impl DestRefs<'_> {
    /// Reads a destination list: at least one, none twice, each of a
    /// protocol the target fits (`cidr`: tcp; else http or tls).
    fn read(&mut self, r: &mut Reader<'_>, field: Field<'_>, cidr: bool) -> R<Span> {
        let at = r.pos;
        let n = r.count(record::INDEX, field)?;
        if n == 0 {
            return err(at, field, "lists no destination");
        }
        let start = u32_of(self.refs.len());
        for _ in 0..n {
            let d = r.index(field, self.dests.len())?;
            if self
                .refs
                .get(start as usize..)
                .is_some_and(|l| l.contains(&d))
            {
                return err(at, field, format!("lists destination {d} twice"));
            }
            let proto = self.dests.get(d as usize).map(|x| x.protocol);
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
            if let Some(c) = self.seen.get_mut(d as usize) {
                *c += 1;
            }
            self.refs.push(d);
        }
        Ok(Span {
            start,
            end: u32_of(self.refs.len()),
        })
    }
}

/// HOSTS: sorted by (kind, name) and unique.
fn hosts(r: &mut Reader<'_>, refs: &mut DestRefs<'_>) -> R<Vec<Host>> {
    let n = r.count(record::HOST, "hosts.count")?;
    let mut hosts: Vec<Host> = Vec::with_capacity(n);
    let mut last: Option<(HostKind, &[u8])> = None;
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("hosts", i, x);
        let kind = match r.u8(f("kind"))? {
            0 => HostKind::Exact,
            1 => HostKind::OneLabel,
            2 => HostKind::AnyDepth,
            k => return err(at, f("kind"), format!("unknown host kind {k}")),
        };
        let len = r.count(1, f("name"))?;
        let name_at = r.pos;
        let nb = r.take(len, f("name"))?;
        let name_ok = if nb.is_empty() {
            kind != HostKind::Exact
        } else {
            is_normalized_host(nb)
        };
        if !name_ok {
            return err(name_at, f("name"), "not a normalised host name");
        }
        if last.is_some_and(|l| l >= (kind, nb)) {
            return err(at, "hosts", "hosts are not sorted and unique");
        }
        last = Some((kind, nb));
        let dests = refs.read(r, f("dests"), false)?;
        hosts.push(Host {
            kind,
            name: Str {
                off: u32_of(name_at),
                len: u32_of(len),
            },
            dests,
        });
    }
    Ok(hosts)
}

/// CIDRS: sorted and unique.
fn cidrs(r: &mut Reader<'_>, refs: &mut DestRefs<'_>) -> R<Vec<CidrEntry>> {
    let n = r.count(record::CIDR, "cidrs.count")?;
    let mut cidrs: Vec<CidrEntry> = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("cidrs", i, x);
        let family = r.u8(f("family"))?;
        let prefix = r.u8(f("prefix"))?;
        let ip = match family {
            4 => {
                let a: [u8; 4] = r.array(f("address"))?;
                if prefix > 32 {
                    return err(at, format!("cidrs[{i}]"), "invalid IPv4 prefix");
                }
                IpAddr::V4(Ipv4Addr::from(a))
            }
            6 => {
                let a: [u8; 16] = r.array(f("address"))?;
                if prefix > 128 {
                    return err(at, format!("cidrs[{i}]"), "invalid IPv6 prefix");
                }
                IpAddr::V6(Ipv6Addr::from(a))
            }
            x => return err(at, f("family"), format!("unknown address family {x}")),
        };
        let cidr = Cidr { addr: ip, prefix };
        if !cidr.contains(ip) || host_bits_set(&cidr) {
            return err(at, format!("cidrs[{i}]"), "host bits set below the prefix");
        }
        if cidrs.last().is_some_and(|c| c.cidr >= cidr) {
            return err(at, "cidrs", "CIDRs are not sorted and unique");
        }
        let dests = refs.read(r, f("dests"), true)?;
        cidrs.push(CidrEntry { cidr, dests });
    }
    Ok(cidrs)
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
