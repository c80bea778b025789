//! Building a [`Table`] from its decoded parts: the data derived at load
//! time (the exact, one-label and any-depth host indexes, the match forms of
//! exact, prefix and suffix paths, each pool's facts and `tls` ports). The parts come
//! from [`crate::format::decode`], which has validated every one of them.

use crate::dfa::PathDfa;
use crate::hash::Index;
use crate::path::MatchForm;
use crate::spec::{Action, HostKind, LogSetting, Mode, PatternKind, PortRange, Protocol};
use crate::table::{
    Body, CidrEntry, Dest, Header, Host, Path, Policy, PoolFacts, Rule, Source, Span, Str, Table,
    u32_of,
};
use crate::template::{self, Part, Piece};

/// A path condition as the table stores it, before its match form is known.
#[derive(Debug, Clone)]
pub(crate) enum PathPart {
    Exact(Str),
    Prefix(Str),
    Suffix(Str),
    /// A template without a DFA: matched by its pieces.
    Template(Str),
    Dfa {
        kind: PatternKind,
        text: Str,
        dfa: u32,
    },
}

/// The decoded sections of a table, every reference checked.
#[derive(Debug)]
pub(crate) struct Parts {
    /// The CRC-32C of the encoded table.
    pub(crate) checksum: u32,
    /// The format version, as (major, minor).
    pub(crate) version: (u16, u16),
    /// The string pool.
    pub(crate) strings: Box<[u8]>,
    pub(crate) policies: Vec<Policy>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) bodies: Vec<Body>,
    pub(crate) path_refs: Vec<u32>,
    pub(crate) source_refs: Vec<u32>,
    pub(crate) header_refs: Vec<u32>,
    pub(crate) paths: Vec<PathPart>,
    pub(crate) dfas: Vec<PathDfa>,
    pub(crate) sources: Vec<Source>,
    pub(crate) headers: Vec<Header>,
    pub(crate) ports: Vec<PortRange>,
    pub(crate) dests: Vec<Dest>,
    pub(crate) hosts: Vec<Host>,
    pub(crate) cidrs: Vec<CidrEntry>,
    pub(crate) dest_refs: Vec<u32>,
}

/// Why parts do not make a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssembleError {
    /// Host `0` has the kind and name of an earlier one.
    DuplicateHost(usize),
    /// Path `0` is a template without a DFA that is not simple.
    Template(usize),
}

impl Table {
    /// The table made of `parts`, with its indexes and per-pool facts.
    pub(crate) fn assemble(parts: Parts) -> Result<Table, AssembleError> {
        let [exact, one_label, any_depth] = host_indexes(&parts.hosts, &parts.strings)?;
        let (forms, pieces, paths) = match_forms(parts.paths, &parts.strings)?;
        let (policies, dests, ports) = (&parts.policies, &parts.dests, &parts.ports);
        let enforce = pool_facts(policies, Mode::Enforce);
        let audit = pool_facts(policies, Mode::Audit);
        let tls_ports = [
            tls_ports(policies, dests, ports, Mode::Enforce),
            tls_ports(policies, dests, ports, Mode::Audit),
        ];
        let mut table = Table {
            rule_index: crate::rule_index::RuleIndex::default(),
            checksum: parts.checksum,
            version: parts.version,
            has_audit: policies.iter().any(|p| p.mode == Mode::Audit),
            uses_sources: !parts.sources.is_empty(),
            uses_headers: !parts.headers.is_empty(),
            strings: parts.strings,
            forms,
            policies: parts.policies.into_boxed_slice(),
            rules: parts.rules.into_boxed_slice(),
            bodies: parts.bodies.into_boxed_slice(),
            path_refs: parts.path_refs.into_boxed_slice(),
            source_refs: parts.source_refs.into_boxed_slice(),
            header_refs: parts.header_refs.into_boxed_slice(),
            paths,
            pieces,
            dfas: parts.dfas.into_boxed_slice(),
            sources: parts.sources.into_boxed_slice(),
            headers: parts.headers.into_boxed_slice(),
            ports: parts.ports.into_boxed_slice(),
            dests: parts.dests.into_boxed_slice(),
            hosts: parts.hosts.into_boxed_slice(),
            cidrs: parts.cidrs.into_boxed_slice(),
            dest_refs: parts.dest_refs.into_boxed_slice(),
            exact,
            one_label,
            any_depth,
            enforce,
            audit,
            tls_ports,
        };
        table.rule_index = crate::rule_index::RuleIndex::build(&table);
        Ok(table)
    }
}

/// The exact, one-label and any-depth indexes from host name to host.
fn host_indexes(hosts: &[Host], strings: &[u8]) -> Result<[Index; 3], AssembleError> {
    let count = |k: HostKind| hosts.iter().filter(|h| h.kind == k).count();
    let mut exact = Index::with_capacity(count(HostKind::Exact));
    let mut one_label = Index::with_capacity(count(HostKind::OneLabel));
    let mut any_depth = Index::with_capacity(count(HostKind::AnyDepth));
    let name_of = |i: u32| -> &[u8] { hosts.get(i as usize).map_or(&[], |h| h.name.of(strings)) };
    for (i, h) in hosts.iter().enumerate() {
        let idx = match h.kind {
            HostKind::Exact => &mut exact,
            HostKind::OneLabel => &mut one_label,
            HostKind::AnyDepth => &mut any_depth,
        };
        if idx.insert(name_of(u32_of(i)), u32_of(i), name_of).is_err() {
            return Err(AssembleError::DuplicateHost(i));
        }
    }
    Ok([exact, one_label, any_depth])
}

/// The match forms of exact, prefix and suffix paths and of template
/// literals (see [`crate::path`]), in one buffer; the pieces of simple
/// templates; and the paths that refer to them.
fn match_forms(paths: Vec<PathPart>, strings: &[u8]) -> Result<Forms, AssembleError> {
    let mut forms: Vec<u8> = Vec::new();
    let mut pieces: Vec<Piece> = Vec::new();
    let form_of = |text: Str, forms: &mut Vec<u8>| {
        let off = u32_of(forms.len());
        forms.extend(MatchForm::new(text.of(strings)));
        Str {
            off,
            len: u32_of(forms.len()).saturating_sub(off),
        }
    };
    let mut out = Vec::with_capacity(paths.len());
    for (i, p) in paths.into_iter().enumerate() {
        out.push(match p {
            PathPart::Exact(text) => Path::Exact {
                text,
                form: form_of(text, &mut forms),
            },
            PathPart::Prefix(text) => Path::Prefix {
                text,
                form: form_of(text, &mut forms),
            },
            PathPart::Suffix(text) => Path::Suffix {
                text,
                form: form_of(text, &mut forms),
            },
            PathPart::Template(text) => {
                let parts =
                    template::simple_parts(text.of(strings)).ok_or(AssembleError::Template(i))?;
                let start = u32_of(pieces.len());
                let mut lit = |l: &[u8]| {
                    let off = u32_of(forms.len());
                    forms.extend_from_slice(l);
                    (off, u32_of(l.len()))
                };
                for part in parts {
                    pieces.push(match part {
                        Part::Lit(l) => {
                            let (o, n) = lit(&l);
                            Piece::Lit(o, n)
                        }
                        Part::Segment => Piece::Segment,
                        Part::NotSlash => Piece::NotSlash,
                        Part::Rest(l) => {
                            let (o, n) = lit(&l);
                            Piece::Rest(o, n)
                        }
                    });
                }
                Path::Template {
                    text,
                    pieces: Span {
                        start,
                        end: u32_of(pieces.len()),
                    },
                }
            }
            PathPart::Dfa { kind, text, dfa } => Path::Dfa { kind, text, dfa },
        });
    }
    Ok((
        forms.into_boxed_slice(),
        pieces.into_boxed_slice(),
        out.into_boxed_slice(),
    ))
}

/// The match forms, the template pieces and the paths.
type Forms = (Box<[u8]>, Box<[Piece]>, Box<[Path]>);

/// The facts of the pool of policies in `mode`.
fn pool_facts(policies: &[Policy], mode: Mode) -> PoolFacts {
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
}

/// The ports `tls` destinations of the policies in `mode` cover (sorted,
/// unique): an audit policy's destinations must not make the enforced pool
/// refuse SNI-less connections.
fn tls_ports(
    policies: &[Policy],
    dests: &[Dest],
    ports: &[PortRange],
    mode: Mode,
) -> Box<[PortRange]> {
    let mut out: Vec<PortRange> = Vec::new();
    for d in dests.iter().filter(|d| {
        d.protocol == Protocol::Tls
            && policies
                .get(d.policy as usize)
                .is_some_and(|p| p.mode == mode)
    }) {
        out.extend_from_slice(d.ports.of(ports));
    }
    out.sort_unstable();
    out.dedup();
    out.into_boxed_slice()
}
