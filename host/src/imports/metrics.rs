//! Metrics: define, increment, record and read counters, gauges and
//! histograms, with Envoy's ids and rules.

use egress_abi::{MetricKind, Status};
use wasmtime::Linker;

use super::{enum_arg, proxy_fn};
use crate::memory::{self, try_abi, write_u32, write_u64};
use crate::shared::MetricIds;
use crate::state::HostState;

/// Registers the metric imports.
pub(super) fn link(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    proxy_fn!(
        linker,
        "proxy_define_metric",
        |c, ty: i32, np: i32, nl: i32, idp: i32| {
            let (data, st) = try_abi!(memory::split(&mut c));
            let name = try_abi!(memory::slice(data, np, nl));
            let kind = try_abi!(enum_arg(ty, MetricKind::from_raw));
            let name = String::from_utf8_lossy(name).into_owned();
            let id = st.metric_ids.define(&st.metrics, kind, &name);
            Ok(write_u32(&mut c, idp, id))
        }
    );
    proxy_fn!(
        linker,
        "proxy_increment_metric",
        |c, id: i32, offset: i64| {
            let id = id as u32;
            let st = c.data();
            // `Context::incrementMetric`.
            let r = match MetricIds::kind_of(id) {
                Some(MetricKind::Counter) => match st.metric_ids.get(id) {
                    Some(m) if offset > 0 => {
                        m.add(offset.unsigned_abs());
                        Ok(())
                    }
                    Some(_) => Err(Status::BAD_ARGUMENT),
                    None => Err(Status::NOT_FOUND),
                },
                Some(MetricKind::Gauge) => match st.metric_ids.get(id) {
                    Some(m) => {
                        if offset > 0 {
                            m.add(offset.unsigned_abs());
                        } else {
                            m.sub(offset.unsigned_abs());
                        }
                        Ok(())
                    }
                    None => Err(Status::NOT_FOUND),
                },
                _ => Err(Status::BAD_ARGUMENT),
            };
            Ok(r)
        }
    );
    proxy_fn!(linker, "proxy_record_metric", |c, id: i32, value: i64| {
        let id = id as u32;
        let value = value as u64;
        // `Context::recordMetric`: a counter adds, a gauge sets, a histogram records.
        let r = match (MetricIds::kind_of(id), c.data().metric_ids.get(id)) {
            (Some(MetricKind::Counter), Some(m)) => {
                m.add(value);
                Ok(())
            }
            (Some(MetricKind::Gauge), Some(m)) => {
                m.set(value);
                Ok(())
            }
            (Some(MetricKind::Histogram), Some(m)) => {
                m.record(value);
                Ok(())
            }
            _ => Err(Status::NOT_FOUND),
        };
        Ok(r)
    });
    proxy_fn!(linker, "proxy_get_metric", |c, id: i32, ret: i32| {
        let id = id as u32;
        let value = match MetricIds::kind_of(id) {
            Some(MetricKind::Counter | MetricKind::Gauge) => match c.data().metric_ids.get(id) {
                Some(m) => m.get(),
                None => return Ok(Err(Status::NOT_FOUND)),
            },
            _ => return Ok(Err(Status::BAD_ARGUMENT)),
        };
        Ok(write_u64(&mut c, ret, value))
    });
    Ok(())
}
