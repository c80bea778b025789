//! Conformance: gRPC calls and streams the test answers.
//!
//! The rules come from proxy-wasm-cpp-host (`src/exports.cc`: `grpc_call`,
//! `grpc_stream`, `grpc_send`, `grpc_close`, `grpc_cancel` and `get_status`
//! all act on the root context; `include/proxy-wasm/wasm.h`: token
//! numbering) and Envoy (`source/extensions/common/wasm/context.cc`:
//! `grpcCall`, `grpcStream`, `grpcSend`, `grpcClose`, `grpcCancel`,
//! `onGrpcReceiveWrapper`, `onGrpcCloseWrapper`, the metadata wrappers,
//! `getConstMap`, `getMap`, `getBuffer`; `context.h`:
//! `GrpcCallClientHandler`, `GrpcStreamClientHandler`;
//! `source/common/grpc/async_client_impl.cc`: `AsyncRequestImpl` turns a
//! unary call's close into success or failure).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::*;
use egress_host::HttpRequest;

fn has(r: &Recs, phase: &str) -> bool {
    r.0.iter().any(|x| x.phase == phase)
}

#[test]
fn a_unary_call_is_answered_with_its_message() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let id = vm.http_start(&act("grpc-call")).unwrap();
        let calls = vm.pending_grpc_calls();
        assert_eq!(calls.len(), 1, "{t}");
        let c = &calls[0];
        // Envoy's first gRPC call token: 1 + 4 (`next_grpc_call_id_`, `kCalloutIncrement`).
        assert_eq!((c.token, c.stream, c.context_id), (5, false, id.0), "{t}");
        assert_eq!(
            (
                c.cluster.as_slice(),
                c.service.as_slice(),
                c.method.as_slice(),
                c.timeout_ms
            ),
            (
                &b"probe-cluster"[..],
                &b"probe.Authz"[..],
                &b"Check"[..],
                Some(700)
            ),
            "{t}"
        );
        // `buildRequestHeaderMapFromPairs`: lower-cased, `host` is `:authority`.
        assert_eq!(
            c.initial_metadata,
            pairs(&[("x-md", "1"), (":authority", "authz")]),
            "{t}"
        );
        assert_eq!(
            (c.messages.clone(), c.end_stream),
            (vec![b"ping".to_vec()], true)
        );

        // A unary call surfaces no metadata (`AsyncRequestImpl` drops it).
        vm.grpc_initial_metadata(c.token, pairs(&[(":status", "200")]))
            .unwrap();
        vm.grpc_trailing_metadata(c.token, pairs(&[("grpc-status", "0")]))
            .unwrap();
        assert!(!has(&Recs::of(vm.logs()), "grpc_initial"), "{t}");
        assert!(!has(&Recs::of(vm.logs()), "grpc_trailing"), "{t}");
        assert!(!vm.is_finished(id), "{t}");

        // Message, then status OK: `onSuccessRaw` -> `proxy_on_grpc_receive`
        // on the root context, with the message as GRPC_RECEIVE_BUFFER.
        vm.answer_grpc_call(c.token, b"allow").unwrap();
        let out = vm.http_finish(id).unwrap();
        assert_eq!(out.status, 200, "{t}: the filter let the request go on");
        let r = Recs::of(&out.logs);
        let p = "grpc_receive";
        assert_eq!(r.text(p, "args"), "5 5", "{t}");
        assert_eq!(r.get(p, "args").ctx, 1, "{t}: the root context");
        assert_eq!(r.text(p, "bget.5"), "allow", "{t}");
        assert_eq!(r.text(p, "bstatus.5"), "5", "{t}");
        assert_eq!(
            r.status(p, "bset.5"),
            OK,
            "{t}: the received buffer is mutable"
        );
        assert_eq!(r.text(p, "status"), "0 ", "{t}");
        // The metadata maps are absent here: BAD_ARGUMENT for a value, OK
        // and empty for pairs; never writable (`getMap` has no gRPC maps).
        for m in [4, 5] {
            assert_eq!(r.status(p, &format!("hget.{m}")), BAD_ARGUMENT, "{t}");
            assert_eq!(r.status(p, &format!("hpairs.{m}")), OK, "{t}");
            assert!(r.get(p, &format!("hpairs.{m}")).data.is_empty(), "{t}");
            assert_eq!(r.status(p, &format!("hsize.{m}")), BAD_ARGUMENT, "{t}");
            assert_eq!(r.status(p, &format!("hadd.{m}")), BAD_ARGUMENT, "{t}");
        }
        // Answered and forgotten.
        assert!(vm.pending_grpc_calls().is_empty(), "{t}");
        assert!(vm.answer_grpc_call(5, b"again").is_err(), "{t}");
        assert!(vm.grpc_message(999, b"x").is_err(), "{t}");
    }
}

#[test]
fn a_failed_unary_call_closes_with_its_status() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let id = vm.http_start(&act("grpc-call")).unwrap();
        let token = vm.pending_grpc_calls()[0].token;
        // A message, then a non-OK status: `onFailure`, the message is lost.
        vm.grpc_message(token, b"allow").unwrap();
        vm.grpc_remote_close(token, 7, "denied by policy").unwrap();
        let out = vm.http_finish(id).unwrap();
        let r = Recs::of(&out.logs);
        let p = "grpc_close";
        assert!(!has(&r, "grpc_receive"), "{t}");
        assert_eq!(r.text(p, "args"), format!("{token} 7"), "{t}");
        assert_eq!(r.text(p, "status"), "7 denied by policy", "{t}");
        // Outside `on_grpc_receive` the buffer is empty and not writable.
        assert_eq!(
            (r.status(p, "bget.5"), r.text(p, "bget.5")),
            (OK, String::new())
        );
        assert_eq!(r.status(p, "bset.5"), BAD_ARGUMENT, "{t}");
        // `grpcSend` takes streams only.
        assert_eq!(r.status(p, "grpc.send"), BAD_ARGUMENT, "{t}");
        assert_eq!(out.status, 403, "{t}");
        assert!(vm.pending_grpc_calls().is_empty(), "{t}");

        // Status OK without a message: INTERNAL, no message.
        let id = vm.http_start(&act("grpc-call")).unwrap();
        let token = vm.pending_grpc_calls()[0].token;
        vm.grpc_remote_close(token, 0, "").unwrap();
        let out = vm.http_finish(id).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(r.text("grpc_close", "args"), format!("{token} 13"), "{t}");
        assert_eq!(r.text("grpc_close", "status"), "13 ", "{t}");
        assert_eq!(out.status, 403, "{t}");

        // The status code outlives the callback; its message does not.
        let id = vm.http_start(&act("grpc-call")).unwrap();
        let token = vm.pending_grpc_calls()[0].token;
        vm.answer_grpc_call(token, b"allow").unwrap();
        let out = vm.http_finish(id).unwrap();
        assert_eq!(
            Recs::of(&out.logs).text("grpc_receive", "status"),
            "13 ",
            "{t}"
        );
    }
}

#[test]
fn a_stream_gets_metadata_messages_and_close() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let id = vm.http_start(&act("grpc-stream")).unwrap();
        let s = vm.pending_grpc_calls()[0].clone();
        assert_eq!((s.token, s.stream, s.timeout_ms), (6, true, None), "{t}");
        assert_eq!(
            (s.method.as_slice(), s.messages.clone(), s.end_stream),
            (&b"Watch"[..], vec![b"hello".to_vec()], false),
            "{t}"
        );
        let token = s.token;

        // Initial metadata: the response headers as they came.
        vm.grpc_initial_metadata(
            token,
            pairs(&[
                (":status", "200"),
                ("content-type", "application/grpc"),
                ("X-Md", "v"),
            ]),
        )
        .unwrap();
        let r = Recs::of(vm.logs());
        let p = "grpc_initial";
        assert_eq!(r.text(p, "args"), format!("{token} 3"), "{t}");
        assert_eq!(r.get(p, "args").ctx, 1, "{t}");
        assert_eq!(r.text(p, "hget.4"), "v", "{t}: names lower-cased");
        let map = egress_host::pairs::decode(&r.get(p, "hpairs.4").data).unwrap();
        assert_eq!(
            map,
            pairs(&[
                (":status", "200"),
                ("content-type", "application/grpc"),
                ("x-md", "v")
            ]),
            "{t}"
        );
        assert_eq!(r.status(p, "hsize.4"), BAD_ARGUMENT, "{t}: read-only");
        assert_eq!(r.status(p, "hadd.4"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status(p, "hget.5"), BAD_ARGUMENT, "{t}");
        assert_eq!(
            (r.status(p, "bget.5"), r.text(p, "bget.5")),
            (OK, String::new())
        );

        // Messages: the filter sends on the stream and rewrites the buffer.
        vm.grpc_message(token, b"send,bset").unwrap();
        let r = Recs::of(vm.logs());
        let p = "grpc_receive";
        assert_eq!(r.text(p, "args"), format!("{token} 9"), "{t}");
        assert_eq!(r.text(p, "bget.5"), "send,bset", "{t}");
        assert_eq!(r.status(p, "grpc.send"), OK, "{t}");
        assert_eq!(r.status(p, "bset.5.replace"), OK, "{t}");
        assert_eq!(r.text(p, "bget.5.after"), "REWRITTEN", "{t}");
        assert_eq!(
            r.status(p, "hget.4"),
            BAD_ARGUMENT,
            "{t}: gone after its callback"
        );
        // A send with end_of_stream closes the filter's side; later sends
        // are no-ops (Envoy's async stream drops them) but still OK.
        vm.grpc_message(token, b"end").unwrap();
        let r = Recs::of(vm.logs());
        assert_eq!(r.status(p, "grpc.send.end"), OK, "{t}");
        assert_eq!(r.status(p, "grpc.send.after-end"), OK, "{t}");
        let s = vm.pending_grpc_calls()[0].clone();
        assert_eq!(
            (s.messages, s.end_stream),
            (
                vec![b"hello".to_vec(), b"more".to_vec(), b"last".to_vec()],
                true
            ),
            "{t}"
        );

        // Trailing metadata, then the remote close with its status.
        vm.grpc_trailing_metadata(token, pairs(&[("grpc-status", "0"), ("x-tr", "t")]))
            .unwrap();
        let r = Recs::of(vm.logs());
        assert_eq!(r.text("grpc_trailing", "args"), format!("{token} 2"), "{t}");
        assert_eq!(r.text("grpc_trailing", "hget.5"), "t", "{t}");
        assert_eq!(r.status("grpc_trailing", "hget.4"), BAD_ARGUMENT, "{t}");
        assert!(!vm.is_finished(id), "{t}");
        vm.grpc_remote_close(token, 0, "").unwrap();
        let out = vm.http_finish(id).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(r.text("grpc_close", "args"), format!("{token} 0"), "{t}");
        assert_eq!(r.text("grpc_close", "status"), "0 ", "{t}");
        assert_eq!(
            r.status("grpc_close", "grpc.send"),
            OK,
            "{t}: still known until the filter closes its side"
        );
        assert_eq!(out.status, 200, "{t}");
        // Closed by the remote end: nothing more can arrive.
        assert!(vm.pending_grpc_calls().is_empty(), "{t}");
        assert!(vm.grpc_message(token, b"late").is_err(), "{t}");
    }
}

#[test]
fn closing_and_cancelling_a_stream_from_the_filter() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let id = vm.http_start(&act("grpc-stream")).unwrap();
        let token = vm.pending_grpc_calls()[0].token;
        // `grpcClose` on a stream only half-closes it: it still receives.
        vm.grpc_message(token, b"close").unwrap();
        assert_eq!(Recs::of(vm.logs()).status("grpc_receive", "grpc.close"), OK);
        let s = vm.pending_grpc_calls()[0].clone();
        assert!(s.end_stream, "{t}");
        vm.grpc_message(token, b"send").unwrap();
        assert_eq!(
            vm.pending_grpc_calls()[0].messages,
            vec![b"hello".to_vec()],
            "{t}: a send after the close is dropped"
        );
        // The remote close then forgets it (`local_closed_` was set).
        vm.grpc_remote_close(token, 14, "unavailable").unwrap();
        assert!(vm.pending_grpc_calls().is_empty(), "{t}");
        let out = vm.http_finish(id).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(r.text("grpc_close", "status"), "14 unavailable", "{t}");
        // Envoy forgets it only after the callback (an after-VM-call action).
        assert_eq!(r.status("grpc_close", "grpc.send"), OK, "{t}");
        assert_eq!(out.status, 403, "{t}");

        // `grpcCancel` forgets it at once: nothing more reaches the filter.
        let id = vm.http_start(&act("grpc-stream")).unwrap();
        let token = vm.pending_grpc_calls()[0].token;
        vm.grpc_message(token, b"cancel").unwrap();
        assert_eq!(
            Recs::of(vm.logs()).status("grpc_receive", "grpc.cancel"),
            OK,
            "{t}"
        );
        assert!(vm.pending_grpc_calls().is_empty(), "{t}");
        assert!(vm.grpc_remote_close(token, 0, "").is_err(), "{t}");
        let out = vm.http_finish(id).unwrap();
        assert_eq!(out.status, 408, "{t}: nobody continued the request");
    }
}

#[test]
fn the_grpc_buffer_and_maps_outside_their_callbacks() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "battery");
        let out = vm.http(&HttpRequest::new("GET", "a.example", "/")).unwrap();
        let r = Recs::of(&out.logs);
        for phase in ["request_headers", "response_headers", "log"] {
            assert_eq!(
                (r.status(phase, "bget.5"), r.get(phase, "bget.5").data.len()),
                (OK, 0),
                "{t} {phase}"
            );
            assert_eq!(r.status(phase, "bstatus.5"), OK, "{t} {phase}");
            assert_eq!(r.status(phase, "bset.5"), BAD_ARGUMENT, "{t} {phase}");
            assert_eq!(
                r.status(phase, "hget.4"),
                if phase == "log" {
                    NOT_FOUND
                } else {
                    BAD_ARGUMENT
                },
                "{t} {phase}"
            );
        }
        // The battery's streams were closed by the filter, never by the
        // remote end: they wait, half-closed, as in Envoy.
        let open = vm.pending_grpc_calls();
        assert!(!open.is_empty() && open.iter().all(|c| c.stream && c.end_stream));
    }
}
