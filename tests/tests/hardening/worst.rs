//! The worst-case inputs and the soak of `make bench` and `make soak`
//! (`egress_tests::hardening`), briefly and from a fixed seed, so that
//! neither can rot: every adversarial request at Envoy's limits once, with
//! the decision the policy gives it, through the `.wasm` of both targets;
//! then a short soak through one VM whose linear memory must not grow after
//! the warm-up window. Nothing here is timed.

use egress_tests::TARGETS;
use egress_tests::hardening::{
    ENVOY_HEAD_BYTES, ENVOY_HEADER_COUNT, HOSTS, SEED, Setup, SoakConfig, check, envoy_head_bytes,
    envoy_header_count, soak,
};

fn setup() -> &'static Setup {
    static SETUP: std::sync::OnceLock<Setup> = std::sync::OnceLock::new();
    SETUP.get_or_init(|| Setup::new(HOSTS, SEED, 256).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn the_worst_case_inputs_decide_as_the_policy_says() {
    let s = setup();
    // The cases are at Envoy's limits, not merely under them.
    for c in &s.cases {
        let (bytes, count) = (envoy_head_bytes(&c.request), envoy_header_count(&c.request));
        assert!(
            bytes <= ENVOY_HEAD_BYTES && count <= ENVOY_HEADER_COUNT,
            "{}: {bytes} bytes, {count} headers",
            c.name
        );
    }
    let at_limit = |name: &str| {
        let c = s.cases.iter().find(|c| c.name == name).unwrap();
        envoy_head_bytes(&c.request)
    };
    for name in [
        "headers_full",
        "repeated_header",
        "authority_long",
        "path_over_limit",
        "path_query",
    ] {
        assert!(
            at_limit(name) > ENVOY_HEAD_BYTES - 1024,
            "{name}: {}",
            at_limit(name)
        );
    }
    // The paths that rules read are at the filter's limit.
    for c in s.cases.iter().filter(|c| c.expect != "deny path-too-long") {
        let path = egress_table::path::strip_query(&c.request.path).len();
        assert!(path <= 4096, "{}: a {path}-byte path", c.name);
    }
    let longest = |name: &str| {
        s.cases
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .request
            .path
            .len()
    };
    assert!(
        longest("path_regex") > 4096 - 16,
        "{}",
        longest("path_regex")
    );
    // The header case a condition reads to the end fills max_header_bytes.
    let tenant: usize = s
        .cases
        .iter()
        .find(|c| c.name == "repeated_header_at_limit")
        .unwrap()
        .request
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(b"x-tenant"))
        .map(|(_, v)| v.len())
        .sum();
    let max = egress_table::plugin_config::DEFAULT_MAX_HEADER_BYTES as usize;
    assert!(
        tenant <= max && tenant > max - 200,
        "{tenant} bytes of x-tenant"
    );
    let hundred = s.cases.iter().find(|c| c.name == "headers_100").unwrap();
    assert_eq!(envoy_header_count(&hundred.request), ENVOY_HEADER_COUNT);
    // Allowed and denied, by rules, the default and a refusal.
    let expects: Vec<&str> = s.cases.iter().map(|c| c.expect.as_str()).collect();
    for e in [
        "allow scale/1",
        "allow scale/3",
        "allow scale/5",
        "allow scale/6",
        "deny scale/4",
        "deny default",
        "deny invalid-authority",
        "deny path-too-long",
    ] {
        assert!(expects.contains(&e), "no case decides {e}: {expects:?}");
    }
    for target in TARGETS {
        let mut vm = s.vm(target).unwrap();
        for c in s.cases.iter().chain(s.samples.iter().take(64)) {
            check(&mut vm, c).unwrap_or_else(|e| panic!("{target}: {e}"));
        }
    }
}

#[test]
fn a_short_soak_keeps_linear_memory_flat() {
    let s = setup();
    for target in TARGETS {
        let cfg = SoakConfig {
            requests: 20_000,
            window: 2_000,
            adversarial_one_in: 64,
            seed: SEED,
            probe: 100,
        };
        let r = soak(s, target, cfg, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.windows.len(), 10);
        assert!(r.windows.iter().all(|w| w.vs_fresh.is_some()));
        assert!(
            r.memory_flat(),
            "{target}: linear memory grew after the warm-up window:\n{}",
            r.table()
        );
        let allowed: u64 = r.windows.iter().map(|w| w.allowed).sum();
        assert!(
            allowed > 2_000 && allowed < 18_000,
            "{target}: {allowed} of 20,000 allowed: not a mix"
        );
    }
}
