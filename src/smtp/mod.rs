//! The SMTP edge: [`session`] speaks the protocol through the `smtp-server` crate, [`data`]
//! bounds and unescapes DATA, [`ingest`] turns an accepted mail into stored messages.

pub mod admission;
pub mod data;
pub mod ingest;
pub mod reply;
pub mod session;

use std::{io::Write, net::SocketAddr, sync::Arc};

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

/// Accepts connections until `shutdown`. Then a session waiting for a command is closed at once
/// with `421 4.3.2`, and a session in a mail transaction may finish it (its mail is committed
/// and acknowledged) within the shutdown grace period.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let grace = app.config.shutdown_grace();
    let admission = Arc::new(Admission::new(&app.config.smtp));
    let handler = Arc::new(SmtpHandler::new(app, admission.clone()));
    let mut sessions = JoinSet::new();
    let mut accepted_since_cleanup = 0u32;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Running out of file descriptors is transient; keep serving.
                        tracing::warn!(%error, "accepting an SMTP connection failed");
                        continue;
                    }
                };
                accepted_since_cleanup += 1;
                if accepted_since_cleanup == 10_000 {
                    accepted_since_cleanup = 0;
                    admission.forget_idle();
                }
                match admission.admit(peer.ip()) {
                    Ok(slot) => {
                        let session = session(stream, peer, handler.clone(), shutdown.clone());
                        sessions.spawn(async move {
                            session.await;
                            drop(slot);
                        });
                    }
                    Err(refusal) => {
                        tracing::info!(%peer, ?refusal, "SMTP connection refused");
                        // Said on the side, so a slow client cannot hold up the accept loop.
                        tokio::spawn(async move {
                            let mut stream = stream;
                            let reply = stream.write_all(refusal.reply());
                            let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, reply).await;
                        });
                    }
                }
            }
        }
    }
    drop(listener);
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

async fn session(
    stream: TcpStream,
    peer: SocketAddr,
    handler: Arc<SmtpHandler>,
    shutdown: CancellationToken,
) {
    // A second handle on the socket lets us say goodbye once the crate owns the stream.
    let (stream, mut farewell) = match stream
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
    let activity = Arc::new(Activity::default());
    let info = ConnectionInfo {
        peer,
        activity: activity.clone(),
    };
    tokio::select! {
        // Biased: a reply the session is about to write goes out before an idle close.
        biased;
        result = smtp_server::interact(stream.compat(), IsAlreadyTls::No, info, handler) => {
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "SMTP session ended with an error");
            }
        }
        () = activity.idle_after(&shutdown) => {
            // Best effort: the socket is non-blocking and the line is tiny.
            let _ = farewell.write_all(b"421 4.3.2 Service shutting down\r\n");
        }
    }
}
