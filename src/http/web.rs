//! The web inbox at `/` and GraphiQL at `GET /graphql`: the checked-in build of `web/` (see
//! docs/ui.md), compiled into the binary, so that both work offline and neither building nor
//! running ephemail needs Node.js.

use poem::{
    handler,
    http::{header, HeaderValue, StatusCode},
    web::Path,
    IntoResponse, Request, Response,
};

#[derive(rust_embed::Embed)]
#[folder = "web/dist"]
struct Dist;

/// Scripts only from our origin, no inline script. The message frame is a sandboxed `srcdoc`
/// document, which inherits this policy on top of its own, so this one lets through what a mail
/// may show: its inline styles and embedded fonts, and remote images, which the frame's own
/// policy allows only once the reader asks (see docs/ui.md).
const INBOX_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: http: https:; font-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// GraphiQL's editor positions its parts with inline `style` attributes; its scripts, like
/// the inbox's, come only from our origin.
const GRAPHIQL_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// File names under `assets/` carry a hash of their content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /`: the web inbox.
#[handler]
pub fn inbox(request: &Request) -> Response {
    page(request, "index.html", INBOX_POLICY)
}

/// GraphiQL, for a `GET /graphql` that is not a WebSocket upgrade.
pub fn graphiql(request: &Request) -> Response {
    page(request, "graphiql.html", GRAPHIQL_POLICY)
}

/// `GET /assets/{file}`: the pages' scripts, styles and fonts.
#[handler]
pub fn asset(request: &Request, Path(file): Path<String>) -> Response {
    file_response(request, &format!("assets/{file}"), IMMUTABLE)
}

fn page(request: &Request, path: &str, policy: &'static str) -> Response {
    let mut response = file_response(request, path, "no-cache");
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    response
}

/// The embedded file, gzip-compressed when the client takes it (the build stores a `.gz` copy
/// of every text file), revalidated by its hash.
fn file_response(request: &Request, path: &str, cache: &'static str) -> Response {
    let Some(file) = Dist::get(path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let etag = format!(
        "\"{}\"",
        file.metadata
            .sha256_hash()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    );
    let builder = Response::builder()
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, etag.as_str())
        .header(header::VARY, "accept-encoding");
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.as_bytes() == etag.as_bytes());
    if unchanged {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    let builder = builder.content_type(file.metadata.mimetype());
    match accepts_gzip(request)
        .then(|| Dist::get(&format!("{path}.gz")))
        .flatten()
    {
        Some(compressed) => builder
            .header(header::CONTENT_ENCODING, "gzip")
            .body(compressed.data.into_owned()),
        None => builder.body(file.data.into_owned()),
    }
}

fn accepts_gzip(request: &Request) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next() == Some("gzip") && !parts.any(|param| param.replace(' ', "") == "q=0")
        })
}
