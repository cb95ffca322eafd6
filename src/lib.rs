//! ephemail: disposable email for developers.
//!
//! This crate is the edge and the API over two others: `ephemail-mail` (a mail's content:
//! parsing, sanitizing, extraction) and `ephemail-store` (PostgreSQL: models, quotas, events,
//! retention, delivery). Mail arrives over SMTP ([`smtp`]) and is handed to the store's
//! delivery; it is read through GraphQL ([`graphql`]) served over HTTP ([`http`]), by callers
//! that [`auth`] identifies, through the operations of [`service`] that the CLI ([`cli`]) shares;
//! [`webhooks`] sends events to partners' endpoints.
//! [`app`] builds the parts and wires them; nothing imports it back.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod content;
pub mod error;
pub mod graphql;
pub mod http;
pub mod scope;
pub mod secret;
pub mod service;
pub mod smtp;
pub mod telemetry;
pub mod tls;
pub mod webhooks;
