//! Bodies in both directions: streamed, never buffered whole, each watched
//! for stalls (no frame for the idle timeout) and failures (the peer
//! closing mid-body), which are logged with the request they belong to.
//! A failed body ends with an error, so the other side's connection is cut
//! rather than left with a silently short message.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::BodyExt as _;
use http_body_util::combinators::BoxBody;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::log::Log;

/// Any error a body can end with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request and response the proxy sends.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

/// A complete body from bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub(crate) fn empty() -> ProxyBody {
    full(Bytes::new())
}

/// Which body is watched, for the log line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Side {
    /// The client's request body, going upstream.
    Request,
    /// The upstream's response body, going to the client.
    Response,
}

/// A body that fails after `idle` without progress and logs how it ended
/// badly.
pub(crate) struct Watched<B> {
    inner: B,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
    side: Side,
    what: Arc<str>,
    log: Log,
    bytes: u64,
}

impl<B> std::fmt::Debug for Watched<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("side", &self.side)
            .field("what", &self.what)
            .field("bytes", &self.bytes)
            .finish_non_exhaustive()
    }
}

impl<B> Watched<B> {
    /// Watches `inner`; `what` names the request (`GET http://…`).
    pub(crate) fn new(inner: B, idle: Duration, side: Side, what: Arc<str>, log: Log) -> Self {
        Self {
            inner,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
            side,
            what,
            log,
            bytes: 0,
        }
    }

    fn report(&self, how: &str) {
        let msg = match self.side {
            Side::Request => format!(
                "{}: the client's request body {how} after {} bytes; the upstream request is abandoned",
                self.what, self.bytes
            ),
            Side::Response => format!(
                "{}: the upstream's response {how} after {} body bytes; the client's connection is closed so it sees an incomplete response",
                self.what, self.bytes
            ),
        };
        self.log.warn(&msg);
    }
}

/// The error a stalled body ends with.
#[derive(Debug)]
struct Stalled(Duration);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no data for {} ms", self.0.as_millis())
    }
}

impl std::error::Error for Stalled {}

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.bytes += d.len() as u64;
                }
                let next = Instant::now() + self.idle;
                self.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                self.report(&format!("failed ({e})"));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if self.timer.as_mut().poll(cx).is_ready() {
                    let idle = self.idle;
                    self.report(&format!("stalled (no data for {} ms)", idle.as_millis()));
                    return Poll::Ready(Some(Err(Box::new(Stalled(idle)))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
