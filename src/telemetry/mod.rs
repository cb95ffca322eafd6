//! What an operator sees of a running process: Prometheus metrics and logs.

pub mod api;
pub mod logs;
pub mod metrics;
