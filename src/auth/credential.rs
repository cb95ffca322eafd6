//! From what a request carries to a [`Caller`]: the credential in its headers, and who it
//! belongs to.

use ephemail_store::{clock::Clock, Pool};

use super::{api_key, inbox_token::InboxTokens, Caller};
use crate::error::AppError;

/// Who sent `credential`: an API key (`ek_...`), an inbox token, or nothing (anonymous).
pub async fn identify(
    pool: &Pool,
    clock: &dyn Clock,
    inbox_tokens: &InboxTokens,
    credential: Option<&str>,
) -> Result<Caller, AppError> {
    match credential {
        None => Ok(Caller::Anonymous),
        Some(key) if key.starts_with(api_key::PREFIX) => {
            let mut conn = pool.get().await?;
            Ok(api_key::authenticate(&mut conn, key).await?)
        }
        Some(token) => Ok(inbox_tokens
            .verify(token, clock.now())
            .map_or(Caller::Invalid, Caller::InboxToken)),
    }
}

/// The credential of an HTTP request: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
pub fn from_headers(headers: &poem::http::HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(poem::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    bearer
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|value| value.to_str().ok())
        })
        .map(str::trim)
}
