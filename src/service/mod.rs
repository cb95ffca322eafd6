//! Business operations that the GraphQL resolvers and the CLI both call: each takes the narrow
//! handles it needs (a connection, the event bus, the time) and returns what happened, so the
//! callers only map their input and output.

pub mod keys;
