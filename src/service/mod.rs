//! Business operations that the GraphQL resolvers and the CLI both call: each takes the narrow
//! handles it needs (a connection, the event bus, the time, the rules it applies), validates
//! its input and returns what happened, so that the callers only check who may call it and map
//! their input and output. Never the whole `Api`: that is wired together in `app`, which
//! nothing here depends on.

pub mod domain;
pub mod inbox;
pub mod keys;
pub mod tenant;
pub mod webhook;
