use super::timestamp::Timestamp;
use async_graphql::{Enum, Object};

use ephemail_store::models::domain as model;

/// How a domain decides which recipients exist.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "ephemail_store::models::domain::DomainMode")]
pub enum DomainMode {
    /// Any local part receives mail; its inbox is created by the first mail.
    CatchAll,
    /// Only inboxes created through the API receive mail; others get `550 5.1.1`.
    Registered,
}

/// A domain ephemail receives mail for.
pub struct Domain(pub model::Domain);

#[Object]
impl Domain {
    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn mode(&self) -> DomainMode {
        self.0.mode.into()
    }

    async fn created_at(&self) -> Timestamp {
        self.0.created_at.into()
    }
}
