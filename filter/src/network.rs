//! The network filter: one decision per connection, in `on_new_connection`,
//! on TLS SNI (`tls` destinations) or destination address and port (`tcp`).

use core::fmt::Write as _;
use std::rc::Rc;

use egress_table::request::{self, Method, Reason};
use egress_table::{Kind, NoHeaders, Request, Sni};
use proxy_wasm::traits::{Context, StreamContext};
use proxy_wasm::types::Action;

use crate::audit::Fields;
use crate::{Loaded, abi};

pub(crate) struct NetworkFilter {
    loaded: Option<Rc<Loaded>>,
    denied: bool,
}

impl NetworkFilter {
    pub(crate) fn new(loaded: Option<Rc<Loaded>>) -> Self {
        Self {
            loaded,
            denied: false,
        }
    }
}

impl Context for NetworkFilter {}

/// Splits Envoy's `destination.address` (`1.2.3.4:443`, `[::1]:443`).
fn split_address(s: &[u8]) -> (Option<core::net::IpAddr>, Option<u16>) {
    let text = core::str::from_utf8(s).unwrap_or("");
    if let Ok(sa) = text.parse::<core::net::SocketAddr>() {
        return (Some(sa.ip()), Some(sa.port()));
    }
    (text.parse().ok(), None)
}

impl StreamContext for NetworkFilter {
    fn on_new_connection(&mut self) -> Action {
        let Some(loaded) = self.loaded.clone() else {
            self.denied = true;
            let _ = abi::close_downstream();
            return Action::Pause;
        };
        let sni_buf = abi::property(b"connection\0requested_server_name")
            .ok()
            .flatten();
        let sni_raw = sni_buf.as_ref().map_or(&[][..], |b| b.as_slice());
        let addr_buf = abi::property(b"destination\0address").ok().flatten();
        let (ip, addr_port) = split_address(addr_buf.as_ref().map_or(&[][..], |b| b.as_slice()));
        let port = addr_port
            .or_else(|| {
                crate::int_property(b"destination\0port").and_then(|p| u16::try_from(p).ok())
            })
            .unwrap_or(0);
        // The address as text, for the log line, in a stack buffer (no allocation).
        let mut ip_text = egress_table::request::TextBuf::new();
        if let Some(i) = ip {
            let _ = write!(ip_text, "{i}");
        }
        let kind = if sni_raw.is_empty() {
            Kind::Tcp
        } else {
            Kind::Tls
        };
        let mut fields = Fields {
            protocol: kind.as_str(),
            host: if kind == Kind::Tls {
                sni_raw
            } else {
                ip_text.as_bytes()
            },
            port,
            ..Fields::default()
        };

        let principal_buf = crate::principal_for_rules(&loaded.table);
        let principal = principal_buf
            .as_ref()
            .map(|b| request::normalize_principal(b.as_slice()));
        fields.principal = principal;
        let sni = request::normalize_host(sni_raw);
        let d = if kind == Kind::Tls && sni.is_none() {
            loaded.table.reject(Reason::InvalidSni)
        } else if kind == Kind::Tcp && ip.is_none() {
            loaded.table.reject(Reason::NoDestination)
        } else {
            let host = sni.as_ref().map_or(&[][..], |h| h.as_bytes());
            if kind == Kind::Tls {
                fields.host = host;
            }
            loaded.table.decide(&Request {
                kind,
                host,
                port,
                method: Method::OTHER,
                path: None,
                principal,
                sni: Sni::Absent,
                dst_ip: ip,
                headers: &NoHeaders,
            })
        };
        crate::report(&loaded, &d, &fields);
        if d.allowed() {
            return Action::Continue;
        }
        self.denied = true;
        if let Err(s) = abi::close_downstream() {
            abi::log(
                abi::LOG_ERROR,
                format!(
                    "egress: could not close the denied connection (status {})",
                    s.0
                )
                .as_bytes(),
            );
        }
        Action::Pause
    }

    fn on_downstream_data(&mut self, _data_size: usize, _end_of_stream: bool) -> Action {
        // A denied connection forwards nothing, even if the close is still in flight.
        if self.denied {
            Action::Pause
        } else {
            Action::Continue
        }
    }
}
