//! The resources around the destinations: where the filter runs (the
//! waypoint's namespace and Gateway), the mesh posture, the filter itself
//! (WasmPlugin or TrafficExtension, per layer) with the size guard, and the
//! access log.

use egress_table::plugin_config::{self, Layer};

use super::dest::Listeners;
use super::{
    ACCESS_LOG_FORMAT, ACCESS_LOG_PROVIDER, ANNOTATION_LIMIT, Api, Attach, Ctx, MANAGED_BY,
    OBJECT_LIMIT, WAYPOINT, restricted_by,
};
use crate::check::CPolicy;
use crate::diag::Diagnostic;
use crate::posture;
use crate::source::Span;
use crate::yaml::{self, Document, Node};

/// The filter resource of the HTTP layer.
pub(super) const HTTP_PLUGIN: &str = "egress-http";
/// The filter resource of the network layer (tls/tcp destinations).
pub(super) const NETWORK_PLUGIN: &str = "egress-network";

/// The waypoint's Namespace labels and Gateway (`--attach waypoint`).
pub(super) fn attachment(cx: &mut Ctx<'_>) {
    let ns = cx.opts.namespace.clone();
    match cx.opts.attach {
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
                cx.object(
                    "gateway.networking.k8s.io/v1",
                    "Gateway",
                    WAYPOINT,
                    &[("istio.io/waypoint-for", "service")],
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
}

/// The mesh-wide posture a `default deny` relies on, as a comment-only
/// document.
pub(super) fn posture(cx: &mut Ctx<'_>, policies: &[CPolicy]) {
    if let Some(p) = restricted_by(policies) {
        let span = p.default_span.unwrap_or(p.name_span);
        let mut comments = posture::wrap(
            &format!(
                "Mesh posture: restricted. Policy \"{}\" says `default deny` ({}), so hosts \
             without a ServiceEntry must not get past the proxies either. This is a \
             mesh-wide install setting, not a resource: it is commented out so that \
             applying this file cannot change it by accident. Merge it into your \
             IstioOperator (istioctl install), or write it for Helm or the istio \
             ConfigMap with `egressc posture restricted --emit helm|configmap`. \
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
}

/// The filter resources, one per layer; returns each one's name and size.
pub(super) fn filter(
    cx: &mut Ctx<'_>,
    table: &[u8],
    listeners: &Listeners,
    files: &[String],
    first_span: Option<Span>,
) -> Result<Vec<(String, usize)>, String> {
    let opts = cx.opts;
    let mut plugin_sizes = Vec::new();
    let layers: Vec<(Layer, &str)> = if listeners.has_network {
        vec![(Layer::Http, HTTP_PLUGIN), (Layer::Network, NETWORK_PLUGIN)]
    } else {
        vec![(Layer::Http, HTTP_PLUGIN)]
    };
    for (layer, name) in layers {
        let config: serde_json::Value =
            serde_json::from_str(&plugin_config::encode_with(table, layer, &opts.filter))
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
        if layer == Layer::Network && !listeners.all_network_ports {
            matches = matches.with(
                "ports",
                listeners
                    .network_ports
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
                if listeners.all_network_ports {
                    "all ports".to_owned()
                } else {
                    listeners
                        .network_ports
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
        let body = cx
            .object("extensions.istio.io/v1alpha1", api_kind, name, &[])
            .with("spec", spec);
        let size = body.to_json().len();
        plugin_sizes.push((name.to_owned(), size));
        if let Some(span) = first_span {
            size_guard(&mut cx.diags, span, api_kind, name, size);
        }
        cx.push(comments, body);
    }
    Ok(plugin_sizes)
}

/// The Telemetry resource that logs the filter's decision, and the mesh
/// setting for its provider (a comment-only document).
pub(super) fn access_log(cx: &mut Ctx<'_>) {
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
    cx.object("telemetry.istio.io/v1", "Telemetry", ACCESS_LOG_PROVIDER, &[])
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
            .help("split the policies into separate bundles (one table per waypoint or gateway), or shrink the table: `egressc compile --emit dump` shows what takes room")
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
