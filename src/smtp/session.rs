//! The protocol hooks of the `smtp-server` crate: what each command is answered.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, OnceLock, PoisonError,
    },
    time::Instant,
};

use async_trait::async_trait;
use futures::{AsyncRead, AsyncWrite};
use futures_rustls::TlsAcceptor;
use smtp_message::{
    Email, EscapedDataReader, Hostname, Localpart, MaybeUtf8, ParameterName, Parameters, Reply,
    ReplyCode,
};
use smtp_server::{reply as default_reply, ConnectionMetadata, Decision, HelloInfo, MailMetadata};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{
    admission::Admission,
    data::{self, Data},
    metrics::{ReplyReason, SmtpMetrics},
    reply, trace,
};
use ephemail_mail::address::EmailAddress;
use ephemail_store::{
    clock::Clock,
    delivery::{IncomingMail, MailDelivery, Recipient, RecipientCheck},
};

use crate::config::SmtpConfig;

/// What the SMTP edge works with: its settings, the clock, where accepted mail goes, and its
/// series for `/metrics`.
#[derive(Clone)]
pub struct SmtpEdge {
    pub config: Arc<SmtpConfig>,
    pub clock: Arc<dyn Clock>,
    pub delivery: MailDelivery,
    /// How long a mail transaction in progress may take to finish at shutdown.
    pub shutdown_grace: std::time::Duration,
    pub metrics: SmtpMetrics,
}

pub struct SmtpHandler {
    edge: SmtpEdge,
    admission: Arc<Admission>,
    /// Offered as `STARTTLS` when a certificate is configured.
    tls: Option<TlsAcceptor>,
    /// Cancelled at shutdown: sessions outside a mail transaction then get `421 4.3.2`.
    shutdown: CancellationToken,
}

impl SmtpHandler {
    pub fn new(
        edge: SmtpEdge,
        admission: Arc<Admission>,
        tls: Option<TlsAcceptor>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            edge,
            admission,
            tls,
            shutdown,
        }
    }

    pub fn metrics(&self) -> &SmtpMetrics {
        &self.edge.metrics
    }
}

/// What we know about a connection.
pub struct ConnectionInfo {
    pub peer: SocketAddr,
    pub state: Arc<SessionState>,
    /// Failed commands so far; past `--smtp-max-errors` the session is closed.
    errors: u16,
    /// The current transaction's `MAIL FROM` carried `SMTPUTF8`.
    utf8: bool,
}

impl ConnectionInfo {
    pub fn new(peer: SocketAddr, state: Arc<SessionState>) -> Self {
        Self {
            peer,
            state,
            errors: 0,
            utf8: false,
        }
    }
}

/// What a session's hooks share with the task running it: whether a mail transaction is in
/// progress (from `MAIL FROM` to the reply after DATA, or `RSET`), so that shutdown closes idle
/// sessions at once but lets a transaction finish; what the next reply is for, which the hook
/// that makes it (or `closing`'s future, outside any hook) says; and how the session went.
#[derive(Default)]
pub struct SessionState {
    in_transaction: AtomicBool,
    idle: Notify,
    next_reply: Mutex<NextReply>,
    /// Set by the reply that ends the session (`221`, `421`) or a failed `STARTTLS`.
    outcome: OnceLock<&'static str>,
    /// `STARTTLS` succeeded.
    starttls: AtomicBool,
}

/// What [`SmtpHandler::reply_sent`] learns about the reply it is told of.
#[derive(Default)]
struct NextReply {
    /// Unset for positive replies (and `EXPN`'s, the crate's own).
    reason: Option<ReplyReason>,
    /// For the reply to a DATA that was received whole: when its final dot arrived.
    data_ended: Option<Instant>,
}

impl SessionState {
    fn next_reply(&self) -> std::sync::MutexGuard<'_, NextReply> {
        self.next_reply
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The next reply refuses for `reason`.
    fn refusing(&self, reason: ReplyReason) {
        self.next_reply().reason = Some(reason);
    }

    /// The session ended this way; the first to say so is right.
    fn ended(&self, outcome: &'static str) {
        let _ = self.outcome.set(outcome);
    }

    /// The TLS handshake failed with `error` (`STARTTLS`, or on the implicit-TLS port): the
    /// session ends with it.
    pub fn tls_failed(&self, error: io::Error) -> io::Error {
        self.ended("tls_failed");
        error
    }

    /// How the session ended, if a reply or the TLS handshake told: `quit`, `timeout`,
    /// `too_many_errors`, `shutdown` or `tls_failed`.
    pub fn outcome(&self) -> Option<&'static str> {
        self.outcome.get().copied()
    }

    pub fn upgraded_to_tls(&self) -> bool {
        self.starttls.load(Ordering::Relaxed)
    }

    fn begin(&self) {
        self.in_transaction.store(true, Ordering::SeqCst);
    }

    fn end(&self) {
        self.in_transaction.store(false, Ordering::SeqCst);
        self.idle.notify_waiters();
    }

    /// Resolves once `shutdown` is cancelled and no transaction is in progress.
    pub async fn idle_after(&self, shutdown: &CancellationToken) {
        shutdown.cancelled().await;
        loop {
            let idle = self.idle.notified();
            if !self.in_transaction.load(Ordering::SeqCst) {
                return;
            }
            idle.await;
        }
    }
}

/// The recipients accepted so far in the current mail transaction, validated.
pub type Recipients = Vec<Recipient>;

type Conn = ConnectionMetadata<ConnectionInfo>;
type Mail = MailMetadata<Recipients>;

fn accept<T>(reply: Reply, res: T) -> Decision<T> {
    Decision::Accept { reply, res }
}

/// `reply`, a refusal for `reason` (counted by `reply_sent`).
fn refusal(conn: &Conn, reason: ReplyReason, reply: Reply) -> Reply {
    conn.user.state.refusing(reason);
    reply
}

fn refuse<T>(conn: &Conn, reason: ReplyReason, reply: Reply) -> Decision<T> {
    Decision::Reject {
        reply: refusal(conn, reason, reply),
    }
}

/// A refusal that counts towards the session's error limit.
fn failed(conn: &mut Conn, reason: ReplyReason, reply: Reply) -> Reply {
    conn.user.errors = conn.user.errors.saturating_add(1);
    refusal(conn, reason, reply)
}

fn failed_with<T>(conn: &mut Conn, reason: ReplyReason, reply: Reply) -> Decision<T> {
    Decision::Reject {
        reply: failed(conn, reason, reply),
    }
}

/// The crate's `503` to a command out of sequence, counted.
fn out_of_sequence(conn: &mut Conn) -> Reply {
    let refused = default_reply::bad_sequence().convert();
    failed(conn, ReplyReason::Sequence, refused)
}

/// The recipient as a validated address; quoted local parts and address literals are refused.
fn recipient_address(to: &Email) -> Result<EmailAddress, String> {
    let local = match &to.localpart {
        Localpart::Ascii { raw } | Localpart::Utf8 { raw } => raw.as_str(),
        Localpart::QuotedAscii { .. } | Localpart::QuotedUtf8 { .. } => {
            return Err("quoted local parts are not supported".into())
        }
    };
    let domain = match &to.hostname {
        Some(Hostname::AsciiDomain { raw }) => raw.as_str(),
        Some(Hostname::Utf8Domain { punycode, .. }) => punycode.as_str(),
        Some(Hostname::Ipv4 { .. } | Hostname::Ipv6 { .. }) => {
            return Err("address literals are not supported".into())
        }
        None => return Err("a domain is required".into()),
    };
    EmailAddress::parse(&format!("{local}@{domain}")).map_err(|e| e.to_string())
}

#[async_trait]
impl smtp_server::Config for SmtpHandler {
    type Protocol = smtp_server::protocol::Smtp;
    type ConnectionUserMeta = ConnectionInfo;
    type MailUserMeta = Recipients;

    fn hostname(&self, _conn: &Conn) -> &str {
        &self.edge.config.hostname
    }

    fn welcome_banner(&self, _conn: &Conn) -> &str {
        "ESMTP ephemail"
    }

    fn command_read_timeout(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.edge.config.command_timeout())
            .unwrap_or(chrono::Duration::minutes(5))
    }

    fn can_do_tls(&self, conn: &Conn) -> bool {
        self.tls.is_some() && !conn.is_encrypted
    }

    async fn tls_accept<IO>(
        &self,
        io: IO,
        conn: &mut Conn,
    ) -> io::Result<
        duplexify::Duplex<Pin<Box<dyn Send + AsyncRead>>, Pin<Box<dyn Send + AsyncWrite>>>,
    >
    where
        IO: 'static + Unpin + Send + AsyncRead + AsyncWrite,
    {
        let Some(acceptor) = &self.tls else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "STARTTLS is not configured",
            ));
        };
        let encrypted =
            (acceptor.accept(io).await).map_err(|error| conn.user.state.tls_failed(error))?;
        conn.user.state.starttls.store(true, Ordering::Relaxed);
        let (read, write) = futures::AsyncReadExt::split(encrypted);
        Ok(duplexify::Duplex::new(Box::pin(read), Box::pin(write)))
    }

    fn filter_mail_params(&self, params: &Parameters<&str>, conn: &mut Conn) -> Option<Reply> {
        let mut utf8 = false;
        for (ParameterName::Other(name), value) in &params.0 {
            let value = value
                .as_ref()
                .map(|(MaybeUtf8::Ascii(value) | MaybeUtf8::Utf8(value))| *value);
            match (name.to_ascii_uppercase().as_str(), value) {
                ("SIZE", Some(size)) => match size.parse::<u64>() {
                    Ok(size) if size > self.edge.config.max_message_size => {
                        return Some(failed(
                            conn,
                            ReplyReason::Size,
                            reply::too_large(self.edge.config.max_message_size),
                        ));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        let refused = reply::bad_parameter("SIZE");
                        return Some(failed(conn, ReplyReason::Syntax, refused));
                    }
                },
                ("BODY", Some(body))
                    if body.eq_ignore_ascii_case("7BIT")
                        || body.eq_ignore_ascii_case("8BITMIME") => {}
                ("SMTPUTF8", None) => utf8 = true,
                (other, _) => {
                    let refused = reply::bad_parameter(other);
                    return Some(failed(conn, ReplyReason::Syntax, refused));
                }
            }
        }
        conn.user.utf8 = utf8;
        None
    }

    fn command_timeout_reply(&self, conn: &mut Conn) -> Option<Reply> {
        Some(refusal(
            conn,
            ReplyReason::Timeout,
            reply::command_timeout(),
        ))
    }

    fn session_over(&self, conn: &mut Conn) -> Option<Reply> {
        (conn.user.errors >= self.edge.config.smtp_max_errors)
            .then(|| refusal(conn, ReplyReason::TooManyErrors, reply::too_many_errors()))
    }

    // The protocol errors the crate answers itself: the same replies, counted.
    fn already_did_hello(&self, conn: &mut Conn) -> Reply {
        out_of_sequence(conn)
    }

    fn mail_before_hello(&self, conn: &mut Conn) -> Reply {
        out_of_sequence(conn)
    }

    fn already_in_mail(&self, conn: &mut Conn) -> Reply {
        out_of_sequence(conn)
    }

    fn rcpt_before_mail(&self, conn: &mut Conn) -> Reply {
        out_of_sequence(conn)
    }

    fn data_before_rcpt(&self, conn: &mut Conn) -> Reply {
        out_of_sequence(conn)
    }

    fn data_before_mail(&self, conn: &mut Conn) -> Reply {
        out_of_sequence(conn)
    }

    fn starttls_unsupported(&self, conn: &mut Conn) -> Reply {
        let refused = default_reply::command_not_supported().convert();
        failed(conn, ReplyReason::Tls, refused)
    }

    fn command_unrecognized(&self, conn: &mut Conn) -> Reply {
        let refused = default_reply::command_unrecognized().convert();
        failed(conn, ReplyReason::Syntax, refused)
    }

    fn bad_arguments(&self, verb: &str, conn: &mut Conn) -> Reply {
        failed(conn, ReplyReason::Syntax, reply::bad_arguments(verb))
    }

    fn pipeline_forbidden_after_starttls(&self, conn: &mut Conn) -> Reply {
        let refused = default_reply::pipeline_forbidden_after_starttls().convert();
        failed(conn, ReplyReason::Tls, refused)
    }

    fn line_too_long(&self, conn: &mut Conn) -> Reply {
        failed(conn, ReplyReason::Syntax, reply::line_too_long())
    }

    fn closing(&self, conn: &Conn) -> Pin<Box<dyn Send + Future<Output = Reply>>> {
        let (state, shutdown) = (conn.user.state.clone(), self.shutdown.clone());
        Box::pin(async move {
            state.idle_after(&shutdown).await;
            state.refusing(ReplyReason::Shutdown);
            reply::shutting_down()
        })
    }

    /// Counts every reply once it is written, with the reason its hook gave; ends the
    /// ingest latency of a mail at its `250`, and notes how the session ended.
    fn reply_sent(&self, reply: &Reply, conn: &mut Conn) {
        let code = &reply.code.0;
        let state = &conn.user.state;
        let next = std::mem::take(&mut *state.next_reply());
        let reason = next.reason.unwrap_or_else(|| ReplyReason::unlabelled(code));
        self.edge.metrics.reply_sent(code, reason);
        match code {
            b"221" => state.ended("quit"),
            // Every 421 closes the session.
            b"421" => state.ended(reason.as_str()),
            [b'2', ..] => {
                if let Some(data_ended) = next.data_ended {
                    self.edge.metrics.ingest_latency(data_ended.elapsed());
                }
            }
            _ => {}
        }
    }

    fn max_command_line(&self) -> usize {
        usize::from(self.edge.config.smtp_max_line_length)
    }

    async fn filter_hello(
        &self,
        is_extended: bool,
        hostname: Hostname,
        conn: &mut Conn,
    ) -> Decision<HelloInfo> {
        let mut text = vec![MaybeUtf8::Utf8(self.edge.config.hostname.clone())];
        if is_extended {
            text.extend(
                [
                    format!("SIZE {}", self.edge.config.max_message_size),
                    "8BITMIME".to_owned(),
                    "ENHANCEDSTATUSCODES".to_owned(),
                    "PIPELINING".to_owned(),
                    "SMTPUTF8".to_owned(),
                ]
                .map(MaybeUtf8::Ascii),
            );
            if self.can_do_tls(conn) {
                text.push(MaybeUtf8::Ascii("STARTTLS".to_owned()));
            }
        }
        tracing::debug!(helo = %hostname.raw(), "hello");
        accept(
            Reply {
                code: ReplyCode::OKAY,
                ecode: None,
                text,
            },
            HelloInfo {
                is_extended,
                hostname,
            },
        )
    }

    async fn new_mail(&self, _conn: &mut Conn) -> Recipients {
        Vec::new()
    }

    async fn filter_from(
        &self,
        from: Option<Email>,
        _mail: &mut Mail,
        conn: &mut Conn,
    ) -> Decision<Option<Email>> {
        if !self.admission.allow_message(conn.user.peer.ip()) {
            return refuse(conn, ReplyReason::RateLimit, reply::too_many_messages());
        }
        conn.user.state.begin();
        accept(reply::sender_ok(), from)
    }

    async fn handle_rset(&self, _mail: &mut Option<Mail>, conn: &mut Conn) -> Decision<()> {
        conn.user.state.end();
        accept(reply::reset(), ())
    }

    async fn filter_to(&self, to: Email, mail: &mut Mail, conn: &mut Conn) -> Decision<Email> {
        if mail.user.len() >= usize::from(self.edge.config.max_recipients) {
            let refused = reply::too_many_recipients();
            return refuse(conn, ReplyReason::TooManyRecipients, refused);
        }
        let recipient = match recipient_address(&to) {
            Ok(address) => Recipient::new(address),
            Err(reason) => {
                let refused = reply::bad_recipient_syntax(&reason);
                return failed_with(conn, ReplyReason::Syntax, refused);
            }
        };
        match self.edge.delivery.check_recipient(&recipient).await {
            Ok(RecipientCheck::Accept) => {
                mail.user.push(recipient);
                accept(reply::recipient_ok(), to)
            }
            Ok(RecipientCheck::DomainNotServed) => {
                tracing::info!(domain = %recipient.inbox.domain, "relaying denied");
                failed_with(conn, ReplyReason::RelayRefused, reply::relay_denied())
            }
            Ok(RecipientCheck::NoSuchInbox) => {
                failed_with(conn, ReplyReason::UnknownInbox, reply::no_such_mailbox())
            }
            Ok(RecipientCheck::OverQuota) => refuse(conn, ReplyReason::Quota, reply::over_quota()),
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "checking a recipient failed");
                refuse(conn, ReplyReason::LocalError, reply::local_error())
            }
        }
    }

    async fn handle_mail<'resp, R>(
        &'resp self,
        stream: &mut EscapedDataReader<'_, R>,
        mail: Mail,
        conn: &'resp mut Conn,
    ) -> Decision<()>
    where
        R: Send + Unpin + AsyncRead,
        Self: 'resp,
    {
        let decision = self.receive(stream, mail, conn).await;
        conn.user.state.end();
        decision
    }
}

impl SmtpHandler {
    fn trace_header(&self, mail: &Mail, conn: &Conn) -> String {
        let helo = conn.hello.as_ref();
        let recipient = match mail.user.as_slice() {
            [only] => Some(only.address.to_string()),
            _ => None,
        };
        trace::received(
            helo.map_or("unknown", |hello| hello.hostname.raw()),
            conn.user.peer.ip(),
            &self.edge.config.hostname,
            trace::Transport {
                extended: helo.is_some_and(|hello| hello.is_extended),
                tls: conn.is_encrypted,
                utf8: conn.user.utf8,
            },
            recipient.as_deref(),
            self.edge.clock.now(),
        )
    }

    async fn receive<R>(
        &self,
        stream: &mut EscapedDataReader<'_, R>,
        mail: Mail,
        conn: &Conn,
    ) -> Decision<()>
    where
        R: Send + Unpin + AsyncRead,
    {
        let limits = &self.edge.config;
        let trace = self.trace_header(&mail, conn).into_bytes();
        let trace_len = trace.len();
        let arriving = self.edge.delivery.arriving();
        let raw = match data::read(
            stream,
            trace,
            limits.max_message_size,
            limits.data_timeout(),
        )
        .await
        {
            Data::Complete(raw) => raw,
            Data::TooLarge => {
                let refused = reply::too_large(limits.max_message_size);
                return refuse(conn, ReplyReason::Size, refused);
            }
            Data::TimedOut => {
                return Decision::Kill {
                    reply: Some(refusal(conn, ReplyReason::Timeout, reply::data_timeout())),
                    res: Err(io::Error::new(io::ErrorKind::TimedOut, "DATA timed out")),
                }
            }
            Data::Aborted => {
                return Decision::Kill {
                    reply: None,
                    res: Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "closed during DATA",
                    )),
                }
            }
        };
        conn.user.state.next_reply().data_ended = Some(Instant::now());
        let bytes = raw.len() - trace_len;
        let incoming = IncomingMail {
            mail_from: mail.from.as_ref().map(|from| {
                let rendered = from.to_string();
                rendered
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            }),
            recipients: mail.user,
            raw,
            trace_len,
        };
        match self.edge.delivery.deliver(incoming, arriving).await {
            // One reply for the whole mail: stored anywhere wins, then the most useful failure.
            Ok(delivery) => match delivery.stored.first() {
                Some(first) => {
                    let messages = delivery.stored.len();
                    tracing::info!(messages, "mail stored");
                    self.edge.metrics.mail_accepted(messages, bytes);
                    accept(reply::stored(&first.to_string()), ())
                }
                None if delivery.too_large > 0 => {
                    refuse(conn, ReplyReason::Size, reply::too_large_for_recipient())
                }
                None if delivery.over_quota > 0 => {
                    refuse(conn, ReplyReason::Quota, reply::over_quota())
                }
                None => refuse(conn, ReplyReason::UnknownInbox, reply::no_such_mailbox()),
            },
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "storing a mail failed");
                refuse(conn, ReplyReason::LocalError, reply::local_error())
            }
        }
    }
}
