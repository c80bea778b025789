//! The request-oriented API a forward proxy uses (`Vm::http_request`,
//! `Vm::http_request_headers`, `Vm::http_respond`): the same callbacks in
//! the same order as a whole stream, with the response given by the caller
//! instead of the simulated upstream; and the guest-call timing benchmarks
//! use.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::*;
use egress_host::{ClientRequest, Decision, Headers, HttpOutcome, StreamId, Vm};

/// `method http://a.example/x?y` with `x-probe-action: action`, as a
/// forward proxy receives it (absolute form, a Host header).
fn request(vm: &mut Vm, method: &str, action: &str) -> Decision {
    let headers: Headers = pairs(&[("Host", "a.example"), ("x-probe-action", action)]);
    vm.http_request(&ClientRequest {
        method: method.as_bytes(),
        scheme: b"http",
        authority: None,
        path: b"http://a.example/a/../x?y",
        headers: &headers,
        body_len: None,
    })
    .unwrap()
}

fn forwarded(d: Decision) -> StreamId {
    match d {
        Decision::Forward(id) => id,
        Decision::Answered(o) => panic!("answered: {o:?}"),
    }
}

fn answered(d: Decision) -> HttpOutcome {
    match d {
        Decision::Answered(o) => *o,
        Decision::Forward(id) => panic!("forwarded as {id:?}"),
    }
}

#[test]
fn allowed_request_waits_for_its_response() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        for round in 0..3 {
            vm.clear_logs();
            let id = forwarded(request(&mut vm, "GET", "none"));
            let h = vm.http_request_headers(id).unwrap();
            assert_eq!(header(h, ":authority"), Some("a.example"), "{t}");
            assert_eq!(header(h, ":path"), Some("/x?y"), "{t}: normalised");
            assert_eq!(header(h, ":method"), Some("GET"), "{t}");
            assert_eq!(header(h, "x-probe-action"), Some("none"), "{t}");
            let r = Recs::of(vm.logs());
            let ctx = r.0[0].ctx;
            assert_eq!(callbacks(&r, ctx), ["request_headers"], "{t}");
            assert_eq!(vm.in_flight(), [id], "{t}");

            vm.http_respond(id, 503).unwrap();
            let r = Recs::of(vm.logs());
            assert_eq!(
                callbacks(&r, ctx),
                [
                    "request_headers",
                    "response_headers",
                    "log",
                    "done",
                    "delete"
                ],
                "{t} round {round}"
            );
            assert_eq!(r.text("response_headers", "status"), "503", "{t}");
            assert_eq!(r.text("response_headers", "args"), "1 1", "{t}");
            // The stream is gone, and its outcome was not kept.
            assert!(vm.in_flight().is_empty(), "{t}");
            assert!(!vm.is_finished(id), "{t}");
            assert!(vm.http_request_headers(id).is_none(), "{t}");
            assert!(vm.http_respond(id, 200).is_err(), "{t}");
        }
    }
}

#[test]
fn answered_requests_end_at_once() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        // The filter's local reply.
        let out = answered(request(&mut vm, "GET", "local"));
        assert_eq!(out.status, 403, "{t}");
        assert!(out.local_response.is_some() && out.forwarded_headers.is_none());
        assert_eq!(out.response_body, b"denied\n");
        let r = Recs::of(&out.logs);
        assert_eq!(
            callbacks(&r, r.0[0].ctx),
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
        // The connection manager's own 400, before any filter.
        let out = answered(request(&mut vm, "get", "none"));
        assert_eq!((out.proxy_rejected, out.status), (Some(400), 400), "{t}");
        // Paused with nobody to continue it: the stream idle timeout.
        let out = answered(request(&mut vm, "GET", "pause"));
        assert_eq!(
            (out.status, out.details.as_str()),
            (408, "stream_idle_timeout"),
            "{t}"
        );
        // Reset by the filter.
        let out = answered(request(&mut vm, "GET", "close"));
        assert_eq!((out.status, out.reset), (0, true), "{t}");
        assert!(vm.in_flight().is_empty(), "{t}");
    }
}

#[test]
fn a_response_the_filter_holds_gets_the_idle_timeout() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        vm.clear_logs();
        let id = forwarded(request(&mut vm, "GET", "resp-pause"));
        vm.http_respond(id, 200).unwrap();
        let r = Recs::of(vm.logs());
        assert_eq!(
            callbacks(&r, r.0[0].ctx),
            [
                "request_headers",
                "response_headers",
                "log",
                "done",
                "delete"
            ],
            "{t}"
        );
        assert!(vm.in_flight().is_empty(), "{t}");
    }
}

#[test]
fn whole_streams_still_work_in_between() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let id = forwarded(request(&mut vm, "GET", "none"));
        let out = vm.http(&act("none")).unwrap();
        assert_eq!(out.status, 200, "{t}");
        assert!(out.forwarded_headers.is_some(), "{t}");
        vm.http_respond(id, 204).unwrap();
        let out = vm.http(&act("local")).unwrap();
        assert_eq!(out.status, 403, "{t}");
        assert!(vm.in_flight().is_empty(), "{t}");
    }
}

/// `Vm::set_guest_timing`: the durations of `proxy_on_context_create` and
/// `proxy_on_request_headers`, measured apart, for benchmarks.
#[test]
fn guest_calls_are_timed_only_when_asked() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        vm.http(&egress_host::HttpRequest::new("GET", "a.example", "/"))
            .unwrap();
        assert_eq!(vm.guest_times(), None, "{t}: off by default");
        vm.set_guest_timing(true);
        vm.http(&egress_host::HttpRequest::new("GET", "a.example", "/"))
            .unwrap();
        let g = vm.guest_times().unwrap();
        assert!(g.context_create > std::time::Duration::ZERO, "{t}: {g:?}");
        assert!(g.request_headers > std::time::Duration::ZERO, "{t}: {g:?}");
        vm.set_guest_timing(false);
        assert_eq!(vm.guest_times(), None, "{t}");
    }
}
