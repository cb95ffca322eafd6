//! Errors a client sees, and the one place they are mapped to GraphQL errors.
//!
//! Every GraphQL error carries `extensions.code` from a fixed list ([`ErrorCode`]). Internal
//! details are logged here and never returned.

use async_graphql::ErrorExtensions;

use crate::scope::Scope;
use ephemail_store::PoolError;

/// The `extensions.code` values clients can rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Malformed input: a bad argument, an unparsable query, a failed validation.
    BadUserInput,
    /// No valid credentials: a missing, unknown or revoked API key.
    Unauthenticated,
    /// Valid credentials without the scope the operation needs.
    Forbidden,
    /// Over a quota; `extensions.retryAfter` says in how many seconds to try again.
    QuotaExceeded,
    /// A wait ended without a result (`waitForMessage`).
    Timeout,
    /// The object does not exist (or the caller may not know that it does).
    NotFound,
    /// A bug or an unavailable dependency; details are in the server log.
    Internal,
}

impl ErrorCode {
    const ALL: [Self; 7] = [
        Self::BadUserInput,
        Self::NotFound,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::QuotaExceeded,
        Self::Timeout,
        Self::Internal,
    ];

    /// The code of an error in a response: errors raised by async-graphql itself have none and
    /// are `BAD_USER_INPUT` (see [`ensure_error_codes`]); a code not in the list would be a bug.
    pub fn of(error: &async_graphql::ServerError) -> Self {
        match error.extensions.as_ref().and_then(|ext| ext.get("code")) {
            None => Self::BadUserInput,
            Some(async_graphql::Value::String(code)) => Self::ALL
                .into_iter()
                .find(|known| known.as_str() == code)
                .unwrap_or(Self::Internal),
            Some(_) => Self::Internal,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::Timeout => "TIMEOUT",
            Self::Internal => "INTERNAL",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    BadUserInput(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(
        "a valid API key or inbox token is required (Authorization: Bearer ..., or X-API-Key)"
    )]
    Unauthenticated,
    #[error(
        "this needs an API key with the `{0}` scope (an inbox token only reads its own inbox)"
    )]
    Forbidden(Scope),
    #[error("over the {what} quota; retry in {retry_after} s")]
    QuotaExceeded {
        what: &'static str,
        retry_after: u64,
    },
    #[error("no matching message arrived within {0} ms")]
    Timeout(u64),
    #[error("the operation ran longer than its limit of {0} s")]
    OperationTimeout(u64),
    #[error("internal server error")]
    Internal(#[source] anyhow::Error),
}

impl AppError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadUserInput(_) => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::Timeout(_) | Self::OperationTimeout(_) => ErrorCode::Timeout,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Internal(error.into())
    }
}

impl From<PoolError> for AppError {
    fn from(error: PoolError) -> Self {
        Self::Internal(error.into())
    }
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        if let Self::Internal(source) = self {
            tracing::error!(error = format!("{source:#}"), "internal error");
        }
        let code = self.code();
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Self::QuotaExceeded { retry_after, .. } = self {
                ext.set("retryAfter", *retry_after);
            }
        })
    }
}

impl AppError {
    /// This error as a response's error that no place in the document caused (a refused
    /// request, a limit): without `locations`, which would otherwise say line 0.
    pub fn server_error(&self) -> async_graphql::ServerError {
        let mut error = self
            .extend()
            .into_server_error(async_graphql::Pos::default());
        error.locations.clear();
        error
    }
}

/// Turns any error we map into a GraphQL error with its code: `query().await.api()?`.
/// (A bare `?` would use async-graphql's blanket conversion, which has no code and would
/// expose the internal message.)
pub trait ApiResult<T> {
    fn api(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<AppError>> ApiResult<T> for Result<T, E> {
    fn api(self) -> async_graphql::Result<T> {
        self.map_err(|error| error.into().extend())
    }
}

/// Gives errors raised by async-graphql itself (syntax, validation, unknown fields) the
/// `BAD_USER_INPUT` code, so that every error a client sees has one.
pub fn ensure_error_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::BadUserInput.as_str());
        }
    }
}
