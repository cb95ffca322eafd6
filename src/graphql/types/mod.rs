//! GraphQL object types, each wrapping a stored row.

pub mod domain;
pub mod mail;
pub mod tenant;
pub mod timestamp;
pub mod webhook;

use async_graphql::{CustomValidator, InputValueError, ID};
use uuid::Uuid;

use crate::error::AppError;

/// Text that PostgreSQL can store: it refuses NUL (U+0000) in text, which would otherwise come
/// back as an `INTERNAL` error instead of a clear `BAD_USER_INPUT`.
pub struct StorableText;

impl CustomValidator<String> for StorableText {
    fn check(&self, value: &String) -> Result<(), InputValueError<String>> {
        if value.contains('\0') {
            Err(InputValueError::custom("text may not contain NUL (U+0000)"))
        } else {
            Ok(())
        }
    }
}

/// Parses a GraphQL `ID` as one of our UUIDs.
pub fn parse_id(id: &ID) -> Result<Uuid, AppError> {
    Uuid::parse_str(id)
        .map_err(|_| AppError::BadUserInput(format!("`{}` is not a valid ID", id.as_str())))
}

/// Expected outcome of a delete mutation.
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteStatus {
    Deleted,
    /// Nothing with that id exists (any more).
    NotFound,
}

impl From<bool> for DeleteStatus {
    fn from(deleted: bool) -> Self {
        if deleted {
            Self::Deleted
        } else {
            Self::NotFound
        }
    }
}
