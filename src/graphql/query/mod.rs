//! Read-only entry points.

mod domain;
mod inbox;
mod message;
mod viewer;
mod webhook;

#[derive(async_graphql::MergedObject, Default)]
pub struct Query(
    inbox::InboxQuery,
    message::MessageQuery,
    domain::DomainQuery,
    viewer::ViewerQuery,
    webhook::WebhookQuery,
);
