//! The API request quota at the HTTP edge: per tenant, and per client IP address for callers
//! without one and public mode's visitors. `429 Too Many Requests` with `Retry-After` past it,
//! and `X-RateLimit-*` headers on every answer.

use std::net::IpAddr;

use poem::{
    http::{HeaderValue, StatusCode},
    IntoResponse, Response,
};

use crate::{api::Api, auth::Caller, error::AppError, telemetry::api::RateLimit};
use ephemail_store::models::quota::{self, QuotaKind, RateDecision};

/// Takes one request from the caller's tenant bucket (a refusal is counted). Callers without a
/// tenant (no credentials, or ones that do not work) and public mode's visitors (with their
/// inboxes' tokens, of the `public` tenant) take from their client IP address's instead: one
/// `public` bucket would be shared by every visitor of the site. `None` only for those without
/// a known address.
pub async fn take(
    app: &Api,
    caller: &Caller,
    ip: Option<IpAddr>,
) -> Result<Option<RateDecision>, AppError> {
    let public_tenant = app.public_inboxes.as_ref().map(|public| public.tenant_id);
    let tenant_id = match caller.tenant_id() {
        Some(tenant_id) if Some(tenant_id) != public_tenant => tenant_id,
        _ => {
            let decision = ip.map(|ip| app.per_address_requests.take(ip));
            if decision.is_some_and(|decision| !decision.allowed) {
                app.metrics.rate_limited(RateLimit::ApiRequests);
            }
            return Ok(decision);
        }
    };
    let mut conn = app.pool.get().await?;
    let default_limit = app.config.quota.quota_requests_per_minute;
    let decision =
        quota::take_request(&mut conn, tenant_id, default_limit, app.clock.now()).await?;
    if !decision.allowed {
        app.metrics.rate_limited(RateLimit::ApiRequests);
        app.quota_refusals.refused(QuotaKind::RequestsPerMinute);
    }
    Ok(Some(decision))
}

/// Adds `X-RateLimit-Limit`, `-Remaining` and `-Reset` (seconds until the bucket is full).
pub fn with_headers(response: impl IntoResponse, decision: Option<RateDecision>) -> Response {
    let mut response = response.into_response();
    if let Some(decision) = decision {
        let headers = response.headers_mut();
        for (name, value) in [
            ("x-ratelimit-limit", i64::from(decision.limit)),
            ("x-ratelimit-remaining", decision.remaining),
            ("x-ratelimit-reset", decision.reset_seconds as i64),
        ] {
            headers.insert(name, HeaderValue::from(value));
        }
    }
    response
}

/// The 429 answer, with `Retry-After` and the GraphQL error body (`QUOTA_EXCEEDED`).
pub fn too_many_requests(decision: RateDecision) -> Response {
    let error = AppError::QuotaExceeded {
        what: "API requests per minute",
        retry_after: decision.retry_after,
    };
    let body = serde_json::json!({
        "data": null,
        "errors": [{
            "message": error.to_string(),
            "extensions": { "code": error.code().as_str(), "retryAfter": decision.retry_after },
        }],
    });
    let response = Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header("retry-after", decision.retry_after)
        .content_type("application/json")
        .body(body.to_string());
    with_headers(response, Some(decision))
}
