//! `egressc import istio`: Istio and Kubernetes YAML to the policy
//! language. Pure: YAML text in, policy text and diagnostics out (the CLI
//! reads the files and writes the result).
//!
//! What is read, and how it maps (Istio's semantics, kept exactly):
//!
//! - **ServiceEntry**: one destination per host and port (`HTTP`, `HTTP2`,
//!   `GRPC` → `http`; `HTTPS`, `TLS` → `tls`; anything else → `tcp` on the
//!   entry's `addresses`, or on every address when it has none, which is
//!   what Istio's listener on `0.0.0.0:PORT` does). Under the restricted
//!   posture (`REGISTRY_ONLY`, the default) the policy says `default deny`:
//!   a host without a ServiceEntry is denied.
//! - **AuthorizationPolicy** (`ALLOW`, `DENY`): applied to the
//!   destinations of the ServiceEntries (or Services) its `targetRefs`
//!   name, or to every destination for a `selector` or no target (the
//!   waypoint or egress gateway that enforces it sees them all). DENY rules
//!   become `deny` rules. A destination with at least one ALLOW policy gets
//!   its `allow` rules and denies the rest (`default deny`, or `otherwise
//!   deny` under the allowed posture); one without an ALLOW policy allows
//!   everything (`allow any`). An Istio rule (`from` × `to` × `when`)
//!   becomes one rule per combination of its alternatives.
//! - **Sidecar** `egress.hosts` (namespace-wide): a destination the
//!   Sidecar's namespace may not see gets `deny from namespace "NS"`.
//! - **Service** `type: ExternalName`, and a selector-less Service with its
//!   **Endpoints**: destinations with `service "NS/NAME"`.
//!
//! What the language cannot say is refused with a warning naming the YAML
//! path (`file:document:path`): an ALLOW rule that needs it is dropped (it
//! allows less), a DENY rule loses only that condition (it denies more),
//! as Istio itself does with HTTP-only fields on TCP traffic. Codes W06xx,
//! documented in docs/diagnostics.md.

mod authz;
mod yaml;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::diag::Diagnostic;
use crate::source::{FileId, Span};

pub use yaml::Node;

/// What hosts without a ServiceEntry get: the mesh's
/// `outboundTrafficPolicy.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posture {
    /// `REGISTRY_ONLY`: denied (`default deny`).
    Restricted,
    /// `ALLOW_ANY`: allowed (`default allow`).
    Allowed,
}

/// One input file.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The file's id in the caller's [`crate::Sources`] (for spans).
    pub file: FileId,
    /// Its name, as the user wrote it (for YAML paths in messages).
    pub name: &'a str,
    /// Its text.
    pub text: &'a str,
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The policy text, formatted as `egressc fmt` prints it; `None` when
    /// an error stopped the import.
    pub policy: Option<String>,
    /// Errors and warnings.
    pub diagnostics: Vec<Diagnostic>,
}

/// Where a YAML value is: the file, the document's index and start, and
/// the path inside the document.
#[derive(Debug, Clone)]
pub(crate) struct At {
    pub name: String,
    pub doc: usize,
    pub span: Span,
    pub path: String,
}

impl At {
    pub(crate) fn field(&self, key: &str) -> Self {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        Self {
            path,
            ..self.clone()
        }
    }

    pub(crate) fn index(&self, i: usize) -> Self {
        Self {
            path: format!("{}[{i}]", self.path),
            ..self.clone()
        }
    }

    /// `file:document:path`.
    pub(crate) fn show(&self) -> String {
        format!("{}:{}:{}", self.name, self.doc, self.path)
    }

    pub(crate) fn warn(&self, code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(
            code,
            self.span,
            format!("{}: {}", self.show(), message.into()),
        )
    }
}

/// A protocol of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Proto {
    Http,
    Tls,
    Tcp,
}

impl Proto {
    fn word(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Tls => "tls",
            Self::Tcp => "tcp",
        }
    }
}

/// One destination being built.
#[derive(Debug, Clone)]
pub(crate) struct Dest {
    /// `kind/namespace/name` of the resource it came from.
    pub owner: String,
    /// A host name (or wildcard), or CIDR ranges for `tcp`.
    pub targets: Vec<String>,
    pub cidr: bool,
    pub port: u16,
    pub proto: Proto,
    pub service: Option<String>,
    /// Rules, as text, in order: denies first, then allows.
    pub denies: Vec<String>,
    pub allows: Vec<String>,
    /// Whether some ALLOW policy applies (then unmatched requests are
    /// denied).
    pub allow_policy: bool,
    /// The comment naming where it came from.
    pub comment: String,
}

/// Imports YAML files (several documents each, `---`-separated).
pub fn istio(inputs: &[Input<'_>], posture: Posture) -> Imported {
    let mut diags = Vec::new();
    let mut docs = Vec::new();
    for input in inputs {
        match yaml::documents(input.text) {
            Ok(ds) => {
                for (i, (node, start)) in ds.into_iter().enumerate() {
                    let at = At {
                        name: input.name.to_owned(),
                        doc: i,
                        span: Span::new(input.file, start, start),
                        path: String::new(),
                    };
                    docs.push((node, at));
                }
            }
            Err((offset, message)) => diags.push(
                Diagnostic::error(
                    "E0601",
                    Span::new(input.file, offset, offset),
                    format!("{}: not valid YAML: {message}", input.name),
                )
                .label("the YAML parser stopped here")
                .help(
                    "fix the YAML; `kubectl apply --dry-run=client -f FILE` shows the same error",
                ),
            ),
        }
    }
    if diags.iter().any(Diagnostic::is_error) {
        return Imported {
            policy: None,
            diagnostics: diags,
        };
    }
    let mut world = World::default();
    for (node, at) in &docs {
        world.add(node, at, &mut diags);
    }
    let mut dests = world.destinations(&mut diags);
    authz::apply(&world, &mut dests, &mut diags);
    world.apply_sidecars(&mut dests, &mut diags);
    let text = render(inputs, &dests, posture);
    match crate::fmt::format_source(&text) {
        Ok(policy) => Imported {
            policy: Some(policy),
            diagnostics: diags,
        },
        Err(errors) => {
            // A bug, not the input's fault: say so with what was built.
            diags.push(
                Diagnostic::error(
                    "E0602",
                    inputs
                        .first()
                        .map_or(Span::default(), |i| Span::new(i.file, 0, 0)),
                    format!(
                        "the imported policy does not parse ({} errors); this is a bug in egressc",
                        errors.len()
                    ),
                )
                .note(text),
            );
            Imported {
                policy: None,
                diagnostics: diags,
            }
        }
    }
}

/// The resources read, by kind.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub service_entries: Vec<(Node, At, String)>,
    pub policies: Vec<(Node, At, String)>,
    pub sidecars: Vec<(Node, At, String)>,
    pub services: Vec<(Node, At, String)>,
    /// Endpoints by `namespace/name`.
    pub endpoints: BTreeMap<String, (Node, At)>,
}

/// The namespace Istio's root configuration lives in.
const ROOT_NAMESPACE: &str = "istio-system";

pub(crate) fn namespace_of(node: &Node) -> String {
    node.get("metadata")
        .and_then(|m| m.get("namespace"))
        .and_then(Node::as_str)
        .unwrap_or("default")
        .to_owned()
}

fn name_of(node: &Node) -> String {
    node.get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_owned()
}

impl World {
    fn add(&mut self, node: &Node, at: &At, diags: &mut Vec<Diagnostic>) {
        if node.is_null() {
            return;
        }
        let kind = node.get("kind").and_then(Node::as_str).unwrap_or("");
        let key = format!("{}/{}", namespace_of(node), name_of(node));
        let entry = (node.clone(), at.clone(), key.clone());
        match kind {
            "ServiceEntry" => self.service_entries.push(entry),
            "AuthorizationPolicy" => self.policies.push(entry),
            "Sidecar" => self.sidecars.push(entry),
            "Service" => self.services.push(entry),
            "Endpoints" => {
                self.endpoints.insert(key, (node.clone(), at.clone()));
            }
            "List" => {
                if let Some(items) = node.get("items").and_then(Node::as_seq) {
                    for (i, item) in items.iter().enumerate() {
                        self.add(item, &at.field("items").index(i), diags);
                    }
                }
            }
            other => diags.push(
                at.field("kind")
                    .warn("W0601", format!("a {} is not imported", if other.is_empty() { "document without `kind`" } else { other }))
                    .label("only ServiceEntry, AuthorizationPolicy, Sidecar, Service and Endpoints say what may leave the mesh")
                    .help("DestinationRule, VirtualService and Gateway settings are written by `egressc istio` from the policy"),
            ),
        }
    }

    fn destinations(&self, diags: &mut Vec<Diagnostic>) -> Vec<Dest> {
        let mut out = Vec::new();
        for (se, at, key) in &self.service_entries {
            let spec = se.get("spec");
            let spec_at = at.field("spec");
            let hosts: Vec<String> = spec
                .and_then(|s| s.get("hosts"))
                .and_then(Node::as_seq)
                .map(|hs| {
                    hs.iter()
                        .filter_map(Node::as_str)
                        .map(|h| h.trim_end_matches('.').to_ascii_lowercase())
                        .collect()
                })
                .unwrap_or_default();
            let addresses: Vec<String> = spec
                .and_then(|s| s.get("addresses"))
                .and_then(Node::as_seq)
                .map(|a| {
                    a.iter()
                        .filter_map(Node::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            if spec.and_then(|s| s.get("location")).and_then(Node::as_str) == Some("MESH_INTERNAL")
            {
                diags.push(spec_at.field("location").warn(
                    "W0601",
                    "a MESH_INTERNAL ServiceEntry is not egress: skipped",
                ));
                continue;
            }
            let Some(ports) = spec.and_then(|s| s.get("ports")).and_then(Node::as_seq) else {
                diags.push(
                    spec_at
                        .field("ports")
                        .warn("W0602", "a ServiceEntry without ports: nothing to allow")
                        .label("Istio creates no listener for it"),
                );
                continue;
            };
            for (i, p) in ports.iter().enumerate() {
                let p_at = spec_at.field("ports").index(i);
                let Some(number) = p.get("number").and_then(Node::as_u16).filter(|n| *n > 0) else {
                    diags.push(
                        p_at.field("number")
                            .warn("W0602", "a port without a valid number: skipped"),
                    );
                    continue;
                };
                let protocol = p
                    .get("protocol")
                    .and_then(Node::as_str)
                    .unwrap_or("TCP")
                    .to_ascii_uppercase();
                let proto = match protocol.as_str() {
                    "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB" => Proto::Http,
                    "HTTPS" | "TLS" => Proto::Tls,
                    _ => Proto::Tcp,
                };
                let comment = format!("ServiceEntry {key}, {}", p_at.show());
                if proto == Proto::Tcp {
                    let targets = if addresses.is_empty() {
                        diags.push(
                            p_at.warn(
                                "W0603",
                                format!("TCP port {number} without `addresses`: every address on port {number} is allowed"),
                            )
                            .label("Istio's listener for it is 0.0.0.0:PORT: any destination address")
                            .help("list the external service's address ranges in `spec.addresses`"),
                        );
                        vec!["0.0.0.0/0".to_owned(), "\"::/0\"".to_owned()]
                    } else {
                        addresses.iter().map(|a| quote_cidr(a)).collect()
                    };
                    out.push(Dest::new(
                        key,
                        "ServiceEntry",
                        targets,
                        true,
                        number,
                        proto,
                        comment,
                    ));
                } else {
                    for h in &hosts {
                        if h == "*" {
                            diags.push(spec_at.field("hosts").warn(
                                "W0604",
                                "host `*` cannot be a destination: imported as `**` (every host name)",
                            ));
                        }
                        let h = if h == "*" { "**".to_owned() } else { h.clone() };
                        out.push(Dest::new(
                            key,
                            "ServiceEntry",
                            vec![h],
                            false,
                            number,
                            proto,
                            comment.clone(),
                        ));
                    }
                }
            }
        }
        self.service_destinations(&mut out, diags);
        out
    }

    fn service_destinations(&self, out: &mut Vec<Dest>, diags: &mut Vec<Diagnostic>) {
        for (svc, at, key) in &self.services {
            let spec = svc.get("spec");
            let spec_at = at.field("spec");
            let ty = spec
                .and_then(|s| s.get("type"))
                .and_then(Node::as_str)
                .unwrap_or("ClusterIP");
            let ports = spec
                .and_then(|s| s.get("ports"))
                .and_then(Node::as_seq)
                .unwrap_or(&[]);
            let port_list: Vec<(u16, Proto, At)> = ports
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let number = p.get("port").and_then(Node::as_u16)?;
                    let name = p.get("name").and_then(Node::as_str).unwrap_or("");
                    let app = p.get("appProtocol").and_then(Node::as_str).unwrap_or("");
                    let proto = protocol_of_port(name, app);
                    Some((number, proto, spec_at.field("ports").index(i)))
                })
                .collect();
            let service = format!("\"{key}\"");
            if ty == "ExternalName" {
                let Some(ext) = spec
                    .and_then(|s| s.get("externalName"))
                    .and_then(Node::as_str)
                else {
                    continue;
                };
                for (number, proto, p_at) in &port_list {
                    if *proto == Proto::Tcp {
                        diags.push(p_at.warn(
                            "W0605",
                            "an ExternalName Service on a TCP port cannot be a destination (tcp destinations are address ranges): skipped",
                        ).help("name the port `http-…` or `tls-…` (or set appProtocol) if that is what it carries"));
                        continue;
                    }
                    let mut d = Dest::new(
                        key,
                        "Service",
                        vec![ext.to_ascii_lowercase()],
                        false,
                        *number,
                        *proto,
                        format!("Service {key} (ExternalName), {}", p_at.show()),
                    );
                    d.service = Some(service.clone());
                    out.push(d);
                }
                continue;
            }
            if spec.and_then(|s| s.get("selector")).is_some() {
                continue; // an in-mesh workload, not egress
            }
            let Some((eps, ep_at)) = self.endpoints.get(key) else {
                diags.push(spec_at.warn(
                    "W0605",
                    "a Service without selector and without Endpoints of the same name: skipped",
                ));
                continue;
            };
            let mut addrs = Vec::new();
            for subset in eps.get("subsets").and_then(Node::as_seq).unwrap_or(&[]) {
                for a in subset
                    .get("addresses")
                    .and_then(Node::as_seq)
                    .unwrap_or(&[])
                {
                    if let Some(ip) = a.get("ip").and_then(Node::as_str) {
                        addrs.push(quote_cidr(ip));
                    }
                }
            }
            if addrs.is_empty() {
                diags.push(
                    ep_at
                        .field("subsets")
                        .warn("W0605", "Endpoints without addresses: skipped"),
                );
                continue;
            }
            for (number, proto, p_at) in &port_list {
                if *proto != Proto::Tcp {
                    diags.push(p_at.warn(
                        "W0605",
                        "a selector-less Service is decided on its addresses: imported as `tcp` (no methods, paths or headers)",
                    ));
                }
                let mut d = Dest::new(
                    key,
                    "Service",
                    addrs.clone(),
                    true,
                    *number,
                    Proto::Tcp,
                    format!("Service {key} + Endpoints, {}", p_at.show()),
                );
                d.service = Some(service.clone());
                out.push(d);
            }
        }
    }

    fn apply_sidecars(&self, dests: &mut [Dest], diags: &mut Vec<Diagnostic>) {
        for (sc, at, _) in &self.sidecars {
            let spec = sc.get("spec");
            let ns = namespace_of(sc);
            if spec.and_then(|s| s.get("workloadSelector")).is_some() {
                diags.push(at.field("spec.workloadSelector").warn(
                    "W0606",
                    "a Sidecar for selected workloads is not imported: the language selects sources by identity, not labels",
                ).help("apply it to the whole namespace (no workloadSelector), or express it as `from serviceaccount` rules"));
                continue;
            }
            let Some(egress) = spec.and_then(|s| s.get("egress")).and_then(Node::as_seq) else {
                continue;
            };
            let mut visible: Vec<(String, String)> = Vec::new();
            for (i, e) in egress.iter().enumerate() {
                let e_at = at.field("spec.egress").index(i);
                if e.get("port").is_some() || e.get("bind").is_some() {
                    diags.push(e_at.warn("W0606", "an egress listener's `port`/`bind` is not imported: its hosts count for every port"));
                }
                for h in e.get("hosts").and_then(Node::as_seq).unwrap_or(&[]) {
                    if let Some((n, host)) = h.as_str().and_then(|h| h.split_once('/')) {
                        let n = if n == "." { ns.clone() } else { n.to_owned() };
                        visible.push((n, host.to_ascii_lowercase()));
                    }
                }
            }
            let root = ns == ROOT_NAMESPACE;
            let own: Vec<String> = self
                .sidecars
                .iter()
                .map(|(s, _, _)| namespace_of(s))
                .filter(|n| n != ROOT_NAMESPACE)
                .collect();
            for d in dests.iter_mut() {
                let owner_ns = d.owner.split('/').nth(1).unwrap_or("default").to_owned();
                let seen = visible.iter().any(|(n, h)| {
                    (n == "*" || *n == owner_ns)
                        && (h == "*"
                            || d.targets.contains(h)
                            || h.strip_prefix('*').is_some_and(|suffix| {
                                d.targets.iter().any(|t| t.ends_with(suffix))
                            }))
                });
                if seen {
                    continue;
                }
                let rule = if root {
                    if own.is_empty() {
                        "deny".to_owned()
                    } else {
                        let list: Vec<String> = own.iter().map(|n| format!("\"{n}\"")).collect();
                        format!("deny except from namespace {}", list.join(", "))
                    }
                } else {
                    format!("deny from namespace \"{ns}\"")
                };
                let rule = if d.proto == Proto::Http {
                    rule.replacen("deny", "deny any", 1)
                } else {
                    rule
                };
                d.denies.push(format!(
                    "{rule}  # Sidecar {}/{} does not list it",
                    ns,
                    name_of(sc)
                ));
            }
        }
    }
}

fn protocol_of_port(name: &str, app: &str) -> Proto {
    let p = if app.is_empty() {
        name.split('-').next().unwrap_or("")
    } else {
        app
    };
    match p.to_ascii_lowercase().as_str() {
        "http" | "http2" | "grpc" | "grpc-web" => Proto::Http,
        "https" | "tls" => Proto::Tls,
        _ => Proto::Tcp,
    }
}

/// A CIDR as the language writes it: IPv6 ranges quoted (they may start
/// with a letter).
fn quote_cidr(a: &str) -> String {
    if a.contains(':') {
        format!("\"{a}\"")
    } else {
        a.to_owned()
    }
}

impl Dest {
    fn new(
        owner: &str,
        kind: &str,
        targets: Vec<String>,
        cidr: bool,
        port: u16,
        proto: Proto,
        comment: String,
    ) -> Self {
        Self {
            owner: format!("{kind}/{owner}"),
            targets,
            cidr,
            port,
            proto,
            service: None,
            denies: Vec::new(),
            allows: Vec::new(),
            allow_policy: false,
            comment,
        }
    }
}

fn render(inputs: &[Input<'_>], dests: &[Dest], posture: Posture) -> String {
    let mut s = String::new();
    let names: Vec<&str> = inputs.iter().map(|i| i.name).collect();
    let _ = writeln!(
        s,
        "# Imported by `egressc import istio` from {}.",
        names.join(", ")
    );
    let (default, why) = match posture {
        Posture::Restricted => (
            "deny",
            "outboundTrafficPolicy REGISTRY_ONLY: hosts without a ServiceEntry are denied",
        ),
        Posture::Allowed => (
            "allow",
            "outboundTrafficPolicy ALLOW_ANY: hosts without a ServiceEntry are allowed",
        ),
    };
    let _ = writeln!(s, "policy \"istio-import\" {{");
    let _ = writeln!(s, "  default {default}  # {why}");
    for d in dests {
        let _ = writeln!(s, "  # {}", d.comment);
        let targets = if d.cidr {
            format!("cidr {}", d.targets.join(", "))
        } else {
            d.targets
                .iter()
                .map(|t| format!("\"{t}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let line_start = s.len();
        let _ = write!(
            s,
            "  destination {targets} port {} {}",
            d.port,
            d.proto.word()
        );
        if let Some(svc) = &d.service {
            let _ = write!(s, " service {svc}");
        }
        let any = if d.proto == Proto::Http {
            "allow any"
        } else {
            "allow"
        };
        let mut rules: Vec<String> = d.denies.clone();
        if d.allow_policy {
            rules.extend(d.allows.iter().cloned());
            if posture == Posture::Allowed {
                rules.push(
                    "otherwise deny  # an ALLOW policy applies: what it does not allow is denied"
                        .to_owned(),
                );
            }
        } else if !rules.is_empty() {
            rules.push(format!(
                "{any}  # no ALLOW policy applies: everything else is allowed"
            ));
        }
        if rules.is_empty() && d.allow_policy {
            // Restricted: the default denies what the ALLOW policies allow
            // none of; writing the destination would allow it all.
            s.truncate(line_start);
            let _ = writeln!(
                s,
                "  # {targets} port {}: an ALLOW policy applies and none of its rules matches here: everything is denied (no destination)",
                d.port
            );
            continue;
        }
        if rules.is_empty() {
            s.push('\n');
            continue;
        }
        s.push_str(" {\n");
        for r in rules {
            let _ = writeln!(s, "    {r}");
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(yaml: &str) -> Imported {
        istio(
            &[Input {
                file: FileId(0),
                name: "t.yaml",
                text: yaml,
            }],
            Posture::Restricted,
        )
    }

    fn codes(yaml: &str) -> Vec<&'static str> {
        run(yaml).diagnostics.iter().map(|d| d.code).collect()
    }

    const SE: &str = "kind: ServiceEntry\nmetadata: {name: se}\nspec: {hosts: [a.example], ports: [{number: 80, name: http, protocol: HTTP}]}\n";

    fn ap(rules: &str) -> String {
        format!("{SE}---\nkind: AuthorizationPolicy\nmetadata: {{name: p}}\nspec:\n{rules}")
    }

    #[test]
    fn each_code() {
        let bad = run("kind: ServiceEntry\nspec: {hosts: [a\n");
        assert!(bad.policy.is_none());
        assert_eq!(bad.diagnostics.first().map(|d| d.code), Some("E0601"));
        assert_eq!(codes("kind: DestinationRule\n"), ["W0601"]);
        assert_eq!(
            codes("kind: ServiceEntry\nspec: {location: MESH_INTERNAL}\n"),
            ["W0601"]
        );
        assert_eq!(codes("kind: ServiceEntry\nspec: {hosts: [a]}\n"), ["W0602"]);
        assert_eq!(
            codes(
                "kind: ServiceEntry\nspec: {hosts: [db], ports: [{number: 5432, protocol: TCP}]}\n"
            ),
            ["W0603"]
        );
        assert_eq!(
            codes(
                "kind: ServiceEntry\nspec: {hosts: ['*'], ports: [{number: 80, protocol: HTTP}]}\n"
            ),
            ["W0604"]
        );
        assert_eq!(
            codes("kind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n"),
            ["W0605"]
        );
        assert_eq!(
            codes(&format!(
                "{SE}---\nkind: Sidecar\nspec: {{workloadSelector: {{labels: {{a: b}}}}}}\n"
            )),
            ["W0606"]
        );
        assert_eq!(
            codes(&ap(
                "  rules: [{from: [{source: {ipBlocks: [10.0.0.0/8]}}]}]\n"
            )),
            ["W0607"]
        );
        assert_eq!(codes(&ap("  action: CUSTOM\n")), ["W0607"]);
        assert_eq!(
            codes(&ap(
                "  rules: [{to: [{operation: {hosts: [a.example]}}]}]\n"
            )),
            ["W0608"]
        );
        assert_eq!(codes(&ap("  action: AUDIT\n")), ["W0609"]);
        let wild = "kind: ServiceEntry\nmetadata: {name: se}\nspec: {hosts: ['*.example'], ports: [{number: 80, protocol: HTTP}]}\n---\nkind: AuthorizationPolicy\nmetadata: {name: p}\nspec:\n  rules: [{to: [{operation: {hosts: ['a.example:80']}}]}]\n";
        assert_eq!(
            codes(wild),
            ["W0607"],
            "a host inside a wildcard destination"
        );
        assert_eq!(
            codes(&ap("  targetRefs: [{kind: ServiceEntry, name: other}]\n")),
            ["W0610"]
        );
    }

    #[test]
    fn warnings_name_the_yaml_path_and_point_at_the_document() {
        let yaml = ap("  rules:\n  - to: [{operation: {paths: ['/a/*/b']}}]\n");
        let out = run(&yaml);
        let d = out.diagnostics.first().expect("a warning");
        assert_eq!(d.code, "W0607");
        assert!(
            d.message
                .starts_with("t.yaml:1:spec.rules[0].to[0].operation.paths[0]: path \"/a/*/b\""),
            "{}",
            d.message
        );
        assert_eq!(d.span.start as usize, yaml.find("---").unwrap_or(0));
        let policy = out.policy.unwrap_or_default();
        assert!(
            !policy.contains("allow"),
            "the ALLOW rule is dropped:\n{policy}"
        );
    }
}
