//! Raw sources and attachments, always as downloads: a mail's bytes are attacker-controlled and
//! must never render as a page of our origin.

use poem::{
    handler,
    http::{header, StatusCode},
    web::{Data, Path},
    Request, Response,
};
use uuid::Uuid;

use super::rate_limit;
use crate::{api::Api, auth, error::AppError, scope::Scope};
use ephemail_mail::parse;
use ephemail_store::models::{attachment, message_by_id, Viewer};

/// `GET /messages/{id}/raw`: the exact bytes received.
#[handler]
pub async fn raw_message(request: &Request, app: Data<&Api>, Path(id): Path<String>) -> Response {
    let viewer = match viewer(request, &app).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    let found = match app.pool.get().await {
        Ok(mut conn) => message_by_id::raw(&mut conn, viewer, id, app.clock.now()).await,
        Err(error) => return unavailable(&error),
    };
    let source = match found {
        Ok(Some(source)) => source,
        Ok(None) => return not_found(),
        Err(error) => return unavailable(&error),
    };
    match off_reactor(move || source.decode()).await {
        Ok(raw) => download(raw, "message/rfc822", &format!("{id}.eml")),
        Err(error) => unavailable(&error),
    }
}

/// `GET /attachments/{id}`: the decoded bytes, with the stored content type.
#[handler]
pub async fn download_attachment(
    request: &Request,
    app: Data<&Api>,
    Path(id): Path<String>,
) -> Response {
    let viewer = match viewer(request, &app).await {
        Ok(viewer) => viewer,
        Err(response) => return response,
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return not_found();
    };
    let found = match app.pool.get().await {
        Ok(mut conn) => attachment::with_raw_source(&mut conn, viewer, id, app.clock.now()).await,
        Err(error) => return unavailable(&error),
    };
    let (meta, raw) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return not_found(),
        Err(error) => return unavailable(&error),
    };
    // The raw source is the only stored copy of the bytes.
    let position = usize::try_from(meta.position).unwrap_or(usize::MAX);
    let decoded = off_reactor(move || {
        let raw = raw.decode()?;
        Ok(parse::attachment_content(&raw, position))
    })
    .await;
    match decoded {
        Ok(Some(content)) => {
            let filename = meta.filename.unwrap_or_else(|| id.to_string());
            download(content, &meta.content_type, &filename)
        }
        Ok(None) => {
            tracing::error!(attachment = %id, "attachment not found in its raw source");
            not_found()
        }
        Err(error) => unavailable(&error),
    }
}

/// The caller's viewer, or the response refusing the request (another tenant's object is a
/// plain 404 later, indistinguishable from a missing one).
async fn viewer(request: &Request, app: &Api) -> Result<Viewer, Response> {
    // Browsers cannot add headers to a link or an <img>: an inbox token may come as ?token=.
    // An API key may not: URLs end up in logs, histories and Referer headers, and a key is
    // not limited to one inbox or its lifetime.
    let query_token = request.uri().query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
    });
    if query_token.is_some_and(|token| token.starts_with(auth::api_key::PREFIX)) {
        return Err(Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(header::WWW_AUTHENTICATE, "Bearer")
            .body(
                "?token= takes an inbox token; send an API key in the Authorization header \
                 (Bearer) or X-API-Key",
            ));
    }
    let credential = auth::credential::from_headers(request.headers()).or(query_token);
    let caller = app
        .identify(credential)
        .await
        .map_err(|error| unavailable(&error))?;
    let client_ip = super::client_ip::client_ip(request, &app.config.http.trusted_proxies);
    let rate = rate_limit::take(app, &caller, client_ip)
        .await
        .map_err(|error| unavailable(&error))?;
    if let Some(decision) = rate.filter(|decision| !decision.allowed) {
        return Err(rate_limit::too_many_requests(decision));
    }
    caller.require(Scope::Read).map_err(|error| {
        let status = match error {
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        };
        Response::builder()
            .status(status)
            .header(header::WWW_AUTHENTICATE, "Bearer")
            .body(error.to_string())
    })
}

/// Decompressing and decoding a large mail is CPU work: run it on the blocking pool.
async fn off_reactor<T: Send + 'static>(
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(std::io::Error::other)?
}

fn download(body: Vec<u8>, content_type: &str, filename: &str) -> Response {
    // Only a plain token-ish content type is echoed; anything odd becomes octet-stream.
    let content_type = if content_type
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/.+-".contains(&b))
    {
        content_type
    } else {
        "application/octet-stream"
    };
    let safe_name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{safe_name}\"; filename*=UTF-8''{}",
                encode_rfc5987(filename)
            ),
        )
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(
            header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'",
        )
        .header(header::CACHE_CONTROL, "private, no-store")
        .body(body)
}

/// Percent-encodes a filename for `filename*=` (RFC 5987 attr-char).
fn encode_rfc5987(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'!'
            | b'#'
            | b'$'
            | b'&'
            | b'+'
            | b'-'
            | b'.'
            | b'^'
            | b'_'
            | b'`'
            | b'|'
            | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn not_found() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .body("not found")
}

fn unavailable(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(%error, "download failed");
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .body("temporarily unavailable")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_encoded_for_content_disposition() {
        assert_eq!(
            encode_rfc5987("Rechnung März.pdf"),
            "Rechnung%20M%C3%A4rz.pdf"
        );
    }
}
