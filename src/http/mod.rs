//! The HTTP edge: GraphQL (`POST /graphql`; WebSocket subscriptions and GraphiQL on
//! `GET /graphql`), downloads of raw messages and attachments, health checks, and the
//! sweeper's metrics.

mod download;
mod graphql;
mod health;
mod rate_limit;

use poem::{get, listener::TcpAcceptor, middleware::Tracing, EndpointExt, Route, Server};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::App;

pub fn routes(app: App) -> impl poem::Endpoint {
    let schema = crate::graphql::schema(app.clone());
    Route::new()
        .at("/graphql", get(graphql::get).post(graphql::post))
        .at("/messages/:id/raw", get(download::raw_message))
        .at("/attachments/:id", get(download::download_attachment))
        .at("/healthz", get(health::healthz))
        .at("/readyz", get(health::readyz))
        .at("/metrics", get(health::metrics))
        .data(schema)
        .data(app)
        .with(Tracing)
}

/// Serves until `shutdown`, then lets in-flight requests finish within the grace period.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let grace = app.config.shutdown_grace();
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(routes(app), shutdown.cancelled_owned(), Some(grace))
        .await?;
    Ok(())
}
