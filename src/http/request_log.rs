//! The request log: one span per request with its id, method, path and query, and one line
//! with the answer. poem's own `Tracing` middleware logs the full URI, and a download URL
//! carries an inbox token in `?token=`; here every credential in a query is written as
//! `[redacted]`.
//!
//! Every response carries the request's id in `X-Request-Id`, as does every log line written
//! while it is served: a proxy's id when the request came with one that is a short token (so
//! one id follows a request through both logs), else a new one.

use std::{sync::Arc, time::Instant};

use ipnet::IpNet;
use poem::{http::HeaderValue, Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;
use uuid::Uuid;

const REQUEST_ID: &str = "x-request-id";

/// The longest request id taken from a proxy.
const MAX_REQUEST_ID_LEN: usize = 64;

/// Query parameters whose values are credentials, whatever they hold.
const CREDENTIAL_PARAMETERS: [&str; 6] = [
    "token",
    "apikey",
    "api_key",
    "access_token",
    "key",
    "authorization",
];

/// With the `--trusted-proxies`, to log the client's address behind them.
pub struct RequestLog(pub Arc<[IpNet]>);

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestLogEndpoint {
            inner,
            trusted_proxies: self.0.clone(),
        }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
    trusted_proxies: Arc<[IpNet]>,
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> Result<Self::Output> {
        let request_id = request_id(&request);
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            remote_addr = %request.remote_addr(),
            client_ip = super::client_ip::client_ip(&request, &self.trusted_proxies)
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            method = %request.method(),
            path = %request.uri().path(),
            query = request.uri().query().map(redacted_query).unwrap_or_default(),
        );
        async move {
            let started = Instant::now();
            let result = self.inner.call(request).await;
            let duration = started.elapsed();
            let mut response = match result {
                Ok(response) => {
                    let response = response.into_response();
                    tracing::info!(status = %response.status(), ?duration, "response");
                    response
                }
                Err(error) => {
                    tracing::info!(status = %error.status(), %error, ?duration, "error");
                    error.into_response()
                }
            };
            // Always a valid header value: a uuid, or an id `is_request_id` let through.
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert(REQUEST_ID, value);
            }
            Ok(response)
        }
        .instrument(span)
        .await
    }
}

/// The proxy's `X-Request-Id` if it is a request id, or a new one.
fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_request_id(id))
        .map_or_else(|| Uuid::new_v4().simple().to_string(), str::to_owned)
}

/// A short token of letters, digits and `-_.:` that is not a credential: it is logged.
fn is_request_id(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        && !looks_like_a_credential(id)
}

/// `query` with the value of every credential parameter, and of anything that looks like an
/// API key or a JWT under another name, replaced by `[redacted]`.
pub fn redacted_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let credential = CREDENTIAL_PARAMETERS
                .iter()
                .any(|parameter| name.eq_ignore_ascii_case(parameter))
                || looks_like_a_credential(value);
            if credential {
                format!("{name}=[redacted]")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// An API key (`ek_...`) or a JWT (base64url of `{"...`), also percent-encoded or after
/// `Bearer`.
fn looks_like_a_credential(value: &str) -> bool {
    let value = value
        .trim_start_matches("Bearer")
        .trim_start_matches("%20")
        .trim_start_matches('+');
    value.starts_with(crate::auth::api_key::PREFIX) || value.starts_with("eyJ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_queries_are_redacted() {
        assert_eq!(
            redacted_query("token=eyJhbGciOi.x.y&download=1"),
            "token=[redacted]&download=1"
        );
        assert_eq!(redacted_query("TOKEN=abc"), "TOKEN=[redacted]");
        assert_eq!(
            redacted_query("x=ek_secret&api_key=1"),
            "x=[redacted]&api_key=[redacted]"
        );
        assert_eq!(redacted_query("auth=Bearer%20eyJabc"), "auth=[redacted]");
        assert_eq!(redacted_query("page=2&sort"), "page=2&sort");
    }

    #[test]
    fn only_short_tokens_that_are_no_credentials_are_request_ids() {
        assert!(is_request_id("0af7651916cd43dd8448eb211c80319c"));
        assert!(is_request_id("req-42.proxy:1_a"));
        for refused in [
            "",
            "has space",
            "line\nbreak",
            "ek_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
            &"a".repeat(MAX_REQUEST_ID_LEN + 1),
        ] {
            assert!(!is_request_id(refused), "{refused}");
        }
    }
}
