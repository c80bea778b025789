//! Decoding: one function per section, in the order the sections are laid
//! out, and [`decode`], which strings them together and hands the parts to
//! [`Table::assemble`]. A section whose records point into later sections
//! is read in two steps: its records first, its spans once the sections
//! they point into are known.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::HashSet;

use super::reader::{DecodeError, Field, Pool, R, Reader, action_of, err, tiled};
use super::{
    ACTION_FALLBACK, FLAG_SNI_HOST_MATCH, HEADER, MAGIC, NEGATED, NO_DFA, TRAILER, VERSION_MAJOR,
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
use crate::table::{CidrEntry, Dest, Header, Host, Policy, Rule, Source, Span, Str, Table};

impl Table {
    /// Decodes and validates a table; see [`crate::format`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode(bytes)
    }
}

/// Decodes and validates a table. Never panics; see the module docs for what
/// is checked.
pub fn decode(bytes: &[u8]) -> Result<Table, DecodeError> {
    let (version, checksum, content) = header(bytes)?;
    // From here on the reader must not run into the trailer.
    let mut r = Reader::at(content, HEADER);
    let v = Minor(version.1);
    let pool = strings(&mut r)?;
    let policies = policies(&mut r, pool)?;
    let rule_heads = rules(&mut r, pool, policies.len(), v)?;
    let path_heads = paths(&mut r, pool, v)?;
    let dfas = regexes(&mut r)?;
    let (paths, path_negated) = path_dfas(path_heads, dfas.len())?;
    let (sources, source_negated) = sources(&mut r, pool, v)?;
    let headers = headers(&mut r, pool, v)?;
    let rules = rule_spans(
        content,
        rule_heads,
        [&path_negated, &source_negated],
        headers.len(),
        r.pos,
    )?;
    let ports = ports(&mut r)?;
    let dests = dests(&mut r, policies.len(), ports.len(), &rules)?;
    // HOSTS and CIDRS share DEST_REFS, which comes last; read the records first.
    let host_heads = hosts(&mut r, pool)?;
    let cidr_heads = cidrs(&mut r)?;
    let dest_refs = dest_refs(&mut r, dests.len())?;
    if r.left() != 0 {
        return err(
            r.pos,
            "body",
            format!("{} unexpected bytes after the last section", r.left()),
        );
    }
    let (hosts, cidrs) = target_spans(content, host_heads, cidr_heads, &dest_refs, &dests, r.pos)?;
    Table::assemble(Parts {
        checksum,
        version,
        strings: pool.0.to_vec().into_boxed_slice(),
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
    })
    .or_else(|e| match e {
        AssembleError::DuplicateHost(i) => err(HEADER, format!("hosts[{i}]"), "duplicate host"),
    })
}

/// The minor version of the table being read: what it may hold.
#[derive(Clone, Copy)]
struct Minor(u16);

impl Minor {
    /// `Ok` when the table's version may hold a construct of format 2.1;
    /// otherwise the error for `field` at `at`: a table that says 2.0 but
    /// holds one is not what its writer wrote.
    fn allows_2_1(self, at: usize, field: Field<'_>, what: &str) -> R<()> {
        if self.0 >= 1 {
            Ok(())
        } else {
            err(
                at,
                field,
                format!("{what} is a format 2.1 construct, in a table that says 2.0"),
            )
        }
    }
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
fn strings<'a>(r: &mut Reader<'a>) -> R<Pool<'a>> {
    let pool_len = r.count(1, "strings.length")?;
    r.take(pool_len, "strings").map(Pool)
}

/// POLICIES.
fn policies(r: &mut Reader<'_>, pool: Pool<'_>) -> R<Vec<Policy>> {
    let mut names = HashSet::new();
    let n = r.count(record::POLICY, "policies.count")?;
    let mut policies = Vec::with_capacity(n);
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
        policies.push(Policy {
            name,
            mode,
            default,
            log,
            sni_host_match: flags & FLAG_SNI_HOST_MATCH != 0,
        });
    }
    Ok(policies)
}

/// A rule record before its spans are checked.
struct RuleHead {
    policy: u32,
    action: Action,
    fallback: bool,
    methods: u16,
    id: Str,
    line: u32,
    /// The offset of the record's three spans.
    spans_at: usize,
}

/// RULES, but for their spans ([`rule_spans`]).
fn rules(r: &mut Reader<'_>, pool: Pool<'_>, n_policies: usize, v: Minor) -> R<Vec<RuleHead>> {
    let n = r.count(record::RULE, "rules.count")?;
    let mut rules = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("rules", i, x);
        let policy = r.u32(f("policy"))?;
        if policy as usize >= n_policies {
            return err(
                at,
                f("policy"),
                format!("policy {policy} out of range ({n_policies} policies)"),
            );
        }
        let (action, fallback) = match r.u8(f("action"))? {
            ACTION_FALLBACK => {
                v.allows_2_1(at + 4, f("action"), "an otherwise-deny rule")?;
                (Action::Deny, true)
            }
            a => (action_of(a, at + 4, f("action"))?, false),
        };
        if r.u8(f("reserved"))? != 0 {
            return err(at + 5, f("reserved"), "must be zero");
        }
        let methods = r.u16(f("methods"))?;
        let set = MethodSet(methods);
        if !set.is_valid() {
            return err(
                at + 6,
                f("methods"),
                format!("invalid method set {methods:#06x}"),
            );
        }
        if set.is_open() && !set.is_any() {
            v.allows_2_1(at + 6, f("methods"), "a method set `any except …`")?;
        }
        if fallback && !set.is_any() {
            return err(
                at + 6,
                f("methods"),
                "an otherwise-deny rule has no method condition",
            );
        }
        let id = pool.str(r, f("id"))?;
        if !is_valid_name(pool.bytes(id), true) {
            return err(at + 8, f("id"), "not a valid rule id");
        }
        let line = r.u32(f("line"))?;
        let spans_at = r.pos;
        r.take(24, f("spans"))?;
        rules.push(RuleHead {
            policy,
            action,
            fallback,
            methods,
            id,
            line,
            spans_at,
        });
    }
    Ok(rules)
}

/// A path record before its DFA reference is checked.
struct PathHead {
    /// The kind without the negation bit.
    kind: u8,
    negated: bool,
    text: Str,
    dfa: u32,
    at: usize,
}

/// PATHS, but for their DFA references ([`path_dfas`]).
fn paths(r: &mut Reader<'_>, pool: Pool<'_>, v: Minor) -> R<Vec<PathHead>> {
    let n = r.count(record::PATH, "paths.count")?;
    let mut paths = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("paths", i, x);
        let byte = r.u8(f("kind"))?;
        let (kind, negated) = (byte & !NEGATED, byte & NEGATED != 0);
        if negated {
            v.allows_2_1(at, f("kind"), "a negated path (`except path`)")?;
        }
        let text = pool.str(r, f("text"))?;
        let dfa = r.u32(f("dfa"))?;
        let t = pool.bytes(text);
        if t.is_empty() || core::str::from_utf8(t).is_err() {
            return err(at + 1, f("text"), "empty or not UTF-8");
        }
        match kind {
            0 | 1 | 4 => {
                if dfa != NO_DFA {
                    return err(
                        at + 9,
                        f("dfa"),
                        "exact, prefix and suffix paths take no DFA",
                    );
                }
                let problem = if kind == 4 {
                    v.allows_2_1(at, f("kind"), "a suffix path")?;
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
            }
            2 | 3 => {}
            k => return err(at, f("kind"), format!("unknown path kind {k}")),
        }
        paths.push(PathHead {
            kind,
            negated,
            text,
            dfa,
            at,
        });
    }
    Ok(paths)
}

/// REGEXES: each DFA deserialised (which checks it).
fn regexes(r: &mut Reader<'_>) -> R<Vec<PathDfa>> {
    let n = r.count(record::REGEX, "regexes.count")?;
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
    Ok(dfas)
}

/// The paths, their DFA references checked against the `n_dfas` DFAs, and
/// which of them are negated.
fn path_dfas(heads: Vec<PathHead>, n_dfas: usize) -> R<(Vec<PathPart>, Vec<bool>)> {
    let mut paths = Vec::with_capacity(heads.len());
    let mut negated = Vec::with_capacity(heads.len());
    for (i, head) in heads.into_iter().enumerate() {
        let PathHead {
            kind,
            negated: neg,
            text,
            dfa,
            at,
        } = head;
        negated.push(neg);
        paths.push(match kind {
            0 => PathPart::Exact(text),
            1 => PathPart::Prefix(text),
            4 => PathPart::Suffix(text),
            _ => {
                if dfa as usize >= n_dfas {
                    return err(
                        at + 9,
                        format!("paths[{i}].dfa"),
                        format!("DFA {dfa} out of range ({n_dfas} DFAs)"),
                    );
                }
                PathPart::Dfa {
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
    Ok((paths, negated))
}

/// The layout SOURCES and HEADERS share: kind u8 · Str · Str.
fn kind_and_strs(r: &mut Reader<'_>, pool: Pool<'_>, fields: [Field<'_>; 3]) -> R<(u8, Str, Str)> {
    let [kind, a, b] = fields;
    Ok((r.u8(kind)?, pool.str(r, a)?, pool.str(r, b)?))
}

/// SOURCES, and which of them are negated.
fn sources(r: &mut Reader<'_>, pool: Pool<'_>, v: Minor) -> R<(Vec<Source>, Vec<bool>)> {
    let n = r.count(record::SOURCE, "sources.count")?;
    let mut sources = Vec::with_capacity(n);
    let mut negated = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("sources", i, x);
        let (byte, a, b) = kind_and_strs(r, pool, [f("kind"), f("a"), f("b")])?;
        let (kind, neg) = (byte & !NEGATED, byte & NEGATED != 0);
        if neg {
            v.allows_2_1(at, f("kind"), "a negated source (`except from`)")?;
        }
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
                at + 9,
                f("b"),
                "service account name missing, or present on another kind",
            );
        }
        sources.push(match kind {
            0 => Source::Principal(a),
            1 => Source::Namespace(a),
            2 => Source::ServiceAccount(a, b),
            3 => {
                v.allows_2_1(at, f("kind"), "an any-principal source")?;
                Source::Any
            }
            k => return err(at, f("kind"), format!("unknown source kind {k}")),
        });
        negated.push(neg);
    }
    Ok((sources, negated))
}

/// HEADERS (header conditions).
fn headers(r: &mut Reader<'_>, pool: Pool<'_>, v: Minor) -> R<Vec<Header>> {
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
        if negated || kind > 2 {
            v.allows_2_1(
                at,
                f("kind"),
                "a prefix, suffix or negated header condition",
            )?;
        }
        if kind > 2 && value.len == 0 {
            return err(
                at + 9,
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

/// Splits a rule's span at its first negated entry (`negated`: the flags of
/// the section's records): plain entries, then negated ones, which must
/// all come last.
fn split_negated(span: Span, negated: &[bool], at: usize, field: Field<'_>) -> R<(Span, Span)> {
    let flags = span.of(negated);
    let plain = flags.iter().take_while(|n| !**n).count();
    if flags.iter().skip(plain).any(|n| !*n) {
        return err(at, field, "a plain entry after a negated one");
    }
    let mid = span.start + crate::table::u32_of(plain);
    Ok((
        Span {
            start: span.start,
            end: mid,
        },
        Span {
            start: mid,
            end: span.end,
        },
    ))
}

/// The rules, their path, source and header spans checked against the
/// number of paths and sources (the length of `negated`, their negation
/// flags) and of headers; `end` is the offset reported when the spans do
/// not cover a section.
fn rule_spans(
    content: &[u8],
    heads: Vec<RuleHead>,
    negated: [&[bool]; 2],
    n_headers: usize,
    end: usize,
) -> R<Vec<Rule>> {
    let [path_negated, source_negated] = negated;
    let (n_paths, n_sources) = (path_negated.len(), source_negated.len());
    let mut rules = Vec::with_capacity(heads.len());
    let (mut np, mut ns, mut nh) = (0u32, 0u32, 0u32);
    for (i, h) in heads.into_iter().enumerate() {
        let mut rr = Reader::at(content, h.spans_at);
        let f = |x: &'static str| Field::at("rules", i, x);
        let paths = rr.span(f("paths"), &mut np, n_paths)?;
        let sources = rr.span(f("sources"), &mut ns, n_sources)?;
        let headers = rr.span(f("headers"), &mut nh, n_headers)?;
        if h.fallback && (paths.len() + sources.len() + headers.len()) > 0 {
            return err(
                h.spans_at,
                f("spans"),
                "an otherwise-deny rule has no conditions",
            );
        }
        let (paths, except_paths) = split_negated(paths, path_negated, h.spans_at, f("paths"))?;
        let (sources, except_sources) =
            split_negated(sources, source_negated, h.spans_at + 8, f("sources"))?;
        rules.push(Rule {
            policy: h.policy,
            action: h.action,
            methods: h.methods,
            id: h.id,
            line: h.line,
            paths,
            except_paths,
            sources,
            except_sources,
            headers,
            fallback: h.fallback,
        });
    }
    tiled(np, n_paths, end, "rules.paths")?;
    tiled(ns, n_sources, end, "rules.sources")?;
    tiled(nh, n_headers, end, "rules.headers")?;
    Ok(rules)
}

/// PORTS.
fn ports(r: &mut Reader<'_>) -> R<Vec<PortRange>> {
    let n = r.count(record::PORT_RANGE, "ports.count")?;
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
    Ok(ports)
}

/// DESTS, with the rules they point to (which must belong to the same
/// policy, and carry L7 conditions only on `http` destinations).
fn dests(r: &mut Reader<'_>, n_policies: usize, n_ports: usize, rules: &[Rule]) -> R<Vec<Dest>> {
    let (mut nport, mut nrule) = (0u32, 0u32);
    let n = r.count(record::DEST, "dests.count")?;
    let mut dests = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("dests", i, x);
        let policy = r.u32(f("policy"))?;
        if policy as usize >= n_policies {
            return err(at, f("policy"), format!("policy {policy} out of range"));
        }
        let protocol = match r.u8(f("protocol"))? {
            0 => Protocol::Http,
            1 => Protocol::Tls,
            2 => Protocol::Tcp,
            p => return err(at + 4, f("protocol"), format!("unknown protocol {p}")),
        };
        let ps = r.span(f("ports"), &mut nport, n_ports)?;
        if ps.len() == 0 {
            return err(at + 5, f("ports"), "a destination needs at least one port");
        }
        let rs = r.span(f("rules"), &mut nrule, rules.len())?;
        for (k, rule) in rs.of(rules).iter().enumerate() {
            let field = format!("rules[{}]", rs.start as usize + k);
            if rule.policy != policy {
                return err(at, field, "belongs to another policy than its destination");
            }
            if protocol != Protocol::Http
                && (rule.methods != MethodSet::ANY.0
                    || rule.paths.len() + rule.except_paths.len() > 0
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
    tiled(nport, n_ports, r.pos, "dests.ports")?;
    tiled(nrule, rules.len(), r.pos, "dests.rules")?;
    Ok(dests)
}

/// HOSTS, but for their dest spans ([`target_spans`]): (kind, name, offset
/// of the span).
fn hosts(r: &mut Reader<'_>, pool: Pool<'_>) -> R<Vec<(HostKind, Str, usize)>> {
    let n = r.count(record::HOST, "hosts.count")?;
    let mut hosts = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("hosts", i, x);
        let kind = match r.u8(f("kind"))? {
            0 => HostKind::Exact,
            1 => HostKind::OneLabel,
            2 => HostKind::AnyDepth,
            k => return err(at, f("kind"), format!("unknown host kind {k}")),
        };
        let name = pool.str(r, f("name"))?;
        let nb = pool.bytes(name);
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
        hosts.push((kind, name, dests_at));
    }
    for pair in hosts.windows(2) {
        if let [(k1, n1, _), (k2, n2, at)] = pair
            && (k1, pool.bytes(*n1)) >= (k2, pool.bytes(*n2))
        {
            return err(
                at.saturating_sub(9),
                "hosts",
                "hosts are not sorted and unique",
            );
        }
    }
    Ok(hosts)
}

/// CIDRS, but for their dest spans ([`target_spans`]): (network, offset of
/// the span).
fn cidrs(r: &mut Reader<'_>) -> R<Vec<(Cidr, usize)>> {
    let n = r.count(record::CIDR, "cidrs.count")?;
    let mut cidrs = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let f = |x: &'static str| Field::at("cidrs", i, x);
        let family = r.u8(f("family"))?;
        let prefix = r.u8(f("prefix"))?;
        let addr: [u8; 16] = r.array(f("address"))?;
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
        cidrs.push((cidr, dests_at));
    }
    for pair in cidrs.windows(2) {
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

/// DEST_REFS.
fn dest_refs(r: &mut Reader<'_>, n_dests: usize) -> R<Vec<u32>> {
    let n = r.count(record::DEST_REF, "dest_refs.count")?;
    let mut dest_refs = Vec::with_capacity(n);
    for i in 0..n {
        let at = r.pos;
        let d = r.u32("dest_refs")?;
        if d as usize >= n_dests {
            return err(
                at,
                format!("dest_refs[{i}]"),
                format!("destination {d} out of range"),
            );
        }
        dest_refs.push(d);
    }
    Ok(dest_refs)
}

/// The hosts and CIDRs, their dest spans checked (they tile DEST_REFS, in
/// that order), and every destination the target of at least one of them;
/// `end` is the offset reported when the spans do not cover DEST_REFS.
fn target_spans(
    content: &[u8],
    host_heads: Vec<(HostKind, Str, usize)>,
    cidr_heads: Vec<(Cidr, usize)>,
    refs: &[u32],
    dests: &[Dest],
    end: usize,
) -> R<(Vec<Host>, Vec<CidrEntry>)> {
    let mut next = 0u32;
    let mut targets_per_dest = vec![0u32; dests.len()];
    // Reads the dests span of a host or CIDR record at `at`.
    let mut dest_span = |at: usize, section: &'static str, i: usize, cidr: bool| -> R<Span> {
        let ds =
            Reader::at(content, at).span(Field::at(section, i, "dests"), &mut next, refs.len())?;
        let field = Field::at(section, i, "");
        check_targets(ds, refs, dests, &mut targets_per_dest, at, field, cidr)?;
        Ok(ds)
    };
    let mut hosts = Vec::with_capacity(host_heads.len());
    for (i, (kind, name, at)) in host_heads.into_iter().enumerate() {
        let dests = dest_span(at, "hosts", i, false)?;
        hosts.push(Host { kind, name, dests });
    }
    let mut cidrs = Vec::with_capacity(cidr_heads.len());
    for (i, (cidr, at)) in cidr_heads.into_iter().enumerate() {
        let dests = dest_span(at, "cidrs", i, true)?;
        cidrs.push(CidrEntry { cidr, dests });
    }
    tiled(next, refs.len(), end, "dest_refs")?;
    if let Some(i) = targets_per_dest.iter().position(|&c| c == 0) {
        return err(
            HEADER,
            format!("dests[{i}]"),
            "destination has no host or CIDR",
        );
    }
    Ok((hosts, cidrs))
}

/// Checks the destinations a host (`cidr` false) or CIDR lists: at least
/// one, none twice, each of a protocol the target fits; counts them in `seen`.
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
