//! Safety: a trap is an error carrying the guest's last log lines (never a
//! host panic), the VM is poisoned afterwards, runaway guests are stopped by
//! the epoch deadline or by fuel, the memory limit holds, and linear memory
//! stays flat over many requests.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use egress_host::{HostConfig, HostError, HttpRequest};

fn vm_with(target: &str, cfg: HostConfig, config: &str) -> egress_host::Vm {
    let mut vm = probe(target, cfg).vm().unwrap();
    assert!(vm.start(b"").unwrap());
    assert!(vm.configure(config.as_bytes()).unwrap());
    vm
}

#[test]
fn a_guest_panic_is_an_error_with_its_message_and_poisons_the_vm() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let err = vm.http(&act("panic")).unwrap_err();
        match &err {
            HostError::Trap {
                callback,
                message,
                last_logs,
            } => {
                assert_eq!(callback, "proxy_on_request_headers", "{t}");
                assert!(message.contains("unreachable"), "{t}: {message}");
                assert!(
                    last_logs
                        .iter()
                        .any(|l| l.message.contains("probe panic on purpose")),
                    "{t}: {last_logs:?}"
                );
            }
            other => panic!("{t}: {other:?}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("probe panic on purpose") && text.contains("poisoned"),
            "{t}: {text}"
        );
        assert!(!text.contains('\n'), "{t}: one paragraph: {text}");
        assert!(vm.is_poisoned());
        let again = vm.http(&HttpRequest::new("GET", "a", "/")).unwrap_err();
        assert!(
            matches!(again, HostError::Poisoned { .. }),
            "{t}: {again:?}"
        );
        assert!(
            again
                .to_string()
                .contains("proxy_on_request_headers trapped"),
            "{t}: {again}"
        );
        // A fresh VM from the same plugin works.
        let mut fresh = vm.plugin().configured_vm(b"", b"").unwrap();
        assert_eq!(
            fresh
                .http(&HttpRequest::new("GET", "a", "/"))
                .unwrap()
                .status,
            200
        );
    }
}

#[test]
fn a_runaway_guest_is_interrupted_by_the_deadline() {
    for t in TARGETS {
        let cfg = HostConfig {
            call_timeout: Duration::from_millis(200),
            ..HostConfig::default()
        };
        let mut vm = vm_with(t, cfg, "");
        let start = Instant::now();
        let err = vm.http(&act("loop")).unwrap_err();
        let took = start.elapsed();
        assert!(matches!(err, HostError::Timeout { .. }), "{t}: {err:?}");
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_secs(5),
            "{t}: {took:?}"
        );
        assert!(err.to_string().contains("200 ms"), "{t}: {err}");
        assert!(matches!(
            vm.http(&act("")).unwrap_err(),
            HostError::Poisoned { .. }
        ));
    }
}

#[test]
fn a_runaway_guest_runs_out_of_fuel() {
    for t in TARGETS {
        let cfg = HostConfig {
            fuel: Some(5_000_000),
            ..HostConfig::default()
        };
        let mut vm = vm_with(t, cfg, "");
        // Normal requests fit in the budget (it is reset for every call).
        for _ in 0..3 {
            assert_eq!(
                vm.http(&HttpRequest::new("GET", "a", "/")).unwrap().status,
                200,
                "{t}"
            );
        }
        let err = vm.http(&act("loop")).unwrap_err();
        assert!(
            matches!(
                err,
                HostError::OutOfFuel {
                    fuel: 5_000_000,
                    ..
                }
            ),
            "{t}: {err:?}"
        );
    }
}

#[test]
fn the_memory_limit_stops_a_hungry_guest() {
    for t in TARGETS {
        let cfg = HostConfig {
            memory_limit: 32 << 20,
            ..HostConfig::default()
        };
        let mut vm = vm_with(t, cfg, "");
        let err = vm.http(&act("oom")).unwrap_err();
        let HostError::Trap {
            message, last_logs, ..
        } = &err
        else {
            panic!("{t}: {err:?}")
        };
        assert!(message.contains("unreachable"), "{t}: {message}");
        if t == "wasm32-wasip1" {
            // std reports the failed allocation on stderr, which Envoy logs at error level.
            assert!(
                last_logs
                    .iter()
                    .any(|l| l.message.contains("memory allocation")),
                "{t}: {last_logs:?}"
            );
        }
        assert!(vm.memory_size() <= 32 << 20, "{t}: {}", vm.memory_size());
    }
}

#[test]
fn memory_stays_flat_over_many_requests() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        vm.drain_logs();
        vm.set_capture_logs(false);
        let req = HttpRequest::new("POST", "a.example", "/x").with_body("some body");
        for _ in 0..500 {
            vm.http(&req).unwrap();
        }
        let before = vm.memory_size();
        for _ in 0..20_000 {
            assert_eq!(vm.http(&req).unwrap().status, 200);
        }
        assert_eq!(vm.memory_size(), before, "{t}");
        assert!(vm.logs().is_empty(), "{t}: capture is off");
    }
}

#[test]
fn a_missing_probe_build_says_how_to_build_it() {
    let err = egress_host::Plugin::from_file(
        "target/nowhere/probe_filter.wasm".as_ref(),
        HostConfig::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("make wasm"), "{err}");
}
