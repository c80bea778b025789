//! Turning a decoded table back into a [`TableSpec`], and a readable dump of
//! it (what `egressc compile --dump` prints and the snapshot tests pin).

use core::fmt::Write;

use crate::spec::*;
use crate::table::{Header, Path, Source, Span, Table};

impl Table {
    /// The table as a spec. Targets come out in table order (hosts sorted by
    /// kind and name, then CIDRs), so `decode(encode(s)).to_spec()` equals
    /// `s.canonical()`.
    pub fn to_spec(&self) -> TableSpec {
        let mut targets: Vec<Vec<Target>> = vec![Vec::new(); self.dests.len()];
        for h in self.hosts.iter() {
            for &d in h.dests.of(&self.dest_refs) {
                if let Some(t) = targets.get_mut(d as usize) {
                    t.push(Target::Host(HostPattern {
                        kind: h.kind,
                        name: self.text(h.name).to_owned(),
                    }));
                }
            }
        }
        for c in self.cidrs.iter() {
            for &d in c.dests.of(&self.dest_refs) {
                if let Some(t) = targets.get_mut(d as usize) {
                    t.push(Target::Cidr(c.cidr));
                }
            }
        }
        let mut policies: Vec<PolicySpec> = self
            .policies
            .iter()
            .map(|p| PolicySpec {
                name: self.text(p.name).to_owned(),
                mode: p.mode,
                default: p.default,
                log: p.log,
                require_sni_host_match: p.sni_host_match,
                destinations: Vec::new(),
            })
            .collect();
        for (di, d) in self.dests.iter().enumerate() {
            let rules = (d.rules.start..d.rules.end).filter_map(|i| {
                let (r, b) = (self.rules.get(i as usize)?, self.body(i)?);
                let paths =
                    |span| map_refs(span, &self.path_refs, &self.paths, |p| self.path_spec(p));
                let sources = |span| {
                    map_refs(span, &self.source_refs, &self.sources, |s| {
                        self.source_spec(s)
                    })
                };
                Some(RuleSpec {
                    id: self.rule_id(i).to_string(),
                    action: b.action,
                    methods: MethodSet(b.methods),
                    paths: paths(b.paths),
                    sources: sources(b.sources),
                    headers: map_refs(b.headers, &self.header_refs, &self.headers, |h| {
                        self.header_spec(h)
                    }),
                    line: r.line,
                    except_paths: paths(b.except_paths),
                    except_sources: sources(b.except_sources),
                    fallback: b.fallback,
                })
            });
            let dest = DestSpec {
                targets: targets.get_mut(di).map(std::mem::take).unwrap_or_default(),
                protocol: d.protocol,
                ports: d.ports.of(&self.ports).to_vec(),
                rules: rules.collect(),
            };
            if let Some(p) = policies.get_mut(d.policy as usize) {
                p.destinations.push(dest);
            }
        }
        TableSpec { policies }
    }

    fn source_spec(&self, s: &Source) -> SourceSpec {
        match s {
            Source::Principal(p) => SourceSpec::Principal(self.text(*p).to_owned()),
            Source::Namespace(n) => SourceSpec::Namespace(self.text(*n).to_owned()),
            Source::ServiceAccount(n, a) => SourceSpec::ServiceAccount {
                namespace: self.text(*n).to_owned(),
                name: self.text(*a).to_owned(),
            },
            Source::Any => SourceSpec::AnyPrincipal,
        }
    }

    fn header_spec(&self, h: &Header) -> HeaderSpec {
        match h {
            Header::Present(n) => HeaderSpec::Present(self.text(*n).to_owned()),
            Header::Absent(n) => HeaderSpec::Absent(self.text(*n).to_owned()),
            Header::Value {
                name,
                op,
                value,
                negated,
            } => HeaderSpec::from_value_test(
                self.text(*name).to_owned(),
                *op,
                self.str(*value).to_vec(),
                *negated,
            ),
        }
    }

    fn path_spec(&self, p: &Path) -> PathSpec {
        match p {
            Path::Exact { text, .. } => PathSpec::Exact(self.text(*text).to_owned()),
            Path::Prefix { text, .. } => PathSpec::Prefix(self.text(*text).to_owned()),
            Path::Suffix { text, .. } => PathSpec::Suffix(self.text(*text).to_owned()),
            Path::Template { text, .. } => PathSpec::Pattern {
                kind: PatternKind::Template,
                source: self.text(*text).to_owned(),
                dfa: Vec::new(),
            },
            Path::Dfa { kind, text, .. } => {
                // The DFA bytes are not kept after loading; the dump shows the source text.
                PathSpec::Pattern {
                    kind: *kind,
                    source: self.text(*text).to_owned(),
                    dfa: Vec::new(),
                }
            }
        }
    }
}

/// The items `span` of `refs` points to in `items`, each turned into a spec
/// by `f`.
fn map_refs<T, S>(span: Span, refs: &[u32], items: &[T], f: impl FnMut(&T) -> S) -> Vec<S> {
    span.of(refs)
        .iter()
        .filter_map(|&i| items.get(i as usize))
        .map(f)
        .collect()
}

impl TableSpec {
    /// The same table with each destination's targets in table order (hosts
    /// by kind and name, then CIDRs, without duplicates) and DFA bytes
    /// dropped: the form [`Table::to_spec`] returns.
    #[must_use]
    pub fn canonical(&self) -> Self {
        let mut out = self.clone();
        for d in out
            .policies
            .iter_mut()
            .flat_map(|p| p.destinations.iter_mut())
        {
            let mut hosts: Vec<HostPattern> = Vec::new();
            let mut cidrs: Vec<Cidr> = Vec::new();
            for t in &d.targets {
                match t {
                    Target::Host(h) => hosts.push(h.clone()),
                    Target::Cidr(c) => cidrs.push(*c),
                }
            }
            hosts.sort();
            hosts.dedup();
            cidrs.sort();
            cidrs.dedup();
            d.targets = hosts
                .into_iter()
                .map(Target::Host)
                .chain(cidrs.into_iter().map(Target::Cidr))
                .collect();
            for r in &mut d.rules {
                for p in r.paths.iter_mut().chain(r.except_paths.iter_mut()) {
                    if let PathSpec::Pattern { dfa, .. } = p {
                        dfa.clear();
                    }
                }
            }
        }
        out
    }

    /// A readable, stable rendering of the table.
    pub fn dump(&self) -> String {
        let mut s = String::new();
        for p in &self.policies {
            let _ = writeln!(
                s,
                "policy {} mode={} default={} log={}{}",
                p.name,
                match p.mode {
                    Mode::Enforce => "enforce",
                    Mode::Audit => "audit",
                },
                p.default.as_str(),
                match p.log {
                    LogSetting::None => "none",
                    LogSetting::Denied => "denied",
                    LogSetting::All => "all",
                },
                if p.require_sni_host_match {
                    " require-sni-host-match"
                } else {
                    ""
                }
            );
            for d in &p.destinations {
                let targets: Vec<String> = d
                    .targets
                    .iter()
                    .map(|t| match t {
                        Target::Host(h) => h.to_string(),
                        Target::Cidr(c) => c.to_string(),
                    })
                    .collect();
                let ports: Vec<String> = d.ports.iter().map(ToString::to_string).collect();
                let _ = writeln!(
                    s,
                    "  destination {} port {} {}",
                    targets.join(", "),
                    ports.join(","),
                    d.protocol.as_str()
                );
                for r in &d.rules {
                    if r.fallback {
                        let _ = write!(s, "    [{}] otherwise deny", r.id);
                    } else {
                        let _ = write!(s, "    [{}] {} {}", r.id, r.action.as_str(), r.methods);
                    }
                    for (p, not) in r
                        .paths
                        .iter()
                        .map(|p| (p, ""))
                        .chain(r.except_paths.iter().map(|p| (p, "!")))
                    {
                        let _ = match p {
                            PathSpec::Exact(t) => write!(s, " {not}path={t:?}"),
                            PathSpec::Prefix(t) => write!(s, " {not}prefix={t:?}"),
                            PathSpec::Suffix(t) => write!(s, " {not}suffix={t:?}"),
                            PathSpec::Pattern {
                                kind: PatternKind::Template,
                                source,
                                ..
                            } => write!(s, " {not}template={source:?}"),
                            PathSpec::Pattern {
                                kind: PatternKind::Regex,
                                source,
                                ..
                            } => write!(s, " {not}regex={source:?}"),
                        };
                    }
                    for (src, not) in r
                        .sources
                        .iter()
                        .map(|x| (x, ""))
                        .chain(r.except_sources.iter().map(|x| (x, "!")))
                    {
                        let _ = match src {
                            SourceSpec::Principal(p) => write!(s, " {not}principal={p:?}"),
                            SourceSpec::Namespace(n) => write!(s, " {not}namespace={n:?}"),
                            SourceSpec::ServiceAccount { namespace, name } => {
                                write!(s, " {not}serviceaccount={namespace:?}/{name:?}")
                            }
                            SourceSpec::AnyPrincipal => write!(s, " {not}principal=*"),
                        };
                    }
                    for h in &r.headers {
                        let n = h.name();
                        let _ = match h.value_test() {
                            None if matches!(h, HeaderSpec::Present(_)) => {
                                write!(s, " header[{n}] present")
                            }
                            None => write!(s, " header[{n}] absent"),
                            Some((op, v, negated)) => {
                                let op = match (op, negated) {
                                    (ValueOp::Equals, false) => "==",
                                    (ValueOp::Equals, true) => "!=",
                                    (ValueOp::Prefix, false) => " prefix ",
                                    (ValueOp::Prefix, true) => " not prefix ",
                                    (ValueOp::Suffix, false) => " suffix ",
                                    (ValueOp::Suffix, true) => " not suffix ",
                                };
                                write!(s, " header[{n}]{op}{:?}", String::from_utf8_lossy(v))
                            }
                        };
                    }
                    let _ = writeln!(s, "  (line {})", r.line);
                }
            }
        }
        s
    }
}

impl Table {
    /// A one-line description of destination `d` (for explanations), e.g.
    /// `httpbin.org port 80 http (policy httpbin)`.
    pub fn describe_dest(&self, d: u32) -> String {
        let Some(dest) = self.dests.get(d as usize) else {
            return String::new();
        };
        let mut targets: Vec<String> = Vec::new();
        for h in self.hosts.iter() {
            if h.dests.of(&self.dest_refs).contains(&d) {
                targets.push(
                    HostPattern {
                        kind: h.kind,
                        name: self.text(h.name).to_owned(),
                    }
                    .to_string(),
                );
            }
        }
        for c in self.cidrs.iter() {
            if c.dests.of(&self.dest_refs).contains(&d) {
                targets.push(c.cidr.to_string());
            }
        }
        let ports: Vec<String> = dest
            .ports
            .of(&self.ports)
            .iter()
            .map(ToString::to_string)
            .collect();
        format!(
            "{} port {} {} (policy {})",
            targets.join(", "),
            ports.join(","),
            dest.protocol.as_str(),
            self.policy_name(dest.policy)
        )
    }
}
