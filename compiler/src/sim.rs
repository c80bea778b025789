//! The request model shared by `egressc simulate` (one JSON object per
//! line) and the `test` blocks in policy files: what a client sends, before
//! the proxy or the filter has looked at it.

use std::net::IpAddr;

use egress_table::proxy::Properties;

use crate::diag::suggest;

/// An HTTP request or a connection to simulate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimRequest {
    /// The method (HTTP requests).
    pub method: Option<String>,
    /// The `:authority` as sent (HTTP), e.g. `httpbin.org` or `httpbin.org:8080`.
    pub host: Option<String>,
    /// The destination port of the connection.
    pub port: Option<u16>,
    /// `:path` including any query (HTTP).
    pub path: Option<String>,
    /// `http` or `https` (HTTP; default `http`).
    pub scheme: Option<String>,
    /// The source principal (SPIFFE id).
    pub principal: Option<String>,
    /// Extra headers in order; a name may repeat. Values are bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// TLS SNI (a TLS connection, or the connection under an HTTP request).
    pub sni: Option<String>,
    /// The destination address of a connection.
    pub destination: Option<IpAddr>,
}

impl SimRequest {
    /// Whether this is an HTTP request (it has a method or a path) rather than a connection.
    pub fn is_http(&self) -> bool {
        self.method.is_some() || self.path.is_some()
    }

    /// The destination port: as given, else from the authority, else the scheme's (or SNI's) default.
    pub fn effective_port(&self) -> u16 {
        if let Some(p) = self.port {
            return p;
        }
        if let Some(p) = self.host.as_deref().and_then(authority_port) {
            return p;
        }
        match (self.is_http(), self.scheme.as_deref()) {
            (true, Some("https")) => 443,
            (true, _) => 80,
            (false, _) if self.sni.is_some() => 443,
            _ => 0,
        }
    }

    /// The method, path and scheme a client sends for this request: GET,
    /// `/` (nothing for a CONNECT) and `http` unless given.
    pub fn request_line(&self) -> (&str, &str, &str) {
        let method = self.method.as_deref().unwrap_or("GET");
        let default_path = if method == "CONNECT" { "" } else { "/" };
        (
            method,
            self.path.as_deref().unwrap_or(default_path),
            self.scheme.as_deref().unwrap_or("http"),
        )
    }

    /// The request's own headers as (name, value) bytes, in order.
    pub fn header_pairs(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect()
    }

    /// What the client sends, for Envoy's connection manager
    /// ([`egress_hcm::prepare`]); `headers` is [`SimRequest::header_pairs`].
    pub fn client_request<'a>(
        &'a self,
        headers: &'a [(Vec<u8>, Vec<u8>)],
    ) -> egress_hcm::ClientRequest<'a> {
        let (method, path, scheme) = self.request_line();
        egress_hcm::ClientRequest {
            method: method.as_bytes(),
            scheme: scheme.as_bytes(),
            authority: self.host.as_deref().map(str::as_bytes),
            path: path.as_bytes(),
            headers,
            body_len: None,
        }
    }

    /// A short human description in the test-case syntax, e.g.
    /// `GET http://httpbin.org/get from "cluster.local/ns/a/sa/b"` or `tls://github.com:443`.
    pub fn describe(&self) -> String {
        let mut s = if self.is_http() {
            format!(
                "{} {}://{}{}",
                self.method.as_deref().unwrap_or("GET"),
                self.scheme.as_deref().unwrap_or("http"),
                self.host.as_deref().unwrap_or(""),
                self.path.as_deref().unwrap_or("")
            )
        } else if let Some(sni) = &self.sni {
            format!("tls://{sni}:{}", self.effective_port())
        } else {
            let d = match self.destination {
                Some(std::net::IpAddr::V6(a)) => format!("[{a}]"),
                Some(a) => a.to_string(),
                None => String::new(),
            };
            format!("tcp://{d}:{}", self.effective_port())
        };
        // Strings as the policy language writes them, so the description
        // pastes into a test block as it is.
        let quote = |t: &[u8]| crate::fmt::quote(t);
        if let Some(p) = &self.principal {
            s.push_str(&format!(" from {}", quote(p.as_bytes())));
        }
        for (k, v) in &self.headers {
            s.push_str(&format!(" header {} = {}", quote(k.as_bytes()), quote(v)));
        }
        if let (true, Some(sni)) = (self.is_http(), &self.sni) {
            s.push_str(&format!(" sni {}", quote(sni.as_bytes())));
        }
        s
    }
}

/// A test case's `scheme://authority/path…` split as the test syntax reads
/// it: the authority ends at the first `/`, `?` or `#`; the rest, fragment
/// included, is the path as sent.
pub fn split_url(url: &str) -> (&str, &str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    (scheme, authority, path)
}

/// The `:path` of an HTTP test case with this URL path: `/` when empty,
/// none for a CONNECT without one.
pub fn case_path(path: &str, method: &str) -> Option<String> {
    match (path.is_empty(), method == "CONNECT") {
        (true, true) => None,
        (true, false) => Some("/".to_owned()),
        (false, _) => Some(path.to_owned()),
    }
}

fn authority_port(a: &str) -> Option<u16> {
    let rest = if a.starts_with('[') {
        a.split_once(']')?.1
    } else {
        a
    };
    rest.rsplit_once(':')?.1.parse().ok()
}

const FIELDS: [&str; 9] = [
    "method",
    "host",
    "port",
    "path",
    "scheme",
    "principal",
    "headers",
    "sni",
    "destination",
];

/// Parses one line of a `--requests` file. Errors say what is wrong and how to fix it.
///
/// An HTTP request without a host is legal input: the filter denies it
/// (missing `:authority`).
pub fn parse_line(line: &str) -> Result<SimRequest, String> {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let v: Node = serde_json::from_str(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Node::Obj(obj) = v else {
        return Err("expected a JSON object such as {\"method\":\"GET\",\"host\":\"example.com\",\"path\":\"/\"}".into());
    };
    if let Some(k) = duplicate(&obj) {
        return Err(format!(
            "\"{k}\" appears twice: a request gives each field once"
        ));
    }
    let mut r = SimRequest::default();
    for (k, node) in obj {
        if k == "headers" {
            let Node::Obj(h) = node else {
                return Err("\"headers\" must be an object of name → value (a string, or a list of strings for a repeated header)".into());
            };
            if let Some(name) = duplicate(&h) {
                return Err(format!(
                    "header {name:?} appears twice in \"headers\": write a repeated header as a list, {name:?}: [\"a\", \"b\"]"
                ));
            }
            for (name, value) in h {
                match value.value() {
                    serde_json::Value::String(s) => r.headers.push((name, s.into_bytes())),
                    serde_json::Value::Array(items) => {
                        for item in items {
                            let s = item.as_str().ok_or_else(|| {
                                format!("header {name:?}: list items must be strings")
                            })?;
                            r.headers.push((name.clone(), s.as_bytes().to_vec()));
                        }
                    }
                    _ => {
                        return Err(format!(
                            "header {name:?} must be a string or a list of strings"
                        ));
                    }
                }
            }
            continue;
        }
        let val = &node.value();
        let string = |what: &str| -> Result<String, String> {
            val.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("\"{k}\" must be a string ({what})"))
        };
        match k.as_str() {
            "method" => r.method = Some(string("e.g. \"GET\"")?),
            "host" => r.host = Some(string("e.g. \"httpbin.org\"")?),
            "path" => r.path = Some(string("e.g. \"/get\"")?),
            "scheme" => {
                let scheme = string("\"http\" or \"https\"")?;
                if scheme != "http" && scheme != "https" {
                    return Err(format!(
                        "\"scheme\" must be \"http\" or \"https\", not {scheme:?}: the HTTP filter sees only HTTP requests (a TLS or TCP connection is {{\"sni\": …}} or {{\"destination\": …}})"
                    ));
                }
                r.scheme = Some(scheme);
            }
            "principal" => {
                r.principal = Some(string("e.g. \"cluster.local/ns/default/sa/admin\"")?)
            }
            "sni" => r.sni = Some(string("e.g. \"github.com\"")?),
            "port" => {
                let p = val
                    .as_u64()
                    .filter(|p| (1..=65535).contains(p))
                    .ok_or("\"port\" must be a number from 1 to 65535")?;
                r.port = u16::try_from(p).ok();
            }
            "destination" => {
                let s = string("an IP address such as \"140.82.112.4\"")?;
                r.destination =
                    Some(s.parse().map_err(|_| {
                        format!("\"destination\" must be an IP address, not {s:?}")
                    })?);
            }
            other => {
                let hint = suggest(other, &FIELDS)
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "unknown field \"{other}\"{hint}; the fields are {}",
                    FIELDS.join(", ")
                ));
            }
        }
    }
    if !r.is_http() && r.sni.is_none() && r.destination.is_none() {
        return Err("a line needs \"method\"/\"path\" (an HTTP request) or \"sni\"/\"destination\" (a connection)".into());
    }
    Ok(r)
}

/// A JSON value whose objects keep their members in order, duplicates
/// included (serde_json's `Map` keeps only the last of two equal keys,
/// which would silently change the request).
enum Node {
    /// An object's members.
    Obj(Vec<(String, Node)>),
    /// An array.
    Arr(Vec<Node>),
    /// Anything else.
    Leaf(serde_json::Value),
}

impl Node {
    /// As a serde_json value (objects: the last of equal keys wins; the
    /// callers have refused duplicates where they matter).
    fn value(self) -> serde_json::Value {
        match self {
            Self::Obj(m) => {
                serde_json::Value::Object(m.into_iter().map(|(k, v)| (k, v.value())).collect())
            }
            Self::Arr(a) => serde_json::Value::Array(a.into_iter().map(Self::value).collect()),
            Self::Leaf(v) => v,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = m.next_entry::<String, Node>()? {
                    out.push(kv);
                }
                Ok(Node::Obj(out))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<Node, A::Error> {
                let mut out = Vec::new();
                while let Some(n) = s.next_element::<Node>()? {
                    out.push(n);
                }
                Ok(Node::Arr(out))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Node, E> {
                Ok(Node::Leaf(b.into()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Node, E> {
                Ok(Node::Leaf(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Node, E> {
                Ok(Node::Leaf(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Node, E> {
                Ok(Node::Leaf(n.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Leaf(v.into()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Leaf(v.into()))
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf(serde_json::Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// The first key that appears twice.
fn duplicate(pairs: &[(String, Node)]) -> Option<&str> {
    let mut seen = std::collections::BTreeSet::new();
    pairs
        .iter()
        .map(|(k, _)| k.as_str())
        .find(|k| !seen.insert(*k))
}

/// The attributes of a simulated request, as the local host gives them to
/// the filter (`crate::run`): the destination port, the destination address
/// (`0.0.0.0` when not given), the SNI and the peer principal. `explain`
/// and the Cedar oracle decide with them.
#[derive(Debug, Clone, Copy)]
pub struct SimProps<'a>(pub &'a SimRequest);

impl Properties for SimProps<'_> {
    type Bytes = Vec<u8>;

    fn request_host(&self) -> Option<Vec<u8>> {
        None
    }

    fn destination_port(&self) -> Option<u16> {
        Some(self.0.effective_port())
    }

    fn destination_address(&self) -> Option<(Option<std::net::IpAddr>, Option<u16>)> {
        let ip = self
            .0
            .destination
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Some((Some(ip), Some(self.0.effective_port())))
    }

    fn sni(&self) -> Option<Vec<u8>> {
        self.0.sni.as_ref().map(|s| s.as_bytes().to_vec())
    }

    fn peer_principal(&self) -> Option<Vec<u8>> {
        self.0.principal.as_ref().map(|p| p.as_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let r = parse_line(r#"{"method":"GET","host":"httpbin.org","port":80,"path":"/get","principal":"p","headers":{"x":["a","b"]}}"#).unwrap();
        assert!(r.is_http());
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.effective_port(), 80);
        let c = parse_line(r#"{"sni":"github.com"}"#).unwrap();
        assert!(!c.is_http());
        assert_eq!(c.effective_port(), 443);
        assert!(
            parse_line(r#"{"hots":"a"}"#)
                .unwrap_err()
                .contains("did you mean \"host\"")
        );
        assert!(parse_line("{").unwrap_err().contains("JSON"));
        assert!(
            parse_line(r#"{"port":0,"sni":"a"}"#)
                .unwrap_err()
                .contains("port")
        );
        assert!(parse_line(r#"{"port":443}"#).is_err());
        assert_eq!(
            parse_line(r#"{"method":"GET","host":"a:8080","path":"/"}"#)
                .unwrap()
                .effective_port(),
            8080
        );
    }

    #[test]
    fn duplicates_bom_and_schemes_are_not_silent() {
        let e = parse_line(r#"{"method":"GET","host":"a","host":"b","path":"/"}"#).unwrap_err();
        assert!(e.contains("\"host\" appears twice"), "{e}");
        let e =
            parse_line(r#"{"method":"GET","host":"a","path":"/","headers":{"x-a":"1","x-a":"2"}}"#)
                .unwrap_err();
        assert!(e.contains("appears twice in \"headers\""), "{e}");
        let r = parse_line("\u{feff}{\"sni\":\"a.com\"}").unwrap();
        assert_eq!(r.sni.as_deref(), Some("a.com"));
        let e = parse_line(r#"{"method":"GET","host":"a","path":"/","scheme":"ftp"}"#).unwrap_err();
        assert!(e.contains("\"http\" or \"https\""), "{e}");
        assert!(parse_line("[1]").unwrap_err().contains("JSON object"));
        assert!(
            parse_line(r#"{"method":"GET","host":"a","path":"/","headers":[1]}"#)
                .unwrap_err()
                .contains("must be an object")
        );
    }
}
