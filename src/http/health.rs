//! Health endpoints, on the HTTP listener and on `--metrics-addr`: `/healthz` (the process is
//! up), `/readyz` (it can do what it is there for) and `/metrics`.

use std::{sync::Arc, time::Duration};

use poem::{
    get, handler,
    http::StatusCode,
    web::{Data, Json},
    Route,
};
use serde_json::{json, Value};

use ephemail_store::{events::EventBus, Pool};

use crate::{config::RoleConfig, telemetry::metrics};

const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/readyz` checks: the database, and for a process serving the API the relay of the
/// other processes' events (without it, mail stored through another process would not wake
/// this one's waits and subscriptions).
#[derive(Clone)]
pub struct Readiness {
    pub pool: Pool,
    pub events: Arc<EventBus>,
    pub roles: RoleConfig,
}

/// `/healthz` and `/readyz` added to `route`, and `/metrics` with `scrape`; their data
/// (`Readiness`, the metrics' `Exposition`) comes from the caller.
pub fn routes(route: Route, scrape: bool) -> Route {
    let route = route
        .at("/healthz", get(healthz))
        .at("/readyz", get(readyz));
    if scrape {
        route.at("/metrics", get(metrics::scrape))
    } else {
        route
    }
}

/// The process is up.
#[handler]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Whether the process can take traffic for its roles, and each check's state, as JSON.
#[handler]
pub async fn readyz(readiness: Data<&Readiness>) -> (StatusCode, Json<Value>) {
    let database = matches!(
        tokio::time::timeout(READY_TIMEOUT, ephemail_store::ping(&readiness.pool)).await,
        Ok(Ok(()))
    );
    let mut checks = serde_json::Map::new();
    checks.insert("database".into(), state(database));
    let mut ready = database;
    if readiness.roles.http() {
        let relaying = readiness.events.is_relaying();
        checks.insert("events".into(), state(relaying));
        ready &= relaying;
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "roles": readiness.roles.names(),
        "checks": checks,
    });
    (status, Json(body))
}

fn state(ok: bool) -> Value {
    Value::from(if ok { "ok" } else { "failing" })
}
