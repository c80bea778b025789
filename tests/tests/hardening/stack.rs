//! The filter's 128 KiB stack (filter/build.rs) against the deepest paths
//! it has, inside the real `.wasm` for both targets: a large generated
//! table, the longest requests Envoy admits through every kind of rule with
//! the longest audit line, and configuration errors with long messages. A
//! stack overflow would trap the call (the stack sits below the data, so it
//! runs out of linear memory rather than into it); every call here must
//! return normally.

use egress_table::plugin_config::Layer;
use egress_tests::{
    HostConfig, HttpRequest, Plugin, TARGETS, compile, filter_wasm, plugin, vm_with_table,
};

const DEEP: &str = r#"
policy "deep" {
  log all
  destination "api.example.com", "*.example.org", "**.example.net" port 80 http {
    deny any path ~"/(a|b)+[0-9]{3,9}/[^/]+/x.*" from namespace "ns1"
    allow GET, POST path "/v1/{*}/items/{**}", "/v2/{*}/x{*}/{**}" except path "/v1/secret/{**}"
      from principal "cluster.local/ns/a/sa/b", namespace "ns2" except from serviceaccount "ns3/sa3"
      when header "x-team" == "core" and header "x-debug" absent
    allow any path prefix "/p/", suffix ".json", "/exact/one"
    deny any path "/g/{**}.tar.gz"
  }
}
"#;

#[test]
fn the_longest_requests_do_not_overflow_the_stack() {
    // Envoy's largest head limit (`max_request_headers_kb` 8192) and more
    // headers than its default 100: at the defaults these requests get 431
    // before the filter, and an operator may raise both.
    let cfg = HostConfig {
        hcm: egress_host::HcmSettings {
            max_request_headers_kb: 8192,
            max_headers_count: 10_000,
            ..egress_host::HcmSettings::default()
        },
        ..HostConfig::default()
    };
    let table = compile(DEEP).unwrap();
    for target in TARGETS {
        let p = Plugin::from_bytes(&filter_wasm(target).unwrap(), cfg.clone()).unwrap();
        let mut f = p.vm().unwrap();
        assert!(f.start(b"").unwrap());
        // And the largest `max_path_bytes`, so that the rules read the
        // long paths rather than refusing them at the default 4096.
        let options = egress_table::plugin_config::Options::default()
            .with_max_path_bytes(u64::from(egress_table::plugin_config::MAX_PATH_BYTES_LIMIT))
            .unwrap();
        let config = egress_table::plugin_config::encode_with(&table, Layer::Http, &options);
        assert!(f.configure(config.as_bytes()).unwrap());
        // About 60 KiB of headers in 100 headers, the longest name a DNS
        // host may have, paths of tens of KiB with escapes and dot segments
        // against the regex and template rules.
        let label = "a".repeat(63);
        let host = format!("{label}.{label}.{label}.example.net");
        let long_path = format!(
            "/v1/{}/items/{}",
            "%2e%2E%2f".repeat(2_000),
            "a/../b1234/".repeat(2_000)
        );
        for (authority, path) in [
            (host.as_str(), long_path.as_str()),
            ("api.example.com", long_path.as_str()),
            ("x.example.org", &"/ab".repeat(20_000)),
            (
                "api.example.com",
                &format!("/g/{}x.tar.gz", "d/".repeat(20_000)),
            ),
        ] {
            let mut r = HttpRequest::new("GET", authority, path)
                .principal(&format!("cluster.local/ns/{}/sa/b", "n".repeat(200)));
            r.headers = (0..100)
                .map(|i| (format!("x-h{i}").into_bytes(), "v".repeat(600).into_bytes()))
                .collect();
            let out = f
                .http(&r)
                .unwrap_or_else(|e| panic!("{target}: {authority}: the call trapped: {e}"));
            assert!(
                out.status == 200 || out.status == 403,
                "{target}: {authority}: {}",
                out.status
            );
            let why = egress_tests::record(&out.filter_state, "wasm.egress_decision");
            assert_ne!(
                why.get(3).map(String::as_str),
                Some("path-too-long"),
                "{target}: {authority}: the rules must read the path"
            );
        }
    }
}

#[test]
fn a_large_table_and_bad_configurations_do_not_overflow_the_stack() {
    let text = egress_tests::generate::policy(10_000, 7);
    let table = egress_tests::compile(&text).unwrap();
    for target in TARGETS {
        vm_with_table(target, &table, Layer::Http)
            .unwrap_or_else(|e| panic!("{target}: 10,000 hosts refused: {e}"));
        let p = plugin(target).unwrap();
        let nested = format!(
            "{{\"table\":\"AAAA\",\"layer\":{}1{}}}",
            "[".repeat(64),
            "]".repeat(64)
        );
        let mut broken = table.clone();
        let mid = broken.len() / 2;
        broken[mid] ^= 0x40;
        let broken = egress_table::plugin_config::encode(&broken, Layer::Http);
        let bad_b64 = format!("{{\"table\":\"{}*\"}}", "A".repeat(1 << 20));
        for config in [nested.as_str(), &broken, &bad_b64] {
            let mut vm = p.vm().unwrap();
            assert!(vm.start(b"").unwrap());
            let ok = vm
                .configure(config.as_bytes())
                .unwrap_or_else(|e| panic!("{target}: configure trapped: {e}"));
            assert!(!ok, "{target}: a bad configuration was accepted");
        }
    }
}
