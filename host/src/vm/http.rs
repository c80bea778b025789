//! HTTP streams: the connection manager hands a request to the filter and
//! the stream goes through the callbacks in Envoy's order (headers, body
//! chunks, trailers, upstream, the response the same way, then the access
//! log and the context's end), with local replies and pauses.

use std::collections::VecDeque;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use egress_abi::{Action, PeerType};
use egress_hcm::{ClientRequest, Prepared, Rejection};

use super::guest::{call_guest, guest, id32, len32};
use super::timing::Timed;
use super::{Finished, Flow, Vm};
use crate::error::HostError;
use crate::http::{self, local_reply_headers};
use crate::properties::Properties;
use crate::state::{Body, Dir, Kind, Peer, ROOT_CONTEXT, Restrict, Stream};
use crate::types::{Headers, HttpOutcome, HttpRequest, StreamId, UpstreamResponse, split_chunks};

/// Where the simulated client connects from.
const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 244, 0, 21));

/// The address the client connected to (an auto-allocated ServiceEntry VIP).
const SERVICE_VIP: IpAddr = IpAddr::V4(Ipv4Addr::new(240, 240, 0, 1));

/// Header names as Envoy's codecs and header maps hold them.
pub(super) fn lower_names(h: &Headers) -> Headers {
    h.iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect()
}

/// The step an HTTP stream takes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Next {
    Create,
    ReqHeaders,
    ReqBody,
    ReqTrailers,
    Upstream,
    RespHeaders,
    RespBody,
    RespTrailers,
    Complete,
}

impl Next {
    /// The next step of `dir` once its headers or a chunk went through:
    /// another chunk, the trailers, or the end of that direction.
    pub(super) fn after_input(p: &Pipe, dir: Dir) -> Self {
        match (dir, !p.chunks.is_empty(), p.trailers.is_some()) {
            (Dir::Request, true, _) => Self::ReqBody,
            (Dir::Request, false, true) => Self::ReqTrailers,
            (Dir::Request, false, false) => Self::Upstream,
            (Dir::Response, true, _) => Self::RespBody,
            (Dir::Response, false, true) => Self::RespTrailers,
            (Dir::Response, false, false) => Self::Complete,
        }
    }

    pub(super) fn is_end(self) -> bool {
        matches!(self, Self::Upstream | Self::Complete)
    }
}

/// One direction of an HTTP stream as it passes the filter: what has
/// arrived but not reached the filter yet, and what went past it.
#[derive(Debug, Default)]
pub(super) struct Pipe {
    /// Body chunks that have arrived but not reached the filter yet.
    pub(super) chunks: VecDeque<Vec<u8>>,
    /// Trailers that have arrived but not reached the filter yet.
    pub(super) trailers: Option<Headers>,
    /// The filter stopped all iteration at the headers: the filter manager
    /// buffers what arrives meanwhile and hands it over as one data callback
    /// when the filter continues (`handleDataIfStopAll`, `commonContinue`).
    pub(super) coalesce: bool,
    /// A data callback stopped iteration (the filter manager's
    /// `StopSingleIteration`): held data waits until the filter continues.
    pub(super) data_stopped: bool,
    /// What went past the filter (upstream, or to the client).
    pub(super) sent: Vec<u8>,
    /// Whether this direction has a body at all.
    pub(super) had_body: bool,
}

impl Pipe {
    pub(super) fn new(chunks: Vec<Vec<u8>>, trailers: Option<Headers>) -> Self {
        Self {
            had_body: !chunks.is_empty(),
            chunks: chunks.into(),
            trailers,
            ..Self::default()
        }
    }
}

/// An HTTP stream in flight: its next step, its two directions and its
/// outcome so far.
#[derive(Debug, Default)]
pub(super) struct HttpFlow {
    pub(super) next: Option<Next>,
    pub(super) paused: bool,
    pub(super) resume: bool,
    pub(super) redirected: bool,
    pub(super) reset: bool,
    pub(super) req: Pipe,
    pub(super) resp: Pipe,
    /// Response headers not yet given to the filter (upstream's or a local reply's).
    pub(super) resp_headers: Option<Headers>,
    pub(super) response_started: bool,
    pub(super) forwarded: bool,
    /// Started by [`Vm::http_request`]: the stream stops where the request
    /// would go upstream and waits for [`Vm::http_respond`] instead of
    /// meeting the simulated upstream.
    pub(super) proxied: bool,
    /// Ended by [`Vm::http_respond`]: nobody takes the outcome, so none is
    /// built.
    pub(super) discard: bool,
    pub(super) out: HttpOutcome,
}

/// What a proxied stream leaves behind for the next one: its flow's box,
/// its response header map and its details string, so that a request that
/// goes upstream allocates none of them again.
#[derive(Debug, Default)]
pub(super) struct Spare {
    flow: Option<Box<HttpFlow>>,
    status: Headers,
    details: String,
}

impl Spare {
    fn flow(&mut self, flow: HttpFlow) -> Box<HttpFlow> {
        match self.flow.take() {
            Some(mut b) => {
                *b = flow;
                b
            }
            None => Box::new(flow),
        }
    }

    /// `:status` and nothing else: the response headers of a proxied stream.
    fn status_headers(&mut self, status: u16) -> Headers {
        let mut h = std::mem::take(&mut self.status);
        h.truncate(1);
        match h.first_mut() {
            Some((k, v)) => {
                if k.as_slice() != b":status" {
                    k.clear();
                    k.extend_from_slice(b":status");
                }
                v.clear();
                let _ = write!(v, "{status}");
            }
            None => h.push((b":status".to_vec(), status.to_string().into_bytes())),
        }
        h
    }

    fn details(&mut self, text: &str) -> String {
        let mut d = std::mem::take(&mut self.details);
        d.clear();
        d.push_str(text);
        d
    }

    /// Takes back what a finished proxied stream held.
    fn keep(&mut self, s: &mut Stream, flow: Box<HttpFlow>) {
        if let Some(h) = s.resp_headers.take() {
            self.status = h;
        }
        self.details = std::mem::take(&mut s.details);
        self.flow = Some(flow);
    }
}

/// What [`Vm::http_request`] decided.
#[derive(Debug)]
pub enum Decision {
    /// The request goes upstream. The stream stays open: read the request
    /// headers as they go upstream with [`Vm::http_request_headers`], then
    /// end the stream with [`Vm::http_respond`].
    Forward(StreamId),
    /// The request never goes upstream: the filter answered it (a local
    /// response), the connection manager refused it, the filter reset it,
    /// or it stayed paused and the stream idle timeout answered 408. The
    /// stream is over; this is its outcome.
    Answered(Box<HttpOutcome>),
}

/// The outcome of a request the connection manager refused before any filter ran.
fn rejected(rej: &Rejection) -> HttpOutcome {
    // The codec's local reply carries the status's reason phrase.
    let body: &[u8] = match rej.status {
        431 => b"Request Header Fields Too Large",
        _ => b"Bad Request",
    };
    let reply = http::proxy_reply(rej.status, body);
    HttpOutcome {
        proxy_rejected: Some(rej.status),
        status: rej.status,
        response_headers: Some(local_reply_headers(reply.status, &Vec::new(), &reply.body)),
        response_body: reply.body,
        details: rej.details.to_owned(),
        ..HttpOutcome::default()
    }
}

impl HttpFlow {
    pub(super) fn pipe(&mut self, dir: Dir) -> &mut Pipe {
        match dir {
            Dir::Request => &mut self.req,
            Dir::Response => &mut self.resp,
        }
    }
}

impl Vm {
    /// Runs one whole HTTP stream in Envoy's order and returns what happened.
    ///
    /// A stream the filter leaves paused (waiting for an HTTP call nobody
    /// answers) ends as Envoy's stream idle timeout ends it: a 408 from the
    /// connection manager. Use [`Vm::http_start`] and
    /// [`Vm::answer_http_call`] to answer calls.
    pub fn http(&mut self, req: &HttpRequest) -> Result<HttpOutcome, HostError> {
        let id = self.http_start(req)?;
        self.http_finish(id)
    }

    /// Starts an HTTP stream and runs it as far as it goes without outside
    /// input (to completion, or until the filter pauses it).
    pub fn http_start(&mut self, req: &HttpRequest) -> Result<StreamId, HostError> {
        self.ready()?;
        let chunks = match &req.body {
            None => Vec::new(),
            Some(b) => split_chunks(b, &req.body_chunks).ok_or_else(|| {
                HostError::Usage(format!(
                    "the request's body_chunks add up to more than its {}-byte body",
                    b.len()
                ))
            })?,
        };
        let prepared = match http::prepare(req, self.plugin.cfg.hcm) {
            Ok(p) => p,
            Err(rej) => {
                let id = self.next_reject;
                self.next_reject = self.next_reject.wrapping_sub(1);
                self.finished
                    .insert(id, Finished::Http(Box::new(rejected(&rej))));
                return Ok(StreamId(id));
            }
        };
        let pipe = Pipe::new(chunks, req.trailers.as_ref().map(lower_names));
        let ctx = self.open_http(prepared, req.properties.clone(), pipe, false);
        self.pump(ctx)?;
        self.settle()?;
        Ok(StreamId(ctx))
    }

    /// Opens an HTTP stream context for a prepared request.
    fn open_http(
        &mut self,
        prepared: Prepared,
        props: Properties,
        req: Pipe,
        proxied: bool,
    ) -> u32 {
        let st = self.store.data_mut();
        let ctx = st.open_stream(Kind::Http, props, |ctx| Peer {
            source: Some(SocketAddr::new(CLIENT, 40000 + (ctx % 20000) as u16)),
            destination: Some(SocketAddr::new(SERVICE_VIP, prepared.port)),
            ..Peer::default()
        });
        if let Some(s) = st.stream_mut(ctx) {
            s.req_headers = prepared.headers;
        }
        let flow = HttpFlow {
            next: Some(Next::Create),
            req,
            proxied,
            ..HttpFlow::default()
        };
        let flow = if proxied {
            self.spare.flow(flow)
        } else {
            Box::new(flow)
        };
        self.flows.insert(ctx, Flow::Http(flow));
        ctx
    }

    /// Starts an HTTP stream for a real request on its way upstream, as a
    /// forward proxy hands it over: the connection manager's checks, then
    /// the context's creation and `proxy_on_request_headers` (with
    /// `end_of_stream`: the filter decides on headers, and the body is not
    /// shown to it). Allowed, the stream waits for [`Vm::http_respond`];
    /// answered, it has run to its end.
    ///
    /// Unlike [`Vm::http`], nothing is simulated past the filter and, for
    /// a request that goes upstream, no [`HttpOutcome`] is built: log
    /// lines stay in the VM's log ([`Vm::logs`], [`Vm::clear_logs`]), and
    /// the stream's header maps and bookkeeping are reused by the next one.
    pub fn http_request(&mut self, req: &ClientRequest<'_>) -> Result<Decision, HostError> {
        self.ready()?;
        let prepared = match egress_hcm::prepare(req, self.plugin.cfg.hcm) {
            Ok(p) => p,
            Err(rej) => return Ok(Decision::Answered(Box::new(rejected(&rej)))),
        };
        let ctx = self.open_http(prepared, Properties::default(), Pipe::default(), true);
        self.pump(ctx)?;
        self.settle()?;
        let waiting = match self.flows.get(&ctx) {
            Some(Flow::Http(f)) => Some(!f.paused && f.next == Some(Next::Upstream)),
            _ => None,
        };
        match waiting {
            Some(true) => Ok(Decision::Forward(StreamId(ctx))),
            Some(false) => self
                .http_finish(StreamId(ctx))
                .map(|o| Decision::Answered(Box::new(o))),
            None => match self.finished.remove(&ctx) {
                Some(Finished::Http(o)) => Ok(Decision::Answered(o)),
                _ => Err(HostError::Usage(format!(
                    "HTTP stream {ctx} ended without an outcome"
                ))),
            },
        }
    }

    /// The request headers of a stream [`Vm::http_request`] let through,
    /// as they go upstream (pseudo-headers first, the path as the
    /// connection manager normalised it, the filter's changes applied);
    /// `None` once the stream got its response.
    pub fn http_request_headers(&self, id: StreamId) -> Option<&Headers> {
        match self.flows.get(&id.0) {
            Some(Flow::Http(f)) if f.proxied && f.next == Some(Next::Upstream) => {
                self.store.data().stream(id.0).map(|s| &s.req_headers)
            }
            _ => None,
        }
    }

    /// Ends a stream [`Vm::http_request`] let through, with the status the
    /// upstream answered: the response headers (`:status` only, end of
    /// stream) go through `proxy_on_response_headers`, then the access log
    /// (`proxy_on_log`), `proxy_on_done` and `proxy_on_delete` run, as
    /// Envoy runs them when the response completes. A filter that holds the
    /// response gets the stream idle timeout, as in [`Vm::http_finish`].
    pub fn http_respond(&mut self, id: StreamId, status: u16) -> Result<(), HostError> {
        let ctx = id.0;
        match self.flows.get(&ctx) {
            Some(Flow::Http(f)) if f.proxied && !f.paused && f.next == Some(Next::Upstream) => {}
            _ => {
                return Err(HostError::Usage(format!(
                    "HTTP stream {ctx} is not waiting for its response (Vm::http_request starts such streams)"
                )));
            }
        }
        self.flush(ctx, Dir::Request);
        let headers = self.spare.status_headers(status);
        let details = self.spare.details("via_upstream");
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.req_headers_live = false;
            s.req_body.live = false;
            s.response_code = Some(status);
            s.details = details;
        }
        if let Some(f) = self.http_flow(ctx) {
            f.forwarded = true;
            f.discard = true;
            f.resp_headers = Some(headers);
            f.next = Some(Next::RespHeaders);
        }
        self.pump(ctx)?;
        self.settle()?;
        if self.flows.contains_key(&ctx) {
            self.proxy_local_reply(ctx, 408, b"stream timeout", "stream_idle_timeout");
            self.pump(ctx)?;
            self.settle()?;
        }
        Ok(())
    }

    /// Whether a stream has finished (its outcome is waiting).
    pub fn is_finished(&self, id: StreamId) -> bool {
        self.finished.contains_key(&id.0)
    }

    /// Ends an HTTP stream and returns its outcome. A stream still paused
    /// gets the connection manager's 408 (stream idle timeout).
    pub fn http_finish(&mut self, id: StreamId) -> Result<HttpOutcome, HostError> {
        if let Some(Finished::Http(o)) = self.finished.remove(&id.0) {
            return Ok(*o);
        }
        match self.flows.get_mut(&id.0) {
            Some(Flow::Http(_)) => {}
            _ => {
                return Err(HostError::Usage(format!(
                    "no HTTP stream {} in flight or finished",
                    id.0
                )));
            }
        }
        if let Some(first) = &self.poisoned {
            return Err(HostError::Poisoned {
                first: first.clone(),
            });
        }
        self.proxy_local_reply(id.0, 408, b"stream timeout", "stream_idle_timeout");
        self.pump(id.0)?;
        self.settle()?;
        match self.finished.remove(&id.0) {
            Some(Finished::Http(o)) => Ok(*o),
            _ => Err(HostError::Usage(format!(
                "HTTP stream {} did not finish",
                id.0
            ))),
        }
    }

    /// Sets what the simulated upstream answers (default: 200, no body).
    pub fn set_upstream_response(&mut self, response: UpstreamResponse) {
        self.upstream = response;
    }

    pub(super) fn pump(&mut self, ctx: u32) -> Result<(), HostError> {
        loop {
            match self.flows.get_mut(&ctx) {
                Some(Flow::Http(f)) => {
                    if f.paused {
                        return Ok(());
                    }
                    let Some(next) = f.next else { return Ok(()) };
                    f.redirected = false;
                    f.resume = false;
                    match next {
                        // A proxied request waits here for its real response.
                        Next::Upstream if f.proxied => return Ok(()),
                        Next::Create => {
                            f.next = Some(Next::ReqHeaders);
                            if let Some(s) = self.store.data_mut().stream_mut(ctx) {
                                s.created = true;
                            }
                            let t = self.timer();
                            guest!(self.on_context_create(ctx, (id32(ctx), id32(ROOT_CONTEXT))))?;
                            self.timed(Timed::ContextCreate, t);
                            self.apply_after()?;
                        }
                        Next::ReqHeaders => self.step_request_headers(ctx)?,
                        Next::ReqBody => self.step_body(ctx, Dir::Request)?,
                        Next::ReqTrailers => self.step_trailers(ctx, Dir::Request)?,
                        Next::Upstream => self.step_upstream(ctx)?,
                        Next::RespHeaders => self.step_response_headers(ctx)?,
                        Next::RespBody => self.step_body(ctx, Dir::Response)?,
                        Next::RespTrailers => self.step_trailers(ctx, Dir::Response)?,
                        Next::Complete => self.step_complete(ctx)?,
                    }
                    self.deliver_queues()?;
                }
                Some(Flow::Tcp(f)) => {
                    if f.close_pending && !f.down_closed {
                        f.close_pending = false;
                        self.tcp_close_inner(ctx, PeerType::Local)?;
                    }
                    return Ok(());
                }
                None => return Ok(()),
            }
        }
    }

    pub(super) fn http_flow(&mut self, ctx: u32) -> Option<&mut HttpFlow> {
        match self.flows.get_mut(&ctx) {
            Some(Flow::Http(f)) => Some(f),
            _ => None,
        }
    }

    /// After a filter callback: decides whether the stream stops here.
    /// Returns whether it did.
    pub(super) fn settle_step(
        &mut self,
        ctx: u32,
        stop: bool,
        next: Next,
        release: impl FnOnce(&mut Stream),
    ) -> bool {
        let Some(f) = self.http_flow(ctx) else {
            return false;
        };
        if f.redirected {
            f.redirected = false;
            return false;
        }
        f.next = Some(next);
        if stop && !f.resume {
            f.paused = true;
            return true;
        }
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            release(s);
        }
        false
    }

    /// After a headers callback: a stop there is Envoy's
    /// StopAllIterationAndWatermark for ABI 0.2.x (cpp-host
    /// `convertVmCallResultToFilterHeadersStatus`), so what arrives while it
    /// lasts reaches the filter as one data callback.
    fn settle_headers(
        &mut self,
        ctx: u32,
        dir: Dir,
        stop: bool,
        release: impl FnOnce(&mut Stream),
    ) {
        let next = match self.http_flow(ctx) {
            Some(f) => Next::after_input(f.pipe(dir), dir),
            None => return,
        };
        if self.settle_step(ctx, stop, next, release)
            && let Some(f) = self.http_flow(ctx)
        {
            f.pipe(dir).coalesce = true;
        }
    }

    fn step_request_headers(&mut self, ctx: u32) -> Result<(), HostError> {
        let eos = self
            .http_flow(ctx)
            .is_some_and(|f| f.req.chunks.is_empty() && f.req.trailers.is_none());
        let n = match self.store.data_mut().stream_mut(ctx) {
            Some(s) => {
                s.req_headers_live = true;
                s.end_of_stream = eos;
                s.req_headers.len()
            }
            None => 0,
        };
        let t = self.timer();
        let returned = guest!(self.on_request_headers(ctx, (id32(ctx), len32(n), i32::from(eos))))?;
        self.timed(Timed::RequestHeaders, t);
        let raw = returned.unwrap_or(0);
        // 2 (ContinueAndEndStream) is Continue to Envoy's `convertFilterHeadersStatus`.
        let stop =
            std::mem::take(&mut self.store.data_mut().stop_iteration) || !matches!(raw, 0 | 2);
        if let Some(f) = self.http_flow(ctx) {
            f.out.request_action = returned.map(|r| Action::from_raw(r as u32));
        }
        self.apply_after()?;
        self.settle_headers(ctx, Dir::Request, stop, |s| s.req_headers_live = false);
        Ok(())
    }

    fn step_response_headers(&mut self, ctx: u32) -> Result<(), HostError> {
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        let headers = f.resp_headers.take().unwrap_or_default();
        let eos = f.resp.chunks.is_empty() && f.resp.trailers.is_none();
        f.response_started = true;
        let n = headers.len();
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.resp_headers = Some(headers);
            s.resp_headers_live = true;
            s.end_of_stream = eos;
        }
        let raw = guest!(self.on_response_headers(ctx, (id32(ctx), len32(n), i32::from(eos))))?
            .unwrap_or(0);
        let stop =
            std::mem::take(&mut self.store.data_mut().stop_iteration) || !matches!(raw, 0 | 2);
        self.apply_after()?;
        self.settle_headers(ctx, Dir::Response, stop, |s| s.resp_headers_live = false);
        Ok(())
    }

    /// The trailers callback (`Context::decodeTrailers`/`encodeTrailers`):
    /// the map is the filter's until the callback returns Continue; any
    /// other value (or a local response) is StopIteration, which waits for
    /// `proxy_continue_stream`.
    fn step_trailers(&mut self, ctx: u32, dir: Dir) -> Result<(), HostError> {
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        let trailers = f.pipe(dir).trailers.take().unwrap_or_default();
        let n = trailers.len();
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            let (t, live) = s.trailers_mut(dir);
            *t = Some(trailers);
            *live = true;
        }
        let args = (id32(ctx), len32(n));
        let raw = match dir {
            Dir::Request => guest!(self.on_request_trailers(ctx, args)),
            Dir::Response => guest!(self.on_response_trailers(ctx, args)),
        }?
        .unwrap_or(0);
        let stop = std::mem::take(&mut self.store.data_mut().stop_iteration) || raw != 0;
        self.apply_after()?;
        let next = if dir == Dir::Request {
            Next::Upstream
        } else {
            Next::Complete
        };
        self.settle_step(ctx, stop, next, |s| *s.trailers_mut(dir).1 = false);
        Ok(())
    }

    fn step_upstream(&mut self, ctx: u32) -> Result<(), HostError> {
        self.flush(ctx, Dir::Request);
        let up = self.upstream.clone();
        let chunks = if up.body.is_empty() && up.body_chunks.is_empty() {
            Vec::new()
        } else {
            split_chunks(&up.body, &up.body_chunks).ok_or_else(|| {
                HostError::Usage(format!(
                    "the upstream response's body_chunks add up to more than its {}-byte body",
                    up.body.len()
                ))
            })?
        };
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.req_headers_live = false;
            s.req_body.live = false;
            s.response_code = Some(up.status);
            s.details = "via_upstream".into();
        }
        let mut headers: Headers = vec![(b":status".to_vec(), up.status.to_string().into_bytes())];
        for (k, v) in &up.headers {
            headers.push((k.to_ascii_lowercase(), v.clone()));
        }
        if !up.body.is_empty() && !headers.iter().any(|(k, _)| k == b"content-length") {
            headers.push((
                b"content-length".to_vec(),
                up.body.len().to_string().into_bytes(),
            ));
        }
        if let Some(f) = self.http_flow(ctx) {
            // The request can no longer change once it went upstream: the
            // outcome takes the headers and body when the stream ends.
            f.forwarded = true;
            f.resp_headers = Some(headers);
            f.resp = Pipe::new(chunks, up.trailers.as_ref().map(lower_names));
            f.next = Some(Next::RespHeaders);
        }
        Ok(())
    }

    fn step_complete(&mut self, ctx: u32) -> Result<(), HostError> {
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        f.next = None;
        let reset = f.reset;
        if !reset {
            self.flush(ctx, Dir::Response);
        }
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.req_headers_live = false;
            s.req_body.live = false;
            s.req_trailers_live = false;
            s.resp_headers_live = false;
            s.resp_body.live = false;
            s.resp_trailers_live = false;
            s.access_log = true;
        }
        // `Context::log` (the access log) runs before `Context::onDestroy`.
        let r = guest!(self.on_log(ctx, id32(ctx)));
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.access_log = false;
        }
        r?;
        self.apply_after()?;
        guest!(self.on_done(ctx, id32(ctx)))?;
        self.apply_after()?;
        if let Some((mut s, Flow::Http(mut f))) = self.delete_context(ctx)? {
            if f.discard {
                self.spare.keep(&mut s, f);
                return Ok(());
            }
            let logs = self.logs_of(&s);
            let out = &mut f.out;
            out.reset = reset;
            out.status = if reset {
                0
            } else {
                s.response_code.unwrap_or(0)
            };
            if !reset {
                out.response_headers = s.resp_headers;
                out.response_body = std::mem::take(&mut f.resp.sent);
                out.response_trailers = s.resp_trailers;
            }
            out.details = s.details;
            out.filter_state = s.fs_writes;
            out.logs = logs;
            if f.forwarded {
                out.forwarded_headers = Some(s.req_headers);
                out.forwarded_body = f.req.had_body.then(|| std::mem::take(&mut f.req.sent));
                out.forwarded_trailers = s.req_trailers;
            }
            self.finished.insert(ctx, Finished::Http(Box::new(f.out)));
        }
        Ok(())
    }

    /// A local reply from the connection manager itself (not the filter).
    fn proxy_local_reply(&mut self, ctx: u32, status: u16, body: &[u8], details: &str) {
        let headers = local_reply_headers(u32::from(status), &Vec::new(), body);
        self.redirect_to_reply(ctx, status, headers, body.to_vec(), details.to_owned());
    }

    pub(super) fn redirect_to_reply(
        &mut self,
        ctx: u32,
        status: u16,
        headers: Headers,
        body: Vec<u8>,
        details: String,
    ) {
        let started = match self.http_flow(ctx) {
            Some(f) if f.next.is_some() => f.response_started,
            _ => return,
        };
        if let Some(s) = self.store.data_mut().stream_mut(ctx) {
            s.response_code = Some(status);
            s.details = details;
            if started {
                // The response already started through the filters: the
                // reply goes straight to the client (`sendDirectLocalReply`).
                s.resp_headers = Some(headers.clone());
                s.resp_headers_live = false;
                s.resp_body = Body::default();
                s.resp_trailers = None;
                s.resp_trailers_live = false;
            }
        }
        if let Some(f) = self.http_flow(ctx) {
            f.paused = false;
            f.redirected = true;
            // The rest of the request no longer reaches the filter.
            f.req.chunks.clear();
            f.req.trailers = None;
            f.req.coalesce = false;
            if started {
                f.resp_headers = None;
                f.resp = Pipe {
                    sent: body,
                    had_body: true,
                    ..Pipe::default()
                };
                f.next = Some(Next::Complete);
            } else {
                let chunks = if body.is_empty() {
                    Vec::new()
                } else {
                    vec![body]
                };
                f.resp_headers = Some(headers);
                f.resp = Pipe::new(chunks, None);
                f.next = Some(Next::RespHeaders);
            }
        }
        self.dirty.push(ctx);
    }
}
