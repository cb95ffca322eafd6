use std::time::Duration;

use diesel_async::RunQueryDsl;
use poem::{handler, http::StatusCode, web::Data};

use crate::app::App;

const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up.
#[handler]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The database answers: the instance can take traffic.
#[handler]
pub async fn readyz(app: Data<&App>) -> (StatusCode, &'static str) {
    let check = async {
        let mut conn = app.pool.get().await.ok()?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await.ok()
    };
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Some(_)) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}

/// Prometheus text exposition of this process's sweeper: runs, failures, the last run, and the
/// rows it deleted.
#[handler]
pub async fn metrics(app: Data<&App>) -> poem::Response {
    let totals = app.sweeper.totals();
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
