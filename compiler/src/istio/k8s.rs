//! Kubernetes Services for egress (Istio's "Kubernetes Services for Egress
//! Traffic" task): an ExternalName Service, or one without a selector plus
//! Endpoints, and a DestinationRule `tls.mode: DISABLE`.

use egress_table::spec::{Protocol, Target};

use super::dest::{Hosts, istio_protocol};
use super::{Attach, Ctx, MANAGED_BY, WAYPOINT};
use crate::check::CDest;
use crate::yaml::Node;

/// A Service (ExternalName, or without a selector plus Endpoints) and its
/// DestinationRule `tls.mode: DISABLE`, in the Service's own namespace.
pub(super) fn k8s_service(
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
    // apiVersion, kind and metadata of one of the Service's objects, in the
    // Service's namespace and named after it.
    let object = |api_version: &str, kind: &str| {
        let mut labels = Node::map();
        if waypoint && kind == "Service" {
            labels = labels
                .with("istio.io/use-waypoint", WAYPOINT)
                .with("istio.io/use-waypoint-namespace", bundle_ns.as_str());
        }
        Node::map()
            .with("apiVersion", api_version)
            .with("kind", kind)
            .with(
                "metadata",
                Node::map()
                    .with("name", svc.name.as_str())
                    .with("namespace", svc.namespace.as_str())
                    .with("labels", labels.with(MANAGED_BY.0, MANAGED_BY.1)),
            )
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
                object("v1", "Service")
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
                object("v1", "Service")
                    .with(
                        "spec",
                        Node::map()
                            .with("clusterIP", "None")
                            .with("ports", service_ports.clone()),
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
                object("v1", "Endpoints").with(
                    "subsets",
                    vec![Node::map().with("addresses", addresses).with(
                        "ports",
                        // Endpoints ports are named and numbered as the Service's.
                        service_ports,
                    )],
                ),
            );
        }
    }
    cx.push(
        vec![
            origin.to_owned(),
            format!("{fqdn} is outside the mesh: no Istio mutual TLS to it (the application's own TLS, if any, passes through)."),
        ],
        object("networking.istio.io/v1", "DestinationRule")
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
