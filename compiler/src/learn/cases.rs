//! The learned policy's test block, and the last word on the text: the
//! policy is compiled, observed requests (most frequent first) become
//! `=> allow` cases and near misses (an unseen method, a path outside the
//! patterns, an uncovered sibling host, another port, an unseen principal)
//! become `=> deny` cases, each decided natively first and kept only when
//! the compiled policy agrees; then the text is formatted.

use std::net::IpAddr;

use egress_table::spec::Action;

use super::{Case, LearnOptions, Learned, Request, render};
use crate::audit_log::Protocol;
use crate::explain::Decider;
use crate::sim::SimRequest;

/// A name no log is expected to hold, for near misses.
const UNSEEN: &str = "unseen-by-learn";

/// An observed request, canonical, and how often it was seen.
#[derive(Debug, Clone)]
pub(super) struct Observed {
    pub count: usize,
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    pub method: Option<String>,
    pub path: Option<String>,
    pub principal: Option<String>,
}

impl Observed {
    /// As a test case writes it.
    pub fn request(&self) -> SimRequest {
        crate::audit_log::request_for(
            self.protocol,
            &self.host,
            self.port,
            self.method.as_deref(),
            self.path.as_deref(),
            self.principal.as_deref(),
        )
    }

    fn model(&self) -> Request<'_> {
        Request {
            protocol: self.protocol,
            host: &self.host,
            port: self.port,
            method: self.method.as_deref(),
            path: self.path.as_deref(),
            principal: self.principal.as_deref(),
        }
    }
}

/// The enforced decision of the compiled policy for `r`, natively, with
/// the settings `egressc test` uses by default (Envoy's and Istio's), on
/// the table `decider` loaded once; `None` when the table did not load.
pub(super) fn decide(decider: Option<&Decider>, r: &SimRequest) -> Option<Action> {
    decider.map(|d| d.decide(r).0.decision)
}

/// Whether a case could reach only destinations of another protocol (an
/// error in a test block, E0355): avoided by never writing a near miss whose
/// host and port some destination of another protocol matches.
fn reaches_other_protocol(l: &Learned, o: &Observed) -> bool {
    l.destinations.iter().any(|d| {
        d.protocol != o.protocol
            && !(o.protocol == Protocol::Tls && d.protocol == Protocol::Tcp)
            && d.port == o.port
            && d.hosts.iter().any(|h| h.matches(&o.host))
    })
}

fn used_port(l: &Learned, p: u16) -> bool {
    l.destinations.iter().any(|d| d.port == p)
}

/// Near-miss candidates for an observed request of destination `d`.
fn candidates(l: &Learned, o: &Observed) -> Vec<(&'static str, String, Observed)> {
    let mut out = Vec::new();
    let with = |f: &dyn Fn(&mut Observed)| {
        let mut c = o.clone();
        c.count = 0;
        f(&mut c);
        c
    };
    if o.protocol == Protocol::Http && o.method.as_deref() != Some("CONNECT") {
        for m in ["DELETE", "PUT", "PATCH", "POST", "GET", "HEAD", "OPTIONS"] {
            let c = with(&|c| c.method = Some(m.to_owned()));
            if !l.admits(&c.model()) {
                out.push(("method", format!("{m}, a method not seen on this path"), c));
                break;
            }
        }
        let path = o.path.clone().unwrap_or_else(|| "/".to_owned());
        for p in [
            format!("{}/{UNSEEN}", path.trim_end_matches('/')),
            format!("/{UNSEEN}"),
        ] {
            let c = with(&|c| c.path = Some(p.clone()));
            if !l.admits(&c.model()) {
                out.push(("path", "a path outside the learned patterns".to_owned(), c));
                break;
            }
        }
    }
    if o.protocol != Protocol::Tcp && o.host.parse::<IpAddr>().is_err() {
        let labels: Vec<&str> = o.host.split('.').collect();
        let parent = if labels.len() >= 3 {
            labels.get(1..).map(|l| l.join(".")).unwrap_or_default()
        } else {
            o.host.clone()
        };
        for h in [
            format!("{UNSEEN}.{parent}"),
            format!("{UNSEEN}.{}", o.host),
            parent.clone(),
        ] {
            let c = with(&|c| c.host = h.clone());
            if h != o.host && !l.admits(&c.model()) {
                out.push((
                    "host",
                    "a host not covered by the learned names".to_owned(),
                    c,
                ));
                break;
            }
        }
    }
    if o.protocol == Protocol::Tcp
        && let Ok(ip) = o.host.parse::<IpAddr>()
    {
        let next = match ip {
            IpAddr::V4(a) => IpAddr::V4(u32::from(a).wrapping_add(1).into()),
            IpAddr::V6(a) => IpAddr::V6(u128::from(a).wrapping_add(1).into()),
        };
        let c = with(&|c| c.host = next.to_string());
        if !l.admits(&c.model()) {
            out.push(("host", "an address next to a learned one".to_owned(), c));
        }
    }
    let ports = [o.port.wrapping_add(1), 8080, 8443, 9443, 10080, 65000];
    if let Some(p) = ports.into_iter().find(|p| *p != 0 && !used_port(l, *p)) {
        out.push(("port", "another port".to_owned(), with(&|c| c.port = p)));
    }
    let unseen = format!("cluster.local/ns/{UNSEEN}/sa/{UNSEEN}");
    let c = with(&|c| c.principal = Some(unseen.clone()));
    if !l.admits(&c.model()) {
        out.push(("principal", "a principal not seen".to_owned(), c));
        let c = with(&|c| c.principal = None);
        if !l.admits(&c.model()) {
            out.push(("no principal", "no principal".to_owned(), c));
        }
    }
    out
}

fn comment_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .count()
}

/// Compiles `text`; the spec and the checked policies, or the errors.
fn compile(text: &str) -> Result<crate::Compiled, Vec<String>> {
    let (sources, outcome) = crate::compile_str("learned.egress", text);
    let errors: Vec<String> = outcome
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| crate::diag::render(d, &sources))
        .collect();
    match outcome.compiled {
        Some(c) if errors.is_empty() => Ok(c),
        _ => Err(errors),
    }
}

/// Fills in the cases, the text and the problems of `l`: every distinct
/// observed request (`observed` per destination, and `unplaced`, those no
/// destination matched) is decided against the compiled policy, and each
/// it does not allow is a problem, so an unsound policy is never written.
pub(super) fn finish(
    l: &mut Learned,
    observed: &[Vec<Observed>],
    unplaced: &[Observed],
    options: &LearnOptions,
) {
    let name = render::policy_name(&options.policy_name);
    let k = options.wildcard_threshold.max(2);
    let empty = vec![Vec::new(); l.destinations.len()];
    let text0 = render::policy(l, &name, options.min_count, k, &empty);
    let compiled = match compile(&text0) {
        Ok(c) => c,
        Err(errors) => {
            l.problems = errors;
            l.cases = empty;
            l.text = formatted(text0);
            return;
        }
    };
    let loaded = Decider::new(&compiled.spec);
    if let Err(e) = &loaded {
        l.problems
            .push(format!("the learned policy's table did not load: {e}"));
    }
    let decider = loaded.as_ref().ok();
    for o in observed.iter().flatten().chain(unplaced) {
        let r = o.request();
        if decider.is_some() && decide(decider, &r) != Some(Action::Allow) {
            l.problems.push(format!(
                "the learned policy does not allow the observed request {}",
                r.describe()
            ));
        }
    }
    let mut all = Vec::with_capacity(l.destinations.len());
    for obs in observed.iter().take(l.destinations.len()) {
        let mut cases: Vec<Case> = Vec::new();
        let mut described = std::collections::BTreeSet::new();
        for o in obs.iter().take(options.allow_cases) {
            let r = o.request();
            if decide(decider, &r) == Some(Action::Allow) {
                described.insert(r.describe());
                cases.push(Case {
                    request: r,
                    allow: true,
                    near_miss: None,
                });
            }
        }
        let mut misses = 0;
        let mut kinds = std::collections::BTreeSet::new();
        for o in obs.iter().take(3) {
            for (kind, why, c) in candidates(l, o) {
                if misses >= options.near_misses {
                    break;
                }
                let r = c.request();
                if kinds.contains(kind)
                    || reaches_other_protocol(l, &c)
                    || described.contains(&r.describe())
                    || decide(decider, &r) != Some(Action::Deny)
                {
                    continue;
                }
                described.insert(r.describe());
                kinds.insert(kind);
                cases.push(Case {
                    request: r,
                    allow: false,
                    near_miss: Some(why),
                });
                misses += 1;
            }
        }
        all.push(cases);
    }
    all.resize(l.destinations.len(), Vec::new());
    let text1 = render::policy(l, &name, options.min_count, k, &all);
    match compile(&text1) {
        Ok(c) => {
            let loaded = Decider::new(&c.spec);
            if let Err(e) = &loaded {
                l.problems
                    .push(format!("the learned policy's table did not load: {e}"));
            }
            let decider = loaded.as_ref().ok();
            for p in &c.checked.policies {
                for t in &p.tests {
                    for case in &t.cases {
                        if decide(decider, &case.request) != Some(case.expect) {
                            l.problems.push(format!(
                                "test case {} does not hold",
                                case.request.describe()
                            ));
                        }
                    }
                }
            }
            l.cases = all;
            l.text = formatted(text1);
        }
        Err(errors) => {
            l.problems.extend(errors);
            l.cases = empty;
            l.text = formatted(text0);
        }
    }
}

/// The text in `egressc fmt`'s layout, unless formatting would fail or
/// lose a comment.
fn formatted(text: String) -> String {
    match crate::fmt::format_source(&text) {
        Ok(f) if comment_lines(&f) == comment_lines(&text) => f,
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, reason = "test code")]

    use super::*;

    /// The safety net: an observed request the compiled policy does not
    /// allow (here one no destination covers) is a problem, even beyond
    /// the `allow_cases` written as tests.
    #[test]
    fn every_observed_request_not_allowed_is_a_problem() {
        let mut l = Learned {
            destinations: Vec::new(),
            dropped: Vec::new(),
            summary: super::super::Summary::default(),
            cases: Vec::new(),
            text: String::new(),
            problems: Vec::new(),
        };
        let o = Observed {
            count: 1,
            protocol: Protocol::Http,
            host: "a.example".to_owned(),
            port: 80,
            method: Some("GET".to_owned()),
            path: Some("/x".to_owned()),
            principal: None,
        };
        let options = LearnOptions {
            allow_cases: 0,
            ..LearnOptions::default()
        };
        finish(&mut l, &[], &[o], &options);
        assert_eq!(l.problems.len(), 1, "{:?}", l.problems);
        assert!(
            l.problems[0].contains("does not allow the observed request GET http://a.example/x"),
            "{:?}",
            l.problems
        );
    }
}
