//! TCP connections: the network filter's callbacks for a connection and
//! the data in both directions.

use egress_abi::{Action, PeerType};

use super::guest::{call_guest, guest, id32, len32};
use super::{Finished, Flow, Vm};
use crate::error::HostError;
use crate::state::{Kind, Peer, ROOT_CONTEXT, Restrict};
use crate::types::{Connection, ConnectionOutcome, StreamId};

/// The direction of data on a TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TcpDir {
    /// From the client (`proxy_on_downstream_data`).
    Downstream,
    /// From the upstream (`proxy_on_upstream_data`).
    Upstream,
}

/// A TCP connection in flight: who closed which side, whether the filter
/// holds data, and its outcome so far.
#[derive(Debug, Default)]
pub(super) struct TcpFlow {
    pub(super) close_pending: bool,
    pub(super) closed: bool,
    pub(super) down_closed: bool,
    pub(super) up_closed: bool,
    pub(super) data_held: bool,
    pub(super) out: ConnectionOutcome,
}

impl Vm {
    /// Runs one whole TCP connection: new connection, the client's data,
    /// then the client closes (unless the filter closed it first).
    pub fn connection(&mut self, conn: &Connection) -> Result<ConnectionOutcome, HostError> {
        let id = self.tcp_start(conn)?;
        if self.is_finished(id) {
            return self.tcp_outcome(id);
        }
        self.tcp_close(id, PeerType::Remote)
    }

    /// Opens a connection: `proxy_on_context_create`,
    /// `proxy_on_new_connection`, and the client's first data if any.
    pub fn tcp_start(&mut self, conn: &Connection) -> Result<StreamId, HostError> {
        self.ready()?;
        let st = self.store.data_mut();
        let ctx = st.open_stream(Kind::Tcp, conn.properties.clone(), |_| Peer {
            source: conn.source,
            destination: conn.destination,
            sni: conn.sni.clone().unwrap_or_default(),
            ..Peer::default()
        });
        if let Some(s) = st.stream_mut(ctx) {
            s.created = true;
        }
        self.flows.insert(ctx, Flow::Tcp(TcpFlow::default()));
        guest!(self.on_context_create(ctx, (id32(ctx), id32(ROOT_CONTEXT))))?;
        self.apply_after()?;
        let raw = guest!(self.on_new_connection(ctx, id32(ctx)))?.unwrap_or(0);
        self.store.data_mut().stop_iteration = false;
        if let Some(Flow::Tcp(f)) = self.flows.get_mut(&ctx) {
            f.out.action = Some(Action::from_raw(raw as u32));
        }
        self.apply_after()?;
        self.settle()?;
        if !conn.downstream_data.is_empty() && !self.is_finished(StreamId(ctx)) {
            self.tcp_downstream_data(StreamId(ctx), &conn.downstream_data, false)?;
        }
        Ok(StreamId(ctx))
    }

    pub(super) fn tcp_forward_held(&mut self, ctx: u32) {
        let held = match self.flows.get_mut(&ctx) {
            Some(Flow::Tcp(f)) if f.data_held && !f.closed => {
                f.data_held = false;
                true
            }
            _ => false,
        };
        if !held {
            return;
        }
        let data = self.store.data_mut().stream_mut(ctx).map(|s| {
            s.down_live = false;
            std::mem::take(&mut s.down_data)
        });
        if let (Some(Flow::Tcp(f)), Some(d)) = (self.flows.get_mut(&ctx), data) {
            f.out.upstream_data.extend_from_slice(&d);
        }
    }

    /// The client sends data: `proxy_on_downstream_data`. Data the filter
    /// holds (Pause) stays in the connection's buffer and is delivered
    /// again with the next data, as Envoy's read buffer does.
    pub fn tcp_downstream_data(
        &mut self,
        id: StreamId,
        data: &[u8],
        end_of_stream: bool,
    ) -> Result<Option<Action>, HostError> {
        self.tcp_data(id, TcpDir::Downstream, data, end_of_stream)
    }

    /// The upstream sends data back: `proxy_on_upstream_data`; with
    /// `end_of_stream` also `proxy_on_upstream_connection_close(UNKNOWN)`
    /// (Envoy's `Context::onWrite`).
    pub fn tcp_upstream_data(
        &mut self,
        id: StreamId,
        data: &[u8],
        end_of_stream: bool,
    ) -> Result<Option<Action>, HostError> {
        self.tcp_data(id, TcpDir::Upstream, data, end_of_stream)
    }

    /// `Context::onData` and `Context::onWrite`: the data buffer is the
    /// filter's until the callback returns Continue. `None` once the
    /// connection is closed.
    fn tcp_data(
        &mut self,
        id: StreamId,
        dir: TcpDir,
        data: &[u8],
        end_of_stream: bool,
    ) -> Result<Option<Action>, HostError> {
        let ctx = id.0;
        match self.flows.get(&ctx) {
            Some(Flow::Tcp(f)) if !f.closed => {}
            Some(Flow::Tcp(_)) => return Ok(None),
            _ => {
                return Err(HostError::Usage(format!(
                    "no TCP connection {ctx} in flight"
                )));
            }
        }
        let n = match self.store.data_mut().stream_mut(ctx) {
            Some(s) => {
                s.end_of_stream = end_of_stream;
                let (buf, live) = match dir {
                    // Held data is still in the read buffer: new data joins it.
                    TcpDir::Downstream => (&mut s.down_data, &mut s.down_live),
                    // The write path has no continue (`ConnectionImpl::write`):
                    // each write starts afresh.
                    TcpDir::Upstream => {
                        s.up_data.clear();
                        (&mut s.up_data, &mut s.up_live)
                    }
                };
                buf.extend_from_slice(data);
                *live = true;
                buf.len()
            }
            None => 0,
        };
        let args = (id32(ctx), len32(n), i32::from(end_of_stream));
        let raw = match dir {
            TcpDir::Downstream => guest!(self.on_downstream_data(ctx, args)),
            TcpDir::Upstream => guest!(self.on_upstream_data(ctx, args)),
        }?
        .unwrap_or(0);
        self.store.data_mut().stop_iteration = false;
        let action = Action::from_raw(raw as u32);
        if dir == TcpDir::Downstream
            && let Some(Flow::Tcp(f)) = self.flows.get_mut(&ctx)
        {
            f.out.data_action = Some(action);
            f.data_held = true;
        }
        self.apply_after()?;
        if raw == 0 {
            match dir {
                TcpDir::Downstream => self.tcp_forward_held(ctx),
                TcpDir::Upstream => {
                    if let Some(s) = self.store.data_mut().stream_mut(ctx) {
                        s.up_live = false;
                    }
                }
            }
        }
        if dir == TcpDir::Upstream && end_of_stream {
            guest!(
                self.on_upstream_connection_close(ctx, (id32(ctx), PeerType::Unknown.raw() as i32))
            )?;
            self.apply_after()?;
            if let Some(Flow::Tcp(f)) = self.flows.get_mut(&ctx) {
                f.up_closed = true;
            }
        }
        self.settle()?;
        Ok(Some(action))
    }

    /// The connection closes (`peer`: who closed it) and the filter's
    /// context ends: `proxy_on_downstream_connection_close`, `proxy_on_done`,
    /// `proxy_on_log`, `proxy_on_delete`.
    pub fn tcp_close(
        &mut self,
        id: StreamId,
        peer: PeerType,
    ) -> Result<ConnectionOutcome, HostError> {
        if self.is_finished(id) {
            return self.tcp_outcome(id);
        }
        match self.flows.get(&id.0) {
            Some(Flow::Tcp(_)) => {}
            _ => {
                return Err(HostError::Usage(format!(
                    "no TCP connection {} in flight",
                    id.0
                )));
            }
        }
        self.tcp_close_inner(id.0, peer)?;
        self.settle()?;
        self.tcp_outcome(id)
    }

    fn tcp_outcome(&mut self, id: StreamId) -> Result<ConnectionOutcome, HostError> {
        match self.finished.remove(&id.0) {
            Some(Finished::Tcp(o)) => Ok(o),
            _ => Err(HostError::Usage(format!(
                "TCP connection {} has not finished",
                id.0
            ))),
        }
    }

    pub(super) fn tcp_close_inner(&mut self, ctx: u32, peer: PeerType) -> Result<(), HostError> {
        if let Some(Flow::Tcp(f)) = self.flows.get_mut(&ctx) {
            f.down_closed = true;
        }
        guest!(self.on_downstream_connection_close(ctx, (id32(ctx), peer.raw() as i32)))?;
        self.apply_after()?;
        // `Context::onCloseTCP`.
        guest!(self.on_done(ctx, id32(ctx)))?;
        self.apply_after()?;
        guest!(self.on_log(ctx, id32(ctx)))?;
        self.apply_after()?;
        if let Some((s, Flow::Tcp(mut f))) = self.delete_context(ctx)? {
            f.out.logs = self.logs_of(&s);
            f.out.filter_state = s.fs_writes;
            self.finished.insert(ctx, Finished::Tcp(f.out));
        }
        Ok(())
    }
}
