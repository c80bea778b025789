//! Hand-written modules for what a Rust filter cannot easily do: missing
//! exports, wrong signatures, exact memory bounds, a misbehaving allocator,
//! host calls while the VM starts.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use egress_host::{HostConfig, HostError, HttpRequest, Plugin};

const IMPORTS: &str = r#"
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_effective_context" (func $set_effective (param i32) (result i32)))
"#;

/// A module with the ABI marker, one page of memory, a bump allocator at
/// 1024, "plugin_name" at 0 and "hello" at 16, plus `body`.
fn module(body: &str) -> Vec<u8> {
    module_with(
        IMPORTS,
        r#"(func (export "proxy_abi_version_0_2_1"))"#,
        body,
    )
}

fn module_with(imports: &str, marker: &str, body: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get $n)))
    (local.get $p))
  {marker}
  (data (i32.const 0) "plugin_name")
  (data (i32.const 16) "hello")
  (data (i32.const 32) "plugin_name\00")
  {body}
)"#
    );
    wat::parse_str(text).unwrap()
}

fn plugin(wasm: &[u8]) -> Result<Plugin, HostError> {
    Plugin::from_bytes(wasm, HostConfig::default())
}

#[test]
fn the_abi_marker_is_required() {
    let none = module_with(IMPORTS, "", "");
    let err = plugin(&none).unwrap_err();
    assert!(
        matches!(err, HostError::Abi(_)) && err.to_string().contains("proxy_abi_version_0_2_1"),
        "{err}"
    );
    let old = module_with(IMPORTS, r#"(func (export "proxy_abi_version_0_1_0"))"#, "");
    assert!(plugin(&old).unwrap_err().to_string().contains("0.1.0"));
    let v020 = module_with(IMPORTS, r#"(func (export "proxy_abi_version_0_2_0"))"#, "");
    assert_eq!(plugin(&v020).unwrap().abi_version(), "0.2.0");
    assert_eq!(plugin(&module("")).unwrap().abi_version(), "0.2.1");
}

#[test]
fn imports_envoy_does_not_provide_fail_to_link() {
    let m = module_with(
        r#"(import "env" "proxy_continue_request" (func (result i32)))"#,
        r#"(func (export "proxy_abi_version_0_2_1"))"#,
        "",
    );
    let err = plugin(&m).unwrap_err();
    assert!(matches!(err, HostError::Instantiate(_)), "{err:?}");
    assert!(err.to_string().contains("proxy_continue_request"), "{err}");
    // A WASI function with the wrong signature does not link either.
    let m = module_with(
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))"#,
        r#"(func (export "proxy_abi_version_0_2_1"))"#,
        "",
    );
    assert!(matches!(plugin(&m).unwrap_err(), HostError::Instantiate(_)));
}

#[test]
fn memory_and_allocator_are_required() {
    let no_alloc = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "proxy_abi_version_0_2_1")))"#,
    )
    .unwrap();
    let err = plugin(&no_alloc).unwrap().vm().unwrap_err();
    assert!(err.to_string().contains("malloc"), "{err}");
    let no_memory = wat::parse_str(r#"(module (func (export "proxy_abi_version_0_2_1")) (func (export "malloc") (param i32) (result i32) (i32.const 0)))"#).unwrap();
    let err = plugin(&no_memory).unwrap().vm().unwrap_err();
    assert!(err.to_string().contains("memory"), "{err}");
    let wrong = module(
        r#"(func (export "proxy_on_request_headers") (param i32 i32) (result i32) (i32.const 0))"#,
    );
    let err = plugin(&wrong).unwrap().vm().unwrap_err();
    assert!(
        matches!(err, HostError::Abi(_)) && err.to_string().contains("proxy_on_request_headers"),
        "{err}"
    );
}

#[test]
fn start_runs_initialize_then_main_with_only_logging_allowed() {
    let ok = module(
        r#"(func (export "_initialize") (drop (call $log (i32.const 2) (i32.const 16) (i32.const 5))))
           (func (export "main") (param i32 i32) (result i32) (drop (call $log (i32.const 3) (i32.const 0) (i32.const 6))) (i32.const 0))"#,
    );
    let vm = plugin(&ok).unwrap().vm().unwrap();
    let logs: Vec<String> = vm.logs().iter().map(ToString::to_string).collect();
    assert_eq!(logs, ["[info] hello", "[warn] plugin"]);

    let bad = module(
        r#"(func (export "_initialize")
             (drop (call $get_property (i32.const 0) (i32.const 11) (i32.const 200) (i32.const 204))))"#,
    );
    let err = plugin(&bad).unwrap().vm().unwrap_err();
    assert!(matches!(err, HostError::Trap { .. }), "{err:?}");
    assert!(
        err.to_string().contains("restricted_callback")
            && err.to_string().contains("proxy_get_property"),
        "{err}"
    );

    let command = module(
        r#"(func (export "_start") (drop (call $log (i32.const 2) (i32.const 16) (i32.const 5))))"#,
    );
    let vm = plugin(&command).unwrap().vm().unwrap();
    assert_eq!(vm.logs().len(), 1);
}

#[test]
fn guest_ranges_are_bounds_checked_exactly() {
    // on_vm_start returns 1 only if every status is as expected.
    let m = module(
        r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
             (i32.and
               (i32.and
                 (i32.and
                   (i32.eq (call $log (i32.const 2) (i32.const 65531) (i32.const 5)) (i32.const 0))
                   (i32.eq (call $log (i32.const 2) (i32.const 65532) (i32.const 5)) (i32.const 6)))
                 (i32.and
                   (i32.eq (call $log (i32.const 2) (i32.const -1) (i32.const 2)) (i32.const 6))
                   (i32.eq (call $log (i32.const 2) (i32.const 65536) (i32.const 0)) (i32.const 0))))
               (i32.and
                 (i32.and
                   (i32.eq (call $log (i32.const 2) (i32.const 65537) (i32.const 0)) (i32.const 6))
                   (i32.eq (call $log (i32.const 2) (i32.const 0) (i32.const 0)) (i32.const 0)))
                 (i32.and
                   ;; the return pointers are checked too: 65533 + 4 bytes does not fit
                   (i32.eq (call $get_property (i32.const 0) (i32.const 11) (i32.const 65533) (i32.const 200)) (i32.const 6))
                   ;; a trailing NUL ends the path
                   (i32.eq (call $get_property (i32.const 32) (i32.const 12) (i32.const 200) (i32.const 204)) (i32.const 0))))))"#,
    );
    let mut vm = plugin(&m).unwrap().vm().unwrap();
    assert!(vm.start(b"").unwrap(), "{:?}", vm.logs());
}

#[test]
fn a_broken_allocator_gives_invalid_memory_access() {
    for ret in ["0", "65533"] {
        let m = module_with(
            IMPORTS,
            r#"(func (export "proxy_abi_version_0_2_1"))"#,
            &format!(
                r#"(func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const {ret}))
                   (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                     (i32.eq (call $get_property (i32.const 0) (i32.const 11) (i32.const 200) (i32.const 204)) (i32.const 6)))"#
            ),
        );
        let mut vm = plugin(&m).unwrap().vm().unwrap();
        // malloc (the bump allocator) is preferred over proxy_on_memory_allocate, as in cpp-host.
        assert!(
            !vm.start(b"").unwrap(),
            "ret={ret}: the working malloc was used"
        );
    }
    // 65533 + 6 bytes ("egress") runs past the end of memory.
    for ret in ["0", "65533"] {
        let text = format!(
            r#"(module {IMPORTS}
                 (memory (export "memory") 1)
                 (func (export "proxy_abi_version_0_2_1"))
                 (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const {ret}))
                 (data (i32.const 0) "plugin_name")
                 (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
                   (i32.eq (call $get_property (i32.const 0) (i32.const 11) (i32.const 200) (i32.const 204)) (i32.const 6))))"#
        );
        let mut vm = plugin(&wat::parse_str(text).unwrap())
            .unwrap()
            .vm()
            .unwrap();
        assert!(
            vm.start(b"").unwrap(),
            "ret={ret}: INVALID_MEMORY_ACCESS expected"
        );
    }
}

#[test]
fn host_calls_inside_the_allocator_are_restricted() {
    let text = format!(
        r#"(module {IMPORTS}
             (memory (export "memory") 1)
             (func (export "proxy_abi_version_0_2_1"))
             (func (export "malloc") (param i32) (result i32)
               (drop (call $log (i32.const 2) (i32.const 16) (i32.const 5)))
               (drop (call $set_effective (i32.const 0)))
               (i32.const 1024))
             (data (i32.const 0) "plugin_name")
             (data (i32.const 16) "hello")
             (func (export "proxy_on_vm_start") (param i32 i32) (result i32)
               (call $get_property (i32.const 0) (i32.const 11) (i32.const 200) (i32.const 204))))"#
    );
    let mut vm = plugin(&wat::parse_str(text).unwrap())
        .unwrap()
        .vm()
        .unwrap();
    let err = vm.start(b"").unwrap_err();
    assert!(
        err.to_string().contains("proxy_set_effective_context"),
        "{err}"
    );
    // The allowed proxy_log inside the allocator went through.
    assert!(vm.logs().iter().any(|l| l.message == "hello"));
}

#[test]
fn a_trap_without_logs_and_a_module_without_callbacks() {
    let m = module(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) unreachable)"#,
    );
    let mut vm = plugin(&m).unwrap().configured_vm(b"", b"").unwrap();
    let err = vm.http(&HttpRequest::new("GET", "a", "/")).unwrap_err();
    assert!(err.to_string().contains("logged nothing"), "{err}");
    assert!(
        err.to_string().contains("proxy_on_request_headers"),
        "{err}"
    );

    // No callbacks at all: Envoy lets everything through without calling the VM.
    let mut vm = plugin(&module(""))
        .unwrap()
        .configured_vm(b"", b"")
        .unwrap();
    let out = vm.http(&HttpRequest::new("GET", "a", "/")).unwrap();
    assert_eq!((out.status, out.request_action), (200, None));
}

#[test]
fn memory_limits_apply_at_instantiation_and_growth() {
    let cfg = HostConfig {
        memory_limit: 1 << 20,
        ..HostConfig::default()
    };
    let big = wat::parse_str(r#"(module (memory (export "memory") 100) (func (export "proxy_abi_version_0_2_1")) (func (export "malloc") (param i32) (result i32) (i32.const 0)))"#).unwrap();
    let err = Plugin::from_bytes(&big, cfg.clone())
        .unwrap()
        .vm()
        .unwrap_err();
    assert!(matches!(err, HostError::Instantiate(_)), "{err:?}");
    let grow = module(
        r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.eq (memory.grow (i32.const 100)) (i32.const -1)))"#,
    );
    let mut vm = Plugin::from_bytes(&grow, cfg).unwrap().vm().unwrap();
    assert!(
        vm.start(b"").unwrap(),
        "memory.grow past the limit returns -1"
    );
    assert_eq!(vm.memory_size(), 65536);
}

#[test]
fn effective_context_zero_is_the_vm_context() {
    let m = module(
        r#"(func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.and (i32.eqz (call $set_effective (i32.const 0))) (i32.eq (call $set_effective (i32.const 99)) (i32.const 2))))"#,
    );
    let mut vm = plugin(&m).unwrap().vm().unwrap();
    assert!(vm.start(b"").unwrap());
}

#[test]
fn header_and_data_return_values_as_envoy_maps_them() {
    // 2 from a headers callback is ContinueAndEndStream, which Envoy's
    // `convertFilterHeadersStatus` turns into Continue: the body still
    // flows. A data callback's value above 3 is StopIterationNoBuffer
    // (cpp-host `convertVmCallResultToFilterDataStatus`): the chunk is dropped.
    let m = module(
        r#"(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 2))
           (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) (i32.const 2))
           (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
             (drop (call $log (i32.const 2) (i32.const 16) (i32.const 5)))
             (select (i32.const 0) (i32.const 7) (local.get 2)))"#,
    );
    let mut vm = plugin(&m).unwrap().configured_vm(b"", b"").unwrap();
    vm.set_upstream_response(egress_host::UpstreamResponse::new(200).with_body("up"));
    let out = vm
        .http(&HttpRequest::new("POST", "a", "/").with_body_chunks(["ab", "cd"]))
        .unwrap();
    assert_eq!(out.logs.iter().filter(|l| l.message == "hello").count(), 2);
    assert_eq!(out.forwarded_body.as_deref(), Some(&b"cd"[..]));
    assert_eq!(
        (out.status, out.response_body.as_slice()),
        (200, &b"up"[..])
    );
}
