//! Body chunks through the data callbacks, with the filter manager's
//! buffering around them.

use super::guest::{call_guest, guest, id32, len32};
use super::http::Next;
use super::{Flow, Vm};
use crate::error::HostError;
use crate::state::{Dir, Restrict};

/// What a data callback's return value means to Envoy
/// (`FilterDataStatus`; cpp-host `convertVmCallResultToFilterDataStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataStatus {
    /// 0.
    Continue,
    /// 1 (the SDK's Pause): the filter manager buffers the data, and the
    /// next data callback sees all of it.
    Buffer,
    /// 2: buffered too, but the next callback sees only its own chunk.
    Watermark,
    /// 3, anything above, or a local response: the chunk is dropped.
    NoBuffer,
}

impl DataStatus {
    fn from_raw(raw: i32, next_iteration_stopped: bool) -> Self {
        match raw {
            _ if next_iteration_stopped => Self::NoBuffer,
            0 => Self::Continue,
            1 => Self::Buffer,
            2 => Self::Watermark,
            _ => Self::NoBuffer,
        }
    }
}

impl Vm {
    /// One data callback (`Context::decodeData`/`encodeData`) for the next
    /// chunk of `dir`, with the filter manager's buffering around it
    /// (`FilterManager::decodeData`, `commonHandleAfterDataCallback`,
    /// `commonHandleBufferData`):
    ///
    /// - while the filter buffers (its last data callback returned
    ///   StopIterationAndBuffer), the chunk joins the buffered data first
    ///   (`addDecodedData`) and the callback gets the size of it all;
    ///   otherwise only the chunk;
    /// - Continue passes on what was held, then the chunk;
    ///   StopIterationAndBuffer and StopIterationAndWatermark hold the chunk
    ///   (only the first makes the next callback see the held data);
    ///   StopIterationNoBuffer drops it;
    /// - `end_of_stream` only on the last chunk, and never when trailers
    ///   follow; if the input ends while data is held, the stream waits for
    ///   `proxy_continue_stream`.
    pub(super) fn step_body(&mut self, ctx: u32, dir: Dir) -> Result<(), HostError> {
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        let p = f.pipe(dir);
        if std::mem::take(&mut p.coalesce) && p.chunks.len() > 1 {
            let all: Vec<u8> = p.chunks.drain(..).flatten().collect();
            p.chunks.push_back(all);
        }
        let chunk = p.chunks.pop_front().unwrap_or_default();
        let eos = p.chunks.is_empty() && p.trailers.is_none();
        let n = match self.store.data_mut().stream_mut(ctx) {
            Some(s) => {
                s.end_of_stream = eos;
                let b = s.body_mut(dir);
                b.received += chunk.len() as u64;
                if b.buffering {
                    b.buffered
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(&chunk);
                    b.chunk.clear();
                } else {
                    b.chunk = chunk;
                }
                b.live = true;
                b.view().len()
            }
            None => 0,
        };
        let args = (id32(ctx), len32(n), i32::from(eos));
        let raw = match dir {
            Dir::Request => guest!(self.on_request_body(ctx, args)),
            Dir::Response => guest!(self.on_response_body(ctx, args)),
        }?
        .unwrap_or(0);
        let stopped_next = std::mem::take(&mut self.store.data_mut().stop_iteration);
        let status = DataStatus::from_raw(raw, stopped_next);
        self.apply_after()?;
        let Some(f) = self.http_flow(ctx) else {
            return Ok(());
        };
        if f.redirected {
            f.redirected = false;
            return Ok(());
        }
        // `proxy_continue_stream` inside the callback already let it go on.
        let status = if f.resume {
            DataStatus::Continue
        } else {
            status
        };
        self.after_data(ctx, dir, status);
        let (next, stop) = match self.http_flow(ctx) {
            Some(f) => {
                let p = f.pipe(dir);
                let next = Next::after_input(p, dir);
                (next, p.data_stopped && next.is_end())
            }
            None => return Ok(()),
        };
        self.settle_step(ctx, stop, next, |_| {});
        Ok(())
    }

    /// What the filter manager does with a data callback's chunk.
    fn after_data(&mut self, ctx: u32, dir: Dir, status: DataStatus) {
        let Some(s) = self.store.data_mut().stream_mut(ctx) else {
            return;
        };
        let Some(Flow::Http(f)) = self.flows.get_mut(&ctx) else {
            return;
        };
        let b = s.body_mut(dir);
        let p = f.pipe(dir);
        b.buffering = status == DataStatus::Buffer;
        match status {
            DataStatus::Continue => {
                // `request_body_buffer_ = nullptr`; held data goes on first.
                b.live = false;
                p.data_stopped = false;
                if let Some(held) = b.buffered.take() {
                    p.sent.extend_from_slice(&held);
                }
                p.sent.append(&mut b.chunk);
            }
            DataStatus::Buffer | DataStatus::Watermark => {
                p.data_stopped = true;
                let chunk = std::mem::take(&mut b.chunk);
                b.buffered.get_or_insert_with(Vec::new).extend(chunk);
            }
            DataStatus::NoBuffer => {
                p.data_stopped = true;
                b.chunk.clear();
            }
        }
    }

    /// Passes on the data the filter manager held for `dir` (the filter
    /// continued, or its direction ended).
    pub(super) fn flush(&mut self, ctx: u32, dir: Dir) {
        let held = self
            .store
            .data_mut()
            .stream_mut(ctx)
            .and_then(|s| s.body_mut(dir).buffered.take());
        if let Some(Flow::Http(f)) = self.flows.get_mut(&ctx) {
            let p = f.pipe(dir);
            p.data_stopped = false;
            if let Some(h) = held {
                p.sent.extend_from_slice(&h);
            }
        }
    }
}
