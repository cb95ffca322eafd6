//! The request log: one span per request with its method, path and query, and one line with
//! the answer. poem's own `Tracing` middleware logs the full URI, and a download URL carries an
//! inbox token in `?token=`; here every credential in a query is written as `[redacted]`.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use tracing::Instrument;

/// Query parameters whose values are credentials, whatever they hold.
const CREDENTIAL_PARAMETERS: [&str; 6] = [
    "token",
    "apikey",
    "api_key",
    "access_token",
    "key",
    "authorization",
];

pub struct RequestLog;

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestLogEndpoint { inner }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, request: Request) -> Result<Self::Output> {
        let span = tracing::info_span!(
            "request",
            remote_addr = %request.remote_addr(),
            method = %request.method(),
            path = %request.uri().path(),
            query = request.uri().query().map(redacted_query).unwrap_or_default(),
        );
        async move {
            let started = Instant::now();
            let result = self.inner.call(request).await;
            let duration = started.elapsed();
            match result {
                Ok(response) => {
                    let response = response.into_response();
                    tracing::info!(status = %response.status(), ?duration, "response");
                    Ok(response)
                }
                Err(error) => {
                    tracing::info!(status = %error.status(), %error, ?duration, "error");
                    Err(error)
                }
            }
        }
        .instrument(span)
        .await
    }
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
}
