//! Kubernetes Services for egress: `service "NAMESPACE/NAME"` on a
//! destination says the cluster reaches it under an in-cluster name, as in
//! Istio's "Kubernetes Services for Egress Traffic" task:
//!
//! - a destination with one host name gets a Service `type: ExternalName`
//!   pointing at that host;
//! - a `tcp` destination whose ranges are single addresses gets a Service
//!   without a selector and an Endpoints object with those addresses;
//!
//! each with a DestinationRule `tls.mode: DISABLE` for the in-cluster host
//! (the external service cannot do Istio's mutual TLS). Clients send the
//! in-cluster name in `Host` (`my-httpbin.default.svc.cluster.local`), so
//! lowering adds `NAME.NS.svc.cluster.local`, `NAME.NS.svc` and `NAME.NS` as
//! exact hosts of the destination: its rules apply to them as to the
//! external name. Checked here (E0380–E0382); written by [`crate::istio`].

use egress_table::spec::{HostKind, Protocol, Target};

use crate::diag::Diagnostic;
use crate::source::{Span, Spanned};

/// The cluster's DNS domain (Kubernetes' default).
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// A Service named by a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    /// Its namespace (`default` when the name has none).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

impl ServiceRef {
    /// `NAME.NAMESPACE.svc.cluster.local`.
    pub fn fqdn(&self) -> String {
        format!("{}.{}.svc.{CLUSTER_DOMAIN}", self.name, self.namespace)
    }

    /// The names a client may send for it, longest first: the FQDN,
    /// `NAME.NAMESPACE.svc` and `NAME.NAMESPACE` (the bare `NAME` only
    /// resolves in its own namespace and is not added).
    pub fn hosts(&self) -> [String; 3] {
        [
            self.fqdn(),
            format!("{}.{}.svc", self.name, self.namespace),
            format!("{}.{}", self.name, self.namespace),
        ]
    }
}

/// An RFC 1123 label (namespaces); `first_letter` makes it an RFC 1035
/// label (Service names).
fn label_ok(s: &str, first_letter: bool) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first()
            .is_some_and(|c| c.is_ascii_lowercase() || (!first_letter && c.is_ascii_digit()))
        && b.last().is_some_and(|c| *c != b'-')
}

/// A suggestion: lower-cased, other characters to `-`.
fn cleaned(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').chars().take(63).collect()
}

#[expect(
    clippy::result_large_err,
    reason = "a Diagnostic is built only on the error path, once per mistake, as in check/"
)]
fn parse(s: &Spanned<String>) -> Result<ServiceRef, Diagnostic> {
    let (ns, name) = s.value.split_once('/').unwrap_or(("default", &s.value));
    if label_ok(ns, false) && label_ok(name, true) && !name.contains('/') {
        return Ok(ServiceRef {
            namespace: ns.to_owned(),
            name: name.to_owned(),
            span: s.span,
        });
    }
    let why = if name.contains('/') {
        "expected \"NAMESPACE/NAME\", with one `/`"
    } else if name.contains('.') {
        "a Service name is one label; the namespace goes before a `/`"
    } else if !label_ok(ns, false) {
        "a namespace is at most 63 lower-case letters, digits and `-`"
    } else {
        "a Service name is at most 63 lower-case letters, digits and `-`, starting with a letter"
    };
    let fix = if let Some((n, rest)) = name.split_once('.') {
        format!(
            "write service \"{}/{}\"",
            cleaned(rest.split('.').next().unwrap_or(ns)),
            cleaned(n)
        )
    } else {
        format!(
            "write service \"{}/{}\"",
            cleaned(ns),
            cleaned(name).trim_start_matches(|c: char| c.is_ascii_digit())
        )
    };
    Err(
        Diagnostic::error("E0380", s.span, format!("invalid Service \"{}\"", s.value))
            .label(why)
            .help(fix),
    )
}

/// Checks a destination's `service` clause against the destination.
pub(crate) fn check(
    names: &[Spanned<String>],
    clause: Span,
    protocol: Protocol,
    targets: &[Spanned<Target>],
    originate_tls: Option<Span>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Vec<ServiceRef>> {
    let mut out = Vec::new();
    let mut ok = true;
    for n in names {
        match parse(n) {
            Ok(s) => out.push(s),
            Err(d) => {
                diags.push(d);
                ok = false;
            }
        }
    }
    let misfit = |msg: String, label: &str, help: &str| {
        Diagnostic::error("E0381", clause, msg)
            .label(label.to_owned())
            .help(help.to_owned())
            .note("a Service stands for one external name (type ExternalName) or for fixed addresses (a Service without a selector plus Endpoints)")
    };
    if let Some(span) = originate_tls {
        diags.push(
            misfit(
                "`service` with `originate-tls`".to_owned(),
                "an ExternalName Service keeps the port the client used",
                "drop one: with a Service the application connects to the in-cluster name on the external port (TLS itself, or plain HTTP with `tls.mode: DISABLE`)",
            )
            .with_label(span, "TLS origination here"),
        );
        ok = false;
    }
    match protocol {
        Protocol::Http | Protocol::Tls => {
            let names: Vec<&Spanned<Target>> = targets.iter().collect();
            let single = match names.as_slice() {
                [one] => match &one.value {
                    Target::Host(h) => {
                        h.kind == HostKind::Exact
                            && !h.name.is_empty()
                            && h.name.parse::<std::net::IpAddr>().is_err()
                    }
                    Target::Cidr(_) => false,
                },
                _ => false,
            };
            if !single {
                diags.push(misfit(
                    "`service` needs a destination with exactly one host name".to_owned(),
                    "an ExternalName Service points at one DNS name",
                    "give the Service a destination of its own: destination \"api.example.com\" port 443 tls service \"NAMESPACE/NAME\"",
                ));
                ok = false;
            }
        }
        Protocol::Tcp => {
            let single = targets.iter().all(|t| match &t.value {
                Target::Cidr(c) => c.prefix == if c.addr.is_ipv4() { 32 } else { 128 },
                Target::Host(_) => false,
            });
            if !single {
                diags.push(misfit(
                    "`service` on a tcp destination needs single addresses".to_owned(),
                    "Endpoints list addresses, not ranges",
                    "list the addresses the Service forwards to, e.g. destination cidr 91.198.174.192, 198.35.26.96 port 443 tcp service \"default/my-wikipedia\"",
                ));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// E0382: one Service named by two destinations.
pub(crate) fn duplicates<'a>(
    services: impl IntoIterator<Item = &'a ServiceRef>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut seen: Vec<&ServiceRef> = Vec::new();
    for s in services {
        if let Some(prev) = seen
            .iter()
            .find(|p| p.namespace == s.namespace && p.name == s.name)
        {
            diags.push(
                Diagnostic::error(
                    "E0382",
                    s.span,
                    format!("Service {}/{} is named twice", s.namespace, s.name),
                )
                .label("second")
                .with_label(prev.span, "first")
                .help("one Service stands for one destination: rename one of them"),
            );
        } else {
            seen.push(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn sp(s: &str) -> Spanned<String> {
        Spanned::new(s.to_owned(), Span::new(FileId(0), 0, 0))
    }

    #[test]
    fn names() {
        let r = parse(&sp("default/my-httpbin")).unwrap();
        assert_eq!(r.fqdn(), "my-httpbin.default.svc.cluster.local");
        assert_eq!(r.hosts()[2], "my-httpbin.default");
        assert_eq!(parse(&sp("my-httpbin")).unwrap().namespace, "default");
        for bad in [
            "",
            "a/b/c",
            "Default/x",
            "ns/1x",
            "ns/x-",
            "my-httpbin.default",
            &"x".repeat(64),
        ] {
            assert!(parse(&sp(bad)).is_err(), "{bad}");
        }
        let help = parse(&sp("my-httpbin.default")).unwrap_err().help.unwrap();
        assert!(help.contains("\"default/my-httpbin\""), "{help}");
    }
}
