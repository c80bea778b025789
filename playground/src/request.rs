//! The request tester's form to a [`SimRequest`]: the fields become the
//! JSON object of an `egressc simulate --requests` line and go through
//! [`egressc::sim::parse_line`], so the page accepts and refuses exactly
//! what the command line does, with the same messages.

use egressc::sim::{self, SimRequest};
use serde_json::{Map, Value};

fn field<'a>(form: &'a Value, name: &str) -> &'a str {
    form.get(name).and_then(Value::as_str).unwrap_or("").trim()
}

/// An HTTP URL split as a test case's is ([`sim::split_url`]): scheme,
/// authority, and the path as sent (query and fragment included).
fn split_url(url: &str) -> Result<(&str, &str, &str), String> {
    let (scheme, authority, path) = sim::split_url(url);
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "URL {url:?}: start it with http:// or https://, e.g. http://httpbin.org/get"
        ));
    }
    if authority.is_empty() {
        return Err(format!(
            "URL {url:?} has no host: write it as {scheme}://HOST/PATH"
        ));
    }
    if url.chars().any(char::is_whitespace) {
        return Err(format!(
            "URL {url:?} has a space: a request line has none; write it as %20"
        ));
    }
    Ok((scheme, authority, path))
}

/// `Name: value` lines → the `headers` object's text, names in the order
/// given (a repeated name becomes a list): `simulate`'s parser keeps that
/// order, a JSON map would not.
fn headers(text: &str) -> Result<Option<String>, String> {
    let mut list: Vec<(String, Vec<Value>)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!(
                "header line {}: {line:?} has no `:`; write one header a line, as `name: value`",
                n + 1
            ));
        };
        // The value as typed after `name: ` (one space is the separator;
        // any other space is part of the value, as in a test case).
        let value = value.strip_prefix(' ').unwrap_or(value);
        let value = value.strip_suffix('\r').unwrap_or(value);
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() {
            return Err(format!(
                "header line {}: the name before `:` is empty",
                n + 1
            ));
        }
        match list.iter_mut().find(|(k, _)| *k == name) {
            Some((_, values)) => values.push(value.into()),
            None => list.push((name, vec![value.into()])),
        }
    }
    if list.is_empty() {
        return Ok(None);
    }
    let fields: Vec<String> = list
        .into_iter()
        .map(|(k, mut v)| {
            let v = if v.len() == 1 {
                v.remove(0)
            } else {
                Value::Array(v)
            };
            format!("{}:{v}", Value::from(k))
        })
        .collect();
    Ok(Some(format!("{{{}}}", fields.join(","))))
}

fn port(form: &Value, default: Option<u16>) -> Result<Option<u16>, String> {
    match field(form, "port") {
        "" => Ok(default),
        p => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .map(Some)
            .ok_or_else(|| format!("port {p:?}: a number from 1 to 65535")),
    }
}

/// The request the form describes: `{"kind": "http"|"tls"|"tcp", "method",
/// "url", "principal", "headers", "sni", "address", "port"}`.
pub fn request_from_form(form: &Value) -> Result<SimRequest, String> {
    let mut line: Map<String, Value> = Map::new();
    let mut headers_text = None;
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            line.insert(k.to_owned(), v.into());
        }
    };
    put("principal", field(form, "principal"));
    match field(form, "kind") {
        "" | "http" => {
            let (scheme, authority, path) = split_url(field(form, "url"))?;
            let method = match field(form, "method") {
                "" => "GET",
                m => m,
            };
            put("method", method);
            put("scheme", scheme);
            put("host", authority);
            if let Some(path) = sim::case_path(path, method) {
                put("path", &path);
            }
            put("sni", field(form, "sni"));
            headers_text = headers(form.get("headers").and_then(Value::as_str).unwrap_or(""))?;
        }
        "tls" => {
            let sni = field(form, "sni");
            let address = field(form, "address");
            if sni.is_empty() && address.is_empty() {
                return Err("a TLS connection needs an SNI (e.g. github.com), or an address when the client sends none".into());
            }
            put("sni", sni);
            put("destination", address);
            line.insert("port".into(), port(form, Some(443))?.into());
        }
        "tcp" => {
            let address = field(form, "address");
            if address.is_empty() {
                return Err(
                    "a TCP connection needs a destination address (e.g. 140.82.112.3)".into(),
                );
            }
            put("destination", address);
            let Some(p) = port(form, None)? else {
                return Err("a TCP connection needs a port".into());
            };
            line.insert("port".into(), p.into());
        }
        other => return Err(format!("unknown request kind {other:?}: http, tls or tcp")),
    }
    let mut json = Value::Object(line).to_string();
    if let Some(h) = headers_text {
        json = match json.strip_prefix("{}") {
            Some(_) => format!("{{\"headers\":{h}}}"),
            None => format!("{{\"headers\":{h},{}", json.get(1..).unwrap_or("}")),
        };
    }
    sim::parse_line(&json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_http_form_becomes_the_request_a_client_sends() {
        let r = request_from_form(&json!({
            "kind": "http", "method": "POST", "url": "https://api.example:8443/v1?q=1#frag",
            "principal": "cluster.local/ns/a/sa/b", "headers": "X-Tenant: acme\nx-tenant:  evil \n\n",
        }))
        .unwrap();
        assert_eq!(r.method.as_deref(), Some("POST"));
        assert_eq!(r.scheme.as_deref(), Some("https"));
        assert_eq!(r.host.as_deref(), Some("api.example:8443"));
        assert_eq!(r.path.as_deref(), Some("/v1?q=1#frag"));
        assert_eq!(r.effective_port(), 8443);
        assert_eq!(
            r.headers,
            [
                ("x-tenant".to_owned(), b"acme".to_vec()),
                ("x-tenant".to_owned(), b" evil ".to_vec())
            ]
        );
        let q = request_from_form(&json!({"url": "http://h?x"})).unwrap();
        assert_eq!(
            (q.method.as_deref(), q.path.as_deref()),
            (Some("GET"), Some("?x"))
        );
    }

    #[test]
    fn connections_and_mistakes() {
        let t = request_from_form(&json!({"kind": "tls", "sni": "github.com"})).unwrap();
        assert_eq!(
            (t.sni.as_deref(), t.effective_port()),
            (Some("github.com"), 443)
        );
        let c = request_from_form(&json!({"kind": "tcp", "address": "10.0.0.1", "port": "22"}))
            .unwrap();
        assert_eq!(c.effective_port(), 22);
        for (form, says) in [
            (json!({"url": "httpbin.org/get"}), "start it with http://"),
            (json!({"url": "http:///x"}), "has no host"),
            (json!({"url": "http://h/a b"}), "has a space"),
            (
                json!({"url": "http://h/", "headers": "novalue"}),
                "header line 1",
            ),
            (
                json!({"kind": "tcp", "address": "10.0.0.1"}),
                "needs a port",
            ),
            (
                json!({"kind": "tcp", "address": "10.0.0.1", "port": "70000"}),
                "1 to 65535",
            ),
            (
                json!({"kind": "tcp", "address": "not-an-ip", "port": "1"}),
                "IP address",
            ),
            (json!({"kind": "tls"}), "needs an SNI"),
            (json!({"kind": "udp"}), "unknown request kind"),
        ] {
            let e = request_from_form(&form).unwrap_err();
            assert!(e.contains(says), "{form}: {e}");
        }
    }
}
