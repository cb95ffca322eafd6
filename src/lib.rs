//! ephemail: disposable email for developers.
//!
//! Mail arrives over SMTP ([`smtp`]), is parsed and sanitized ([`mail`]), stored in PostgreSQL
//! ([`db`]) and read through GraphQL ([`graphql`]) served over HTTP ([`http`]). [`app`] wires
//! them together around one shared [`app::App`] state; [`retention`] deletes what has expired.

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod mail;
pub mod quota;
pub mod retention;
pub mod service;
pub mod smtp;
pub mod tls;
