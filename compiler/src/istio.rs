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

use egress_table::plugin_config::{self, Layer};
use egress_table::spec::{Action, HostKind, Mode, PortRange, Protocol, Target};

use crate::check::{CDest, CPolicy};
use crate::diag::Diagnostic;
use crate::source::{Sources, Span};
use crate::yaml::{self, Document, Node};
use crate::{Compiled, posture};

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

/// A port as Istio names it.
fn istio_protocol(protocol: Protocol, port: u16) -> &'static str {
    match (protocol, port) {
        (Protocol::Http, _) => "HTTP",
        (Protocol::Tls, 443) => "HTTPS",
        (Protocol::Tls, _) => "TLS",
        (Protocol::Tcp, _) => "TCP",
    }
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

/// A destination's host names, split the way ServiceEntries need them.
#[derive(Default)]
struct Hosts {
    /// Exact names (resolution DNS).
    exact: Vec<String>,
    /// `*.x` and `**.x`, both Istio's `*.x` (resolution DYNAMIC_DNS on a
    /// waypoint, else NONE).
    wildcard: Vec<String>,
    /// `*` and `**`: no ServiceEntry can list them.
    catch_all: Vec<String>,
    /// IP addresses written as hosts, and CIDRs (resolution NONE).
    addresses: Vec<String>,
}

fn hosts_of(d: &CDest) -> Hosts {
    let mut h = Hosts::default();
    for t in &d.targets {
        match &t.value {
            Target::Host(p) => match (p.kind, p.name.is_empty()) {
                (_, true) => h.catch_all.push(p.to_string()),
                (HostKind::Exact, false) if p.name.parse::<std::net::IpAddr>().is_ok() => {
                    h.addresses.push(p.name.clone())
                }
                (HostKind::Exact, false) => h.exact.push(p.name.clone()),
                (_, false) => h.wildcard.push(format!("*.{}", p.name)),
            },
            Target::Cidr(c) => h.addresses.push(c.to_string()),
        }
    }
    for v in [
        &mut h.exact,
        &mut h.wildcard,
        &mut h.catch_all,
        &mut h.addresses,
    ] {
        let mut seen = BTreeSet::new();
        v.retain(|x| seen.insert(x.clone()));
    }
    h
}

/// The single ports of `ranges`, or `None` when there are more than `max`.
fn expand(ranges: &[PortRange], max: usize) -> Option<Vec<u16>> {
    let mut ports = BTreeSet::new();
    for r in ranges {
        if usize::from(r.hi - r.lo) >= max {
            return None;
        }
        ports.extend(r.lo..=r.hi);
    }
    (ports.len() <= max).then(|| ports.into_iter().collect())
}

/// An Istio duration (`3s`, `0.5s`): protobuf JSON durations are seconds.
fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", s.trim_end_matches('0'))
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
    let mut cx = Ctx {
        opts,
        sources,
        diags: Vec::new(),
        names: Names::default(),
        docs: Vec::new(),
    };
    for n in [
        WAYPOINT,
        EGRESS_GATEWAY,
        ACCESS_LOG_PROVIDER,
        "egress-http",
        "egress-network",
    ] {
        cx.names.0.insert(n.to_owned());
    }
    let ns = opts.namespace.clone();
    let files: Vec<String> = sources.iter().map(|(_, f)| f.name.clone()).collect();
    let first_span = policies.first().map(|p| p.name_span);

    // Header.
    let mut header = vec![
        format!(
            "Generated by {} from {}. Do not edit: change the policy and run egressc istio again.",
            opts.generator,
            files.join(", ")
        ),
        format!("The filter runs in {}.", opts.attach.describe(&ns)),
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

    // Attachment resources.
    match opts.attach {
        Attach::Waypoint => {
            cx.push(
                vec![
                    format!("The egress namespace: ambient, and its services (the ServiceEntries below) use the waypoint `{WAYPOINT}`."),
                    "(What `istioctl waypoint apply --enroll-namespace` labels.)".to_owned(),
                ],
                Node::map()
                    .with("apiVersion", "v1")
                    .with("kind", "Namespace")
                    .with(
                        "metadata",
                        Node::map().with("name", ns.as_str()).with(
                            "labels",
                            Node::map()
                                .with("istio.io/dataplane-mode", "ambient")
                                .with("istio.io/use-waypoint", WAYPOINT)
                                .with(MANAGED_BY.0, MANAGED_BY.1),
                        ),
                    ),
            );
            cx.push(
                vec![
                    "The egress waypoint (what `istioctl waypoint apply --for service` creates)."
                        .to_owned(),
                ],
                Node::map()
                    .with("apiVersion", "gateway.networking.k8s.io/v1")
                    .with("kind", "Gateway")
                    .with(
                        "metadata",
                        cx.metadata(WAYPOINT, &[("istio.io/waypoint-for", "service")]),
                    )
                    .with(
                        "spec",
                        Node::map().with("gatewayClassName", "istio-waypoint").with(
                            "listeners",
                            vec![
                                Node::map()
                                    .with("name", "mesh")
                                    .with("port", 15008i64)
                                    .with("protocol", "HBONE"),
                            ],
                        ),
                    ),
            );
        }
        Attach::EgressGateway | Attach::Sidecar => {}
    }

    // Mesh-wide posture (a comment-only document).
    if let Some(p) = restricted_by(policies) {
        let span = p.default_span.unwrap_or(p.name_span);
        let mut comments = posture::wrap(
            &format!(
                "Mesh posture: restricted. Policy \"{}\" says `default deny` ({}), so hosts \
                 without a ServiceEntry must not get past the proxies either. This is a \
                 mesh-wide install setting, not a resource: it is commented out so that \
                 applying this file cannot change it by accident. Merge it into your \
                 IstioOperator (istioctl install), or write it for Helm or the istio \
                 ConfigMap with `egressc posture restricted --format helm|configmap`. \
                 Ambient ztunnel does not apply it (istio/istio#54281); the waypoint does.",
                p.name,
                cx.at(span)
            ),
            88,
        );
        comments.push(String::new());
        comments.extend(
            yaml::to_text(&posture::istio_operator(posture::Posture::Restricted))
                .lines()
                .map(str::to_owned),
        );
        cx.docs.push(Document {
            comments,
            body: None,
        });
    }

    // Destinations.
    let mut http_ports: BTreeSet<u16> = BTreeSet::new();
    let mut network_ports: BTreeSet<u16> = BTreeSet::new();
    let mut network_all_ports = false;
    let mut has_network = false;
    let mut gateway_http_hosts: BTreeSet<String> = BTreeSet::new();
    let mut gateway_tls_hosts: BTreeSet<String> = BTreeSet::new();
    for p in policies {
        for d in &p.dests {
            let ports = expand(&d.ports, MAX_PORTS);
            match (d.protocol, &ports) {
                (Protocol::Http, Some(ps)) => http_ports.extend(ps),
                (Protocol::Http, None) => {}
                (_, Some(ps)) => {
                    has_network = true;
                    network_ports.extend(ps);
                }
                (_, None) => {
                    has_network = true;
                    network_all_ports = true;
                }
            }
            destination(
                &mut cx,
                p,
                d,
                ports.as_deref(),
                &mut gateway_http_hosts,
                &mut gateway_tls_hosts,
            );
        }
    }
    if opts.attach == Attach::EgressGateway
        && (!gateway_http_hosts.is_empty() || !gateway_tls_hosts.is_empty())
    {
        egress_gateway(&mut cx, &gateway_http_hosts, &gateway_tls_hosts);
    }

    // The filter.
    let mut plugin_sizes = Vec::new();
    let layers: Vec<(Layer, &str)> = if has_network {
        vec![
            (Layer::Http, "egress-http"),
            (Layer::Network, "egress-network"),
        ]
    } else {
        vec![(Layer::Http, "egress-http")]
    };
    for (layer, name) in layers {
        let config: serde_json::Value = serde_json::from_str(&plugin_config::encode(&table, layer))
            .map_err(|e| format!("internal error: pluginConfig is not JSON: {e}"))?;
        let config = Node::from_json(&config);
        let ptype = match layer {
            Layer::Http => "HTTP",
            Layer::Network => "NETWORK",
        };
        let mut matches = Node::map();
        if opts.attach == Attach::Sidecar {
            matches = matches.with("mode", "CLIENT");
        }
        if layer == Layer::Network && !network_all_ports {
            matches = matches.with(
                "ports",
                network_ports
                    .iter()
                    .map(|p| Node::map().with("number", *p))
                    .collect::<Vec<_>>(),
            );
        }
        let with_match = |n: Node| match &matches {
            Node::Map(m) if m.is_empty() => n,
            _ => n.with("match", vec![matches.clone()]),
        };
        let mut spec = Node::map();
        for (k, v) in cx.attachment() {
            spec = spec.with(k, v);
        }
        let (api_kind, spec) = match opts.api {
            Api::WasmPlugin => {
                let spec = spec
                    .with("url", opts.wasm_url.as_str())
                    .with_opt("sha256", opts.url_sha256.as_deref())
                    .with("phase", "AUTHZ")
                    .with("failStrategy", "FAIL_CLOSE")
                    .with("type", ptype);
                ("WasmPlugin", with_match(spec).with("pluginConfig", config))
            }
            Api::TrafficExtension => {
                let wasm = Node::map()
                    .with("url", opts.wasm_url.as_str())
                    .with_opt("sha256", opts.url_sha256.as_deref())
                    .with("failStrategy", "FAIL_CLOSE")
                    .with("type", ptype)
                    .with("pluginConfig", config);
                let spec = with_match(spec.with("phase", "AUTHZ"));
                ("TrafficExtension", spec.with("wasm", wasm))
            }
        };
        let what = match layer {
            Layer::Http => {
                "decides every HTTP request (host, port, method, path, source, headers)".to_owned()
            }
            Layer::Network => format!(
                "decides every connection to the tls/tcp ports ({}) on SNI or address",
                if network_all_ports {
                    "all ports".to_owned()
                } else {
                    network_ports
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        };
        let mut comments = vec![
            format!("The egress filter, {} layer: {what}.", layer.as_str()),
            format!(
                "Its table holds the policies of {}; a denial is final (FAIL_CLOSE if the module cannot load).",
                files.join(", ")
            ),
        ];
        if let Some(sha) = &opts.url_sha256 {
            comments.push(if opts.wasm_url.starts_with("oci://") {
                format!("sha256 is the digest of the image manifest `egressc package` writes for module sha256:{} (Istio checks oci:// images by manifest digest).", opts.module_sha256)
            } else {
                format!("sha256 is the module's own digest ({sha}).")
            });
        }
        let body = Node::map()
            .with("apiVersion", "extensions.istio.io/v1alpha1")
            .with("kind", api_kind)
            .with("metadata", cx.metadata(name, &[]))
            .with("spec", spec);
        let size = body.to_json().len();
        plugin_sizes.push((name.to_owned(), size));
        if let Some(span) = first_span {
            size_guard(&mut cx.diags, span, api_kind, name, size);
        }
        cx.push(comments, body);
    }

    // Access log.
    let mut spec = Node::map();
    for (k, v) in cx.attachment() {
        spec = spec.with(k, v);
    }
    let spec = spec.with(
        "accessLogging",
        vec![Node::map().with(
            "providers",
            vec![Node::map().with("name", ACCESS_LOG_PROVIDER)],
        )],
    );
    cx.push(
        vec![
            format!(
                "Access log with the filter's decision (filter state wasm.egress_decision, docs/filter.md), through the {ACCESS_LOG_PROVIDER} provider of the mesh settings below."
            ),
        ],
        Node::map()
            .with("apiVersion", "telemetry.istio.io/v1")
            .with("kind", "Telemetry")
            .with("metadata", cx.metadata(ACCESS_LOG_PROVIDER, &[]))
            .with("spec", spec),
    );
    let provider = Node::map().with(
        "meshConfig",
        Node::map().with(
            "extensionProviders",
            vec![
                Node::map().with("name", ACCESS_LOG_PROVIDER).with(
                    "envoyFileAccessLog",
                    Node::map()
                        .with("path", "/dev/stdout")
                        .with("logFormat", Node::map().with("text", ACCESS_LOG_FORMAT)),
                ),
            ],
        ),
    );
    let mut comments = vec![
        format!(
            "Mesh setting for the Telemetry resource above: the {ACCESS_LOG_PROVIDER} access-log provider."
        ),
        "Merge it into your installation: IstioOperator spec.meshConfig, the istiod chart's"
            .to_owned(),
        "meshConfig values, or the mesh key of ConfigMap istio-system/istio (keep your other"
            .to_owned(),
        "extensionProviders). Commented out: it is not a resource.".to_owned(),
        String::new(),
    ];
    comments.extend(yaml::to_text(&provider).lines().map(str::to_owned));
    cx.docs.push(Document {
        comments,
        body: None,
    });

    let mut diagnostics = cx.diags;
    crate::diag::sort(&mut diagnostics);
    Ok(Bundle {
        yaml: yaml::render(&header, &cx.docs),
        diagnostics,
        plugin_sizes,
    })
}

/// W0501/W0502 when a filter resource approaches the Kubernetes limits.
fn size_guard(diags: &mut Vec<Diagnostic>, span: Span, kind: &str, name: &str, size: usize) {
    let kib = |n: usize| format!("{:.0} KiB", n as f64 / 1024.0);
    if size * 10 >= OBJECT_LIMIT * 9 {
        diags.push(
            Diagnostic::warning(
                "W0502",
                span,
                format!(
                    "the {kind} {name} is {}: {} the 1.5 MiB the API server stores per object",
                    kib(size),
                    if size > OBJECT_LIMIT { "over" } else { "close to" }
                ),
            )
            .label("the policies compiled together make one table, carried base64 in pluginConfig")
            .help("split the policies into separate bundles (one table per waypoint or gateway), or shrink the table: `egressc compile --format dump` shows what takes room")
            .note("etcd refuses objects over 1.5 MiB whatever the apply mode; keeping the table in the OCI image instead of pluginConfig would lift this limit, which the filter does not support yet"),
        );
    } else if size * 10 >= ANNOTATION_LIMIT * 9 {
        diags.push(
            Diagnostic::warning(
                "W0501",
                span,
                format!(
                    "the {kind} {name} is {}: {} the 256 KiB client-side `kubectl apply` can handle",
                    kib(size),
                    if size > ANNOTATION_LIMIT { "over" } else { "close to" }
                ),
            )
            .label("the policies compiled together make one table, carried base64 in pluginConfig")
            .help("apply with `kubectl apply --server-side` (no last-applied-configuration annotation), or split the policies into separate bundles")
            .note("client-side apply copies the whole object into the kubectl.kubernetes.io/last-applied-configuration annotation, and an object's annotations may hold at most 256 KiB"),
        );
    }
}

/// The ServiceEntries, DestinationRules and VirtualServices of one destination.
fn destination(
    cx: &mut Ctx<'_>,
    p: &CPolicy,
    d: &CDest,
    ports: Option<&[u16]>,
    gateway_http_hosts: &mut BTreeSet<String>,
    gateway_tls_hosts: &mut BTreeSet<String>,
) {
    let at = cx.at(d.span);
    let origin = format!("From {at}, policy \"{}\": {}", p.name, cx.written(d.span));
    let hosts = hosts_of(d);
    let waypoint = cx.opts.attach == Attach::Waypoint;
    let gateway = cx.opts.attach == Attach::EgressGateway;
    if !hosts.catch_all.is_empty() {
        cx.diags.push(
            Diagnostic::warning(
                "W0503",
                d.span,
                format!(
                    "no ServiceEntry can list {}",
                    hosts.catch_all.join(", ")
                ),
            )
            .label("Istio's registry has no catch-all host")
            .help("with `outboundTrafficPolicy.mode: ALLOW_ANY` (egressc posture allowed) such traffic reaches the filter unregistered; under REGISTRY_ONLY it is refused before the filter")
            .note("the filter itself still decides these hosts as written"),
        );
    }
    let Some(ports) = ports else {
        cx.diags.push(
            Diagnostic::warning(
                "W0503",
                d.span,
                format!("the ports of this destination are more than the {MAX_PORTS} a ServiceEntry can list"),
            )
            .label("no ServiceEntry written for it")
            .help("list the ports the destination really uses, or split the range across destinations")
            .note("ServiceEntry ports are single numbers; under REGISTRY_ONLY this destination is refused before the filter"),
        );
        return;
    };
    if gateway && d.protocol == Protocol::Tcp {
        cx.diags.push(
            Diagnostic::warning(
                "W0503",
                d.span,
                "a tcp destination is not routed through the egress gateway",
            )
            .label("no ServiceEntry written for it")
            .help("use --attach waypoint (ambient) or --attach sidecar for tcp destinations")
            .note("routing TCP to an egress gateway takes per-address routes that egressc does not write; without a ServiceEntry, REGISTRY_ONLY refuses the traffic (fail closed) instead of letting it bypass the filter"),
        );
        return;
    }
    if gateway && !hosts.wildcard.is_empty() {
        cx.diags.push(
            Diagnostic::warning(
                "W0503",
                d.span,
                format!("wildcard hosts ({}) are not routed through the egress gateway", hosts.wildcard.join(", ")),
            )
            .label("no ServiceEntry written for them")
            .help("list the host names, or use --attach waypoint (DYNAMIC_DNS resolves wildcards there)")
            .note("an egress gateway forwards wildcard hosts only through an SNI proxy (Istio's wildcard egress hosts task), which egressc does not write"),
        );
    }
    let port_list = |target_port: Option<u16>| -> Node {
        Node::Seq(
            ports
                .iter()
                .map(|&n| {
                    let proto = istio_protocol(d.protocol, n);
                    Node::map()
                        .with("number", n)
                        .with("name", format!("{}-{n}", proto.to_ascii_lowercase()))
                        .with("protocol", proto)
                        .with_opt("targetPort", target_port)
                })
                .collect(),
        )
    };
    let slug = |h: &str| h.replace("*.", "wildcard.");
    let labels: Vec<(&str, &str)> = if waypoint {
        vec![("istio.io/use-waypoint", WAYPOINT)]
    } else {
        vec![]
    };
    // (hosts, or none for address ranges; addresses; resolution; why)
    let mut groups: Vec<(Vec<String>, Vec<String>, &str, &str)> = Vec::new();
    if !hosts.exact.is_empty() {
        groups.push((hosts.exact.clone(), vec![], "DNS", "resolved by DNS"));
    }
    if !hosts.wildcard.is_empty() && !gateway {
        let (res, why) = if waypoint {
            (
                "DYNAMIC_DNS",
                "wildcards: the waypoint resolves each name it sees",
            )
        } else {
            (
                "NONE",
                "wildcards: the proxy forwards to the address the client resolved",
            )
        };
        groups.push((hosts.wildcard.clone(), vec![], res, why));
    }
    if !hosts.addresses.is_empty() {
        groups.push((
            vec![],
            hosts.addresses.clone(),
            "NONE",
            "address ranges: the host name is a placeholder (never resolved; .invalid, RFC 2606); traffic is matched by address",
        ));
    }
    for (all_hosts, all_addresses, resolution, why) in groups {
        // A ServiceEntry lists at most 256 hosts and 256 addresses.
        let chunks: Vec<(Vec<String>, Vec<String>)> = if all_addresses.is_empty() {
            all_hosts
                .chunks(MAX_PORTS)
                .map(|c| (c.to_vec(), vec![]))
                .collect()
        } else {
            all_addresses
                .chunks(MAX_PORTS)
                .map(|c| (vec![], c.to_vec()))
                .collect()
        };
        for (se_hosts, addresses) in chunks {
            let (name, se_hosts) = if addresses.is_empty() {
                let base = format!(
                    "{}-{}",
                    p.name,
                    slug(se_hosts.first().map_or("hosts", String::as_str))
                );
                (cx.names.take(&base), se_hosts)
            } else {
                let name = cx.names.take(&format!(
                    "{}-{}-{}",
                    p.name,
                    d.protocol.as_str(),
                    ports.first().copied().unwrap_or(0)
                ));
                let placeholder = format!("{name}.addresses.invalid");
                (name, vec![placeholder])
            };
            let mut spec = Node::map().with(
                "hosts",
                se_hosts
                    .iter()
                    .map(|h| Node::str(h.as_str()))
                    .collect::<Vec<_>>(),
            );
            if !addresses.is_empty() {
                spec = spec.with(
                    "addresses",
                    addresses
                        .iter()
                        .map(|a| Node::str(a.as_str()))
                        .collect::<Vec<_>>(),
                );
            }
            spec = spec
                .with("ports", port_list(d.originate_tls))
                .with("location", "MESH_EXTERNAL")
                .with("resolution", resolution);
            let mut comments = vec![origin.clone(), format!("ServiceEntry: {why}.")];
            if let Some(t) = d.originate_tls {
                comments.push(format!(
                    "originate-tls {t}: the application sends plain HTTP; the proxy connects to port {t} with TLS (DestinationRule below)."
                ));
            }
            cx.push(
                comments,
                Node::map()
                    .with("apiVersion", "networking.istio.io/v1")
                    .with("kind", "ServiceEntry")
                    .with("metadata", cx.metadata(&name, &labels))
                    .with("spec", spec),
            );
            if resolution == "DNS" && gateway {
                let set = if d.protocol == Protocol::Http {
                    &mut *gateway_http_hosts
                } else {
                    &mut *gateway_tls_hosts
                };
                set.extend(se_hosts.iter().cloned());
            }
        }
    }

    // TLS origination: one DestinationRule per host.
    if let Some(target) = d.originate_tls {
        for h in hosts
            .exact
            .iter()
            .chain(hosts.wildcard.iter().filter(|_| !gateway))
        {
            let wildcard = h.starts_with("*.");
            let tls = Node::map()
                .with("mode", "SIMPLE")
                .with_opt("sni", (!wildcard).then_some(h.as_str()));
            let name = cx.names.take(&format!("{}-{}-tls", p.name, slug(h)));
            cx.push(
                vec![
                    origin.clone(),
                    format!(
                        "originate-tls {target}: TLS to {h} on port {target} (ServiceEntry targetPort), verified against the system CAs{}.",
                        if wildcard { "; SNI is the request's host" } else { "" }
                    ),
                ],
                Node::map()
                    .with("apiVersion", "networking.istio.io/v1")
                    .with("kind", "DestinationRule")
                    .with("metadata", cx.metadata(&name, &[]))
                    .with(
                        "spec",
                        Node::map()
                            .with("host", h.as_str())
                            .with("trafficPolicy", Node::map().with("tls", tls)),
                    ),
            );
        }
    }

    // Kubernetes Services for egress (Istio's "Kubernetes Services for
    // Egress Traffic" task).
    for svc in &d.services {
        if gateway {
            cx.diags.push(
                Diagnostic::warning(
                    "W0503",
                    svc.span,
                    format!("Service {}/{} is not written for an egress gateway", svc.namespace, svc.name),
                )
                .label("its traffic would go from the sidecar straight out, past the gateway and its filter")
                .help("use --attach sidecar (the filter on every sidecar, as in Istio's Kubernetes-services task) or --attach waypoint")
                .note("a Kubernetes Service registers its host itself, so REGISTRY_ONLY would not stop that traffic"),
            );
        } else {
            k8s_service(cx, &origin, d, svc, &hosts, ports);
        }
    }

    // Routes: the egress gateway's, or a VirtualService for the timeout.
    let route_hosts: Vec<&String> = if gateway {
        hosts.exact.iter().collect()
    } else {
        hosts.exact.iter().chain(&hosts.wildcard).collect()
    };
    if gateway && d.protocol != Protocol::Tcp {
        for h in &route_hosts {
            egress_gateway_route(cx, &origin, p, d, h, ports);
        }
    } else if let Some(ms) = d.timeout_ms {
        for h in route_hosts {
            let name = cx.names.take(&format!("{}-{}-timeout", p.name, slug(h)));
            cx.push(
                vec![
                    origin.clone(),
                    format!(
                        "timeout {}: requests to {h} fail with 504 after that long.",
                        duration(ms)
                    ),
                ],
                Node::map()
                    .with("apiVersion", "networking.istio.io/v1")
                    .with("kind", "VirtualService")
                    .with("metadata", cx.metadata(&name, &[]))
                    .with(
                        "spec",
                        Node::map().with("hosts", vec![Node::str(h.as_str())]).with(
                            "http",
                            vec![Node::map().with("timeout", duration(ms)).with(
                                "route",
                                vec![Node::map().with(
                                        "destination",
                                        Node::map().with("host", h.as_str()),
                                    )],
                            )],
                        ),
                    ),
            );
        }
    }
}

/// A Service (ExternalName, or without a selector plus Endpoints) and its
/// DestinationRule `tls.mode: DISABLE`, in the Service's own namespace.
fn k8s_service(
    cx: &mut Ctx<'_>,
    origin: &str,
    d: &CDest,
    svc: &crate::service::ServiceRef,
    hosts: &Hosts,
    ports: &[u16],
) {
    // On a waypoint: the Service's traffic goes through the egress waypoint
    // of the bundle's namespace (ambient's cross-namespace waypoint labels).
    let waypoint = cx.opts.attach == Attach::Waypoint;
    let bundle_ns = cx.opts.namespace.clone();
    let meta = |name: &str, kind: &str| {
        let mut labels = Node::map();
        if waypoint && kind == "Service" {
            labels = labels
                .with("istio.io/use-waypoint", WAYPOINT)
                .with("istio.io/use-waypoint-namespace", bundle_ns.as_str());
        }
        Node::map()
            .with("name", name)
            .with("namespace", svc.namespace.as_str())
            .with("labels", labels.with(MANAGED_BY.0, MANAGED_BY.1))
    };
    let port_name = |n: u16| format!("{}-{n}", istio_protocol(d.protocol, n).to_ascii_lowercase());
    let service_ports: Vec<Node> = ports
        .iter()
        .map(|&n| {
            Node::map()
                .with("name", port_name(n))
                .with("protocol", "TCP")
                .with("port", n)
        })
        .collect();
    let fqdn = svc.fqdn();
    match hosts.exact.first() {
        Some(external) if d.protocol != Protocol::Tcp => {
            cx.push(
                vec![
                    origin.to_owned(),
                    format!(
                        "Kubernetes Service {}/{}: an in-cluster alias of {external}; clients use {fqdn}, which the policy allows like {external}.",
                        svc.namespace, svc.name
                    ),
                ],
                Node::map()
                    .with("apiVersion", "v1")
                    .with("kind", "Service")
                    .with("metadata", meta(&svc.name, "Service"))
                    .with(
                        "spec",
                        Node::map()
                            .with("type", "ExternalName")
                            .with("externalName", external.as_str())
                            .with("ports", service_ports),
                    ),
            );
        }
        _ => {
            cx.push(
                vec![
                    origin.to_owned(),
                    format!(
                        "Kubernetes Service {}/{} without a selector: its Endpoints (next) are the destination's addresses.",
                        svc.namespace, svc.name
                    ),
                    format!("Headless (clusterIP: None): {fqdn} resolves to those addresses, so the connection's destination is one the policy lists."),
                ],
                Node::map()
                    .with("apiVersion", "v1")
                    .with("kind", "Service")
                    .with("metadata", meta(&svc.name, "Service"))
                    .with(
                        "spec",
                        Node::map().with("clusterIP", "None").with("ports", service_ports),
                    ),
            );
            let addresses: Vec<Node> = d
                .targets
                .iter()
                .filter_map(|t| match &t.value {
                    Target::Cidr(c) => Some(Node::map().with("ip", c.addr.to_string())),
                    Target::Host(_) => None,
                })
                .collect();
            cx.push(
                vec![
                    origin.to_owned(),
                    format!(
                        "The addresses behind Service {}/{}.",
                        svc.namespace, svc.name
                    ),
                ],
                Node::map()
                    .with("apiVersion", "v1")
                    .with("kind", "Endpoints")
                    .with("metadata", meta(&svc.name, "Endpoints"))
                    .with(
                        "subsets",
                        vec![
                            Node::map().with("addresses", addresses).with(
                                "ports",
                                ports
                                    .iter()
                                    .map(|&n| {
                                        Node::map()
                                            .with("name", port_name(n))
                                            .with("protocol", "TCP")
                                            .with("port", n)
                                    })
                                    .collect::<Vec<_>>(),
                            ),
                        ],
                    ),
            );
        }
    }
    cx.push(
        vec![
            origin.to_owned(),
            format!("{fqdn} is outside the mesh: no Istio mutual TLS to it (the application's own TLS, if any, passes through)."),
        ],
        Node::map()
            .with("apiVersion", "networking.istio.io/v1")
            .with("kind", "DestinationRule")
            .with("metadata", meta(&svc.name, "DestinationRule"))
            .with(
                "spec",
                Node::map()
                    .with("host", fqdn.as_str())
                    .with(
                        "trafficPolicy",
                        Node::map().with("tls", Node::map().with("mode", "DISABLE")),
                    ),
            ),
    );
}

/// The VirtualService that sends one host's traffic from the sidecars to the
/// egress gateway, and from there out (Istio's egress-gateway task).
fn egress_gateway_route(
    cx: &mut Ctx<'_>,
    origin: &str,
    p: &CPolicy,
    d: &CDest,
    host: &str,
    ports: &[u16],
) {
    let http = d.protocol == Protocol::Http;
    let gw_port: u16 = if http { 80 } else { 443 };
    let gw_ref = EGRESS_GATEWAY;
    let mut routes = Vec::new();
    for &port in ports {
        let mut m = Node::map()
            .with("gateways", vec![Node::str("mesh")])
            .with("port", port);
        if !http {
            m = m.with("sniHosts", vec![Node::str(host)]);
        }
        let mut to_gateway = Node::map().with("match", vec![m]).with(
            "route",
            vec![
                Node::map().with(
                    "destination",
                    Node::map()
                        .with("host", EGRESS_GATEWAY_SERVICE)
                        .with("port", Node::map().with("number", gw_port)),
                ),
            ],
        );
        if let (true, Some(ms)) = (http, d.timeout_ms) {
            to_gateway = to_gateway.with("timeout", duration(ms));
        }
        routes.push(to_gateway);
    }
    let mut m = Node::map()
        .with("gateways", vec![Node::str(gw_ref)])
        .with("port", gw_port);
    if !http {
        m = m.with("sniHosts", vec![Node::str(host)]);
    }
    // From the gateway, out to the first port (the one the sidecars used is
    // not known there; a destination with several ports gets one route per
    // port only on the mesh side).
    let out_port = ports.first().copied().unwrap_or(gw_port);
    routes.push(Node::map().with("match", vec![m]).with(
        "route",
        vec![Node::map().with(
                "destination",
                Node::map()
                    .with("host", host)
                    .with("port", Node::map().with("number", out_port)),
            )],
    ));
    let name = cx.names.take(&format!("{}-{}-via-gateway", p.name, host));
    cx.push(
        vec![
            origin.to_owned(),
            format!(
                "Routes {host} from the sidecars to the egress gateway (port {gw_port}) and from there to port {out_port}."
            ),
        ],
        Node::map()
            .with("apiVersion", "networking.istio.io/v1")
            .with("kind", "VirtualService")
            .with("metadata", cx.metadata(&name, &[]))
            .with(
                "spec",
                Node::map()
                    .with("hosts", vec![Node::str(host)])
                    .with("gateways", vec![Node::str("mesh"), Node::str(gw_ref)])
                    .with(if http { "http" } else { "tls" }, routes),
            ),
    );
}

/// The egress gateway's Gateway: port 80 for the http hosts, 443 (TLS
/// passthrough) for the tls hosts.
fn egress_gateway(cx: &mut Ctx<'_>, http: &BTreeSet<String>, tls: &BTreeSet<String>) {
    let mut servers = Vec::new();
    if !http.is_empty() {
        servers.push(
            Node::map()
                .with(
                    "port",
                    Node::map()
                        .with("number", 80i64)
                        .with("name", "http")
                        .with("protocol", "HTTP"),
                )
                .with(
                    "hosts",
                    http.iter()
                        .map(|h| Node::str(h.as_str()))
                        .collect::<Vec<_>>(),
                ),
        );
    }
    if !tls.is_empty() {
        servers.push(
            Node::map()
                .with(
                    "port",
                    Node::map()
                        .with("number", 443i64)
                        .with("name", "tls")
                        .with("protocol", "TLS"),
                )
                .with(
                    "hosts",
                    tls.iter()
                        .map(|h| Node::str(h.as_str()))
                        .collect::<Vec<_>>(),
                )
                .with("tls", Node::map().with("mode", "PASSTHROUGH")),
        );
    }
    cx.push(
        vec![
            "The egress gateway's listeners for the destinations above (Istio's egress-gateway task);".to_owned(),
            format!("the VirtualServices send the sidecars' traffic here ({EGRESS_GATEWAY_SERVICE})."),
        ],
        Node::map()
            .with("apiVersion", "networking.istio.io/v1")
            .with("kind", "Gateway")
            .with("metadata", cx.metadata(EGRESS_GATEWAY, &[]))
            .with(
                "spec",
                Node::map()
                    .with(
                        "selector",
                        Node::map().with("istio", "egressgateway"),
                    )
                    .with("servers", servers),
            ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

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
