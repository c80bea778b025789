//! The mesh-wide outbound posture: Istio's
//! `meshConfig.outboundTrafficPolicy.mode`, written as the change a platform
//! engineer applies in the way Istio was installed (`egressc posture`).
//!
//! `REGISTRY_ONLY` ("restricted"): sidecars and gateways forward only to
//! hosts in the service registry (Kubernetes Services and ServiceEntries);
//! anything else gets a 502 (HTTP) or a reset connection. `ALLOW_ANY`
//! ("allowed", Istio's default): unknown hosts pass through. Source: Istio's
//! "Accessing External Services" task and the MeshConfig reference
//! (`MeshConfig.OutboundTrafficPolicy.Mode`). In ambient mode ztunnel does
//! not apply this setting (istio/istio#54281): only traffic through a proxy
//! (sidecar, waypoint, gateway) is restricted by it.

use crate::yaml::{self, Node};

/// The two postures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posture {
    /// `REGISTRY_ONLY`.
    Restricted,
    /// `ALLOW_ANY`.
    Allowed,
}

impl Posture {
    /// The `outboundTrafficPolicy.mode` value.
    pub fn mode(self) -> &'static str {
        match self {
            Self::Restricted => "REGISTRY_ONLY",
            Self::Allowed => "ALLOW_ANY",
        }
    }

    /// `restricted` or `allowed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restricted => "restricted",
            Self::Allowed => "allowed",
        }
    }

    /// What the setting does, in a few lines.
    pub fn explain(self) -> &'static str {
        match self {
            Self::Restricted => {
                "outboundTrafficPolicy.mode REGISTRY_ONLY: sidecars, waypoints and gateways forward \
                 only to hosts in Istio's service registry (Kubernetes Services and ServiceEntries); \
                 a request to any other host gets 502 (HTTP) or a reset connection, before any \
                 egress filter runs. Every destination of an egress policy therefore needs its \
                 ServiceEntry (egressc istio writes them). Ambient-mode ztunnel does not apply \
                 this setting (istio/istio#54281): traffic of ambient pods without a waypoint is \
                 not restricted by it."
            }
            Self::Allowed => {
                "outboundTrafficPolicy.mode ALLOW_ANY (Istio's default): sidecars and gateways \
                 pass traffic to hosts Istio does not know straight through (PassthroughCluster). \
                 Only destinations with a ServiceEntry reach a waypoint or egress gateway, so a \
                 `default deny` policy there no longer stops traffic to unknown hosts."
            }
        }
    }
}

/// How Istio was installed, and so how the change is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An `IstioOperator` overlay for `istioctl install -f`.
    Istioctl,
    /// A values file for the `istiod` Helm chart.
    Helm,
    /// The fragment to merge into the `mesh` key of ConfigMap `istio-system/istio`.
    ConfigMap,
}

fn mode_tree(p: Posture) -> Node {
    Node::map().with("outboundTrafficPolicy", Node::map().with("mode", p.mode()))
}

/// The IstioOperator overlay that sets `p` (also what `egressc istio` shows,
/// commented, in a bundle).
pub fn istio_operator(p: Posture) -> Node {
    Node::map()
        .with("apiVersion", "install.istio.io/v1alpha1")
        .with("kind", "IstioOperator")
        .with("spec", Node::map().with("meshConfig", mode_tree(p)))
}

/// The file `egressc posture` writes: comments saying what it does and how
/// to apply it, then the YAML.
pub fn render(p: Posture, f: Format) -> String {
    let set = format!("meshConfig.outboundTrafficPolicy.mode={}", p.mode());
    let mut header = vec![
        format!(
            "Mesh-wide outbound posture: {} ({}), written by egressc posture.",
            p.as_str(),
            p.mode()
        ),
        String::new(),
    ];
    header.extend(wrap(p.explain(), 76));
    header.push(String::new());
    let body = match f {
        Format::Istioctl => {
            header.extend([
                "Apply: add this to the IstioOperator you install Istio with, or pass it as"
                    .to_owned(),
                "one more overlay after your own (later files win):".to_owned(),
                "  istioctl install -f <your-install.yaml> -f <this-file>".to_owned(),
                "The same as adding to your usual istioctl install command:".to_owned(),
                format!("  --set {set}"),
            ]);
            istio_operator(p)
        }
        Format::Helm => {
            header.extend([
                "Apply: these are values for the istiod chart:".to_owned(),
                "  helm upgrade istiod istio/istiod -n istio-system --reuse-values -f <this-file>"
                    .to_owned(),
                format!("The same as: --set {set}"),
            ]);
            Node::map().with("meshConfig", mode_tree(p))
        }
        Format::ConfigMap => {
            header.extend([
                "Apply: istiod reads mesh settings from the `mesh` key of ConfigMap istio in"
                    .to_owned(),
                "istio-system (istio-<revision> for a revisioned control plane). Merge these"
                    .to_owned(),
                "lines into that key, keeping the rest, and istiod pushes the change to the"
                    .to_owned(),
                "proxies without a restart:".to_owned(),
                "  kubectl -n istio-system edit configmap istio".to_owned(),
                "A later istioctl install or helm upgrade rewrites the ConfigMap from its own"
                    .to_owned(),
                "settings: make the same change there (egressc posture --emit istioctl|helm)."
                    .to_owned(),
            ]);
            mode_tree(p)
        }
    };
    let mut out = String::new();
    for h in header {
        if h.is_empty() {
            out.push_str("#\n");
        } else {
            out.push_str("# ");
            out.push_str(&h);
            out.push('\n');
        }
    }
    out.push_str(&yaml::to_text(&body));
    out
}

/// Splits `text` into lines of at most `width` characters at spaces.
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use yaml_rust2::YamlLoader;

    #[test]
    fn every_form_is_yaml_that_sets_the_mode() {
        for p in [Posture::Restricted, Posture::Allowed] {
            for (f, path) in [
                (
                    Format::Istioctl,
                    &["spec", "meshConfig", "outboundTrafficPolicy", "mode"][..],
                ),
                (
                    Format::Helm,
                    &["meshConfig", "outboundTrafficPolicy", "mode"][..],
                ),
                (Format::ConfigMap, &["outboundTrafficPolicy", "mode"][..]),
            ] {
                let text = render(p, f);
                let docs = YamlLoader::load_from_str(&text).unwrap();
                assert_eq!(docs.len(), 1, "{text}");
                let mut y = &docs[0];
                for k in path {
                    y = &y[*k];
                }
                assert_eq!(y.as_str(), Some(p.mode()), "{text}");
                assert!(text.contains(p.mode()) && text.starts_with("# Mesh-wide"));
            }
        }
        assert!(render(Posture::Restricted, Format::Istioctl).contains("kind: IstioOperator"));
    }
}
