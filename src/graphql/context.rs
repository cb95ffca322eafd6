//! What a resolver finds in its context: the API's handles, the caller, and the request's base
//! URL and client address.

use async_graphql::Context;

use ephemail_store::models::Viewer;

use crate::{api::Api, auth::Caller, error::AppError, scope::Scope};

/// Where clients reach the HTTP server (`--public-url`, or from the request's Host header);
/// download URLs are built on it. Set per request by the HTTP layer.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

/// The client's IP address (the TCP peer), set per request by the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

/// Reaches shared state from a resolver.
pub trait ContextExt {
    fn app(&self) -> &Api;
    fn base_url(&self) -> &str;
    fn caller(&self) -> &Caller;
    /// The viewer to scope data by, if the caller holds `scope`.
    fn viewer(&self, scope: Scope) -> Result<Viewer, AppError> {
        self.caller().require(scope)
    }
    /// The viewer for changing one inbox or its messages ([`Caller::require_inbox_change`]).
    fn inbox_changer(&self) -> Result<Viewer, AppError> {
        self.caller().require_inbox_change()
    }
}

impl ContextExt for Context<'_> {
    fn app(&self) -> &Api {
        self.data_unchecked::<Api>()
    }

    fn caller(&self) -> &Caller {
        const ANONYMOUS: &Caller = &Caller::Anonymous;
        self.data_opt::<Caller>().unwrap_or(ANONYMOUS)
    }

    fn base_url(&self) -> &str {
        self.data_opt::<BaseUrl>()
            .map_or("", |base| base.0.as_str())
    }
}
