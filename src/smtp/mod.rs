//! The SMTP edge: [`session`] speaks the protocol through the `smtp-server` crate, [`admission`]
//! limits connections and mail rates, [`data`] bounds and unescapes DATA, [`reply`] words the
//! replies, [`trace`] writes the `Received:` header. Accepted mail goes to the store's
//! [`MailDelivery`], which also answers `RCPT TO`.

pub mod admission;
pub mod data;
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

use admission::Admission;
use session::{Activity, ConnectionInfo, SmtpEdge, SmtpHandler};

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
                tokio::spawn(say_and_close(stream, refusal.reply()));
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
            never = refuse_while_draining(&listeners) => match never {},
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
async fn refuse_while_draining(listeners: &Listeners) -> std::convert::Infallible {
    loop {
        let accepted = tokio::select! {
            accepted = listeners.plain.accept() => accepted,
            accepted = accept_if_any(listeners.implicit_tls.as_ref()) => accepted,
        };
        if let Ok((stream, _)) = accepted {
            tokio::spawn(say_and_close(
                stream,
                b"421 4.3.2 Service shutting down\r\n",
            ));
        }
    }
}

/// Writes a refusal on the side, so that a slow client cannot hold up the accept loop.
async fn say_and_close(mut stream: TcpStream, reply: &'static [u8]) {
    let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, stream.write_all(reply)).await;
}

async fn accept_if_any(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// One session, plain (perhaps upgraded by `STARTTLS`) or, with `implicit_tls`, TLS from the
/// first byte. At shutdown the session itself says `421 4.3.2` once it is outside a mail
/// transaction (`SmtpHandler::closing`), inside TLS when it is encrypted.
async fn session(
    stream: TcpStream,
    peer: SocketAddr,
    implicit_tls: Option<TlsAcceptor>,
    handler: Arc<SmtpHandler>,
) {
    let info = ConnectionInfo::new(peer, Arc::new(Activity::default()));
    let ended = match implicit_tls {
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream.compat()));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => return tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            smtp_server::interact(stream, IsAlreadyTls::Yes, info, handler).await
        }
        None => smtp_server::interact(stream.compat(), IsAlreadyTls::No, info, handler).await,
    };
    if let Err(error) = ended {
        tracing::debug!(%peer, %error, "SMTP session ended with an error");
    }
}
