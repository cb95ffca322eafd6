use std::{sync::Arc, time::Duration};

use poem::{handler, http::StatusCode, web::Data};

use ephemail_store::retention::Sweeper;

use crate::api::Api;

const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up.
#[handler]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers: the instance can take traffic.
#[handler]
pub async fn readyz(app: Data<&Api>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(READY_TIMEOUT, ephemail_store::ping(&app.pool)).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// Prometheus text exposition of this process's sweeper: runs, failures, the last run, and the
/// rows it deleted.
#[handler]
pub async fn metrics(sweeper: Data<&Arc<Sweeper>>) -> poem::Response {
    let totals = sweeper.totals();
    let last_run = totals.last_run_at.map_or(0, |at| at.timestamp());
    let deleted = totals.deleted;
    let body = format!(
        "# HELP ephemail_sweeper_runs_total Sweeps this process ran.\n\
         # TYPE ephemail_sweeper_runs_total counter\n\
         ephemail_sweeper_runs_total {runs}\n\
         # HELP ephemail_sweeper_failures_total Sweeps that failed.\n\
         # TYPE ephemail_sweeper_failures_total counter\n\
         ephemail_sweeper_failures_total {failures}\n\
         # HELP ephemail_sweeper_last_run_timestamp_seconds When the last sweep finished (0: never).\n\
         # TYPE ephemail_sweeper_last_run_timestamp_seconds gauge\n\
         ephemail_sweeper_last_run_timestamp_seconds {last_run}\n\
         # HELP ephemail_sweeper_deleted_total Rows the sweeper deleted.\n\
         # TYPE ephemail_sweeper_deleted_total counter\n\
         ephemail_sweeper_deleted_total{{kind=\"inbox\"}} {inboxes}\n\
         ephemail_sweeper_deleted_total{{kind=\"message\"}} {messages}\n\
         ephemail_sweeper_deleted_total{{kind=\"raw_source\"}} {raw_sources}\n\
         # HELP ephemail_sweeper_buckets_dropped_total Expiry buckets the sweeper dropped whole.\n\
         # TYPE ephemail_sweeper_buckets_dropped_total counter\n\
         ephemail_sweeper_buckets_dropped_total {buckets}\n",
        runs = totals.runs,
        failures = totals.failures,
        inboxes = deleted.inboxes,
        messages = deleted.messages,
        raw_sources = deleted.raw_sources,
        buckets = deleted.buckets,
    );
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(body)
}
