//! The SMTP edge: [`session`] speaks the protocol through the `smtp-server` crate, [`data`]
//! bounds and unescapes DATA, [`recipients`] answers `RCPT TO` from memory where it can,
//! [`ingest`] turns an accepted mail into stored messages, [`tls`]
//! serves `STARTTLS` and implicit TLS, [`trace`] writes the `Received:` header.

pub mod admission;
pub mod data;
pub mod ingest;
pub mod recipients;
pub mod reply;
pub mod session;
pub mod trace;

use std::{io, io::Write, net::SocketAddr, sync::Arc};

use futures_rustls::TlsAcceptor;
use smtp_server::IsAlreadyTls;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tokio_util::{compat::TokioAsyncReadCompatExt, sync::CancellationToken};

use crate::app::App;
use admission::Admission;
use session::{Activity, ConnectionInfo, SmtpHandler};

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
/// with `421 4.3.2`, and a session in a mail transaction may finish it (its mail is committed
/// and acknowledged) within the shutdown grace period.
pub async fn serve(
    listeners: Listeners,
    app: App,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let grace = app.config.shutdown_grace();
    let admission = Arc::new(Admission::new(&app.config.smtp));
    let handler = Arc::new(SmtpHandler::new(
        app,
        admission.clone(),
        listeners.tls.clone(),
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
                let session = session(
                    stream,
                    peer,
                    implicit_tls,
                    handler.clone(),
                    shutdown.clone(),
                );
                sessions.spawn(async move {
                    session.await;
                    drop(slot);
                });
            }
            Err(refusal) => {
                tracing::info!(%peer, ?refusal, "SMTP connection refused");
                // Said on the side, so a slow client cannot hold up the accept loop. In plain
                // text even on the TLS port: a refused client gets no handshake.
                tokio::spawn(async move {
                    let mut stream = stream;
                    let reply = stream.write_all(refusal.reply());
                    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, reply).await;
                });
            }
        }
    }
    drop(listeners);
    let in_flight = sessions.len();
    if in_flight > 0 {
        tracing::info!(in_flight, ?grace, "waiting for SMTP sessions to finish");
        let drained = tokio::time::timeout(grace, async {
            while sessions.join_next().await.is_some() {}
        })
        .await;
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

async fn accept_if_any(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// One session, plain (perhaps upgraded by `STARTTLS`) or, with `implicit_tls`, TLS from the
/// first byte.
async fn session(
    stream: TcpStream,
    peer: SocketAddr,
    implicit_tls: Option<TlsAcceptor>,
    handler: Arc<SmtpHandler>,
    shutdown: CancellationToken,
) {
    let activity = Arc::new(Activity::default());
    let info = ConnectionInfo::new(peer, activity.clone());
    if let Some(acceptor) = implicit_tls {
        let handshake =
            tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream.compat()));
        let stream = match handshake.await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
            Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
        };
        activity.mark_encrypted();
        let session = smtp_server::interact(stream, IsAlreadyTls::Yes, info, handler);
        return run(session, peer, &activity, &shutdown, None).await;
    }
    // A second handle on the socket lets us say goodbye once the crate owns the stream.
    let (stream, farewell) = match stream
        .into_std()
        .and_then(|std| Ok((std.try_clone()?, std)))
        .and_then(|(clone, std)| Ok((TcpStream::from_std(std)?, clone)))
    {
        Ok(pair) => pair,
        Err(error) => {
            tracing::warn!(%peer, %error, "cannot set up an SMTP session");
            return;
        }
    };
    let session = smtp_server::interact(stream.compat(), IsAlreadyTls::No, info, handler);
    run(session, peer, &activity, &shutdown, Some(farewell)).await;
}

/// Drives `session` until it ends, or until shutdown finds it outside a mail transaction; then
/// a plain-text session is told `421 4.3.2` (an encrypted one is closed: the crate owns its TLS
/// state, so we cannot write into it from here).
async fn run(
    session: impl std::future::Future<Output = io::Result<()>>,
    peer: SocketAddr,
    activity: &Activity,
    shutdown: &CancellationToken,
    farewell: Option<std::net::TcpStream>,
) {
    tokio::select! {
        // Biased: a reply the session is about to write goes out before an idle close.
        biased;
        result = session => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "SMTP session ended with an error");
            }
        }
        () = activity.idle_after(shutdown) => {
            if let Some(mut farewell) = farewell.filter(|_| !activity.is_encrypted()) {
                // Best effort: the socket is non-blocking and the line is tiny.
                let _ = farewell.write_all(b"421 4.3.2 Service shutting down\r\n");
            }
        }
    }
}
