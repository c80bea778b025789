//! The Istio emitter (`egressc istio`): compiled policies to one
//! multi-document YAML bundle of everything a mesh needs to enforce them:
//!
//! - a ServiceEntry per destination (hosts, ports with their protocol,
//!   resolution, CIDR addresses for `tcp`, `location: MESH_EXTERNAL`), so
//!   the destinations exist in Istio's registry (and, on a waypoint, are
//!   routed through it);
//! - the filter as WasmPlugins (or TrafficExtensions): `type: HTTP`, and
//!   `type: NETWORK` when there are `tls`/`tcp` destinations, each carrying
//!   the table in `pluginConfig`, `phase: AUTHZ`, `failStrategy: FAIL_CLOSE`;
//! - a DestinationRule per host for `originate-tls` (`tls.mode: SIMPLE`), a
//!   VirtualService for `timeout`;
//! - a Telemetry resource that puts the filter's decision into the access
//!   log, and (as comments) the mesh settings it and `default deny` rely on;
//! - per attachment: the waypoint's Gateway and namespace labels, or the
//!   egress gateway's Gateway and VirtualServices (Istio's egress-gateway
//!   task), or nothing more for sidecars.
//!
//! Every document starts with comments naming the policy line it came from;
//! the same input gives the same bytes. Pure: the caller hands in the
//! compiled policies, the sources (for file:line) and the module's digests.
//! Things the bundle cannot express, and objects approaching Kubernetes'
//! size limits, come back as warnings (W05xx).

use std::collections::BTreeSet;

use egress_table::spec::{Action, Mode};

use crate::Compiled;
use crate::check::CPolicy;
use crate::diag::Diagnostic;
use crate::source::{Sources, Span};
use crate::yaml::{self, Document, Node};

mod dest;
mod gateway;
mod k8s;
mod mesh;

/// Where the filter runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// An ambient egress waypoint (Istio's "Egress gateways" ambient guide).
    Waypoint,
    /// Istio's egress gateway deployment (`istio: egressgateway`).
    EgressGateway,
    /// Every sidecar of the namespace, on outbound traffic.
    Sidecar,
}

impl Attach {
    /// The namespace used when none is given.
    pub fn default_namespace(self) -> &'static str {
        match self {
            Self::Waypoint => "istio-egress",
            Self::EgressGateway => "istio-system",
            Self::Sidecar => "default",
        }
    }

    fn describe(self, ns: &str) -> String {
        match self {
            Self::Waypoint => format!(
                "an ambient egress waypoint (Gateway {WAYPOINT} in namespace {ns}, --attach waypoint)"
            ),
            Self::EgressGateway => format!(
                "the egress gateway (pods labelled istio: egressgateway, namespace {ns}, --attach egress-gateway)"
            ),
            Self::Sidecar => {
                format!("the sidecars of namespace {ns}, outbound traffic (--attach sidecar)")
            }
        }
    }
}

/// Which resource carries the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `extensions.istio.io/v1alpha1` WasmPlugin.
    WasmPlugin,
    /// `extensions.istio.io/v1alpha1` TrafficExtension (supersedes WasmPlugin).
    TrafficExtension,
}

/// How to emit.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the filter runs.
    pub attach: Attach,
    /// The namespace of every namespaced resource.
    pub namespace: String,
    /// WasmPlugin or TrafficExtension.
    pub api: Api,
    /// Where proxies fetch the module: `oci://`, `https://`, `http://` or `file://`.
    pub wasm_url: String,
    /// The `sha256` field: what Istio checks the download against (the
    /// module's sha256 for `http(s)://`, the image manifest's digest for
    /// `oci://`), hex; `None` leaves it out.
    pub url_sha256: Option<String>,
    /// The module's own sha256 (hex), named in comments.
    pub module_sha256: String,
    /// `egressc <version>`, named in the header.
    pub generator: String,
    /// The filter's settings for the proxy in each `pluginConfig`
    /// (`max_path_bytes`, `max_header_bytes`; Istio's proxies are Envoy, so no
    /// `authority_header`).
    pub filter: egress_table::plugin_config::Options,
}

/// The bundle and what was noticed while writing it.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The YAML stream.
    pub yaml: String,
    /// Warnings (W05xx).
    pub diagnostics: Vec<Diagnostic>,
    /// Per filter resource: its name and its size as JSON (what the API
    /// server stores and `kubectl apply` copies into its annotation).
    pub plugin_sizes: Vec<(String, usize)>,
}

/// The waypoint's name (what `istioctl waypoint apply` creates by default).
pub const WAYPOINT: &str = "waypoint";
/// The egress gateway Service of Istio's default installation.
pub const EGRESS_GATEWAY_SERVICE: &str = "istio-egressgateway.istio-system.svc.cluster.local";
/// The Istio Gateway egressc writes for `--attach egress-gateway`.
pub const EGRESS_GATEWAY: &str = "egress-gateway";
/// The access-log provider the Telemetry resource names.
pub const ACCESS_LOG_PROVIDER: &str = "egress-decisions";
/// The access-log line, with the filter's decision from filter state
/// (docs/filter.md).
pub const ACCESS_LOG_FORMAT: &str = "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_CODE_DETAILS% \"%REQ(:AUTHORITY)%\" %UPSTREAM_HOST% %REQUESTED_SERVER_NAME% egress=%FILTER_STATE(wasm.egress_decision:PLAIN)% audit=%FILTER_STATE(wasm.egress_audit:PLAIN)%\n";

/// The per-object limit of etcd (and so of the API server), 1.5 MiB.
pub const OBJECT_LIMIT: usize = 3 * 512 * 1024;
/// The limit on all annotations of an object, 256 KiB: client-side
/// `kubectl apply` copies the whole object into one.
pub const ANNOTATION_LIMIT: usize = 256 * 1024;

const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "egressc");
/// Most ports one ServiceEntry may list (its CRD's `maxItems`).
const MAX_PORTS: usize = 256;

/// Checks a namespace name; the message starts with the name, callers
/// name where it came from.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    if k8s_name(ns) == ns {
        return Ok(());
    }
    Err(format!(
        "{ns}: a namespace is a DNS label (lower-case letters, digits and `-`, at most 63), e.g. {}",
        k8s_name(ns)
    ))
}

/// A Kubernetes object name (an RFC 1123 label: at most 63 lower-case
/// letters, digits and `-`, starting and ending with a letter or digit).
pub fn k8s_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "egress".to_owned()
    } else {
        out
    }
}

/// Names handed out so far, to keep them unique.
#[derive(Default)]
struct Names(BTreeSet<String>);

impl Names {
    fn take(&mut self, base: &str) -> String {
        let base = k8s_name(base);
        let mut name = base.clone();
        let mut n = 2;
        while !self.0.insert(name.clone()) {
            let suffix = format!("-{n}");
            let keep: String = base.chars().take(63 - suffix.len()).collect();
            name = format!("{}{suffix}", keep.trim_end_matches('-'));
            n += 1;
        }
        name
    }
}

struct Ctx<'a> {
    opts: &'a Options,
    sources: &'a Sources,
    diags: Vec<Diagnostic>,
    names: Names,
    docs: Vec<Document>,
}

impl Ctx<'_> {
    /// `file:line` of a span.
    fn at(&self, span: Span) -> String {
        match self.sources.get(span.file) {
            Some(f) => format!("{}:{}", f.name, f.line_col(span.start).0),
            None => "?".to_owned(),
        }
    }

    /// The text of a span's first line, trimmed (what the author wrote).
    fn written(&self, span: Span) -> String {
        match self.sources.get(span.file) {
            Some(f) => {
                let text = f.line_text(f.line_col(span.start).0).trim();
                let text = text.strip_suffix('{').unwrap_or(text).trim_end();
                text.to_owned()
            }
            None => String::new(),
        }
    }

    fn metadata(&self, name: &str, labels: &[(&str, &str)]) -> Node {
        let mut l = Node::map();
        for (k, v) in labels.iter().chain([&MANAGED_BY]) {
            l = l.with(k, *v);
        }
        Node::map()
            .with("name", name)
            .with("namespace", self.opts.namespace.as_str())
            .with("labels", l)
    }

    /// A resource's `apiVersion`, `kind` and `metadata`; the caller adds
    /// the rest.
    fn object(&self, api_version: &str, kind: &str, name: &str, labels: &[(&str, &str)]) -> Node {
        Node::map()
            .with("apiVersion", api_version)
            .with("kind", kind)
            .with("metadata", self.metadata(name, labels))
    }

    fn push(&mut self, comments: Vec<String>, body: Node) {
        self.docs.push(Document {
            comments,
            body: Some(body),
        });
    }

    /// How the filter is attached, as `targetRefs`/`selector` entries.
    fn attachment(&self) -> Vec<(&'static str, Node)> {
        match self.opts.attach {
            Attach::Waypoint => vec![(
                "targetRefs",
                Node::Seq(vec![
                    Node::map()
                        .with("kind", "Gateway")
                        .with("group", "gateway.networking.k8s.io")
                        .with("name", WAYPOINT),
                ]),
            )],
            Attach::EgressGateway => vec![(
                "selector",
                Node::map().with("matchLabels", Node::map().with("istio", "egressgateway")),
            )],
            Attach::Sidecar => vec![],
        }
    }
}

impl<'a> Ctx<'a> {
    fn new(opts: &'a Options, sources: &'a Sources) -> Self {
        let mut names = Names::default();
        for n in [
            WAYPOINT,
            EGRESS_GATEWAY,
            ACCESS_LOG_PROVIDER,
            mesh::HTTP_PLUGIN,
            mesh::NETWORK_PLUGIN,
        ] {
            names.0.insert(n.to_owned());
        }
        Ctx {
            opts,
            sources,
            diags: Vec::new(),
            names,
            docs: Vec::new(),
        }
    }
}

/// The combined default of the enforced policies (deny if any says deny),
/// and the policy that says so.
fn restricted_by(policies: &[CPolicy]) -> Option<&CPolicy> {
    policies
        .iter()
        .find(|p| p.mode == Mode::Enforce && p.default == Action::Deny)
}

/// Writes the bundle for `compiled`.
pub fn bundle(compiled: &Compiled, sources: &Sources, opts: &Options) -> Result<Bundle, String> {
    let table = egress_table::format::encode(&compiled.spec)
        .map_err(|e| format!("internal error while encoding the table: {}", e.0))?;
    let checksum = egress_table::Table::from_bytes(&table)
        .map(|t| (t.checksum(), t.version()))
        .map_err(|e| format!("internal error: the table does not decode: {e}"))?;
    let policies = &compiled.checked.policies;
    let mut cx = Ctx::new(opts, sources);
    let files: Vec<String> = sources.iter().map(|(_, f)| f.name.clone()).collect();
    let header = header(opts, &files, policies, &table, checksum);
    mesh::attachment(&mut cx);
    mesh::posture(&mut cx, policies);
    let listeners = dest::destinations(&mut cx, policies);
    let plugin_sizes = mesh::filter(
        &mut cx,
        &table,
        &listeners,
        &files,
        policies.first().map(|p| p.name_span),
    )?;
    mesh::access_log(&mut cx);
    let mut diagnostics = cx.diags;
    crate::diag::sort(&mut diagnostics);
    Ok(Bundle {
        yaml: yaml::render(&header, &cx.docs),
        diagnostics,
        plugin_sizes,
    })
}

/// The comment lines that open the bundle: what made it, where the filter
/// runs, the module and the table.
fn header(
    opts: &Options,
    files: &[String],
    policies: &[CPolicy],
    table: &[u8],
    checksum: (u32, (u16, u16)),
) -> Vec<String> {
    let mut header = vec![
        format!(
            "Generated by {} from {}. Do not edit: change the policy and run egressc istio again.",
            opts.generator,
            files.join(", ")
        ),
        format!(
            "The filter runs in {}.",
            opts.attach.describe(&opts.namespace)
        ),
        format!(
            "Filter module sha256:{}, fetched from {}.",
            opts.module_sha256, opts.wasm_url
        ),
        format!(
            "Rule table: format {}.{}, {} bytes, checksum crc32c:{:08x}; policies {}.",
            checksum.1.0,
            checksum.1.1,
            table.len(),
            checksum.0,
            policies
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        "Apply with: kubectl apply --server-side -f <this file>. The documents that are".to_owned(),
        "only comments are mesh settings to merge into your Istio installation.".to_owned(),
    ];
    if restricted_by(policies).is_none() && !policies.is_empty() {
        header.push(
            "No enforced policy says `default deny`: Istio's default posture (ALLOW_ANY) fits."
                .to_owned(),
        );
    }
    header
}

#[cfg(test)]
mod tests {
    use super::dest::{duration, expand};
    use super::*;
    use egress_table::spec::PortRange;

    #[test]
    fn names_and_durations() {
        assert_eq!(k8s_name("Partner_API--x.org"), "partner-api-x-org");
        assert_eq!(k8s_name("---"), "egress");
        assert_eq!(k8s_name(&"a".repeat(80)).len(), 63);
        let mut n = Names::default();
        assert_eq!(n.take("a"), "a");
        assert_eq!(n.take("A"), "a-2");
        assert_eq!(n.take(&"b".repeat(70)).len(), 63);
        assert!(n.take(&"b".repeat(70)).ends_with("-2"));
        assert_eq!(duration(3000), "3s");
        assert_eq!(duration(500), "0.5s");
        assert_eq!(duration(1250), "1.25s");
        assert_eq!(duration(60_001), "60.001s");
    }

    #[test]
    fn port_expansion_is_bounded() {
        let r = |lo, hi| PortRange { lo, hi };
        assert_eq!(
            expand(&[r(80, 80), r(8080, 8081)], 256),
            Some(vec![80, 8080, 8081])
        );
        assert_eq!(expand(&[r(1, 65535)], 256), None);
        assert_eq!(expand(&[r(1000, 1255)], 256).map(|v| v.len()), Some(256));
        assert_eq!(expand(&[r(1000, 1256)], 256), None);
    }
}
