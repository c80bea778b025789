//! Conformance: every ABI call the probe makes, in every callback, against
//! the status codes and values Envoy gives (proxy-wasm-cpp-host
//! `src/exports.cc`, Envoy `source/extensions/common/wasm/context.cc`).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::*;
use egress_host::{HttpRequest, LogLevel, UpstreamResponse, Value};

/// One request through the probe with every call in every phase.
fn battery_run(target: &str) -> (Recs, egress_host::HttpOutcome, egress_host::Vm) {
    let mut vm = probe_vm(target, "battery");
    vm.set_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    vm.set_log_level(LogLevel::Debug);
    vm.set_upstream_response(
        UpstreamResponse::new(200)
            .header("Content-Type", "text/plain")
            .with_body("upstream!"),
    );
    let req = HttpRequest::new("POST", "api.example.com", "/a/b?q=1")
        .header("x-multi", "one")
        .header("X-Multi", "two")
        .header("user-agent", "probe-test")
        .with_body("hello body")
        .principal("spiffe://cluster.local/ns/a/sa/b")
        .property(
            &["custom", "list"],
            Value::List(vec!["zero".into(), "one".into()]),
        )
        .property(
            &["custom", "map"],
            Value::Map(vec![("k".into(), Value::Bool(true))]),
        )
        .property(&["custom", "int"], Value::Int(-2))
        .property(
            &["custom", "dur"],
            Value::Duration(Duration::from_millis(1500)),
        )
        .property(
            &["custom", "ts"],
            Value::Timestamp(UNIX_EPOCH + Duration::from_secs(2)),
        );
    let out = vm.http(&req).unwrap();
    (Recs::of(&out.logs), out, vm)
}

#[test]
fn logging_time_and_log_level() {
    for t in TARGETS {
        let (r, _, _) = battery_run(t);
        for phase in [
            "create",
            "request_headers",
            "request_body",
            "response_headers",
            "response_body",
            "log",
            "done",
        ] {
            assert_eq!(r.status(phase, "log.badlevel"), BAD_ARGUMENT, "{t} {phase}");
            assert_eq!(
                r.status(phase, "log.badptr"),
                INVALID_MEMORY_ACCESS,
                "{t} {phase}"
            );
            assert_eq!(
                r.get(phase, "loglevel").data,
                1u32.to_le_bytes(),
                "{t} {phase}"
            );
            assert_eq!(
                r.get(phase, "time").data,
                1_700_000_000_000_000_000u64.to_le_bytes(),
                "{t}"
            );
            assert_eq!(r.status(phase, "time.badptr"), INVALID_MEMORY_ACCESS, "{t}");
        }
    }
}

#[test]
fn header_maps_by_phase() {
    for t in TARGETS {
        let (r, _, _) = battery_run(t);
        // on_context_create runs before Envoy points the context at the headers.
        assert_eq!(r.status("create", "hget.0"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status("create", "hpairs.0"), OK, "{t}");
        assert!(
            r.get("create", "hpairs.0").data.is_empty(),
            "{t}: an unavailable map reads as no pairs"
        );
        // Request headers: readable and writable in on_request_headers.
        assert_eq!(r.status("request_headers", "hget.0"), OK);
        assert_eq!(r.text("request_headers", "hget.0"), "/a/b?q=1");
        assert_eq!(r.status("request_headers", "hsize.0"), OK);
        let pairs = egress_host::pairs::decode(&r.get("request_headers", "hpairs.0").data).unwrap();
        let names: Vec<String> = pairs
            .iter()
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        assert_eq!(
            &names[..4],
            [":authority", ":path", ":method", ":scheme"],
            "{t}"
        );
        assert!(
            names.contains(&"x-multi".to_owned()) && !names.contains(&"host".to_owned()),
            "{t}: {names:?}"
        );
        // Only the first of repeated headers; `host` is `:authority`.
        assert_eq!(r.text("request_headers", "hget.multi"), "one", "{t}");
        assert_eq!(
            r.text("request_headers", "hget.host"),
            "api.example.com",
            "{t}"
        );
        assert_eq!(
            r.status("request_headers", "hget.missing"),
            NOT_FOUND,
            "{t}"
        );
        assert_eq!(
            r.status("request_headers", "hget.badkey"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert_eq!(
            r.status("request_headers", "hget.badret"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert_eq!(
            r.status("request_headers", "hpairs.badret"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert_eq!(
            r.status("request_headers", "hsetpairs.badptr"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert_eq!(
            r.status("request_headers", "hsetpairs.badtype"),
            BAD_ARGUMENT,
            "{t}"
        );
        assert_eq!(
            r.status("request_headers", "hadd.badptr.0"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        // Response headers do not exist yet: BAD_ARGUMENT for a value, OK + empty for pairs.
        assert_eq!(r.status("request_headers", "hget.2"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status("request_headers", "hpairs.2"), OK, "{t}");
        assert_eq!(r.status("request_headers", "hsize.2"), BAD_ARGUMENT, "{t}");
        assert_eq!(
            r.status("request_headers", "hadd.badptr.2"),
            INVALID_MEMORY_ACCESS,
            "{t}: memory is checked before the map"
        );
        // Unknown map type: BAD_ARGUMENT before the pointer is looked at.
        for call in [
            "hget.8",
            "hpairs.8",
            "hsize.8",
            "hadd.badptr.8",
            "hremove.badptr.8",
        ] {
            assert_eq!(
                r.status("request_headers", call),
                BAD_ARGUMENT,
                "{t} {call}"
            );
        }
        // gRPC metadata and HTTP-call maps exist only in their callbacks.
        for m in 4..=7 {
            assert_eq!(
                r.status("request_headers", &format!("hget.{m}")),
                BAD_ARGUMENT,
                "{t} map {m}"
            );
            assert_eq!(
                r.status("request_headers", &format!("hpairs.{m}")),
                OK,
                "{t} map {m}"
            );
        }
        // Once the request continued, its headers are gone for the filter.
        assert_eq!(r.status("response_headers", "hget.0"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status("response_headers", "hpairs.0"), OK, "{t}");
        assert!(r.get("response_headers", "hpairs.0").data.is_empty(), "{t}");
        assert_eq!(r.text("response_headers", "hget.2"), "200", "{t}");
        assert_eq!(r.status("response_body", "hget.2"), BAD_ARGUMENT, "{t}");
        // The access log sees both header maps; absent maps are NOT_FOUND there.
        assert_eq!(r.text("log", "hget.0"), "/a/b?q=1", "{t}");
        assert_eq!(r.text("log", "hget.2"), "200", "{t}");
        assert_eq!(r.status("log", "hget.1"), NOT_FOUND, "{t}");
        assert_eq!(r.status("log", "hget.3"), NOT_FOUND, "{t}");
        assert_eq!(
            r.status("log", "hsize.0"),
            BAD_ARGUMENT,
            "{t}: writes never reach the logged maps"
        );
        // on_done: nothing is available any more.
        assert_eq!(r.status("done", "hget.0"), BAD_ARGUMENT, "{t}");
        // Request trailers appear on demand at the end of the body.
        assert_eq!(r.status("request_body", "hsize.1"), OK, "{t}");
    }
}

#[test]
fn buffers_by_phase() {
    for t in TARGETS {
        let (r, _, _) = battery_run(t);
        // Bodies read as empty outside their callback; writes are refused.
        assert_eq!(
            (
                r.status("request_headers", "bget.0"),
                r.get("request_headers", "bget.0").data.len()
            ),
            (OK, 0),
            "{t}"
        );
        assert_eq!(r.status("request_headers", "bset.0"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.text("request_body", "bget.0"), "hello body", "{t}");
        assert_eq!(r.text("request_body", "bstatus.0"), "10 0", "{t}");
        assert_eq!(r.status("request_body", "bset.0"), OK, "{t}");
        assert_eq!(r.text("response_body", "bget.1"), "upstream!", "{t}");
        assert_eq!(r.status("response_body", "bset.1"), OK, "{t}");
        assert_eq!(r.status("response_body", "bset.0"), BAD_ARGUMENT, "{t}");
        // Network data buffers in an HTTP stream: empty.
        assert_eq!(r.status("request_headers", "bget.2"), OK, "{t}");
        // HTTP call response body: only during on_http_call_response.
        assert_eq!(r.status("request_headers", "bget.4"), NOT_FOUND, "{t}");
        assert_eq!(r.status("request_headers", "bstatus.4"), NOT_FOUND, "{t}");
        // VM configuration: always; plugin configuration: only in on_configure.
        assert_eq!(r.status("response_headers", "bget.6"), OK, "{t}");
        assert_eq!(r.status("response_headers", "bset.6"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status("request_headers", "bget.7"), NOT_FOUND, "{t}");
        assert_eq!(r.status("request_headers", "bset.7"), NOT_FOUND, "{t}");
        assert_eq!(r.status("request_headers", "bget.8"), OK, "{t}");
        // Unknown buffer type.
        assert_eq!(r.status("request_headers", "bget.9"), BAD_ARGUMENT, "{t}");
        assert_eq!(
            r.status("request_headers", "bstatus.9"),
            BAD_ARGUMENT,
            "{t}"
        );
        assert_eq!(r.status("request_headers", "bset.9"), BAD_ARGUMENT, "{t}");
        assert_eq!(
            r.status("request_headers", "bget.badret"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert_eq!(
            r.status("request_body", "bset.badptr"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
    }
}

#[test]
fn plugin_configuration_is_readable_only_while_configuring() {
    for t in TARGETS {
        let mut vm = probe(t, egress_host::HostConfig::default()).vm().unwrap();
        assert!(vm.start(b"vm-config").unwrap());
        assert!(vm.configure(b"battery abcdef").unwrap());
        let r = Recs::of(vm.logs());
        // Root on_context_create runs with the plugin set (Envoy's onStart),
        // but the configuration is only handed over at on_configure.
        assert_eq!(r.status("root_create", "bget.7"), OK, "{t}");
        assert_eq!(r.text("vm_start", "bget.6"), "vm-config", "{t}");
        assert_eq!(r.text("vm_start", "size"), "9", "{t}");
        assert_eq!(r.status("vm_start", "bget.7"), NOT_FOUND, "{t}");
        assert_eq!(r.text("configure", "bget.7"), "battery abcdef", "{t}");
        assert_eq!(r.text("configure", "bget.7.window"), "att", "{t}");
        assert_eq!(r.text("configure", "bget.7.past"), "battery abcdef", "{t}");
        assert_eq!(
            (
                r.status("configure", "bget.7.beyond"),
                r.text("configure", "bget.7.beyond")
            ),
            (OK, String::new()),
            "{t}"
        );
        // The root context has no stream: header maps absent, no set_property.
        assert_eq!(r.status("configure", "hget.0"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status("configure", "setprop"), NOT_FOUND, "{t}");
        assert_eq!(r.status("configure", "prop.request.path"), NOT_FOUND, "{t}");
        assert_eq!(r.text("configure", "prop.plugin_name"), "egress", "{t}");
    }
}

#[test]
fn properties_as_envoy_encodes_them() {
    for t in TARGETS {
        let (r, out, _) = battery_run(t);
        let p = "request_headers";
        assert_eq!(r.text(p, "prop.request.path"), "/a/b?q=1", "{t}");
        assert_eq!(r.text(p, "prop.request.url_path"), "/a/b", "{t}");
        assert_eq!(r.text(p, "prop.request.query"), "q=1", "{t}");
        assert_eq!(r.text(p, "prop.request.host"), "api.example.com", "{t}");
        assert_eq!(r.text(p, "prop.request.method"), "POST", "{t}");
        assert_eq!(r.text(p, "prop.request.scheme"), "http", "{t}");
        assert_eq!(r.text(p, "prop.request.protocol"), "HTTP/1.1", "{t}");
        assert_eq!(r.text(p, "prop.request.useragent"), "probe-test", "{t}");
        // A header attribute joins repeated values with ",".
        assert_eq!(r.text(p, "prop.request.headers.x-multi"), "one,two", "{t}");
        assert_eq!(
            r.get(p, "prop.request.time").data,
            1_700_000_000_000_000_000i64.to_le_bytes(),
            "{t}"
        );
        // Envoy cannot list the keys of these maps.
        assert_eq!(r.status(p, "prop.request"), SERIALIZATION_FAILURE, "{t}");
        assert_eq!(
            r.status(p, "prop.filter_state"),
            SERIALIZATION_FAILURE,
            "{t}"
        );
        assert_eq!(
            r.status(p, "prop.-"),
            SERIALIZATION_FAILURE,
            "{t}: an empty path"
        );
        // Integers are 8 bytes little-endian, bools 1 byte.
        assert_eq!(
            r.get(p, "prop.destination.port").data,
            80i64.to_le_bytes(),
            "{t}"
        );
        assert_eq!(r.get(p, "prop.source.port").data.len(), 8, "{t}");
        assert!(
            r.text(p, "prop.destination.address").ends_with(":80"),
            "{t}"
        );
        assert_eq!(r.get(p, "prop.connection.mtls").data, [0], "{t}");
        assert_eq!(
            (
                r.status(p, "prop.connection.requested_server_name"),
                r.text(p, "prop.connection.requested_server_name")
            ),
            (OK, String::new())
        );
        assert_eq!(r.get(p, "prop.connection_id").data.len(), 8, "{t}");
        assert_eq!(
            r.text(p, "prop.filter_state.io.istio.peer_principal"),
            "spiffe://cluster.local/ns/a/sa/b",
            "{t}"
        );
        assert_eq!(r.text(p, "prop.plugin_name"), "egress", "{t}");
        assert!(
            r.text(p, "prop.xds.node.id").starts_with("waypoint~"),
            "{t}"
        );
        assert_eq!(
            r.text(p, "prop.xds.node.metadata.NAMESPACE"),
            "egress",
            "{t}"
        );
        // Test-supplied typed values: list index, map key, int.
        assert_eq!(r.text(p, "prop.custom.list.1"), "one", "{t}");
        assert_eq!(r.get(p, "prop.custom.map.k").data, [1], "{t}");
        assert_eq!(
            r.get(p, "prop.custom.int").data,
            (-2i64).to_le_bytes(),
            "{t}"
        );
        // Whole lists and maps come in the pairs format; durations and
        // timestamps as int64 nanoseconds.
        let list = egress_host::pairs::decode(&r.get(p, "prop.custom.list").data).unwrap();
        assert_eq!(
            list,
            vec![(b"zero".to_vec(), vec![]), (b"one".to_vec(), vec![])],
            "{t}"
        );
        let map = egress_host::pairs::decode(&r.get(p, "prop.custom.map").data).unwrap();
        assert_eq!(map, vec![(b"k".to_vec(), vec![1])], "{t}");
        assert_eq!(
            r.get(p, "prop.custom.dur").data,
            1_500_000_000i64.to_le_bytes(),
            "{t}"
        );
        assert_eq!(
            r.get(p, "prop.custom.ts").data,
            2_000_000_000i64.to_le_bytes(),
            "{t}"
        );
        assert_eq!(r.status(p, "prop.nosuch"), NOT_FOUND, "{t}");
        // An unknown top-level name falls back to filter state "wasm.<name>",
        // which the battery of on_context_create wrote with set_property.
        assert_eq!(r.text(p, "prop.probe_state"), "create", "{t}");
        assert_eq!(r.status(p, "prop.badptr"), INVALID_MEMORY_ACCESS, "{t}");
        assert_eq!(r.status(p, "prop.badret"), INVALID_MEMORY_ACCESS, "{t}");
        assert_eq!(r.status(p, "setprop.badptr"), INVALID_MEMORY_ACCESS, "{t}");
        // request.* that needs the headers is gone once the request continued,
        // and back in the access log.
        assert_eq!(
            r.status("response_headers", "prop.request.path"),
            NOT_FOUND,
            "{t}"
        );
        assert_eq!(
            r.status("response_headers", "prop.request.protocol"),
            OK,
            "{t}"
        );
        assert_eq!(r.text("log", "prop.request.path"), "/a/b?q=1", "{t}");
        assert_eq!(
            r.get("response_headers", "prop.response.code").data,
            200i64.to_le_bytes(),
            "{t}"
        );
        assert_eq!(
            r.text("response_headers", "prop.response.headers.content-type"),
            "text/plain",
            "{t}"
        );
        assert_eq!(
            r.status("request_headers", "prop.response.code"),
            NOT_FOUND,
            "{t}"
        );
        // set_property lands in filter state under "wasm.<path>"; the last write wins.
        assert_eq!(
            out.filter_state.get("wasm.probe_state").map(Vec::as_slice),
            Some(&b"done"[..]),
            "{t}"
        );
    }
}

#[test]
fn shared_data_compare_and_swap() {
    for t in TARGETS {
        let (r, _, vm) = battery_run(t);
        let p = "request_headers";
        assert_eq!(r.status(p, "sget"), OK, "{t}");
        assert_eq!(r.status(p, "sset"), OK, "{t}");
        assert_eq!(r.text(p, "sget.after"), "request_headers", "{t}");
        assert_eq!(r.status(p, "sset.stale"), CAS_MISMATCH, "{t}");
        assert_eq!(r.status(p, "sset.cas"), OK, "{t}");
        assert_eq!(r.status(p, "sget.missing"), NOT_FOUND, "{t}");
        assert_eq!(r.status(p, "sset.badptr"), INVALID_MEMORY_ACCESS, "{t}");
        // Another VM of the same plugin sees the data.
        let other = vm.plugin().vm().unwrap();
        assert_eq!(
            other
                .shared_data()
                .get(&b"probe-key"[..])
                .map(Vec::as_slice),
            Some(&b"done"[..]),
            "{t}"
        );
    }
}

#[test]
fn queues_metrics_control_and_calls() {
    for t in TARGETS {
        let (r, _, vm) = battery_run(t);
        let p = "request_headers";
        assert_eq!(
            r.status(p, "qresolve.own"),
            NOT_FOUND,
            "{t}: nobody registered probe-q"
        );
        assert_eq!(r.status(p, "qresolve.other"), NOT_FOUND, "{t}");
        assert_eq!(r.status(p, "qdequeue.bad"), NOT_FOUND, "{t}");
        assert_eq!(r.status(p, "qenqueue.bad"), NOT_FOUND, "{t}");
        // Metrics, with Envoy's ids and rules.
        let c = Recs::of(vm.logs());
        assert_eq!(
            c.get("configure", "mdefine.c").data,
            4u32.to_le_bytes(),
            "{t}"
        );
        assert_eq!(
            c.get("configure", "mdefine.g").data,
            5u32.to_le_bytes(),
            "{t}"
        );
        assert_eq!(
            c.get("configure", "mdefine.h").data,
            6u32.to_le_bytes(),
            "{t}"
        );
        assert_eq!(
            c.get("configure", "mdefine.c.again").data,
            8u32.to_le_bytes(),
            "{t}: a new id for the same name"
        );
        assert_eq!(c.status("configure", "mdefine.kind3"), BAD_ARGUMENT, "{t}");
        assert_eq!(
            c.status("configure", "mdefine.badname"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert_eq!(
            c.status("configure", "mdefine.badret"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert_eq!(r.status(p, "mincr.c"), OK, "{t}");
        assert_eq!(
            r.status(p, "mincr.c0"),
            BAD_ARGUMENT,
            "{t}: a counter only grows"
        );
        assert_eq!(r.status(p, "mincr.cneg"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "mrec.c"), OK, "{t}: record adds to a counter");
        assert_eq!(r.status(p, "mrec.g"), OK, "{t}");
        assert_eq!(r.status(p, "mincr.gneg"), OK, "{t}");
        assert_eq!(r.status(p, "mincr.g0"), OK, "{t}");
        assert_eq!(
            r.get(p, "mget.g").data,
            5u64.to_le_bytes(),
            "{t}: set to 7, minus 2"
        );
        assert_eq!(r.status(p, "mincr.h"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "mrec.h"), OK, "{t}");
        assert_eq!(r.status(p, "mget.h"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "mget.missing"), NOT_FOUND, "{t}");
        assert_eq!(r.status(p, "mget.kind3"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "mincr.missing"), NOT_FOUND, "{t}");
        assert_eq!(r.status(p, "mincr.kind3"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "mrec.missing"), NOT_FOUND, "{t}");
        assert_eq!(r.status(p, "mget.badret"), INVALID_MEMORY_ACCESS, "{t}");
        // 8 batteries ran (configure, then create .. done), each +1 then +2.
        assert_eq!(
            vm.metric("probe_counter"),
            Some(8 * 3),
            "{t}: {:?}",
            vm.metrics()
        );
        assert_eq!(vm.metric("probe_gauge"), Some(5), "{t}");
        assert_eq!(vm.histogram("probe_histogram").unwrap(), vec![5; 8], "{t}");
        // A definition whose id could not be written back still happened.
        assert_eq!(vm.metric("x"), Some(0), "{t}");
        // Stream control, effective context, done.
        assert_eq!(r.status(p, "continue.bad"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "close.bad"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "continue.upstream"), UNIMPLEMENTED, "{t}");
        assert_eq!(r.status(p, "effective.bad"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "effective.self"), OK, "{t}");
        assert_eq!(
            r.status(p, "done"),
            NOT_FOUND,
            "{t}: only a root waiting for proxy_done"
        );
        // Calls out.
        assert_eq!(
            r.status(p, "httpcall.unknown"),
            BAD_ARGUMENT,
            "{t}: unknown cluster"
        );
        assert_eq!(
            r.status(p, "httpcall.nopath"),
            BAD_ARGUMENT,
            "{t}: :path, :method and :authority are required"
        );
        assert_eq!(r.status(p, "httpcall.negtimeout"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "httpcall.badptr"), INVALID_MEMORY_ACCESS, "{t}");
        assert_eq!(
            r.status(p, "httpcall.badtoken"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert_eq!(r.status(p, "grpc.unknown"), PARSE_FAILURE, "{t}");
        assert_eq!(r.status(p, "grpc.cancel.http"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "grpc.close.missing"), NOT_FOUND, "{t}");
        // gRPC tokens: calls 1 (mod 4), streams 2 (mod 4), as Envoy issues them.
        assert_eq!(r.status(p, "grpc.call"), OK, "{t}");
        assert_eq!(
            u32::from_le_bytes(r.get(p, "grpc.call").data[..4].try_into().unwrap()) & 3,
            1,
            "{t}"
        );
        assert_eq!(r.status(p, "grpc.cancel"), OK, "{t}");
        assert_eq!(r.status(p, "grpc.cancel.again"), NOT_FOUND, "{t}");
        assert_eq!(r.status(p, "grpcstream.unknown"), PARSE_FAILURE, "{t}");
        assert_eq!(
            u32::from_le_bytes(r.get(p, "grpcstream").data[..4].try_into().unwrap()) & 3,
            2,
            "{t}"
        );
        assert_eq!(r.status(p, "grpc.send"), OK, "{t}");
        assert_eq!(
            r.status(p, "grpc.send.call"),
            BAD_ARGUMENT,
            "{t}: only streams take messages"
        );
        assert_eq!(
            r.status(p, "grpc.send.badptr"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert_eq!(r.status(p, "grpc.close"), OK, "{t}");
        assert_eq!(
            r.status(p, "grpc.send.closed"),
            OK,
            "{t}: a locally closed stream lingers until the remote closes"
        );
        assert_eq!(r.text(p, "status"), "0 ", "{t}");
        assert_eq!(r.status(p, "foreign"), NOT_FOUND, "{t}");
        assert_eq!(r.status(p, "foreign.badptr"), INVALID_MEMORY_ACCESS, "{t}");
        assert!(
            vm.pending_http_calls().is_empty(),
            "{t}: no call got through"
        );
    }
}

#[test]
fn wasi_stdout_env_clock_and_files() {
    let t = "wasm32-wasip1";
    let plugin = probe(t, egress_host::HostConfig::default()).with_env("PROBE_ENV", "from-host");
    let mut vm = plugin.vm().unwrap();
    vm.set_time(UNIX_EPOCH + Duration::from_secs(1_600_000_000));
    assert!(vm.start(b"").unwrap());
    let logs = vm.logs().to_vec();
    assert!(
        logs.iter()
            .any(|l| l.level == LogLevel::Info && l.message == "probe stdout"),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.level == LogLevel::Error && l.message == "probe stderr"),
        "{logs:?}"
    );
    let r = Recs::of(&logs);
    assert_eq!(r.text("vm_start", "wasi.env"), "from-host");
    assert_eq!(
        r.get("vm_start", "wasi.time").data,
        1_600_000_000_000_000_000u64.to_le_bytes()
    );
    assert_eq!(r.status("vm_start", "wasi.random"), OK);
    assert!(
        !r.text("vm_start", "wasi.file").is_empty(),
        "reading a file fails cleanly"
    );
    assert!(logs.iter().any(|l| l.message == "probe _initialize"));
}
