//! The resources of one destination: its ServiceEntries, the
//! DestinationRules of `originate-tls`, the VirtualServices of `timeout`
//! (or of the egress gateway's routes), and its Kubernetes Services.

use std::collections::BTreeSet;

use egress_table::spec::{HostKind, PortRange, Protocol, Target};

use super::{Attach, Ctx, MAX_PORTS, WAYPOINT, gateway, k8s};
use crate::check::{CDest, CPolicy};
use crate::diag::Diagnostic;
use crate::yaml::Node;

/// A host name as part of an object name: `*.x` becomes `wildcard.x`.
fn slug(h: &str) -> String {
    h.replace("*.", "wildcard.")
}

/// A port as Istio names it.
pub(super) fn istio_protocol(protocol: Protocol, port: u16) -> &'static str {
    match (protocol, port) {
        (Protocol::Http, _) => "HTTP",
        (Protocol::Tls, 443) => "HTTPS",
        (Protocol::Tls, _) => "TLS",
        (Protocol::Tcp, _) => "TCP",
    }
}

/// A destination's host names, split the way ServiceEntries need them.
#[derive(Default)]
pub(super) struct Hosts {
    /// Exact names (resolution DNS).
    pub(super) exact: Vec<String>,
    /// `*.x` and `**.x`, both Istio's `*.x` (resolution DYNAMIC_DNS on a
    /// waypoint, else NONE).
    pub(super) wildcard: Vec<String>,
    /// `*` and `**`: no ServiceEntry can list them.
    pub(super) catch_all: Vec<String>,
    /// IP addresses written as hosts, and CIDRs (resolution NONE).
    pub(super) addresses: Vec<String>,
}

pub(super) fn hosts_of(d: &CDest) -> Hosts {
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
pub(super) fn expand(ranges: &[PortRange], max: usize) -> Option<Vec<u16>> {
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
pub(super) fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", s.trim_end_matches('0'))
    }
}

/// Where the filter must listen, from the destinations' ports.
#[derive(Default)]
pub(super) struct Listeners {
    /// Some destination is tls or tcp: the network-layer filter is needed.
    pub(super) has_network: bool,
    /// The tls/tcp ports (when each destination's ports could be listed).
    pub(super) network_ports: BTreeSet<u16>,
    /// Some tls/tcp destination has more ports than a list can hold: the
    /// network filter listens on every port.
    pub(super) all_network_ports: bool,
}

/// Host names that the egress gateway's Gateway must accept, per protocol.
#[derive(Default)]
pub(super) struct GatewayHosts {
    pub(super) http: BTreeSet<String>,
    pub(super) tls: BTreeSet<String>,
}

/// The resources of every destination (and, for `--attach egress-gateway`,
/// the gateway's Gateway); returns where the network filter must listen.
pub(super) fn destinations(cx: &mut Ctx<'_>, policies: &[CPolicy]) -> Listeners {
    let mut listeners = Listeners::default();
    let mut gw = GatewayHosts::default();
    for p in policies {
        for d in &p.dests {
            let ports = expand(&d.ports, MAX_PORTS);
            if d.protocol != Protocol::Http {
                listeners.has_network = true;
                match &ports {
                    Some(ps) => listeners.network_ports.extend(ps),
                    None => listeners.all_network_ports = true,
                }
            }
            destination(cx, p, d, ports.as_deref(), &mut gw);
        }
    }
    if cx.opts.attach == Attach::EgressGateway && (!gw.http.is_empty() || !gw.tls.is_empty()) {
        gateway::gateway(cx, &gw.http, &gw.tls);
    }
    listeners
}

/// The ServiceEntries, DestinationRules and VirtualServices of one destination.
fn destination(
    cx: &mut Ctx<'_>,
    p: &CPolicy,
    d: &CDest,
    ports: Option<&[u16]>,
    gw: &mut GatewayHosts,
) {
    let at = cx.at(d.span);
    let origin = format!("From {at}, policy \"{}\": {}", p.name, cx.written(d.span));
    let hosts = hosts_of(d);
    let Some(ports) = listable(cx, d, &hosts, ports) else {
        return;
    };
    service_entries(cx, p, d, &hosts, ports, &origin, gw);
    tls_origination(cx, p, d, &hosts, &origin);
    services(cx, d, &hosts, ports, &origin);
    routes(cx, p, d, &hosts, ports, &origin);
}

/// Warns about what no ServiceEntry can list; returns the ports to list,
/// or `None` when the destination gets no ServiceEntry at all.
fn listable<'p>(
    cx: &mut Ctx<'_>,
    d: &CDest,
    hosts: &Hosts,
    ports: Option<&'p [u16]>,
) -> Option<&'p [u16]> {
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
        return None;
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
        return None;
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
    Some(ports)
}

/// The ServiceEntries of a destination: one per resolution (exact names,
/// wildcards, addresses), each with at most 256 hosts or addresses.
fn service_entries(
    cx: &mut Ctx<'_>,
    p: &CPolicy,
    d: &CDest,
    hosts: &Hosts,
    ports: &[u16],
    origin: &str,
    gw: &mut GatewayHosts,
) {
    let waypoint = cx.opts.attach == Attach::Waypoint;
    let gateway = cx.opts.attach == Attach::EgressGateway;
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
            let mut comments = vec![origin.to_owned(), format!("ServiceEntry: {why}.")];
            if let Some(t) = d.originate_tls {
                comments.push(format!(
                    "originate-tls {t}: the application sends plain HTTP; the proxy connects to port {t} with TLS (DestinationRule below)."
                ));
            }
            cx.push(
                comments,
                cx.object("networking.istio.io/v1", "ServiceEntry", &name, &labels)
                    .with("spec", spec),
            );
            if resolution == "DNS" && gateway {
                let set = if d.protocol == Protocol::Http {
                    &mut gw.http
                } else {
                    &mut gw.tls
                };
                set.extend(se_hosts.iter().cloned());
            }
        }
    }
}

/// `originate-tls`: one DestinationRule per host.
fn tls_origination(cx: &mut Ctx<'_>, p: &CPolicy, d: &CDest, hosts: &Hosts, origin: &str) {
    let gateway = cx.opts.attach == Attach::EgressGateway;
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
                    origin.to_owned(),
                    format!(
                        "originate-tls {target}: TLS to {h} on port {target} (ServiceEntry targetPort), verified against the system CAs{}.",
                        if wildcard { "; SNI is the request's host" } else { "" }
                    ),
                ],
                cx.object("networking.istio.io/v1", "DestinationRule", &name, &[])
                    .with(
                        "spec",
                        Node::map()
                            .with("host", h.as_str())
                            .with("trafficPolicy", Node::map().with("tls", tls)),
                    ),
            );
        }
    }
}

/// Kubernetes Services for egress (Istio's "Kubernetes Services for Egress
/// Traffic" task); not for an egress gateway, which such traffic bypasses.
fn services(cx: &mut Ctx<'_>, d: &CDest, hosts: &Hosts, ports: &[u16], origin: &str) {
    let gateway = cx.opts.attach == Attach::EgressGateway;
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
            k8s::k8s_service(cx, origin, d, svc, hosts, ports);
        }
    }
}

/// Routes: the egress gateway's, or a VirtualService for the timeout.
fn routes(cx: &mut Ctx<'_>, p: &CPolicy, d: &CDest, hosts: &Hosts, ports: &[u16], origin: &str) {
    let gateway = cx.opts.attach == Attach::EgressGateway;
    let route_hosts: Vec<&String> = if gateway {
        hosts.exact.iter().collect()
    } else {
        hosts.exact.iter().chain(&hosts.wildcard).collect()
    };
    if gateway && d.protocol != Protocol::Tcp {
        for h in &route_hosts {
            gateway::route(cx, origin, p, d, h, ports);
        }
    } else if let Some(ms) = d.timeout_ms {
        for h in route_hosts {
            let name = cx.names.take(&format!("{}-{}-timeout", p.name, slug(h)));
            cx.push(
                vec![
                    origin.to_owned(),
                    format!(
                        "timeout {}: requests to {h} fail with 504 after that long.",
                        duration(ms)
                    ),
                ],
                cx.object("networking.istio.io/v1", "VirtualService", &name, &[])
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
