//! Integration tests: real PostgreSQL, real SMTP over TCP, real HTTP.
#![allow(clippy::unwrap_used)]

mod cli;
mod graphql_api;
mod helpers;
mod schema;
mod smtp_ingest;
