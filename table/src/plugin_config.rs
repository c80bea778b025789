//! The JSON document that carries a table in Istio's WasmPlugin
//! `pluginConfig` (istiod serialises that Struct to JSON and Envoy hands the
//! bytes to `on_configure`).
//!
//! ```json
//! {"table": "<base64 of the binary table>", "layer": "http"}
//! ```
//!
//! - `table` (required): the table, standard padded base64. A string rather
//!   than nested JSON because `pluginConfig` is a protobuf Struct, whose
//!   numbers are doubles and whose key order is not kept.
//! - `layer` (optional, default `"http"`): `"http"` for the HTTP filter
//!   (WasmPlugin `type: HTTP`), `"network"` for the network filter that
//!   decides TLS connections on SNI and TCP connections on address and port
//!   (WasmPlugin `type: NETWORK`).
//! - `checksum` (optional): `"crc32c:<8 hex digits>"`; when present it must
//!   match the table's own checksum, so a table swapped in transit is caught.
//! - `max_path_bytes` (optional, default [`DEFAULT_MAX_PATH_BYTES`], 4096):
//!   the longest path (query excluded) the HTTP filter decides on; a longer
//!   one is refused as `path-too-long` before any rule, unread. An integer
//!   from 1 to [`MAX_PATH_BYTES_LIMIT`].
//! - `max_header_bytes` (optional, default [`DEFAULT_MAX_HEADER_BYTES`],
//!   8192): the most bytes of one header (all its occurrences together) a
//!   header value condition reads; a longer header takes the answer that
//!   denies (a `deny`'s condition holds, an `allow`'s fails). An integer
//!   from 1 to [`MAX_PATH_BYTES_LIMIT`].
//! - `authority_header` (optional): the request header that names the
//!   destination, for a proxy-wasm host other than Envoy (nginx with
//!   ngx_wasm_module adds its own `:authority`, the server's name and port,
//!   beside the client's `Host`: set `"host"` there). Only that header is
//!   read then (`:authority`, and `host` unless named, are ignored, and
//!   there is no fallback to the `request.host` attribute); absent, the
//!   destination is Envoy's `:authority` (or `host`).
//!
//! Unknown keys are refused, so a typo (`"tabel"`) is an error, not a
//! silently empty policy; so is a key given twice. The JSON is read by
//! [`crate::json`], which keeps a general JSON library out of the filter.

use core::fmt;
use std::borrow::Cow;

use crate::json::{self, Document, Value};

/// Which filter a plugin instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// HTTP filter: decides requests.
    Http,
    /// Network filter: decides connections.
    Network,
}

impl Layer {
    /// `"http"` or `"network"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Network => "network",
        }
    }
}

/// A parsed plugin configuration: the layer, the (not yet decoded) table
/// bytes and the settings that depend on the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    /// The layer.
    pub layer: Layer,
    /// The binary table.
    pub table: Vec<u8>,
    /// `max_path_bytes` and `authority_header`.
    pub options: Options,
}

/// The default of `max_path_bytes`: 4096 bytes of path, query excluded, as
/// IIS's request filtering allows by default (`requestLimits maxUrl`); the
/// URLs that CloudFront and Azure Front Door accept (8 KB) leave room for a
/// query beside such a path. A path up to this length costs the filter at
/// most a few times the median request (docs/security.md, "Worst case").
pub const DEFAULT_MAX_PATH_BYTES: u32 = 4096;

/// The largest `max_path_bytes`: Envoy's largest `max_request_headers_kb`
/// (8192 KiB), beyond which no request head, so no path, can go.
pub const MAX_PATH_BYTES_LIMIT: u32 = 8192 * 1024;

/// The default `max_header_bytes`: 8 KiB, the longest header line nginx
/// (`large_client_header_buffers 4 8k`) and Apache httpd
/// (`LimitRequestFieldSize 8190`) accept by default, so an upstream behind
/// either of them refuses a longer one itself. Reading up to this much of
/// a header costs the filter at most a few times the median request
/// (docs/security.md, "Worst case").
pub const DEFAULT_MAX_HEADER_BYTES: u32 = 8192;

/// The settings of a filter that depend on the proxy it runs in rather than
/// on the policy (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The longest path (query excluded) decided on; longer is refused as
    /// `path-too-long`.
    pub max_path_bytes: u32,
    /// The most bytes of one header a value condition reads; a longer
    /// header takes the answer that denies.
    pub max_header_bytes: u32,
    /// The header naming the destination, lower case; `None` for Envoy's
    /// `:authority` and `host`.
    pub authority_header: Option<Box<str>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_path_bytes: DEFAULT_MAX_PATH_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            authority_header: None,
        }
    }
}

impl Options {
    /// Checks a `max_path_bytes` value given on a command line or in a
    /// configuration.
    pub fn with_max_path_bytes(mut self, n: u64) -> Result<Self, ConfigError> {
        match u32::try_from(n) {
            Ok(n) if (1..=MAX_PATH_BYTES_LIMIT).contains(&n) => {
                self.max_path_bytes = n;
                Ok(self)
            }
            _ => Err(bad_limit("max_path_bytes", n)),
        }
    }

    /// Checks a `max_header_bytes` value given on a command line or in a
    /// configuration.
    pub fn with_max_header_bytes(mut self, n: u64) -> Result<Self, ConfigError> {
        match u32::try_from(n) {
            Ok(n) if (1..=MAX_PATH_BYTES_LIMIT).contains(&n) => {
                self.max_header_bytes = n;
                Ok(self)
            }
            _ => Err(bad_limit("max_header_bytes", n)),
        }
    }

    /// Checks an `authority_header` value: a header name (lower-cased), or
    /// `:authority`.
    pub fn with_authority_header(mut self, name: &str) -> Result<Self, ConfigError> {
        let lower = name.to_ascii_lowercase();
        if !crate::names::is_header_name(lower.as_bytes()) {
            return Err(bad_header(Shown(&Value::String(Cow::Borrowed(name)))));
        }
        self.authority_header = Some(lower.into_boxed_str());
        Ok(self)
    }
}

/// Why an `authority_header` value was refused; `shown` is the value.
fn bad_header(shown: impl fmt::Display) -> ConfigError {
    ConfigError(format!(
        "\"authority_header\" must be a header name such as \"host\", not {shown}"
    ))
}

/// Why a `max_path_bytes` or `max_header_bytes` value was refused; `shown`
/// is the value.
fn bad_limit(key: &str, shown: impl fmt::Display) -> ConfigError {
    ConfigError(format!(
        "\"{key}\" must be an integer from 1 to {MAX_PATH_BYTES_LIMIT}, not {shown}"
    ))
}

/// Why a plugin configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Builds the JSON for `pluginConfig`: compact, keys sorted, so the same
/// bytes from every build. The base64 alphabet and the other values need
/// no escaping.
pub fn encode(table: &[u8], layer: Layer) -> String {
    encode_with(table, layer, &Options::default())
}

/// [`encode`] with settings: a setting at its default is left out, so the
/// bytes are [`encode`]'s unless a setting is changed.
pub fn encode_with(table: &[u8], layer: Layer, options: &Options) -> String {
    let b64 = crate::base64::encode(table);
    let mut out = String::with_capacity(b64.len() + 128);
    out.push('{');
    if let Some(h) = options.authority_header.as_deref() {
        out.push_str("\"authority_header\":\"");
        out.push_str(h);
        out.push_str("\",");
    }
    out.push_str("\"checksum\":\"");
    out.push_str(&checksum_text(table));
    out.push_str("\",\"layer\":\"");
    out.push_str(layer.as_str());
    out.push('"');
    if options.max_header_bytes != DEFAULT_MAX_HEADER_BYTES {
        out.push_str(",\"max_header_bytes\":");
        out.push_str(&options.max_header_bytes.to_string());
    }
    if options.max_path_bytes != DEFAULT_MAX_PATH_BYTES {
        out.push_str(",\"max_path_bytes\":");
        out.push_str(&options.max_path_bytes.to_string());
    }
    out.push_str(",\"table\":\"");
    out.push_str(&b64);
    out.push_str("\"}");
    out
}

/// `crc32c:<8 hex digits>`, the table's own checksum.
fn checksum_text(table: &[u8]) -> String {
    format!("crc32c:{:08x}", table_checksum(table))
}

fn table_checksum(table: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    if let Some(t) = table.len().checked_sub(4).and_then(|s| table.get(s..)) {
        b.copy_from_slice(t);
    }
    u32::from_le_bytes(b)
}

/// Parses the JSON from `pluginConfig`. The table itself is checked by
/// [`crate::format::decode`]; this checks the envelope.
pub fn decode(json: &[u8]) -> Result<PluginConfig, ConfigError> {
    decode_owned(json.to_vec()).map_err(|r| r.error)
}

/// [`decode`] of a configuration the caller owns: the table is decoded in
/// place, into the front of `json`'s buffer, which is then cut to the
/// table and returned in [`PluginConfig::table`]. Loading a table this way
/// holds one copy of it in memory at a time (the filter's `on_configure`).
/// A refusal says which layer the configuration names, as far as that can
/// be told (see [`layer_hint`]).
pub fn decode_owned(mut json: Vec<u8>) -> Result<PluginConfig, Refusal> {
    let env = envelope(&json)?;
    let hint = Some(env.layer);
    let n = match env.table {
        TableText::At(start, len) => crate::base64::decode_in_place(&mut json, start, len),
        TableText::Owned(ref t) => {
            json.clear();
            json.extend_from_slice(t.as_bytes());
            crate::base64::decode_in_place(&mut json, 0, t.len())
        }
    };
    let n = n.map_err(|e| Refusal {
        error: not_base64(e),
        layer: hint,
    })?;
    json.truncate(n);
    json.shrink_to_fit();
    finish(env.layer, env.checksum.as_ref(), json, env.options)
}

/// A refused configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub error: ConfigError,
    /// The layer the configuration names, as far as it can be told, so the
    /// filter still creates contexts of the right type (and denies in them).
    pub layer: Option<Layer>,
}

/// Where the base64 text of the table is: a range of the JSON (no escapes
/// in it, the usual case), or unescaped.
enum TableText {
    At(usize, usize),
    Owned(String),
}

/// The checked envelope: the layer, the table's text and the checksum the
/// configuration claims.
struct Envelope {
    layer: Layer,
    table: TableText,
    checksum: Option<Claimed>,
    options: Options,
}

/// The `checksum` member: a string, or some other JSON value (refused by
/// [`finish`] with the value shown).
enum Claimed {
    Text(String),
    Other(String),
}

fn not_base64(err: crate::base64::Base64Error) -> ConfigError {
    ConfigError(format!("\"table\" is not valid base64: {err}"))
}

fn envelope(json: &[u8]) -> Result<Envelope, Refusal> {
    let refuse = |m: String, layer: Option<Layer>| {
        Err(Refusal {
            error: ConfigError(m),
            layer,
        })
    };
    if json.iter().all(u8::is_ascii_whitespace) {
        return refuse("the plugin configuration is empty: set pluginConfig to the output of `egressc compile --emit plugin-config`".into(), None);
    }
    let members = match json::parse(json) {
        Ok(Document::Object(members)) => members,
        Ok(Document::Other(_)) => {
            return refuse(
                "the plugin configuration must be a JSON object with a \"table\" key".into(),
                None,
            );
        }
        Err(err) => {
            return refuse(
                format!("the plugin configuration is not JSON: {err}"),
                scan_layer(json),
            );
        }
    };
    let get = |key: &str| members.iter().find(|m| m.key == key).map(|m| &m.value);
    let hint = layer_of_member(get("layer"));
    if let Some(m) = members.iter().find(|m| !KEYS.contains(&m.key.as_ref())) {
        return refuse(
            format!(
                "unknown key {:?} in the plugin configuration (expected \"table\", \"layer\", \"checksum\", \"max_path_bytes\", \"max_header_bytes\" or \"authority_header\")",
                m.key
            ),
            hint,
        );
    }
    let mut options = Options::default();
    for (key, set) in [
        (
            "max_path_bytes",
            Options::with_max_path_bytes as fn(_, _) -> _,
        ),
        ("max_header_bytes", Options::with_max_header_bytes),
    ] {
        let Some(v) = get(key) else { continue };
        let n = match v {
            // Digits only (no sign, fraction or exponent), without overflow.
            Value::Other(raw) if !raw.is_empty() => raw.bytes().try_fold(0u64, |n, d| {
                let d = d.checked_sub(b'0').filter(|d| *d < 10)?;
                n.checked_mul(10)?.checked_add(u64::from(d))
            }),
            _ => None,
        };
        let Some(n) = n else {
            return refuse(bad_limit(key, Shown(v)).0, hint);
        };
        options = match set(options, n) {
            Ok(o) => o,
            Err(e) => return refuse(e.0, hint),
        };
    }
    if let Some(v) = get("authority_header") {
        let Value::String(name) = v else {
            return refuse(bad_header(Shown(v)).0, hint);
        };
        options = match options.with_authority_header(name) {
            Ok(o) => o,
            Err(e) => return refuse(e.0, hint),
        };
    }
    let Some(Value::String(text)) = get("table") else {
        return refuse(
            "the plugin configuration has no \"table\" string".into(),
            hint,
        );
    };
    let table = match text {
        // Borrowed from the input: find where.
        Cow::Borrowed(t) => {
            let start = (t.as_ptr() as usize).wrapping_sub(json.as_ptr() as usize);
            match json.get(start..start.saturating_add(t.len())) {
                Some(slice) if slice == t.as_bytes() => TableText::At(start, t.len()),
                _ => TableText::Owned((*t).to_owned()),
            }
        }
        Cow::Owned(t) => TableText::Owned(t.clone()),
    };
    let Some(layer) = hint else {
        let shown = get("layer").map_or_else(String::new, |v| Shown(v).to_string());
        return refuse(
            format!("\"layer\" must be \"http\" or \"network\", not {shown}"),
            None,
        );
    };
    let checksum = get("checksum").map(|c| match c {
        Value::String(s) => Claimed::Text(s.to_string()),
        other => Claimed::Other(Shown(other).to_string()),
    });
    Ok(Envelope {
        layer,
        table,
        checksum,
        options,
    })
}

/// The keys a configuration may have.
const KEYS: [&str; 6] = [
    "table",
    "layer",
    "checksum",
    "max_path_bytes",
    "max_header_bytes",
    "authority_header",
];

/// Checks the claimed checksum against the decoded table.
fn finish(
    layer: Layer,
    claimed: Option<&Claimed>,
    table: Vec<u8>,
    options: Options,
) -> Result<PluginConfig, Refusal> {
    if let Some(c) = claimed {
        let want = checksum_text(&table);
        let shown = match c {
            Claimed::Text(s) if *s == want => None,
            Claimed::Text(s) => Some(format!("{s:?}")),
            Claimed::Other(raw) => Some(raw.clone()),
        };
        if let Some(shown) = shown {
            return Err(Refusal {
                error: ConfigError(format!(
                    "\"checksum\" is {shown}, but the table's checksum is {want:?}"
                )),
                layer: Some(layer),
            });
        }
    }
    Ok(PluginConfig {
        layer,
        table,
        options,
    })
}

/// The layer a `layer` member names: absent is `http`; anything but the
/// two names is `None`.
fn layer_of_member(v: Option<&Value<'_>>) -> Option<Layer> {
    match v {
        None => Some(Layer::Http),
        Some(Value::String(s)) if s == "http" => Some(Layer::Http),
        Some(Value::String(s)) if s == "network" => Some(Layer::Network),
        Some(_) => None,
    }
}

/// A value as it is shown in an error: a string quoted, anything else as
/// its JSON text.
struct Shown<'v, 'a>(&'v Value<'a>);

impl fmt::Display for Shown<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::String(s) => write!(f, "{s:?}"),
            Value::Other(raw) => f.write_str(raw),
        }
    }
}

/// The layer a configuration names, as far as it can be told, even when
/// the configuration is refused (broken JSON, a bad table): the filter must
/// create contexts of the right type either way. From the parsed `layer`
/// key when the JSON parses, else from a `"layer": "…"` pair found in the
/// text; `None` when neither says.
pub fn layer_hint(json: &[u8]) -> Option<Layer> {
    match json::parse(json) {
        Ok(Document::Object(members)) => {
            layer_of_member(members.iter().find(|m| m.key == "layer").map(|m| &m.value))
        }
        _ => scan_layer(json),
    }
}

/// The layer named by a `"layer": "…"` pair found in text that does not
/// parse.
fn scan_layer(json: &[u8]) -> Option<Layer> {
    let of = |v: &[u8]| match v {
        b"http" => Some(Layer::Http),
        b"network" => Some(Layer::Network),
        _ => None,
    };
    let key = b"\"layer\"";
    let at = json.windows(key.len()).position(|w| w == key)?;
    let rest = json.get(at + key.len()..)?;
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b":")?
        .trim_ascii_start();
    let rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    of(rest.get(..end)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_hints() {
        let net = encode(b"x", Layer::Network);
        assert_eq!(layer_hint(net.as_bytes()), Some(Layer::Network));
        assert_eq!(layer_hint(br#"{"table":"AA"}"#), Some(Layer::Http));
        // Truncated JSON still tells.
        assert_eq!(
            layer_hint(br#"{"layer" : "network", "table": "AAA"#),
            Some(Layer::Network)
        );
        assert_eq!(layer_hint(br#"{"layer":"tcp"}"#), None);
        assert_eq!(layer_hint(b"garbage"), None);
        assert_eq!(layer_hint(b""), None);
    }

    #[test]
    fn round_trip_and_errors() {
        let json = encode(b"EGRTABLE-ish", Layer::Network);
        let back = decode(json.as_bytes()).unwrap();
        assert_eq!(back.layer, Layer::Network);
        assert_eq!(back.table, b"EGRTABLE-ish");
        assert!(decode(b"").unwrap_err().0.contains("empty"));
        assert!(decode(b"[1]").unwrap_err().0.contains("object"));
        assert!(
            decode(br#"{"tabel":"AA=="}"#)
                .unwrap_err()
                .0
                .contains("unknown key")
        );
        assert!(
            decode(br#"{"table":"A"}"#)
                .unwrap_err()
                .0
                .contains("base64")
        );
        assert!(
            decode(br#"{"table":"AAAA","layer":"tcp"}"#)
                .unwrap_err()
                .0
                .contains("layer")
        );
        assert!(
            decode(br#"{"table":"AAAAAAAA","checksum":"crc32c:00000001"}"#)
                .unwrap_err()
                .0
                .contains("checksum")
        );
        assert_eq!(decode(br#"{"table":"AAAA"}"#).unwrap().layer, Layer::Http);
    }

    #[test]
    fn envelope_errors() {
        // `decode_owned` refuses exactly what `decode` refuses, and names
        // the layer `layer_hint` names.
        let err = |j: &str| {
            let e = decode(j.as_bytes()).unwrap_err().0;
            let r = decode_owned(j.as_bytes().to_vec()).unwrap_err();
            assert_eq!(r.error.0, e, "{j}");
            assert_eq!(r.layer, layer_hint(j.as_bytes()), "{j}");
            e
        };
        assert!(err(" \n").contains("empty"));
        assert!(err("\"x\"").contains("object"));
        let e = err("{\"table\":\"AAAA\",\n\"table\":\"AAAA\"}");
        assert!(e.contains("not JSON"), "{e}");
        assert!(e.contains("line 2, column 1"), "{e}");
        assert!(e.contains("key \"table\" appears twice"), "{e}");
        let e = err("{\"table\":\"AAAA\"");
        assert!(e.contains("not JSON") && e.contains("byte 15"), "{e}");
        assert!(err(r#"{"table":5}"#).contains("no \"table\" string"));
        assert!(err(r#"{"layer":"http"}"#).contains("no \"table\" string"));
        assert_eq!(
            err(r#"{"table":"AAAA","layer":7}"#),
            "\"layer\" must be \"http\" or \"network\", not 7"
        );
        assert_eq!(
            err(r#"{"table":"AAAA","layer":"tcp"}"#),
            "\"layer\" must be \"http\" or \"network\", not \"tcp\""
        );
        assert_eq!(
            err(r#"{"table":"AAAAAAAA","checksum":null}"#),
            "\"checksum\" is null, but the table's checksum is \"crc32c:00000000\""
        );
        // Escapes are unescaped before the values are looked at.
        let escaped = br#"{"t\u0061ble":"AA\u003d\u003d","layer":"net\u0077ork"}"#;
        let ok = decode(escaped).unwrap();
        assert_eq!((ok.layer, ok.table), (Layer::Network, vec![0]));
        assert_eq!(decode_owned(escaped.to_vec()).unwrap().table, vec![0]);
        assert_eq!(layer_hint(br#"{"table":"AA","layer":{}}"#), None);
    }

    #[test]
    fn settings_round_trip_and_are_checked() {
        let options = Options::default()
            .with_max_path_bytes(9000)
            .unwrap()
            .with_max_header_bytes(100)
            .unwrap()
            .with_authority_header("Host")
            .unwrap();
        let json = encode_with(b"tbl", Layer::Http, &options);
        // Keys sorted, so the same bytes from every build.
        let keys: Vec<usize> = [
            "authority_header",
            "checksum",
            "layer",
            "max_header_bytes",
            "max_path_bytes",
            "table",
        ]
        .iter()
        .map(|k| json.find(&format!("\"{k}\"")).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{json}");
        let back = decode(json.as_bytes()).unwrap();
        assert_eq!(back.options, options);
        assert_eq!(back.options.authority_header.as_deref(), Some("host"));
        assert_eq!(decode_owned(json.into_bytes()).unwrap().options, options);
        // Defaults are left out, so the bytes are `encode`'s.
        assert_eq!(
            encode_with(b"tbl", Layer::Http, &Options::default()),
            encode(b"tbl", Layer::Http)
        );
        for (extra, says) in [
            (r#""max_path_bytes":0"#, "not 0"),
            (r#""max_path_bytes":8388609"#, "not 8388609"),
            (r#""max_path_bytes":1e3"#, "not 1e3"),
            (r#""max_path_bytes":null"#, "not null"),
            (
                r#""max_header_bytes":0"#,
                "\"max_header_bytes\" must be an integer from 1 to 8388608, not 0",
            ),
            (r#""max_header_bytes":-5"#, "not -5"),
            (r#""authority_header":"a:b""#, "not \"a:b\""),
            (r#""authority_header":[]"#, "not []"),
        ] {
            let e = decode(format!(r#"{{"table":"AAAA",{extra}}}"#).as_bytes())
                .unwrap_err()
                .0;
            assert!(e.contains(says), "{extra}: {e}");
        }
        let ok =
            decode(br#"{"table":"AAAA","max_path_bytes":8388608,"authority_header":":authority"}"#)
                .unwrap();
        assert_eq!(ok.options.max_path_bytes, MAX_PATH_BYTES_LIMIT);
        assert_eq!(ok.options.authority_header.as_deref(), Some(":authority"));
    }

    /// `encode` as it was, on serde_json: the reference for the bytes.
    fn encode_with_serde_json(table: &[u8], layer: Layer) -> String {
        let mut obj = serde_json::json!({
            "table": crate::base64::encode(table),
            "layer": layer.as_str(),
            "checksum": format!("crc32c:{:08x}", table_checksum(table)),
        });
        obj.sort_all_objects();
        obj.to_string()
    }

    proptest::proptest! {
        #[test]
        fn encode_matches_the_serde_json_encoding(
            table in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            network in proptest::prelude::any::<bool>(),
        ) {
            let layer = if network { Layer::Network } else { Layer::Http };
            let json = encode(&table, layer);
            proptest::prop_assert_eq!(&json, &encode_with_serde_json(&table, layer));
            let back = decode(json.as_bytes()).unwrap();
            proptest::prop_assert_eq!(&back, &PluginConfig { layer, table, options: Options::default() });
            proptest::prop_assert_eq!(decode_owned(json.into_bytes()).unwrap(), back);
        }
    }
}
