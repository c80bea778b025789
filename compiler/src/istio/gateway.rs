//! Istio's egress-gateway task: the gateway's Gateway, and per host the
//! VirtualService that sends the sidecars' traffic to it and from it out.

use std::collections::BTreeSet;

use egress_table::spec::Protocol;

use super::dest::duration;
use super::{Ctx, EGRESS_GATEWAY, EGRESS_GATEWAY_SERVICE};
use crate::check::{CDest, CPolicy};
use crate::yaml::Node;

/// The VirtualService that sends one host's traffic from the sidecars to the
/// egress gateway, and from there out (Istio's egress-gateway task).
pub(super) fn route(
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
        cx.object("networking.istio.io/v1", "VirtualService", &name, &[])
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
pub(super) fn gateway(cx: &mut Ctx<'_>, http: &BTreeSet<String>, tls: &BTreeSet<String>) {
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
        cx.object("networking.istio.io/v1", "Gateway", EGRESS_GATEWAY, &[])
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
