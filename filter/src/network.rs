//! The network filter: one decision per connection, in `on_new_connection`,
//! on TLS SNI (`tls` destinations) or destination address and port (`tcp`).

use std::rc::Rc;

use egress_table::proxy;
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

impl StreamContext for NetworkFilter {
    fn on_new_connection(&mut self) -> Action {
        let Some(loaded) = self.loaded.clone() else {
            self.denied = true;
            let _ = abi::close_downstream();
            return Action::Pause;
        };
        let allowed =
            proxy::decide_connection(&loaded.table, &crate::Attributes, &mut (), |d, _| {
                crate::report(&loaded, &d.decision, &Fields::of(d));
                d.decision.allowed()
            });
        if allowed {
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
