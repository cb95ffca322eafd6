//! The GraphQL API: [`schema`] puts together [`query`], [`mutation`] and [`subscription`] and the
//! object [`types`] they return; resolvers find the API's handles and the caller through
//! [`context`]. [`feed`] is the lossless "next message after a cursor" reader shared by
//! subscriptions and `waitForMessage`; [`lookup`] finds (or waits for) the inbox an id or
//! address names. [`observe`] counts, times and traces every operation.

pub mod context;
pub mod feed;
pub mod field_order;
pub mod limits;
pub mod loader;
pub mod lookup;
pub mod mutation;
pub mod null_propagation;
pub mod observe;
pub mod query;
pub mod schema;
mod selection;
pub mod subscription;
pub mod types;
