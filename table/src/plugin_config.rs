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
//!
//! Unknown keys are refused, so a typo (`"tabel"`) is an error, not a
//! silently empty policy.

use core::fmt;

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

/// A parsed plugin configuration: the layer and the (not yet decoded) table bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginConfig {
    /// The layer.
    pub layer: Layer,
    /// The binary table.
    pub table: Vec<u8>,
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

/// Builds the JSON for `pluginConfig`.
pub fn encode(table: &[u8], layer: Layer) -> String {
    let mut obj = serde_json::json!({
        "table": crate::base64::encode(table),
        "layer": layer.as_str(),
        "checksum": format!("crc32c:{:08x}", table_checksum(table)),
    });
    // Sorted keys whatever serde_json's `preserve_order` says: the same
    // bytes from every build.
    obj.sort_all_objects();
    obj.to_string()
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
    let e = |m: String| Err(ConfigError(m));
    if json.iter().all(u8::is_ascii_whitespace) {
        return e("the plugin configuration is empty: set pluginConfig to the output of `egressc compile --format plugin-config`".into());
    }
    let value: serde_json::Value = match serde_json::from_slice(json) {
        Ok(v) => v,
        Err(err) => return e(format!("the plugin configuration is not JSON: {err}")),
    };
    let Some(obj) = value.as_object() else {
        return e("the plugin configuration must be a JSON object with a \"table\" key".into());
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "table" | "layer" | "checksum"))
    {
        return e(format!(
            "unknown key {k:?} in the plugin configuration (expected \"table\", \"layer\", \"checksum\")"
        ));
    }
    let Some(text) = obj.get("table").and_then(|t| t.as_str()) else {
        return e("the plugin configuration has no \"table\" string".into());
    };
    let table = match crate::base64::decode(text.as_bytes()) {
        Ok(t) => t,
        Err(err) => return e(format!("\"table\" is not valid base64: {err}")),
    };
    let layer = match obj.get("layer").map(|l| l.as_str()) {
        None | Some(Some("http")) => Layer::Http,
        Some(Some("network")) => Layer::Network,
        Some(other) => {
            return e(format!(
                "\"layer\" must be \"http\" or \"network\", not {other:?}"
            ));
        }
    };
    if let Some(c) = obj.get("checksum") {
        let want = format!("crc32c:{:08x}", table_checksum(&table));
        if c.as_str() != Some(want.as_str()) {
            return e(format!(
                "\"checksum\" is {c}, but the table's checksum is {want:?}"
            ));
        }
    }
    Ok(PluginConfig { layer, table })
}

/// The layer a configuration names, as far as it can be told, even when
/// the configuration is refused (broken JSON, a bad table): the filter must
/// create contexts of the right type either way. From the parsed `layer`
/// key when the JSON parses, else from a `"layer": "…"` pair found in the
/// text; `None` when neither says.
pub fn layer_hint(json: &[u8]) -> Option<Layer> {
    let of = |v: &[u8]| match v {
        b"http" => Some(Layer::Http),
        b"network" => Some(Layer::Network),
        _ => None,
    };
    if let Ok(serde_json::Value::Object(obj)) = serde_json::from_slice::<serde_json::Value>(json) {
        return match obj.get("layer") {
            None => Some(Layer::Http),
            Some(v) => v.as_str().and_then(|s| of(s.as_bytes())),
        };
    }
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
}
