//! The process's Prometheus registry. Each part registers its own series when it is built (the
//! sweeper, delivery, the SMTP edge, the API), so a test's server counts only its own; `GET
//! /metrics` encodes them all in the Prometheus text format (0.0.4).
//!
//! Labels are bounded: reply classes and reasons, operation names from the schema, error codes.
//! No address, tenant or message id is ever a label.

use std::sync::Arc;

use poem::{handler, web::Data};
use prometheus_client::{
    encoding::{prometheus_text, EncodeLabelSet},
    metrics::{family::Family, gauge::Gauge},
    registry::Registry,
};

/// One unit of a gauge for as long as it is held (an open connection, a running subscription):
/// the gauge goes down again when it is dropped, however its holder ends.
pub struct GaugeHold(Gauge);

impl GaugeHold {
    pub fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for GaugeHold {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The registry once every part has registered into it.
#[derive(Debug, Clone)]
pub struct Exposition(Arc<Registry>);

impl Exposition {
    pub fn new(registry: Registry) -> Self {
        Self(Arc::new(registry))
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an encoder error would be a bug in a collector.
        if let Err(error) = prometheus_text::encode(&mut text, &self.0) {
            tracing::error!(%error, "encoding the metrics failed");
        }
        text
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// `ephemail_build_info{version} 1`, so dashboards can tell the versions of a fleet apart.
pub fn register_build_info(registry: &mut Registry) {
    let info = Family::<BuildLabels, Gauge>::default();
    info.get_or_create(&BuildLabels {
        version: env!("CARGO_PKG_VERSION"),
    })
    .set(1);
    registry.register(
        "ephemail_build_info",
        "The running ephemail's version (always 1)",
        info,
    );
}

/// Prometheus text exposition of every series of this process.
#[handler]
pub async fn scrape(exposition: Data<&Exposition>) -> poem::Response {
    poem::Response::builder()
        .content_type(prometheus_text::CONTENT_TYPE)
        .body(exposition.encode())
}
