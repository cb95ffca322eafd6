//! What the SMTP edge tells `/metrics` (`ephemail_smtp_*`, `ephemail_ingest_latency_seconds`):
//! sessions, every reply sent by class and reason, and the mail accepted. Label values come
//! from the fixed sets below, never from what a client sent.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Why a reply was sent: the `reason` label of `ephemail_smtp_replies_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyReason {
    /// Every positive reply (`2xx`, and `354` to DATA).
    Ok,
    /// `RCPT TO` a domain we do not serve.
    RelayRefused,
    /// `RCPT TO` a registered domain without a live inbox at that address.
    UnknownInbox,
    /// The tenant is over a quota (mails per day, stored bytes, catch-all inboxes).
    Quota,
    /// Over the server's or the tenant's message size limit.
    Size,
    /// Too many messages from the client's address, or connections (refused at the door).
    RateLimit,
    TooManyRecipients,
    /// `STARTTLS` refused: not offered, or pipelined.
    Tls,
    /// A command, argument or line that does not parse, or is too long.
    Syntax,
    /// A command out of sequence (`RCPT` before `MAIL`, ...).
    Sequence,
    /// The session reached `--smtp-max-errors` and is closed.
    TooManyErrors,
    /// Too many sessions, in total or from the client's address: refused at the door.
    ConnectionLimit,
    /// No command, or no end of DATA, in time: the session is closed.
    Timeout,
    Shutdown,
    /// We failed (storing a mail, reading the database): the client retries.
    LocalError,
    /// Anything else (`EXPN`, which is not implemented).
    Other,
}

impl ReplyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::RelayRefused => "relay_refused",
            Self::UnknownInbox => "unknown_inbox",
            Self::Quota => "quota",
            Self::Size => "size",
            Self::RateLimit => "rate_limit",
            Self::TooManyRecipients => "too_many_recipients",
            Self::Tls => "tls",
            Self::Syntax => "syntax",
            Self::Sequence => "sequence",
            Self::TooManyErrors => "too_many_errors",
            Self::ConnectionLimit => "connection_limit",
            Self::Timeout => "timeout",
            Self::Shutdown => "shutdown",
            Self::LocalError => "local_error",
            Self::Other => "other",
        }
    }

    /// The reason of a reply no hook gave one: positive ones are [`ReplyReason::Ok`].
    pub fn unlabelled(code: &[u8; 3]) -> Self {
        match code[0] {
            b'2' | b'3' => Self::Ok,
            _ => Self::Other,
        }
    }
}

/// Which port a session came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The plain port (with `STARTTLS` when configured).
    Smtp,
    /// The implicit-TLS port.
    Smtps,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

impl Listener {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Smtps => "smtps",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplyLabels {
    class: &'static str,
    reason: &'static str,
}

/// From the end of DATA to the `250`: the group commit's wait and flush dominate, a few
/// milliseconds on a local disk.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The edge's series, registered once by [`SmtpMetrics::register`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct SmtpMetrics {
    sessions_open: Family<ListenerLabel, Gauge>,
    sessions: Family<ListenerLabel, Counter>,
    replies: Family<ReplyLabels, Counter>,
    mails_stored: Counter,
    received_bytes: Counter,
    ingest_latency: Histogram,
}

impl SmtpMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            sessions_open: Family::default(),
            sessions: Family::default(),
            replies: Family::default(),
            mails_stored: Counter::default(),
            received_bytes: Counter::default(),
            ingest_latency: Histogram::new(LATENCY_BUCKETS),
        };
        registry.register(
            "ephemail_smtp_sessions_open",
            "SMTP sessions in progress, by listener",
            metrics.sessions_open.clone(),
        );
        registry.register(
            "ephemail_smtp_sessions",
            "SMTP sessions admitted, by listener (connections refused at the door are counted \
             as replies only)",
            metrics.sessions.clone(),
        );
        registry.register(
            "ephemail_smtp_replies",
            "SMTP replies sent, by class (2xx, 3xx, 4xx, 5xx) and reason",
            metrics.replies.clone(),
        );
        registry.register(
            "ephemail_smtp_mails_stored",
            "Messages stored from SMTP: one per recipient inbox of each accepted mail",
            metrics.mails_stored.clone(),
        );
        registry.register(
            "ephemail_smtp_received_bytes",
            "Bytes of the mails accepted over SMTP, as the client sent them (once per mail)",
            metrics.received_bytes.clone(),
        );
        registry.register(
            "ephemail_ingest_latency_seconds",
            "From the end of DATA to its 250 written (parsing, the group commit, its flush), \
             per mail accepted",
            metrics.ingest_latency.clone(),
        );
        // From zero, so that the first session shows in `rate()`.
        for listener in [Listener::Smtp, Listener::Smtps] {
            let label = ListenerLabel {
                listener: listener.as_str(),
            };
            metrics.sessions.get_or_create(&label).inc_by(0);
            metrics.sessions_open.get_or_create(&label).set(0);
        }
        metrics
    }

    /// Counts a session admitted on `listener`, open until the returned guard is dropped.
    pub fn session_opened(&self, listener: Listener) -> OpenSession {
        let label = ListenerLabel {
            listener: listener.as_str(),
        };
        self.sessions.get_or_create(&label).inc();
        let open = self.sessions_open.get_or_create(&label).clone();
        open.inc();
        OpenSession(open)
    }

    /// Counts a reply written, of the class of `code` (its first digit).
    pub fn reply_sent(&self, code: &[u8; 3], reason: ReplyReason) {
        let class = match code[0] {
            b'2' => "2xx",
            b'3' => "3xx",
            b'4' => "4xx",
            _ => "5xx",
        };
        let labels = ReplyLabels {
            class,
            reason: reason.as_str(),
        };
        self.replies.get_or_create(&labels).inc();
    }

    /// A mail accepted: stored in `copies` inboxes, `bytes` long as the client sent it.
    pub fn mail_accepted(&self, copies: usize, bytes: usize) {
        self.mails_stored.inc_by(copies as u64);
        self.received_bytes.inc_by(bytes as u64);
    }

    /// The time from the end of a mail's DATA to its `250` written.
    pub fn ingest_latency(&self, latency: Duration) {
        self.ingest_latency.observe(latency.as_secs_f64());
    }
}

/// An open session, counted in `ephemail_smtp_sessions_open` until dropped.
pub struct OpenSession(Gauge);

impl Drop for OpenSession {
    fn drop(&mut self) {
        self.0.dec();
    }
}
