//! The HTTP edge: the web inbox (`GET /`), GraphQL (`POST /graphql`; WebSocket subscriptions
//! and GraphiQL on `GET /graphql`), downloads of raw messages and attachments, health checks,
//! and Prometheus metrics.

mod client_ip;
mod download;
mod graphql;
mod health;
mod listener;
mod rate_limit;
mod request_log;
mod web;
pub mod websocket;

use std::{sync::Arc, time::Duration};

use poem::{
    get,
    http::{header, HeaderMap, HeaderName, HeaderValue, Method},
    listener::TcpAcceptor,
    middleware::Cors,
    Endpoint, EndpointExt, Route, Server,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{api::Api, telemetry::metrics::Exposition};

pub use health::Readiness;

pub fn routes(app: Api, metrics: Exposition, readiness: Readiness) -> impl poem::Endpoint {
    let schema = crate::graphql::schema::build(app.clone());
    let cors = cors(&app.config.http.cors_origins);
    let hsts = app.config.http.tls();
    let trusted_proxies = Arc::from(app.config.http.trusted_proxies.as_slice());
    // With a listener of their own, the metrics stay off the one that faces clients.
    let scrape = app.config.telemetry.metrics_addr.is_none();
    health::routes(Route::new(), scrape)
        .at("/", get(web::inbox))
        .at("/assets/:file", get(web::asset))
        .at("/graphql", get(graphql::get).post(graphql::post))
        .at("/messages/:id/raw", get(download::raw_message))
        .at("/attachments/:id", get(download::download_attachment))
        .data(schema)
        .data(app)
        .data(readiness)
        .data(Arc::new(websocket::Connections::default()))
        .data(metrics)
        .with_if(cors.is_some(), cors.unwrap_or_default())
        .around(move |endpoint, request| async move {
            let mut response = endpoint.get_response(request).await;
            secure_headers(response.headers_mut(), hsts);
            Ok(response)
        })
        .with(request_log::RequestLog(trusted_proxies))
}

/// Browser pages of these origins may call the API; without any, CORS stays closed (no
/// `Access-Control-Allow-*` headers, so browsers keep cross-origin pages out). Credentials are
/// never allowed: callers send API keys or inbox tokens explicitly, not cookies.
fn cors(origins: &[String]) -> Option<Cors> {
    (!origins.is_empty()).then(|| {
        Cors::new()
            .allow_origins(origins.iter().map(String::as_str))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .allow_header("x-api-key")
            .allow_credentials(false)
            .max_age(3600)
    })
}

/// Defaults for every response: nothing we serve may be sniffed into another type, framed, or
/// run as a page with powers (JSON and downloads get an empty policy; the web pages set their
/// own).
fn secure_headers(headers: &mut HeaderMap, hsts: bool) {
    const DEFAULTS: [(HeaderName, &str); 4] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in DEFAULTS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if hsts {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
}

/// Serves until `shutdown`, then lets in-flight requests finish within the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Api,
    metrics: Exposition,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let grace = app.config.shutdown_grace();
    let http = &app.config.http;
    let tls = match (&http.http_tls_cert, &http.http_tls_key) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => None,
    };
    let acceptor = listener::HttpAcceptor::new(
        TcpAcceptor::from_tokio(listener)?,
        tls,
        Duration::from_secs(http.http_header_timeout.into()),
    );
    Server::new_with_acceptor(acceptor)
        .run_with_graceful_shutdown(
            routes(app, metrics, readiness),
            shutdown.cancelled_owned(),
            Some(grace),
        )
        .await?;
    Ok(())
}

/// The `--metrics-addr` listener: only `/metrics`, `/healthz` and `/readyz`, plain HTTP (keep it
/// on a private network), until `shutdown`.
pub async fn serve_operations(
    listener: TcpListener,
    metrics: Exposition,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let routes = health::routes(Route::new(), true)
        .data(metrics)
        .data(readiness)
        // Not behind the API's proxies: scrapers and probes connect directly.
        .with(request_log::RequestLog(Arc::from([])));
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(routes, shutdown.cancelled_owned(), None)
        .await?;
    Ok(())
}
