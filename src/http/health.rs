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
