//! Faults in the configuration of a running filter, inside the real `.wasm`
//! for both targets: every single-bit flip and every truncation of a small
//! valid table is refused at configure (the CRC-32C alone catches every
//! single-bit error, and the decoder checks the rest), the filter then
//! fails closed (a request is denied as `unconfigured`, nothing traps), and
//! the next good configuration restores it.

use egress_host::{HostConfig, HttpRequest, Plugin};
use egress_table::plugin_config::{self, Layer};
use egress_tests::{TARGETS, compile, filter_wasm};

const SMALL: &str = r#"
policy "small" {
  destination "api.example.com" port 80 http {
    allow GET path "/v1/{*}/items/{**}" from namespace "web"
    deny any path prefix "/admin/"
    allow GET
  }
}
"#;

#[test]
fn every_bit_flip_and_truncation_is_refused_and_the_filter_fails_closed() {
    let good = compile(SMALL).unwrap();
    let good_config = plugin_config::encode(&good, Layer::Http);
    let mut bad: Vec<Vec<u8>> = (0..good.len()).map(|n| good[..n].to_vec()).collect();
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut b = good.clone();
            b[i] ^= 1 << bit;
            bad.push(b);
        }
    }
    let get = HttpRequest::new("GET", "api.example.com", "/x");
    for target in TARGETS {
        let cfg = HostConfig {
            serve_refused_plugins: true,
            capture_logs: false,
            ..HostConfig::default()
        };
        let plugin = Plugin::from_bytes(&filter_wasm(target).unwrap(), cfg).unwrap();
        let mut vm = plugin.vm().unwrap();
        assert!(vm.start(b"").unwrap());
        for (k, table) in bad.iter().enumerate() {
            assert!(vm.configure(good_config.as_bytes()).unwrap());
            assert_eq!(vm.http(&get).unwrap().status, 200, "{target}: case {k}");
            // Without the configuration's own checksum: the table's CRC and
            // the decoder must catch it.
            let config = format!("{{\"table\":\"{}\"}}", egress_table::base64::encode(table));
            let ok = vm
                .configure(config.as_bytes())
                .unwrap_or_else(|e| panic!("{target}: case {k}: configure trapped: {e}"));
            assert!(!ok, "{target}: case {k}: a damaged table was accepted");
            let out = vm
                .http(&get)
                .unwrap_or_else(|e| panic!("{target}: case {k}: the request trapped: {e}"));
            assert_eq!(out.status, 403, "{target}: case {k}: must fail closed");
            let details = out
                .local_response
                .as_ref()
                .map(|r| String::from_utf8_lossy(&r.details).into_owned())
                .unwrap_or_default();
            assert!(
                details.contains("reason=unconfigured"),
                "{target}: case {k}: {details}"
            );
            assert!(!vm.is_poisoned(), "{target}: case {k}");
        }
        assert!(bad.len() > 1_000, "{} cases", bad.len());
    }
}
