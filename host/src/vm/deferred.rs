//! Work that runs between guest calls: what Envoy defers until a VM call
//! returns (local replies, continue, close, the root's deletion), streams
//! set off by other callbacks, shared-queue readiness and ticks.

use std::sync::PoisonError;
use std::time::Duration;

use egress_abi::StreamType;

use super::guest::{call_guest, guest, id32};
use super::http::{Next, Pipe};
use super::{Flow, Vm};
use crate::error::HostError;
use crate::http::local_reply_headers;
use crate::state::{After, Dir, ROOT_CONTEXT, Restrict, VM_CONTEXT};

impl Vm {
    /// Runs the work Envoy defers until a VM call returns.
    pub(super) fn apply_after(&mut self) -> Result<(), HostError> {
        let actions = std::mem::take(&mut self.store.data_mut().after);
        for a in actions {
            match a {
                After::LocalReply { ctx, reply } => {
                    let ok = self.http_flow(ctx).is_some_and(|f| f.next.is_some());
                    if !ok {
                        continue;
                    }
                    let headers = local_reply_headers(reply.status, &reply.headers, &reply.body);
                    let status = u16::try_from(reply.status).unwrap_or(0);
                    let details = String::from_utf8_lossy(&reply.details).into_owned();
                    let body = reply.body.clone();
                    if let Some(f) = self.http_flow(ctx) {
                        f.out.local_response = Some(reply);
                    }
                    self.redirect_to_reply(ctx, status, headers, body, details);
                }
                After::Continue { ctx, ty } => match self.flows.get_mut(&ctx) {
                    Some(Flow::Http(f)) => {
                        let dir = match ty {
                            StreamType::Request => Dir::Request,
                            _ => Dir::Response,
                        };
                        // `continueDecoding` once the response started (or
                        // `continueEncoding` before it) changes nothing.
                        if (dir == Dir::Response) != f.response_started {
                            continue;
                        }
                        if f.paused {
                            f.paused = false;
                            self.dirty.push(ctx);
                        } else {
                            f.resume = true;
                            // `commonContinue`: data held after a data
                            // callback stopped goes on now.
                            if f.pipe(dir).data_stopped {
                                self.flush(ctx, dir);
                            }
                        }
                    }
                    Some(Flow::Tcp(_)) => {
                        self.tcp_forward_held(ctx);
                    }
                    None => {}
                },
                After::Close { ctx } => match self.flows.get_mut(&ctx) {
                    Some(Flow::Http(f)) if f.next.is_some() => {
                        f.reset = true;
                        f.paused = false;
                        f.redirected = true;
                        f.resp_headers = None;
                        f.resp = Pipe::default();
                        f.req.chunks.clear();
                        f.req.trailers = None;
                        f.next = Some(Next::Complete);
                        if let Some(s) = self.store.data_mut().stream_mut(ctx)
                            && s.details.is_empty()
                        {
                            s.details = "wasm_close_stream".into();
                        }
                        self.dirty.push(ctx);
                    }
                    Some(Flow::Tcp(f)) if !f.closed => {
                        f.closed = true;
                        f.out.closed = true;
                        f.close_pending = true;
                        self.dirty.push(ctx);
                    }
                    _ => {}
                },
                After::DeleteRoot => self.delete_root = true,
            }
        }
        Ok(())
    }

    /// Runs deferred work until nothing is left: streams set off by other
    /// callbacks, the root's deletion after `proxy_done`, queue readiness.
    pub(super) fn settle(&mut self) -> Result<(), HostError> {
        loop {
            if self.delete_root {
                self.delete_root = false;
                guest!(self.on_delete(ROOT_CONTEXT, id32(ROOT_CONTEXT)))?;
                self.apply_after()?;
                continue;
            }
            if let Some(ctx) = self.dirty.pop() {
                self.pump(ctx)?;
                continue;
            }
            if !self.deliver_queues()? {
                return Ok(());
            }
        }
    }

    /// Delivers shared-queue readiness to the root context, as Envoy posts
    /// it to the worker's dispatcher: between callbacks, never inside one.
    /// Returns whether anything was delivered.
    pub(super) fn deliver_queues(&mut self) -> Result<bool, HostError> {
        if !self.store.data().owns_queue {
            return Ok(false);
        }
        let ready: Vec<(u32, u32)> = {
            let mut g = self
                .store
                .data()
                .inbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if g.is_empty() {
                return Ok(false);
            }
            std::mem::take(&mut *g)
        };
        for (ctx, token) in ready {
            if self.store.data().context_exists(ctx) && ctx != VM_CONTEXT {
                guest!(self.on_queue_ready(ctx, (id32(ctx), id32(token))))?;
                self.apply_after()?;
            }
        }
        Ok(true)
    }

    /// Delivers queue readiness and other deferred work now.
    pub fn run_pending(&mut self) -> Result<(), HostError> {
        self.settle()
    }

    /// The tick period the root context asked for (`None` if 0).
    pub fn tick_period(&self) -> Option<Duration> {
        match self.store.data().tick_period_ms {
            0 => None,
            ms => Some(crate::state::millis(ms)),
        }
    }

    /// Fires `proxy_on_tick` on the root context if a tick period is set;
    /// returns whether it did.
    pub fn tick(&mut self) -> Result<bool, HostError> {
        if self.store.data().tick_period_ms == 0 {
            return Ok(false);
        }
        guest!(self.on_tick(ROOT_CONTEXT, id32(ROOT_CONTEXT)))?;
        self.apply_after()?;
        self.settle()?;
        Ok(true)
    }
}
