//! Opt-in timing of the guest calls that decide an HTTP request, for
//! benchmarks: how long `proxy_on_context_create` and
//! `proxy_on_request_headers` ran (host calls the guest makes included),
//! each measured around the one guest call, so that context creation can
//! be reported apart from the decision. Off by default; while off it costs
//! one branch per callback.

use std::time::{Duration, Instant};

use super::Vm;

/// The durations of the last HTTP stream's first two guest calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuestTimes {
    /// `proxy_on_context_create` of the stream's context.
    pub context_create: Duration,
    /// `proxy_on_request_headers` (the decision), host calls included.
    pub request_headers: Duration,
}

/// Which of the two calls a measurement is for.
#[derive(Debug, Clone, Copy)]
pub(super) enum Timed {
    ContextCreate,
    RequestHeaders,
}

impl Vm {
    /// Turns timing of `proxy_on_context_create` and
    /// `proxy_on_request_headers` on or off (see [`Vm::guest_times`]).
    pub fn set_guest_timing(&mut self, on: bool) {
        self.timing = on.then(GuestTimes::default);
    }

    /// With timing on, the durations of the last HTTP stream's
    /// `proxy_on_context_create` and `proxy_on_request_headers` calls.
    pub fn guest_times(&self) -> Option<GuestTimes> {
        self.timing
    }

    /// The start of a timed guest call, when timing is on.
    pub(super) fn timer(&self) -> Option<Instant> {
        self.timing.map(|_| Instant::now())
    }

    /// Records a timed guest call that started at `start`.
    pub(super) fn timed(&mut self, which: Timed, start: Option<Instant>) {
        if let (Some(t), Some(start)) = (self.timing.as_mut(), start) {
            let d = start.elapsed();
            match which {
                Timed::ContextCreate => t.context_create = d,
                Timed::RequestHeaders => t.request_headers = d,
            }
        }
    }
}
