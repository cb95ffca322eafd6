//! The one error type of the client.

use std::fmt;

/// The server's fixed set of `extensions.code` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadUserInput,
    Unauthenticated,
    Forbidden,
    NotFound,
    QuotaExceeded,
    Timeout,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::Timeout => "TIMEOUT",
            Self::Internal => "INTERNAL",
        }
    }

    fn parse(code: &str) -> Self {
        match code {
            "BAD_USER_INPUT" => Self::BadUserInput,
            "UNAUTHENTICATED" => Self::Unauthenticated,
            "FORBIDDEN" => Self::Forbidden,
            "NOT_FOUND" => Self::NotFound,
            "QUOTA_EXCEEDED" => Self::QuotaExceeded,
            "TIMEOUT" => Self::Timeout,
            _ => Self::Internal,
        }
    }

    fn of_http_status(status: u16) -> Self {
        match status {
            400 => Self::BadUserInput,
            401 => Self::Unauthenticated,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            429 => Self::QuotaExceeded,
            _ => Self::Internal,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A GraphQL error, a refused download, a mutation with another outcome than asked for, or a
/// transport failure (`INTERNAL`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds to wait before retrying, with `QUOTA_EXCEEDED`.
    pub retry_after: Option<u64>,
    /// The payload's `status` when a mutation had another outcome (`ADDRESS_TAKEN`).
    pub status: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None, status: None }
    }

    pub(crate) fn with_status(mut self, status: impl fmt::Debug) -> Self {
        self.status = Some(screaming_snake_case(&format!("{status:?}")));
        self
    }

    pub(crate) fn from_graphql(error: &cynic::GraphQlError<serde_json::Value>) -> Self {
        let extensions = error.extensions.as_ref();
        let code = extensions
            .and_then(|extensions| extensions.get("code"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("INTERNAL");
        Self {
            retry_after: extensions
                .and_then(|extensions| extensions.get("retryAfter"))
                .and_then(serde_json::Value::as_u64),
            ..Self::new(ErrorCode::parse(code), error.message.clone())
        }
    }

    pub(crate) fn from_http_status(status: u16, what: &str, retry_after: Option<u64>) -> Self {
        Self {
            retry_after,
            ..Self::new(ErrorCode::of_http_status(status), format!("{what}: HTTP {status}"))
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(error: reqwest::Error) -> Self {
        Self::new(ErrorCode::Internal, format!("request failed: {error}"))
    }
}

/// `AddressTaken` as the server spells it: `ADDRESS_TAKEN`.
fn screaming_snake_case(name: &str) -> String {
    let mut spelled = String::with_capacity(name.len() + 4);
    for (index, c) in name.chars().enumerate() {
        if c.is_uppercase() && index > 0 {
            spelled.push('_');
        }
        spelled.push(c.to_ascii_uppercase());
    }
    spelled
}
