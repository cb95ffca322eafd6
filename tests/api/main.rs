//! Integration tests: real PostgreSQL, real SMTP over TCP, real HTTP.
#![allow(clippy::unwrap_used)]

mod amplification;
mod architecture;
mod authorization;
mod cli;
mod configuration;
mod corpus;
mod credentials;
mod database_tls;
mod deploy;
mod docs_examples;
mod durability;
mod graphql_api;
mod graphql_limits;
mod helpers;
mod http_transport;
mod metrics_api;
mod metrics_smtp;
mod node_client;
mod quotas;
mod retention;
mod roles;
mod schema;
mod search;
mod smtp_ingest;
mod smtp_session_input;
mod smtp_standards;
mod spec_shapes;
mod subscriptions;
mod upgrade;
mod waits;
mod webhooks;
mod websocket_limits;
mod xss;
