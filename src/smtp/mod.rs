//! The SMTP edge: [`session`] speaks the protocol through the `smtp-server` crate, [`admission`]
//! limits connections and mail rates, [`data`] bounds and unescapes DATA, [`reply`] words the
//! replies, [`trace`] writes the `Received:` header, [`metrics`] counts sessions, replies and
//! mail. Accepted mail goes to the store's [`MailDelivery`], which also answers `RCPT TO`. Each
//! session runs in a `smtp.session` span (peer, listener, TLS, outcome).

pub mod admission;
pub mod data;
pub mod metrics;
pub mod reply;
pub mod session;
pub mod trace;

use std::{io, net::SocketAddr, sync::Arc};

use futures_rustls::TlsAcceptor;
use smtp_server::IsAlreadyTls;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tokio_util::{compat::TokioAsyncReadCompatExt, sync::CancellationToken};
use tracing::{field, Instrument};

use admission::Admission;
use metrics::{Listener, ReplyReason, SmtpMetrics};
use session::{ConnectionInfo, SessionState, SmtpEdge, SmtpHandler};

/// How long a refused client gets to read its `421`.
const REFUSAL_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a client of the implicit-TLS port gets to finish its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The SMTP listeners: plain (with `STARTTLS` when `tls` is set) and optionally implicit TLS.
pub struct Listeners {
    pub plain: TcpListener,
    pub implicit_tls: Option<TcpListener>,
    pub tls: Option<TlsAcceptor>,
}

/// Accepts connections until `shutdown`. Then a session waiting for a command is closed at once
/// with `421 4.3.2`, a session in a mail transaction may finish it (its mail is committed and
/// acknowledged) within the shutdown grace period, and new clients meanwhile get `421 4.3.2`.
pub async fn serve(
    listeners: Listeners,
    edge: SmtpEdge,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let grace = edge.shutdown_grace;
    let metrics = edge.metrics.clone();
    let admission = Arc::new(Admission::new(&edge.config));
    let handler = Arc::new(SmtpHandler::new(
        edge,
        admission.clone(),
        listeners.tls.clone(),
        shutdown.clone(),
    ));
    let mut sessions = JoinSet::new();
    let mut accepted_since_cleanup = 0u32;
    loop {
        let (accepted, implicit_tls) = tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
            accepted = listeners.plain.accept() => (accepted, None),
            accepted = accept_if_any(listeners.implicit_tls.as_ref()) => (accepted, listeners.tls.clone()),
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Running out of file descriptors is transient; keep serving.
                tracing::warn!(%error, "accepting an SMTP connection failed");
                continue;
            }
        };
        // Replies are whole lines written at once; never hold one back for an ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
        }
        accepted_since_cleanup += 1;
        if accepted_since_cleanup == 10_000 {
            accepted_since_cleanup = 0;
            admission.forget_idle();
        }
        match admission.admit(peer.ip()) {
            Ok(slot) => {
                let session = session(stream, peer, implicit_tls, handler.clone());
                sessions.spawn(async move {
                    session.await;
                    drop(slot);
                });
            }
            Err(refusal) => {
                tracing::info!(%peer, ?refusal, "SMTP connection refused");
                // In plain text even on the TLS port: a refused client gets no handshake.
                say_and_close(stream, refusal.reply(), refusal.reason(), &metrics);
            }
        }
    }
    let in_flight = sessions.len();
    if in_flight > 0 {
        tracing::info!(in_flight, ?grace, "waiting for SMTP sessions to finish");
        let drained = tokio::time::timeout(grace, async {
            while sessions.join_next().await.is_some() {}
        });
        let drained = tokio::select! {
            drained = drained => drained,
            never = refuse_while_draining(&listeners, &metrics) => match never {},
        };
        if drained.is_err() {
            tracing::warn!(
                remaining = sessions.len(),
                "closing SMTP sessions after the grace period"
            );
            sessions.shutdown().await;
        }
    }
    Ok(())
}

/// While the sessions in flight finish, a new client is told `421 4.3.2` rather than finding
/// the port closed (in plain text on the TLS port too, as for other refusals).
async fn refuse_while_draining(
    listeners: &Listeners,
    metrics: &SmtpMetrics,
) -> std::convert::Infallible {
    loop {
        let accepted = tokio::select! {
            accepted = listeners.plain.accept() => accepted,
            accepted = accept_if_any(listeners.implicit_tls.as_ref()) => accepted,
        };
        if let Ok((stream, _)) = accepted {
            let reply = b"421 4.3.2 Service shutting down\r\n";
            say_and_close(stream, reply, ReplyReason::Shutdown, metrics);
        }
    }
}

/// Writes a refusal and closes, on the side, so that a slow client cannot hold up the accept
/// loop; the refusal is counted for `reason` once written.
fn say_and_close(
    mut stream: TcpStream,
    reply: &'static [u8],
    reason: ReplyReason,
    metrics: &SmtpMetrics,
) {
    let metrics = metrics.clone();
    tokio::spawn(async move {
        let written = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, stream.write_all(reply)).await;
        if let (Ok(Ok(())), Some(code)) = (written, reply.first_chunk()) {
            metrics.reply_sent(code, reason);
        }
    });
}

async fn accept_if_any(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// One session, plain (perhaps upgraded by `STARTTLS`) or, with `implicit_tls`, TLS from the
/// first byte, counted and in a `smtp.session` span from admission to the end. At shutdown the
/// session itself says `421 4.3.2` once it is outside a mail transaction
/// (`SmtpHandler::closing`), inside TLS when it is encrypted.
async fn session(
    stream: TcpStream,
    peer: SocketAddr,
    implicit_tls: Option<TlsAcceptor>,
    handler: Arc<SmtpHandler>,
) {
    let listener = match implicit_tls {
        Some(_) => Listener::Smtps,
        None => Listener::Smtp,
    };
    let _open = handler.metrics().session_opened(listener);
    // `tls` and `outcome` are recorded once known, each once.
    let span = tracing::info_span!(
        "smtp.session",
        %peer,
        listener = listener.as_str(),
        tls = field::Empty,
        outcome = field::Empty,
    );
    if listener == Listener::Smtps {
        span.record("tls", true);
    }
    let state = Arc::new(SessionState::default());
    let info = ConnectionInfo::new(peer, state.clone());
    let ended = converse(stream, implicit_tls, info, handler)
        .instrument(span.clone())
        .await;
    if listener == Listener::Smtp {
        span.record("tls", state.upgraded_to_tls());
    }
    let outcome = state.outcome().unwrap_or(match &ended {
        Ok(()) => "closed",
        Err(error) if error.kind() == io::ErrorKind::ConnectionAborted => "aborted",
        Err(_) => "error",
    });
    span.record("outcome", outcome);
    span.in_scope(|| match ended {
        Ok(()) => tracing::debug!("SMTP session ended"),
        Err(error) => tracing::debug!(%error, "SMTP session ended"),
    });
}

/// The session's conversation, after the TLS handshake on the implicit-TLS port.
async fn converse(
    stream: TcpStream,
    implicit_tls: Option<TlsAcceptor>,
    info: ConnectionInfo,
    handler: Arc<SmtpHandler>,
) -> io::Result<()> {
    let Some(acceptor) = implicit_tls else {
        return smtp_server::interact(stream.compat(), IsAlreadyTls::No, info, handler).await;
    };
    let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream.compat()));
    let stream = match handshake.await {
        Ok(Ok(stream)) => stream,
        Ok(Err(error)) => return Err(info.state.tls_failed(error)),
        Err(_) => {
            let error = io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
            return Err(info.state.tls_failed(error));
        }
    };
    smtp_server::interact(stream, IsAlreadyTls::Yes, info, handler).await
}
