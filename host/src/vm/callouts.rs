//! HTTP calls and gRPC calls and streams, answered by the test.
//!
//! Envoy opens gRPC calls and streams on the root context (cpp-host
//! `exports.cc`: `contextOrEffectiveContext()->root_context()`), so every
//! gRPC callback goes to the root context, and the received metadata and
//! message are the root's, readable only while their callback runs. A
//! unary call surfaces only its outcome (`GrpcCallClientHandler`); a stream
//! surfaces everything (`GrpcStreamClientHandler`).

use egress_abi::Status;

use super::Vm;
use super::guest::{call_guest, guest, id32, len32};
use super::http::lower_names;
use crate::error::HostError;
use crate::state::{ROOT_CONTEXT, Restrict};
use crate::types::{GrpcCall, Headers, HttpCall, HttpCallResponse};

impl Vm {
    /// The HTTP calls waiting for an answer.
    pub fn pending_http_calls(&self) -> Vec<HttpCall> {
        self.store.data().http_calls.values().cloned().collect()
    }

    /// Answers an HTTP call: runs `proxy_on_http_call_response` on the root
    /// context, then whatever the filter set off (continuing or answering a
    /// paused stream).
    pub fn answer_http_call(
        &mut self,
        token: u32,
        response: HttpCallResponse,
    ) -> Result<(), HostError> {
        let Some(_call) = self.store.data_mut().http_calls.remove(&token) else {
            return Err(HostError::Usage(format!(
                "no HTTP call with token {token} is waiting"
            )));
        };
        let mut response = response;
        for (k, _) in &mut response.headers {
            k.make_ascii_lowercase();
        }
        let (nh, nb, nt) = (
            len32(response.headers.len()),
            len32(response.body.len()),
            len32(response.trailers.len()),
        );
        self.store.data_mut().http_call_response = Some(response);
        let r = guest!(
            self.on_http_call_response(ROOT_CONTEXT, (id32(ROOT_CONTEXT), id32(token), nh, nb, nt))
        );
        self.store.data_mut().http_call_response = None;
        r?;
        self.apply_after()?;
        self.settle()
    }

    /// Fails an HTTP call as a reset upstream would: `proxy_get_status`
    /// reports BROKEN_CONNECTION "reset" during the callback, which gets no
    /// headers or body.
    pub fn fail_http_call(&mut self, token: u32) -> Result<(), HostError> {
        if self.store.data_mut().http_calls.remove(&token).is_none() {
            return Err(HostError::Usage(format!(
                "no HTTP call with token {token} is waiting"
            )));
        }
        self.store.data_mut().status = (Status::BROKEN_CONNECTION.0, b"reset".to_vec());
        let r = guest!(
            self.on_http_call_response(ROOT_CONTEXT, (id32(ROOT_CONTEXT), id32(token), 0, 0, 0))
        );
        self.store.data_mut().status.1.clear();
        r?;
        self.apply_after()?;
        self.settle()
    }

    /// The gRPC calls and streams waiting for an answer: opened, not
    /// cancelled, not closed by the remote end.
    pub fn pending_grpc_calls(&self) -> Vec<GrpcCall> {
        self.store
            .data()
            .grpc
            .values()
            .filter(|o| !o.remote_closed)
            .map(|o| o.call.clone())
            .collect()
    }

    /// Whether `token` is an open call (false) or stream (true).
    fn grpc_remote(&self, token: u32) -> Result<bool, HostError> {
        self.ready()?;
        match self.store.data().grpc.get(&token) {
            Some(o) if !o.remote_closed => Ok(o.call.stream),
            Some(_) => Err(HostError::Usage(format!(
                "gRPC stream {token} was already closed by the remote end"
            ))),
            None => Err(HostError::Usage(format!(
                "no gRPC call or stream with token {token} is open"
            ))),
        }
    }

    /// The remote end sends initial metadata (for a stream, the response
    /// headers as they came, e.g. `:status` and `content-type`):
    /// `proxy_on_grpc_receive_initial_metadata(root, token, entries)`, with
    /// the map readable as GRPC_RECEIVE_INITIAL_METADATA during the call
    /// (`Context::onGrpcReceiveInitialMetadataWrapper`). A unary call's
    /// metadata never reaches the filter (Envoy's `AsyncRequestImpl` drops
    /// it), so for a call this does nothing.
    pub fn grpc_initial_metadata(
        &mut self,
        token: u32,
        metadata: Headers,
    ) -> Result<(), HostError> {
        self.grpc_metadata(token, metadata, false)
    }

    /// The remote end sends a message. On a stream:
    /// `proxy_on_grpc_receive(root, token, size)` with the message as the
    /// GRPC_RECEIVE_BUFFER during the call (`onReceiveMessageRaw`). A unary
    /// call keeps it as its response (a later message replaces it), which
    /// the filter gets when the call closes with status OK.
    pub fn grpc_message(&mut self, token: u32, message: &[u8]) -> Result<(), HostError> {
        if !self.grpc_remote(token)? {
            if let Some(o) = self.store.data_mut().grpc.get_mut(&token) {
                o.response = Some(message.to_vec());
            }
            return Ok(());
        }
        self.grpc_receive(token, message.to_vec())?;
        self.settle()
    }

    /// `Context::onGrpcReceiveWrapper`: the message is readable during the
    /// callback; a unary call is forgotten afterwards.
    fn grpc_receive(&mut self, token: u32, message: Vec<u8>) -> Result<(), HostError> {
        let args = (id32(ROOT_CONTEXT), id32(token), len32(message.len()));
        self.store.data_mut().grpc_message = Some(message);
        let r = guest!(self.on_grpc_receive(ROOT_CONTEXT, args));
        let st = self.store.data_mut();
        st.grpc_message = None;
        if token & 3 == 1 {
            st.grpc.remove(&token);
        }
        r?;
        self.apply_after()
    }

    /// The remote end sends trailing metadata (for a stream, the response
    /// trailers, e.g. `grpc-status`, `grpc-message`):
    /// `proxy_on_grpc_receive_trailing_metadata(root, token, entries)`, the
    /// map readable as GRPC_RECEIVE_TRAILING_METADATA during the call. As
    /// with initial metadata, a unary call's never reaches the filter.
    pub fn grpc_trailing_metadata(
        &mut self,
        token: u32,
        metadata: Headers,
    ) -> Result<(), HostError> {
        self.grpc_metadata(token, metadata, true)
    }

    /// Initial or trailing metadata on a stream: the map readable as
    /// GRPC_RECEIVE_INITIAL_METADATA or GRPC_RECEIVE_TRAILING_METADATA
    /// only during its callback; nothing reaches the filter for a unary call.
    fn grpc_metadata(
        &mut self,
        token: u32,
        metadata: Headers,
        trailing: bool,
    ) -> Result<(), HostError> {
        if !self.grpc_remote(token)? {
            return Ok(());
        }
        let md = lower_names(&metadata);
        let args = (id32(ROOT_CONTEXT), id32(token), len32(md.len()));
        let st = self.store.data_mut();
        let r = if trailing {
            st.grpc_trailing = Some(md);
            let r = guest!(self.on_grpc_receive_trailing_metadata(ROOT_CONTEXT, args));
            self.store.data_mut().grpc_trailing = None;
            r
        } else {
            st.grpc_initial = Some(md);
            let r = guest!(self.on_grpc_receive_initial_metadata(ROOT_CONTEXT, args));
            self.store.data_mut().grpc_initial = None;
            r
        };
        r?;
        self.apply_after()?;
        self.settle()
    }

    /// The remote end closes with a gRPC status (0 = OK) and message.
    ///
    /// A stream: `proxy_on_grpc_close(root, token, status)`, with
    /// `proxy_get_status` answering the status and message during the call
    /// (the code stays afterwards, the message does not); the stream is
    /// forgotten once the filter closed its side too (`onRemoteClose`,
    /// `onGrpcCloseWrapper`). A unary call (`AsyncRequestImpl::onRemoteClose`):
    /// with OK and a response message, `proxy_on_grpc_receive` with it;
    /// with OK and none, `proxy_on_grpc_close` with INTERNAL (13) and no
    /// message; otherwise `proxy_on_grpc_close` with this status. The call
    /// is forgotten afterwards.
    pub fn grpc_remote_close(
        &mut self,
        token: u32,
        status: u32,
        message: &str,
    ) -> Result<(), HostError> {
        let stream = self.grpc_remote(token)?;
        let st = self.store.data_mut();
        let response = match st.grpc.get_mut(&token) {
            Some(o) if stream => {
                o.remote_closed = true;
                None
            }
            Some(o) => o.response.take(),
            None => None,
        };
        match response {
            Some(r) if status == 0 => self.grpc_receive(token, r)?,
            _ if status == 0 && !stream => self.grpc_close_callback(token, 13, "")?,
            _ => self.grpc_close_callback(token, status, message)?,
        }
        self.settle()
    }

    /// Answers a unary call (or a stream) with one message and status OK:
    /// [`Vm::grpc_message`] then [`Vm::grpc_remote_close`].
    pub fn answer_grpc_call(&mut self, token: u32, message: &[u8]) -> Result<(), HostError> {
        self.grpc_message(token, message)?;
        self.grpc_remote_close(token, 0, "")
    }

    /// `proxy_on_grpc_close` and the clean-up Envoy defers until it returns.
    fn grpc_close_callback(
        &mut self,
        token: u32,
        status: u32,
        message: &str,
    ) -> Result<(), HostError> {
        self.store.data_mut().status = (status, message.as_bytes().to_vec());
        let r = guest!(self.on_grpc_close(
            ROOT_CONTEXT,
            (id32(ROOT_CONTEXT), id32(token), status as i32)
        ));
        let st = self.store.data_mut();
        st.status.1.clear();
        let done = st
            .grpc
            .get(&token)
            .is_some_and(|o| !o.call.stream || o.local_closed);
        if done {
            st.grpc.remove(&token);
        }
        r?;
        self.apply_after()
    }

    /// Declares a cluster that `proxy_http_call`/`proxy_grpc_call` may use.
    pub fn add_cluster(&mut self, name: &str) {
        self.store
            .data_mut()
            .clusters
            .insert(name.as_bytes().to_vec());
    }
}
