//! One file per table: its row types and its queries.

pub mod attachment;
pub mod domain;
pub mod inbox;
pub mod message;
