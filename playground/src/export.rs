//! The Export tab: what a policy becomes besides the Istio bundle — the
//! Cedar export (`egressc cedar`), the binary table (`egressc compile`) and
//! its `pluginConfig` for either filter (`--emit plugin-config --layer`).

use egress_table::plugin_config::Layer;
use egressc::emit::{self, Format};
use serde_json::{Value, json};

use crate::view::{diagnostics, with_compiled};

/// The Cedar files and the `pluginConfig` texts (JSON).
pub fn export_json(name: &str, text: &str) -> Value {
    with_compiled(name, text, |sources, compiled| {
        let config = |layer| {
            emit::emit(&compiled.spec, Format::PluginConfig(layer))
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let cedar = match egressc::cedar::export(compiled, sources) {
            Ok(x) => json!({
                "files": x.files().iter().map(|(n, t)| json!({"name": n, "text": t})).collect::<Vec<_>>(),
            }),
            Err(ds) => json!({"diagnostics": diagnostics(&ds, sources)}),
        };
        json!({
            "cedar": cedar,
            "plugin_config": {"http": config(Layer::Http), "network": config(Layer::Network)},
        })
    })
    .unwrap_or_else(|e| e)
}

/// The binary table `egressc compile` writes; empty when `text` does not
/// compile (the page offers the download only for a policy that does).
pub fn table_bytes(name: &str, text: &str) -> Vec<u8> {
    with_compiled(name, text, |_, compiled| {
        emit::emit(&compiled.spec, Format::Table)
    })
    .ok()
    .and_then(Result::ok)
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EXAMPLES;

    #[test]
    fn every_example_exports() {
        for (name, text) in EXAMPLES {
            let v = export_json(name, text);
            let files = v["cedar"]["files"].as_array().unwrap();
            assert_eq!(files[0]["name"], "policies.cedar", "{name}: {v}");
            assert!(
                files[1]["text"].as_str().unwrap().contains("entity"),
                "{name}"
            );
            let http: Value =
                serde_json::from_str(v["plugin_config"]["http"].as_str().unwrap()).unwrap();
            assert_eq!(http["layer"], "http");
            let table = table_bytes(name, text);
            assert!(!table.is_empty());
            assert!(
                v["plugin_config"]["network"]
                    .as_str()
                    .unwrap()
                    .contains("\"network\"")
            );
        }
        assert!(table_bytes("x", "policy {").is_empty());
        assert!(export_json("x", "policy {")["error"].is_string());
    }
}
