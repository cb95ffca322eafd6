use std::time::Duration;

use poem::{handler, http::StatusCode, web::Data};

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
