//! Conformance: bodies that arrive in several chunks, Envoy's buffering
//! around the data callbacks, and request and response trailers.
//!
//! The rules come from Envoy's wasm context
//! (`source/extensions/common/wasm/context.cc`: `Context::decodeData`,
//! `encodeData`, `decodeTrailers`, `encodeTrailers`, `getBuffer`, `getMap`,
//! `getConstMap`), its HTTP filter manager
//! (`source/common/http/filter_manager.cc`: `decodeData`,
//! `commonHandleAfterDataCallback`, `commonHandleBufferData`,
//! `handleDataIfStopAll`, `commonContinue`, `addDecodedTrailers`) and
//! proxy-wasm-cpp-host (`src/context.cc`:
//! `convertVmCallResultToFilterDataStatus`, `...FilterTrailersStatus`).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::*;
use egress_host::{HttpCallResponse, HttpRequest, UpstreamResponse};

/// Body tests send POSTs.
fn act(action: &str) -> HttpRequest {
    act_as("POST", action)
}

/// The `(args, view)` of every data callback of `phase`, in order.
fn data_calls(r: &Recs, phase: &str) -> Vec<(String, String)> {
    let text = |x: &Rec| String::from_utf8_lossy(&x.data).into_owned();
    let args =
        r.0.iter()
            .filter(|x| x.phase == phase && x.name == "args")
            .map(text);
    let views =
        r.0.iter()
            .filter(|x| x.phase == phase && x.name == "view")
            .map(text);
    args.zip(views).collect()
}

fn calls(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn each_chunk_is_one_data_callback_and_only_the_last_ends_the_stream() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        vm.set_upstream_response(UpstreamResponse::new(200).with_body_chunks(["xy", "z"]));
        let out = vm
            .http(&act("").with_body_chunks(["ab", "cd", "ef"]))
            .unwrap();
        let r = Recs::of(&out.logs);
        // `decodeData(data, end_stream)` per chunk; the filter sees its own chunk.
        assert_eq!(
            data_calls(&r, "request_body"),
            calls(&[("2 0", "ab"), ("2 0", "cd"), ("2 1", "ef")]),
            "{t}"
        );
        assert!(r.text("request_headers", "args").ends_with(" 0"), "{t}");
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"abcdef"[..]), "{t}");
        assert_eq!(
            data_calls(&r, "response_body"),
            calls(&[("2 0", "xy"), ("1 1", "z")]),
            "{t}"
        );
        assert_eq!(out.response_body, b"xyz", "{t}");
        assert_eq!(
            (out.forwarded_trailers, out.response_trailers),
            (None, None)
        );
        // An explicit empty last chunk (an empty DATA frame with END_STREAM).
        let out = vm.http(&act("").with_body_chunks(["ab", ""])).unwrap();
        assert_eq!(
            data_calls(&Recs::of(&out.logs), "request_body"),
            calls(&[("2 0", "ab"), ("0 1", "")]),
            "{t}"
        );
    }
}

#[test]
fn stop_iteration_and_buffer_shows_the_next_callback_everything_so_far() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        vm.set_upstream_response(UpstreamResponse::new(200).with_body_chunks(["xy", "z"]));
        // `buffer`: 1 (the SDK's Pause, StopIterationAndBuffer) until the last chunk.
        let out = vm
            .http(&act("buffer,resp-buffer").with_body_chunks(["ab", "cd", "ef"]))
            .unwrap();
        let r = Recs::of(&out.logs);
        // `decodeData`: while `buffering_request_body_`, the chunk joins the
        // buffered data first (`addDecodedData`), and `getBuffer` returns
        // that buffer (`modifyDecodingBuffer`), so the size is all so far.
        assert_eq!(
            data_calls(&r, "request_body"),
            calls(&[("2 0", "ab"), ("4 0", "abcd"), ("6 1", "abcdef")]),
            "{t}"
        );
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"abcdef"[..]), "{t}");
        assert_eq!(
            data_calls(&r, "response_body"),
            calls(&[("2 0", "xy"), ("3 1", "xyz")]),
            "{t}"
        );
        assert_eq!(out.response_body, b"xyz", "{t}");

        // Writes land in that buffer: each callback replaces all of it.
        let out = vm
            .http(&act("buffer,body-modify").with_body_chunks(["ab", "cd", "ef"]))
            .unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(
            data_calls(&r, "request_body"),
            calls(&[
                ("2 0", "ab"),
                ("11 0", "REPLACED!cd"),
                ("11 1", "REPLACED!ef")
            ]),
            "{t}"
        );
        assert_eq!(
            out.forwarded_body.as_deref(),
            Some(&b"REPLACED!"[..]),
            "{t}"
        );
    }
}

#[test]
fn watermark_holds_the_data_but_shows_each_chunk_alone() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        // 2 = StopIterationAndWatermark: the filter manager buffers the chunk
        // (`commonHandleBufferData`) but `buffering_request_body_` stays false.
        let out = vm
            .http(&act("watermark").with_body_chunks(["ab", "cd", "ef"]))
            .unwrap();
        assert_eq!(
            data_calls(&Recs::of(&out.logs), "request_body"),
            calls(&[("2 0", "ab"), ("2 0", "cd"), ("2 1", "ef")]),
            "{t}"
        );
        // Continue passes on the held data, then the chunk.
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"abcdef"[..]), "{t}");
        // The same on the response path (`encodeData`).
        vm.set_upstream_response(UpstreamResponse::new(200).with_body_chunks(["xy", "z"]));
        let out = vm.http(&act("resp-watermark")).unwrap();
        assert_eq!(
            data_calls(&Recs::of(&out.logs), "response_body"),
            calls(&[("2 0", "xy"), ("1 1", "z")]),
            "{t}"
        );
        assert_eq!(out.response_body, b"xyz", "{t}");
    }
}

#[test]
fn no_buffer_drops_the_chunks() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        // 3 = StopIterationNoBuffer: nothing is kept for the filter.
        let out = vm
            .http(&act("nobuffer").with_body_chunks(["ab", "cd", "ef"]))
            .unwrap();
        assert_eq!(
            data_calls(&Recs::of(&out.logs), "request_body"),
            calls(&[("2 0", "ab"), ("2 0", "cd"), ("2 1", "ef")]),
            "{t}"
        );
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"ef"[..]), "{t}");
        vm.set_upstream_response(UpstreamResponse::new(200).with_body_chunks(["xy", "z"]));
        let out = vm.http(&act("resp-nobuffer")).unwrap();
        assert_eq!(out.response_body, b"z", "{t}");
    }
}

#[test]
fn a_pause_at_the_headers_hands_over_the_body_in_one_callback() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let id = vm
            .http_start(&act("call").with_body_chunks(["ab", "cd", "ef"]))
            .unwrap();
        // Pause at the headers is StopAllIterationAndWatermark: the chunks are
        // buffered by the filter manager (`handleDataIfStopAll`) and reach the
        // filter as one `decodeData` when it continues (`commonContinue`).
        let token = vm.pending_http_calls()[0].token;
        vm.answer_http_call(token, HttpCallResponse::new(200, "allow"))
            .unwrap();
        let out = vm.http_finish(id).unwrap();
        assert_eq!(
            data_calls(&Recs::of(&out.logs), "request_body"),
            calls(&[("6 1", "abcdef")]),
            "{t}"
        );
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"abcdef"[..]), "{t}");
    }
}

#[test]
fn data_held_at_the_end_waits_for_continue_stream() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        // Buffer the body; at its end make an HTTP call and keep buffering.
        let id = vm
            .http_start(&act("buffer,body-call").with_body_chunks(["ab", "cd"]))
            .unwrap();
        assert!(!vm.is_finished(id), "{t}: held until the filter continues");
        let token = vm.pending_http_calls()[0].token;
        vm.answer_http_call(token, HttpCallResponse::new(200, "allow"))
            .unwrap();
        let out = vm.http_finish(id).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(
            data_calls(&r, "request_body"),
            calls(&[("2 0", "ab"), ("4 1", "abcd")]),
            "{t}"
        );
        // Through the effective context, the call's callback reads what
        // Envoy's buffer holds (`getBuffer` while `buffering_request_body_`).
        assert_eq!(r.text("call_response", "bget.0"), "abcd", "{t}");
        assert_eq!(out.status, 200, "{t}");
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"abcd"[..]), "{t}");

        // Nobody continues: the stream idle timeout ends it.
        let out = vm
            .http(&act("hold").with_body_chunks(["ab", "cd"]))
            .unwrap();
        assert_eq!(
            (out.status, out.details.as_str()),
            (408, "stream_idle_timeout"),
            "{t}"
        );
        assert!(out.forwarded_body.is_none(), "{t}");
    }
}

#[test]
fn request_trailers_end_the_stream_and_reach_the_filter() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        let req = act("")
            .with_body_chunks(["ab", "cd"])
            .trailer("X-Trailer", "t1");
        let out = vm.http(&req).unwrap();
        let r = Recs::of(&out.logs);
        // With trailers coming no data callback has end_of_stream
        // (`end_stream_ = end_stream && !request_trailers_`).
        assert_eq!(
            data_calls(&r, "request_body"),
            calls(&[("2 0", "ab"), ("2 0", "cd")]),
            "{t}"
        );
        assert_eq!(r.text("request_trailers", "args"), "1", "{t}");
        assert_eq!(r.text("request_trailers", "hget"), "t1", "{t}");
        let map = egress_host::pairs::decode(&r.get("request_trailers", "hpairs").data).unwrap();
        assert_eq!(map, pairs(&[("x-trailer", "t1")]), "{t}: names lower-cased");
        // The last data callback returned Continue: `request_body_buffer_` is
        // null, so the body reads as empty in the trailers callback.
        assert_eq!(
            (
                r.status("request_trailers", "view"),
                r.text("request_trailers", "view")
            ),
            (OK, String::new()),
            "{t}"
        );
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"abcd"[..]), "{t}");
        assert_eq!(
            out.forwarded_trailers,
            Some(pairs(&[("x-trailer", "t1")])),
            "{t}"
        );

        // Buffered through the end: the trailers callback sees the buffered
        // body, and its Continue passes it on (`commonHandleAfterTrailersCallback`).
        let req = act("buffer,trailers-mutate")
            .with_body_chunks(["ab", "cd"])
            .trailer("X-Trailer", "t1");
        let out = vm.http(&req).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(
            data_calls(&r, "request_body"),
            calls(&[("2 0", "ab"), ("4 0", "abcd")]),
            "{t}"
        );
        assert_eq!(r.text("request_trailers", "view"), "abcd", "{t}");
        assert_eq!(r.status("request_trailers", "hreplace"), OK, "{t}");
        assert_eq!(r.status("request_trailers", "hadd"), OK, "{t}");
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"abcd"[..]), "{t}");
        assert_eq!(
            out.forwarded_trailers,
            Some(pairs(&[("x-trailer", "changed"), ("x-more", "1")])),
            "{t}"
        );

        // Trailers without a body: no data callback at all.
        let out = vm.http(&act("").trailer("x-trailer", "only")).unwrap();
        let r = Recs::of(&out.logs);
        assert!(r.text("request_headers", "args").ends_with(" 0"), "{t}");
        assert!(data_calls(&r, "request_body").is_empty(), "{t}");
        assert_eq!(r.text("request_trailers", "hget"), "only", "{t}");
        assert_eq!(out.forwarded_body, None, "{t}");
    }
}

#[test]
fn stopped_trailers_wait_for_continue_stream() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        // Any non-zero value is StopIteration.
        let out = vm
            .http(
                &act("trailers-stop")
                    .with_body("ab")
                    .trailer("x-trailer", "t"),
            )
            .unwrap();
        assert_eq!(out.status, 408, "{t}");
        assert!(out.forwarded_headers.is_none(), "{t}");

        let id = vm
            .http_start(
                &act("trailers-call")
                    .with_body("ab")
                    .trailer("x-trailer", "t"),
            )
            .unwrap();
        assert!(!vm.is_finished(id), "{t}");
        let token = vm.pending_http_calls()[0].token;
        vm.answer_http_call(token, HttpCallResponse::new(200, "allow"))
            .unwrap();
        let out = vm.http_finish(id).unwrap();
        assert_eq!(out.status, 200, "{t}");
        assert_eq!(out.forwarded_body.as_deref(), Some(&b"ab"[..]), "{t}");
        assert_eq!(out.forwarded_trailers, Some(pairs(&[("x-trailer", "t")])));
    }
}

#[test]
fn trailers_added_at_the_end_of_a_body_go_on_without_a_trailers_callback() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "");
        vm.set_upstream_response(UpstreamResponse::new(200).with_body("up"));
        let out = vm
            .http(&act("add-trailers").with_body_chunks(["ab", "cd"]))
            .unwrap();
        let r = Recs::of(&out.logs);
        // `getMap` creates them in the last data callback (`addDecodedTrailers`);
        // the filter manager then runs `decodeTrailers` from the next filter.
        assert_eq!(r.status("request_body", "hadd.1"), OK, "{t}");
        assert_eq!(r.status("response_body", "hadd.3"), OK, "{t}");
        assert!(
            !r.0.iter()
                .any(|x| x.phase.ends_with("_trailers") && x.name == "args"),
            "{t}"
        );
        assert_eq!(
            out.forwarded_trailers,
            Some(pairs(&[("x-added", "request body")])),
            "{t}"
        );
        assert_eq!(
            out.response_trailers,
            Some(pairs(&[("x-added", "response body")])),
            "{t}"
        );
    }
}

#[test]
fn response_trailers_and_the_maps_by_phase() {
    for t in TARGETS {
        let mut vm = probe_vm(t, "battery");
        vm.set_upstream_response(
            UpstreamResponse::new(200)
                .with_body_chunks(["xy", "z"])
                .trailer("X-Trailer", "rt1"),
        );
        let req = act("resp-trailers-mutate")
            .with_body("ab")
            .trailer("x-trailer", "qt1");
        let out = vm.http(&req).unwrap();
        let r = Recs::of(&out.logs);
        assert_eq!(
            data_calls(&r, "response_body"),
            calls(&[("2 0", "xy"), ("1 0", "z")]),
            "{t}"
        );
        assert_eq!(r.text("response_trailers", "args"), "1", "{t}");
        assert_eq!(r.text("response_trailers", "hget"), "rt1", "{t}");
        assert_eq!(
            out.response_trailers,
            Some(pairs(&[("x-trailer", "changed"), ("x-more", "1")])),
            "{t}"
        );
        // Request trailers: readable and writable in their callback only.
        assert_eq!(r.text("request_trailers", "hget.1"), "qt1", "{t}");
        assert_eq!(r.status("request_trailers", "hsize.1"), OK, "{t}");
        assert_eq!(r.status("request_trailers", "hget.0"), BAD_ARGUMENT, "{t}");
        // Before them, a body with trailers coming cannot create any
        // (`getMap` needs `end_of_stream_`), and after them they are gone.
        assert_eq!(r.status("request_body", "hget.1"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status("request_body", "hsize.1"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status("response_headers", "hget.1"), BAD_ARGUMENT, "{t}");
        // Response trailers likewise, then the access log sees them
        // (`access_log_response_trailers_`) but never request trailers.
        assert_eq!(r.status("response_body", "hget.3"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status("response_body", "hsize.3"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.text("response_trailers", "hget.3"), "rt1", "{t}");
        assert_eq!(r.text("log", "hget.3"), "changed", "{t}");
        assert_eq!(r.status("log", "hsize.3"), BAD_ARGUMENT, "{t}");
        assert_eq!(r.status("log", "hget.1"), NOT_FOUND, "{t}");
        assert_eq!(r.status("done", "hget.3"), BAD_ARGUMENT, "{t}");
        // `response.trailers` follows the same map (`activation_response_trailers_`).
        assert_eq!(
            r.text("response_trailers", "prop.response.trailers.x-trailer"),
            "rt1",
            "{t}"
        );
        assert_eq!(r.text("log", "prop.response.trailers.x-trailer"), "changed");
        assert_eq!(
            r.status("response_body", "prop.response.trailers.x-trailer"),
            NOT_FOUND,
            "{t}"
        );
        // The maps' pairs: OK with nothing outside their phase.
        assert_eq!(r.status("request_headers", "hpairs.1"), OK, "{t}");
        assert!(r.get("request_headers", "hpairs.1").data.is_empty(), "{t}");
    }
}

#[test]
fn chunk_sizes_beyond_the_body_are_a_usage_error() {
    let mut vm = probe_vm(TARGETS[0], "");
    let mut req = act("").with_body("abc");
    req.body_chunks = vec![2, 2];
    let err = vm.http_start(&req).unwrap_err();
    assert!(err.to_string().contains("body_chunks"), "{err}");
    // Sizes that leave bytes over: the rest is a last chunk.
    req.body_chunks = vec![1];
    let out = vm.http(&req).unwrap();
    assert_eq!(
        data_calls(&Recs::of(&out.logs), "request_body"),
        calls(&[("1 0", "a"), ("2 1", "bc")])
    );
    let mut up = UpstreamResponse::new(200).with_body("abc");
    up.body_chunks = vec![4];
    vm.set_upstream_response(up);
    assert!(vm.http(&act("")).is_err());
}
