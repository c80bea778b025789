//! Stage 4, lowering: a checked policy set to a table spec. Rule ids are
//! assigned here (`<policy>/<n>`, counting rules in source order, the
//! implicit `allow` of a destination without a block included), and every
//! template and regex is compiled ahead of time into a DFA (E0330 if one is
//! too large).

use egress_table::spec::{
    DestSpec, PathSpec, PatternKind, PolicySpec, RuleSpec, TableSpec, Target,
};

use crate::check::{CPath, Checked};
use crate::diag::Diagnostic;
use crate::hash::{FastMap, FastSet};
use crate::source::{Sources, Spanned};

/// Lowers `c`. DFA construction can fail (too large); those errors are returned.
pub fn lower(c: &Checked, sources: &Sources) -> Result<TableSpec, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut spec = TableSpec::default();
    let mut dfas = Dfas::default();
    for p in &c.policies {
        let mut n = 0u32;
        let mut dests = Vec::new();
        for d in &p.dests {
            let mut rules = Vec::new();
            for r in &d.rules {
                n += 1;
                let paths = lower_paths(&r.paths, &mut dfas, &mut errors);
                let except_paths = lower_paths(&r.except_paths, &mut dfas, &mut errors);
                let line = sources
                    .get(r.span.file)
                    .map_or(0, |f| f.line_col(r.span.start).0);
                rules.push(RuleSpec {
                    id: format!("{}/{n}", p.name),
                    action: r.action,
                    methods: r.methods,
                    paths,
                    sources: r.sources.clone(),
                    headers: r.headers.clone(),
                    line: u32::try_from(line).unwrap_or(0),
                    except_paths,
                    except_sources: r.except_sources.clone(),
                    fallback: r.fallback,
                });
            }
            // Each target once, in order (a set: a destination may list
            // many thousands).
            let mut targets: Vec<Target> = Vec::new();
            let mut seen: FastSet<&Target> = FastSet::default();
            for t in &d.targets {
                if seen.insert(&t.value) {
                    targets.push(t.value.clone());
                }
            }
            // `service "NS/NAME"`: clients send the in-cluster name.
            if d.protocol != egress_table::spec::Protocol::Tcp {
                let mut added: FastSet<Target> = FastSet::default();
                for h in d.services.iter().flat_map(|s| s.hosts()) {
                    let t = Target::Host(egress_table::spec::HostPattern {
                        kind: egress_table::spec::HostKind::Exact,
                        name: h,
                    });
                    if !seen.contains(&t) && added.insert(t.clone()) {
                        targets.push(t);
                    }
                }
            }
            dests.push(DestSpec {
                targets,
                protocol: d.protocol,
                ports: d.ports.clone(),
                rules,
            });
        }
        spec.policies.push(PolicySpec {
            name: p.name.clone(),
            mode: p.mode,
            default: p.default,
            log: p.log,
            require_sni_host_match: p.sni_host_match,
            destinations: dests,
        });
    }
    if errors.is_empty() {
        Ok(spec)
    } else {
        Err(errors)
    }
}

/// The path conditions of a rule, templates and regexes compiled to DFAs;
/// an E0330 for each that is too large.
fn lower_paths(
    paths: &[Spanned<CPath>],
    dfas: &mut Dfas,
    errors: &mut Vec<Diagnostic>,
) -> Vec<PathSpec> {
    let mut out = Vec::new();
    for path in paths {
        let built = match &path.value {
            CPath::Exact(s) => Ok(PathSpec::Exact(s.clone())),
            CPath::Prefix(s) => Ok(PathSpec::Prefix(s.clone())),
            CPath::Suffix(s) => Ok(PathSpec::Suffix(s.clone())),
            CPath::Template(src, re) => dfas.build(re).map(|dfa| PathSpec::Pattern {
                kind: PatternKind::Template,
                source: src.clone(),
                dfa,
            }),
            CPath::Regex(re) => dfas.build(re).map(|dfa| PathSpec::Pattern {
                kind: PatternKind::Regex,
                source: re.clone(),
                dfa,
            }),
        };
        match built {
            Ok(ps) => out.push(ps),
            Err(why) => errors.push(
                Diagnostic::error("E0330", path.span, "path pattern is too complex to compile")
                    .label(why)
                    .help("simplify the regex (fewer alternatives or bounded repetitions), or split it into several patterns; prefixes, suffixes and simple templates (`{*}` between slashes, one `{**}`) need no DFA")
                    .note("a table holds at most 256 KiB of DFA per pattern and 1 MiB for all patterns together, so that its pluginConfig fits the 1.5 MiB of a Kubernetes object"),
            ),
        }
    }
    out
}

/// The DFAs built so far, by regex: a pattern written on many rules (the
/// same template on thousands of destinations) is built once, and its
/// bytes count once towards [`egress_table::dfa::MAX_TOTAL_DFA_BYTES`].
#[derive(Debug, Default)]
struct Dfas {
    built: FastMap<String, Result<Vec<u8>, String>>,
    /// Bytes of the distinct DFAs built so far.
    total: usize,
}

impl Dfas {
    /// The DFA for `re` ([`dfa`]), built on first use; an error once the
    /// table's DFAs together would exceed the limit.
    fn build(&mut self, re: &str) -> Result<Vec<u8>, String> {
        if let Some(built) = self.built.get(re) {
            return built.clone();
        }
        let limit = egress_table::dfa::MAX_TOTAL_DFA_BYTES;
        let built = dfa(re).and_then(|d| {
            if self.total + d.len() > limit {
                Err(format!(
                    "its DFA ({} KiB) would take the table's DFAs past {} KiB together (they hold {} KiB before it)",
                    d.len().div_ceil(1024),
                    limit / 1024,
                    self.total.div_ceil(1024)
                ))
            } else {
                self.total += d.len();
                Ok(d)
            }
        });
        self.built.insert(re.to_owned(), built.clone());
        built
    }
}

fn dfa(re: &str) -> Result<Vec<u8>, String> {
    egress_table::dfa::build(re).map_err(|e| {
        let msg = e.0;
        if msg.contains("exceeded") || msg.contains("limit") {
            format!(
                "the DFA would exceed {} KiB",
                egress_table::dfa::MAX_DFA_BYTES / 1024
            )
        } else {
            msg
        }
    })
}
