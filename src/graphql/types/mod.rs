//! GraphQL object types, each wrapping a stored row.

pub mod domain;
pub mod inbox;
pub mod message;
pub mod tenant;
pub mod timestamp;

use async_graphql::ID;
use uuid::Uuid;

use crate::error::AppError;

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
