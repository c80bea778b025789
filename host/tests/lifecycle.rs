//! Conformance: the order Envoy calls a filter in, local replies, paused
//! streams, HTTP calls, several streams in flight, TCP connections, ticks,
//! queues and shutdown.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::*;
use egress_host::{Action, Connection, HttpCallResponse, HttpRequest, PeerType, UpstreamResponse};

#[test]
fn http_stream_in_envoy_order() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        vm.set_upstream_response(UpstreamResponse::new(201).with_body("made"));
        let out = vm
            .http(&HttpRequest::new("POST", "a.example", "/x").with_body("abc"))
            .unwrap();
        let r = Recs::of(&out.logs);
        let ctx = r.0[0].ctx;
        // on_log (the access log) runs before on_done and on_delete (Envoy
        // calls Context::log before Context::onDestroy).
        assert_eq!(
            callbacks(&r, ctx),
            [
                "request_headers",
                "request_body",
                "response_headers",
                "response_body",
                "log",
                "done",
                "delete"
            ],
            "{t}"
        );
        assert_eq!(
            r.text("request_headers", "args"),
            "5 0",
            "{t}: 5 headers incl. content-length, more to come"
        );
        assert_eq!(r.text("request_body", "args"), "3 1", "{t}");
        assert_eq!(r.text("response_headers", "args"), "2 0", "{t}");
        assert_eq!(r.text("response_body", "args"), "4 1", "{t}");
        assert_eq!(out.request_action, Some(Action::Continue));
        assert_eq!(
            (out.status, out.reset, out.details.as_str()),
            (201, false, "via_upstream"),
            "{t}"
        );
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"abc"[..]));
        assert_eq!(out.response_body, b"made");
        assert_eq!(
            header(out.forwarded_headers.as_ref().unwrap(), "content-length"),
            Some("3")
        );
        // Stream contexts get fresh ids after the root (1).
        assert_eq!(ctx, 2, "{t}");
        let again = vm.http(&HttpRequest::new("GET", "a.example", "/")).unwrap();
        assert_eq!(Recs::of(&again.logs).0[0].ctx, 3, "{t}");
    }
}

#[test]
fn local_response_stops_the_request_and_goes_through_response_headers() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let out = vm.http(&act("local").with_body("never seen")).unwrap();
        let r = Recs::of(&out.logs);
        let ctx = r.0[0].ctx;
        // The local reply's body goes through on_response_body too.
        assert_eq!(
            callbacks(&r, ctx),
            [
                "request_headers",
                "response_headers",
                "response_body",
                "log",
                "done",
                "delete"
            ],
            "{t}"
        );
        assert_eq!(out.request_action, Some(Action::Pause));
        assert_eq!(out.status, 403, "{t}");
        assert!(
            out.forwarded_headers.is_none(),
            "{t}: the request never left the proxy"
        );
        let lr = out.local_response.as_ref().unwrap();
        assert_eq!(
            (lr.status, lr.body.as_slice(), lr.grpc_status),
            (403, &b"denied\n"[..], -1)
        );
        // Envoy replaces whitespace in response code details.
        assert_eq!(lr.details, b"probe_denied_it");
        assert_eq!(out.details, "probe_denied_it");
        assert_eq!(
            lr.headers,
            vec![
                (b"x-probe".to_vec(), b"1".to_vec()),
                (b"x-probe".to_vec(), b"2".to_vec())
            ]
        );
        // The local reply's headers as the filter and the client see them.
        assert_eq!(r.text("response_headers", "status"), "403", "{t}");
        let h = out.response_headers.as_ref().unwrap();
        assert_eq!(header(h, ":status"), Some("403"));
        assert_eq!(header(h, "content-length"), Some("7"));
        assert_eq!(header(h, "content-type"), Some("text/plain"));
        assert_eq!(out.response_body, b"denied\n");
        assert_eq!(r.text("response_headers", "args"), "5 0", "{t}");

        // Returning Continue does not matter: send_local_response stops iteration.
        let out = vm.http(&act("local-continue")).unwrap();
        assert_eq!(out.request_action, Some(Action::Continue));
        assert_eq!(out.status, 403, "{t}");
        assert!(out.forwarded_headers.is_none(), "{t}");
    }
}

#[test]
fn local_response_in_the_response_phase_replaces_the_response() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        vm.set_upstream_response(UpstreamResponse::new(200).with_body("upstream"));
        let out = vm.http(&act("resp-local")).unwrap();
        let r = Recs::of(&out.logs);
        let ctx = r.0[0].ctx;
        // Sent straight to the client: on_response_headers is not called again.
        assert_eq!(
            callbacks(&r, ctx),
            [
                "request_headers",
                "response_headers",
                "log",
                "done",
                "delete"
            ],
            "{t}"
        );
        assert_eq!(out.status, 503, "{t}");
        assert!(out.forwarded_headers.is_some(), "{t}");
        assert_eq!(out.response_body, b"late\n");
    }
}

#[test]
fn paused_stream_ends_with_the_idle_timeout() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let out = vm.http(&act("pause")).unwrap();
        assert_eq!(out.request_action, Some(Action::Pause));
        assert_eq!(
            (out.status, out.details.as_str()),
            (408, "stream_idle_timeout"),
            "{t}"
        );
        assert!(
            out.local_response.is_none(),
            "{t}: the proxy answered, not the filter"
        );
        assert_eq!(
            Recs::of(&out.logs).text("response_headers", "status"),
            "408",
            "{t}"
        );
        // Paused in the response phase: the 408 goes straight to the client.
        let out = vm.http(&act("resp-pause")).unwrap();
        assert_eq!(out.status, 408, "{t}");
        assert!(out.forwarded_headers.is_some(), "{t}");
    }
}

#[test]
fn continue_inside_the_callback_does_not_pause() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let out = vm.http(&act("continue-inside")).unwrap();
        assert_eq!(
            Recs::of(&out.logs).status("request_headers", "continue"),
            OK
        );
        assert_eq!(out.status, 200, "{t}");
    }
}

#[test]
fn close_stream_resets_it() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let out = vm.http(&act("close")).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(
            callbacks(&r, r.0[0].ctx),
            ["request_headers", "log", "done", "delete"],
            "{t}"
        );
        assert_eq!(
            (out.status, out.reset, out.details.as_str()),
            (0, true, "wasm_close_stream"),
            "{t}"
        );
        assert!(
            out.response_headers.is_none() && out.forwarded_headers.is_none(),
            "{t}"
        );
    }
}

#[test]
fn header_mutations_and_filter_state_are_forwarded() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let req = act("mutate")
            .header("x-dup", "a")
            .header("x-dup", "b")
            .header("x-remove", "r")
            .header("user-agent", "ua");
        let out = vm.http(&req).unwrap();
        let r = Recs::of(&out.logs);
        for call in [
            "hadd",
            "hadd.inline",
            "hreplace",
            "hremove",
            "hreplace.path",
            "setprop",
        ] {
            assert_eq!(r.status("request_headers", call), OK, "{t} {call}");
        }
        let h = out.forwarded_headers.as_ref().unwrap();
        assert_eq!(header(h, ":path"), Some("/mutated"), "{t}");
        assert_eq!(
            header(h, "x-added"),
            Some("1"),
            "{t}: names are lower-cased"
        );
        // user-agent is an inline header in Envoy: a second value is appended with ",".
        assert_eq!(header(h, "user-agent"), Some("ua,probe"), "{t}");
        assert_eq!(
            h.iter().filter(|(k, _)| k == b"x-dup").count(),
            1,
            "{t}: replace removes every value"
        );
        assert_eq!(header(h, "x-dup"), Some("new"));
        assert_eq!(header(h, "x-remove"), None);
        assert_eq!(
            out.filter_state.get("wasm.probe_state").map(Vec::as_slice),
            Some(&b"mutated"[..])
        );
        assert_eq!(
            r.text("request_headers", "prop.probe_state"),
            "mutated",
            "{t}"
        );
        assert_eq!(
            r.text("request_headers", "prop.filter_state.wasm.probe_state"),
            "mutated",
            "{t}"
        );
        assert_eq!(
            r.text("request_headers", "prop.request.path.after"),
            "/mutated",
            "{t}: request.* follows the live headers"
        );

        let out = vm.http(&act("pairs-set")).unwrap();
        let h = out.forwarded_headers.unwrap();
        let want: Vec<(Vec<u8>, Vec<u8>)> = [
            (":authority", "set.example"),
            (":path", "/set"),
            (":method", "PUT"),
            ("x-set", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
        assert_eq!(h, want, "{t}");
    }
}

#[test]
fn body_buffers_can_be_rewritten() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        vm.set_upstream_response(UpstreamResponse::new(200).with_body("upstream body"));
        let out = vm
            .http(&act("body-modify").with_body("hello world"))
            .unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(r.status("request_body", "bset.replace"), OK);
        assert_eq!(r.status("request_body", "bset.append"), OK);
        assert_eq!(
            r.status("request_body", "bset.middle"),
            BAD_ARGUMENT,
            "{t}: only prepend/replace-from-0 or append"
        );
        assert_eq!(
            out.forwarded_body.as_deref(),
            Some(&b"REPLACED!"[..]),
            "{t}"
        );
        assert_eq!(out.response_body, b"RESPONSE", "{t}");
    }
}

#[test]
fn http_calls_answered_by_the_test() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let a = vm.http_start(&act("call")).unwrap();
        assert!(!vm.is_finished(a), "{t}: paused for the call");
        let calls = vm.pending_http_calls();
        assert_eq!(calls.len(), 1);
        let call = &calls[0];
        assert_eq!(call.token, 4, "{t}: Envoy's first HTTP call token");
        assert_eq!(
            (
                call.cluster.as_slice(),
                call.body.as_slice(),
                call.timeout_ms,
                call.context_id
            ),
            (&b"probe-cluster"[..], &b"probe body"[..], 500, a.0)
        );
        assert_eq!(header(&call.headers, ":path"), Some("/check"));
        // A second stream completes while the first waits.
        let b = vm.http(&HttpRequest::new("GET", "b.example", "/")).unwrap();
        assert_eq!(b.status, 200, "{t}");
        assert!(!vm.is_finished(a));
        vm.answer_http_call(call.token, HttpCallResponse::new(200, "allow"))
            .unwrap();
        assert!(vm.is_finished(a), "{t}: continued and completed");
        let out = vm.http_finish(a).unwrap();
        assert_eq!(out.status, 200, "{t}");
        assert!(out.forwarded_headers.is_some());
        let r = Recs::of(&out.logs);
        assert_eq!(r.text("call_response", "args"), "4 1 5 0", "{t}");
        assert_eq!(r.text("call_response", "hget.6"), "200", "{t}");
        assert_eq!(
            r.status("call_response", "hget.7"),
            BAD_ARGUMENT,
            "{t}: no trailers"
        );
        assert_eq!(r.text("call_response", "bget.4"), "allow", "{t}");
        assert_eq!(r.text("call_response", "status"), "0 ", "{t}");
        assert_eq!(
            r.get("call_response", "args").ctx,
            1,
            "{t}: the answer goes to the root context"
        );

        // A "no" answer: the filter sends a local reply for the paused stream.
        let c = vm.http_start(&act("call")).unwrap();
        let token = vm.pending_http_calls()[0].token;
        assert_eq!(token, 8);
        vm.answer_http_call(token, HttpCallResponse::new(503, "nope"))
            .unwrap();
        let out = vm.http_finish(c).unwrap();
        assert_eq!(out.status, 403, "{t}");
        assert!(out.forwarded_headers.is_none());

        // A failed call: status BROKEN_CONNECTION "reset", no headers.
        let d = vm.http_start(&act("call")).unwrap();
        let token = vm.pending_http_calls()[0].token;
        vm.fail_http_call(token).unwrap();
        let out = vm.http_finish(d).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(r.text("call_response", "status"), "11 reset", "{t}");
        assert_eq!(r.text("call_response", "args"), "12 0 0 0", "{t}");
        assert_eq!(out.status, 403);
        assert!(
            vm.answer_http_call(999, HttpCallResponse::default())
                .is_err()
        );
    }
}

#[test]
fn tcp_connection_in_envoy_order() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let conn = Connection::to("1.2.3.4:443".parse().unwrap())
            .with_sni("ok.example")
            .with_data("hello");
        let out = vm.connection(&conn).unwrap();
        let r = Recs::of(&out.logs);
        let ctx = r.0[0].ctx;
        // Context::onCloseTCP: on_done, on_log, on_delete.
        assert_eq!(
            callbacks(&r, ctx),
            [
                "downstream_data",
                "downstream_close",
                "done",
                "log",
                "delete"
            ],
            "{t}"
        );
        assert_eq!(r.text("downstream_data", "args"), "5 0", "{t}");
        assert_eq!(
            r.text("downstream_close", "peer"),
            "2",
            "{t}: the client (remote) closed"
        );
        assert_eq!(
            (out.action, out.data_action, out.closed),
            (Some(Action::Continue), Some(Action::Continue), false),
            "{t}"
        );
        assert_eq!(out.upstream_data, b"hello", "{t}");
    }
}

#[test]
fn tcp_close_hold_resume_modify() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let dst = "10.0.0.1:443".parse().unwrap();
        // Closed by the filter in on_new_connection: no data reaches upstream.
        let out = vm
            .connection(
                &Connection::to(dst)
                    .with_sni("close.example")
                    .with_data("hello"),
            )
            .unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!((out.action, out.closed), (Some(Action::Pause), true), "{t}");
        assert!(out.upstream_data.is_empty());
        assert_eq!(
            r.text("downstream_close", "peer"),
            "1",
            "{t}: closed locally"
        );
        assert_eq!(
            callbacks(&r, r.0[0].ctx),
            ["downstream_close", "done", "log", "delete"],
            "{t}"
        );

        // Held data is delivered again with the next data, then resumed.
        let id = vm
            .tcp_start(&Connection::to(dst).with_sni("ok.example").with_data("HOLD"))
            .unwrap();
        assert_eq!(
            vm.tcp_downstream_data(id, b" more RESUME", false).unwrap(),
            Some(Action::Pause)
        );
        assert_eq!(
            vm.tcp_upstream_data(id, b"resp", true).unwrap(),
            Some(Action::Continue)
        );
        let out = vm.tcp_close(id, PeerType::Remote).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(
            r.0.iter()
                .filter(|x| x.phase == "downstream_data" && x.name == "args")
                .map(|x| String::from_utf8_lossy(&x.data).into_owned())
                .collect::<Vec<_>>(),
            ["4 0", "16 0"],
            "{t}"
        );
        assert_eq!(out.upstream_data, b"HOLD more RESUME", "{t}");
        assert_eq!(r.text("upstream_data", "args"), "4 1", "{t}");
        assert_eq!(
            r.text("upstream_close", "peer"),
            "0",
            "{t}: end of stream from upstream"
        );

        // The filter rewrites downstream data.
        let out = vm
            .connection(&Connection::to(dst).with_data("MODIFY me"))
            .unwrap();
        assert_eq!(out.upstream_data, b"modified", "{t}");
        // Data the filter closes on.
        let out = vm
            .connection(&Connection::to(dst).with_data("CLOSE"))
            .unwrap();
        assert!(out.closed && out.upstream_data.is_empty(), "{t}");
    }
}

#[test]
fn tcp_properties_and_buffers() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "battery");
        let conn = Connection::to("1.2.3.4:443".parse().unwrap())
            .from_addr("10.1.2.3:5555".parse().unwrap())
            .with_sni("api.example.com")
            .with_data("client hello")
            .principal("spiffe://x");
        let out = vm.connection(&conn).unwrap();
        let r = Recs::of(&out.logs);
        let p = "new_connection";
        assert_eq!(r.text(p, "prop.destination.address"), "1.2.3.4:443", "{t}");
        assert_eq!(
            r.get(p, "prop.destination.port").data,
            443i64.to_le_bytes(),
            "{t}"
        );
        assert_eq!(r.text(p, "prop.source.address"), "10.1.2.3:5555", "{t}");
        assert_eq!(
            r.text(p, "prop.connection.requested_server_name"),
            "api.example.com",
            "{t}"
        );
        assert_eq!(
            r.text(p, "prop.filter_state.io.istio.peer_principal"),
            "spiffe://x",
            "{t}"
        );
        assert_eq!(r.status(p, "prop.request.path"), NOT_FOUND, "{t}");
        assert_eq!(r.status(p, "hget.0"), BAD_ARGUMENT, "{t}");
        assert_eq!(
            (r.status(p, "bget.2"), r.get(p, "bget.2").data.len()),
            (OK, 0),
            "{t}"
        );
        assert_eq!(r.status(p, "bset.2"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.text("downstream_data", "bget.2"), "client hello", "{t}");
        assert_eq!(r.status("downstream_data", "bset.2"), OK, "{t}");
        assert_eq!(r.status("downstream_data", "bget.3"), OK, "{t}");
        assert_eq!(r.status(p, "setprop"), OK, "{t}");
        assert_eq!(
            out.filter_state.get("wasm.probe_state").map(Vec::as_slice),
            Some(&b"log"[..]),
            "{t}: on_log runs last for TCP"
        );
        // A connection without SNI reads an empty name, as in Envoy.
        let out = vm
            .connection(&Connection::to("1.2.3.4:22".parse().unwrap()))
            .unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(
            (
                r.status(p, "prop.connection.requested_server_name"),
                r.text(p, "prop.connection.requested_server_name")
            ),
            (OK, String::new())
        );
    }
}

#[test]
fn ticks_queues_and_delayed_shutdown() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "tick queue delaydone");
        assert_eq!(
            vm.tick_period(),
            Some(std::time::Duration::from_secs(1)),
            "{t}"
        );
        let r = Recs::of(vm.logs());
        assert_eq!(r.status("configure", "qregister"), OK, "{t}");
        assert_eq!(
            r.status("configure", "qregister.badptr"),
            INVALID_MEMORY_ACCESS,
            "{t}"
        );
        assert!(vm.tick().unwrap());
        assert_eq!(Recs::of(vm.logs()).text("tick", "count"), "1");
        assert_eq!(
            Recs::of(vm.logs()).status("tick", "done"),
            NOT_FOUND,
            "{t}: nothing waits for proxy_done yet"
        );

        // A stream enqueues; the root's on_queue_ready runs after the stream's callback.
        let out = vm.http(&act("enqueue")).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(r.status("request_headers", "qresolve"), OK, "{t}");
        assert_eq!(r.status("request_headers", "qenqueue"), OK, "{t}");
        assert_eq!(r.text("queue_ready", "qdequeue"), "hello queue", "{t}");
        assert_eq!(
            r.get("queue_ready", "qdequeue").ctx,
            1,
            "{t}: delivered to the root"
        );
        assert_eq!(r.status("queue_ready", "qdequeue.empty"), EMPTY, "{t}");
        // From the host side (another plugin or VM).
        vm.plugin().enqueue(b"probe-q", b"from host").unwrap();
        vm.run_pending().unwrap();
        assert_eq!(
            Recs::of(vm.logs()).text("queue_ready", "qdequeue"),
            "from host",
            "{t}"
        );

        // The root's on_done returns false: on_delete waits for proxy_done.
        assert!(!vm.shutdown().unwrap());
        let deleted = |vm: &egress_host::Vm| {
            Recs::of(vm.logs())
                .0
                .iter()
                .any(|x| x.ctx == 1 && x.phase == "delete")
        };
        assert!(!deleted(&vm), "{t}");
        assert!(vm.tick().unwrap());
        assert_eq!(Recs::of(vm.logs()).status("tick", "done"), OK, "{t}");
        assert!(deleted(&vm), "{t}: proxy_done led to on_delete");
    }
}

#[test]
fn refused_configuration_and_failed_start_are_observable() {
    for t in TARGETS {
        let mut vm = probe(t, egress_host::HostConfig::default()).vm().unwrap();
        assert!(vm.start(b"").unwrap());
        assert!(!vm.configure(b"refuse").unwrap(), "{t}");
        let err = vm
            .http(&HttpRequest::new("GET", "a", "/"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("proxy_on_configure returned false"),
            "{t}: {err}"
        );
        // A later, good configuration is accepted.
        assert!(vm.configure(b"").unwrap());
        assert_eq!(
            vm.http(&HttpRequest::new("GET", "a", "/")).unwrap().status,
            200
        );

        let mut vm = probe(t, egress_host::HostConfig::default()).vm().unwrap();
        assert!(!vm.start(b"startfail").unwrap(), "{t}");
        assert!(vm.configure(b"").is_err(), "{t}");
        assert!(
            probe(t, egress_host::HostConfig::default())
                .configured_vm(b"", b"refuse")
                .is_err()
        );
    }
}
