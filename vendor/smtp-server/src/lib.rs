#![type_length_limit = "200000000"]

pub mod protocol;

// ephemail patch 5: `Future`, for `Config::closing`.
use std::{cmp, future::Future, io, ops::Range, pin::Pin, sync::Arc};

use async_trait::async_trait;
use chrono::Utc;
use futures::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    StreamExt,
};
// ephemail patch 8: futures-lite's `or`, upstream took it from smol (no longer a dependency).
use futures_lite::future::FutureExt;
use smtp_message::{
    next_crlf, nom, Command, Email, EscapedDataReader, Hostname, MaybeUtf8, NextCrLfState, Reply,
};

pub use smtp_server_types::{reply, ConnectionMetadata, Decision, HelloInfo, MailMetadata};

pub use protocol::{Protocol, ProtocolName};

pub const RDBUF_SIZE: usize = 16 * 1024;
const MINIMUM_FREE_BUFSPACE: usize = 128;

/// ephemail patch 2: marks the error of a command read timeout, so it can be answered.
#[derive(Debug)]
struct CommandTimeout;

impl std::fmt::Display for CommandTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out waiting for a command")
    }
}

impl std::error::Error for CommandTimeout {}

/// ephemail patch 5: marks the end of a session that [`Config::closing`] closed.
#[derive(Debug)]
struct Closing(Reply);

impl std::fmt::Display for Closing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server is closing the session")
    }
}

impl std::error::Error for Closing {}

#[async_trait]
pub trait Config: Send + Sync {
    type Protocol: for<'resp> Protocol<'resp>;

    type ConnectionUserMeta: Send;
    type MailUserMeta: Send;

    /// Note: this function is only ever used for the default implementations of
    /// other functions in this trait. As such, it is OK to leave it
    /// `unimplemented!()` if other functions are implemented.
    fn hostname(&self, conn_meta: &ConnectionMetadata<Self::ConnectionUserMeta>) -> &str;

    /// Note: this function is only ever used for the default implementations of
    /// other functions in this trait. As such, it is OK to leave it
    /// `unimplemented!()` if other functions are implemented.
    #[allow(unused_variables)]
    fn welcome_banner(&self, conn_meta: &ConnectionMetadata<Self::ConnectionUserMeta>) -> &str {
        "Service ready"
    }

    fn welcome_banner_reply(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::welcome_banner(self.hostname(conn_meta), self.welcome_banner(conn_meta))
    }

    /// Note: this function is only ever used for the default implementations of
    /// other functions in this trait. As such, it is OK to leave it
    /// `unimplemented!()` if other functions are implemented.
    #[allow(unused_variables)]
    fn hello_banner(&self, conn_meta: &ConnectionMetadata<Self::ConnectionUserMeta>) -> &str {
        ""
    }

    #[allow(unused_variables)]
    async fn filter_hello(
        &self,
        is_extended: bool,
        hostname: Hostname,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<HelloInfo> {
        // Set `conn_meta.hello` early so that can_do_tls can use it below
        conn_meta.hello = Some(HelloInfo {
            is_extended,
            hostname: hostname.clone(),
        });
        Decision::Accept {
            reply: reply::okay_hello(
                is_extended,
                self.hostname(conn_meta),
                self.hello_banner(conn_meta),
                self.can_do_tls(conn_meta),
            )
            .convert(),
            res: HelloInfo {
                is_extended,
                hostname,
            },
        }
    }

    #[allow(unused_variables)]
    fn can_do_tls(&self, conn_meta: &ConnectionMetadata<Self::ConnectionUserMeta>) -> bool {
        !conn_meta.is_encrypted
            && conn_meta
                .hello
                .as_ref()
                .map(|h| h.is_extended)
                .unwrap_or(false)
    }

    // TODO: when GATs are here, we can remove the trait object and return
    // Self::TlsStream<IO> (or maybe we should refactor Config to be Config<IO>? but
    // that's ugly). At that time we can probably get rid of all that duplexify
    // mess... or maybe when we can do trait objects with more than one trait
    /// Note: if you don't want to implement TLS, you should override
    /// `can_do_tls` to return `false` so that STARTTLS is not advertized. This
    /// being said, returning an error here should have the same result in
    /// practice, except clients will try STARTTLS and fail
    async fn tls_accept<IO>(
        &self,
        io: IO,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> io::Result<
        duplexify::Duplex<Pin<Box<dyn Send + AsyncRead>>, Pin<Box<dyn Send + AsyncWrite>>>,
    >
    where
        IO: 'static + Unpin + Send + AsyncRead + AsyncWrite;

    async fn new_mail(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Self::MailUserMeta;

    async fn filter_from(
        &self,
        from: Option<Email>,
        meta: &mut MailMetadata<Self::MailUserMeta>,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<Option<Email>>;

    async fn filter_to(
        &self,
        to: Email,
        meta: &mut MailMetadata<Self::MailUserMeta>,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<Email>;

    #[allow(unused_variables)]
    async fn filter_data(
        &self,
        meta: &mut MailMetadata<Self::MailUserMeta>,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<()> {
        Decision::Accept {
            reply: reply::okay_data().convert(),
            res: (),
        }
    }

    /// `handle_mail` is an async function that returns either a single decision
    /// in the case of the SMTP protocol, or an async stream of decisions in the
    /// case of the LMTP protocol.
    ///
    /// For LMTP: there must be one such decision for each RCPT TO command that
    /// succeeded (i.e. for each accepted recipient), which allows to indicate
    /// that the message could be stored in the mailbox of some users, but not
    /// in that of other users. This can happen for instance if their mail
    /// quota is used up. The lifetimes of the borrow on the mail's data stream
    /// is limited to the duration of the async call; this reference may not be
    /// retained by the returned stream. The async function must consume the
    /// entire data stream before returning its stream of responses. The
    /// recommended implementation of this function would start by reading the
    /// message's content to a temporary file, and then produce a stream that
    /// writes the message to all of the mailboxes one after the other.
    ///
    /// Note: the EscapedDataReader has an inner buffer size of
    /// [`RDBUF_SIZE`](RDBUF_SIZE), which means that reads should not happen
    /// with more than this buffer size.
    ///
    /// Also, note that there is no timeout applied here, so the implementation
    /// of this function is responsible for making sure that the client does not
    /// just stop sending anything to DOS the system.
    async fn handle_mail<'resp, R>(
        &'resp self,
        stream: &mut EscapedDataReader<'_, R>, // not borrowed for whole 'resp lifetime
        meta: MailMetadata<Self::MailUserMeta>,
        conn_meta: &'resp mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> <Self::Protocol as Protocol<'resp>>::HandleMailReturnType
    where
        R: Send + Unpin + AsyncRead,
        Self: 'resp;

    #[allow(unused_variables)]
    async fn handle_rset(
        &self,
        meta: &mut Option<MailMetadata<Self::MailUserMeta>>,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<()> {
        Decision::Accept {
            reply: reply::okay_rset().convert(),
            res: (),
        }
    }

    #[allow(unused_variables)]
    async fn handle_starttls(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<()> {
        if self.can_do_tls(conn_meta) {
            Decision::Accept {
                reply: reply::okay_starttls().convert(),
                res: (),
            }
        } else {
            Decision::Reject {
                reply: reply::command_not_supported().convert(),
            }
        }
    }

    #[allow(unused_variables)]
    async fn handle_expn(
        &self,
        name: MaybeUtf8<&str>,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<()> {
        Decision::Reject {
            reply: reply::command_unimplemented().convert(),
        }
    }

    #[allow(unused_variables)]
    async fn handle_vrfy(
        &self,
        name: MaybeUtf8<&str>,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<()> {
        Decision::Accept {
            reply: reply::ignore_vrfy().convert(),
            res: (),
        }
    }

    #[allow(unused_variables)]
    async fn handle_help(
        &self,
        subject: MaybeUtf8<&str>,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<()> {
        Decision::Accept {
            reply: reply::ignore_help().convert(),
            res: (),
        }
    }

    #[allow(unused_variables)]
    async fn handle_noop(
        &self,
        string: MaybeUtf8<&str>,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<()> {
        Decision::Accept {
            reply: reply::okay_noop().convert(),
            res: (),
        }
    }

    #[allow(unused_variables)]
    async fn handle_quit(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Decision<()> {
        Decision::Kill {
            reply: Some(reply::okay_quit().convert()),
            res: Ok(()),
        }
    }

    #[allow(unused_variables)]
    fn already_did_hello(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::bad_sequence().convert()
    }

    #[allow(unused_variables)]
    fn mail_before_hello(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::bad_sequence().convert()
    }

    #[allow(unused_variables)]
    fn already_in_mail(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::bad_sequence().convert()
    }

    #[allow(unused_variables)]
    fn rcpt_before_mail(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::bad_sequence().convert()
    }

    #[allow(unused_variables)]
    fn data_before_rcpt(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::bad_sequence().convert()
    }

    #[allow(unused_variables)]
    fn data_before_mail(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::bad_sequence().convert()
    }

    #[allow(unused_variables)]
    fn starttls_unsupported(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::command_not_supported().convert()
    }

    #[allow(unused_variables)]
    fn command_unrecognized(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::command_unrecognized().convert()
    }

    /// ephemail patch 6: a known command (`verb`, upper case) whose arguments do not parse
    /// (RFC 5321 4.2.3 tells this `501` apart from the `500` of an unknown command).
    #[allow(unused_variables)]
    fn bad_arguments(
        &self,
        verb: &str,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::command_unrecognized().convert()
    }

    #[allow(unused_variables)]
    fn pipeline_forbidden_after_starttls(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::pipeline_forbidden_after_starttls().convert()
    }

    #[allow(unused_variables)]
    fn line_too_long(&self, conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>) -> Reply {
        reply::line_too_long().convert()
    }

    /// ephemail patch 4: the longest command line accepted, CRLF included, at most
    /// [`RDBUF_SIZE`] (upstream's only limit). A longer one gets `line_too_long`.
    fn max_command_line(&self) -> usize {
        RDBUF_SIZE
    }

    #[allow(unused_variables)]
    fn handle_mail_did_not_call_complete(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Reply {
        reply::handle_mail_did_not_call_complete().convert()
    }

    fn reply_write_timeout(&self) -> chrono::Duration {
        chrono::Duration::minutes(5)
    }

    /// ephemail patch 1: sees the ESMTP parameters of `MAIL FROM` (`SIZE=`, `BODY=`,
    /// `SMTPUTF8`), which upstream parses and drops. `Some(reply)` refuses the command.
    #[allow(unused_variables)]
    fn filter_mail_params(
        &self,
        params: &smtp_message::Parameters<&str>,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Option<Reply> {
        None
    }

    /// ephemail patch 2: the reply sent before closing a session that sent no command within
    /// `command_read_timeout` (upstream closes silently).
    #[allow(unused_variables)]
    fn command_timeout_reply(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Option<Reply> {
        None
    }

    /// ephemail patch 3: asked before each command; `Some(reply)` sends it and ends the session
    /// (for instance after too many errors).
    #[allow(unused_variables)]
    fn session_over(
        &self,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Option<Reply> {
        None
    }

    fn command_read_timeout(&self) -> chrono::Duration {
        chrono::Duration::minutes(5)
    }

    /// ephemail patch 5: asked once per session, then raced with every wait for a command; once
    /// it resolves, its reply is sent (inside TLS when the session is encrypted) and the session
    /// ends cleanly. Upstream has no way to close a session from outside. Never resolves by
    /// default.
    #[allow(unused_variables)]
    fn closing(
        &self,
        conn_meta: &ConnectionMetadata<Self::ConnectionUserMeta>,
    ) -> Pin<Box<dyn Send + Future<Output = Reply>>> {
        Box::pin(std::future::pending())
    }

    /// ephemail patch 9: told of every reply once it is written, whichever hook or default made
    /// it (the banner, the closing and timeout replies included), for counting them. Does
    /// nothing by default.
    #[allow(unused_variables)]
    fn reply_sent(
        &self,
        reply: &Reply,
        conn_meta: &mut ConnectionMetadata<Self::ConnectionUserMeta>,
    ) {
    }
}

/// ephemail patch 6: the command of a line that did not parse, when it is one whose arguments
/// can be wrong.
fn verb_taking_arguments(line: &[u8]) -> Option<&'static str> {
    const VERBS: [&str; 7] = ["MAIL", "RCPT", "EHLO", "HELO", "LHLO", "VRFY", "EXPN"];
    let end = line
        .iter()
        .position(|b| matches!(b, b' ' | b':' | b'\r' | b'\n'))?;
    let (word, after) = line.split_at(end);
    let verb = VERBS
        .iter()
        .copied()
        .find(|verb| word.eq_ignore_ascii_case(verb.as_bytes()))?;
    // `EHLO` alone is a missing argument too; `MAIL` must go on with ` FROM:`, `RCPT` with
    // ` TO:`, or it is not the command.
    match verb {
        "MAIL" => starts_with_ignore_case(after, b" FROM:").then_some(verb),
        "RCPT" => starts_with_ignore_case(after, b" TO:").then_some(verb),
        _ => Some(verb),
    }
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// Skips to the end of the line; returns its length, CRLF included (ephemail patch 4: upstream
/// returned nothing).
async fn advance_until_crlf<R>(
    r: &mut R,
    buf: &mut [u8],
    unhandled: &mut Range<usize>,
) -> io::Result<usize>
where
    R: Unpin + AsyncRead,
{
    let mut state = NextCrLfState::Start;
    let mut skipped = 0;
    loop {
        if let Some(p) = next_crlf(&buf[unhandled.clone()], &mut state) {
            unhandled.start += p + 1;
            return Ok(skipped + p + 1);
        } else {
            skipped += unhandled.len();
            let read = r.read(buf).await?;
            if read == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "connection shutdown while waiting for crlf after invalid command",
                ));
            }
            *unhandled = 0..read;
        }
    }
}

#[derive(Clone, Copy, Eq, PartialEq)]
pub enum IsAlreadyTls {
    Yes,
    No,
}

pub async fn interact<IO, Cfg>(
    io: IO,
    is_already_tls: IsAlreadyTls,
    metadata: Cfg::ConnectionUserMeta,
    cfg: Arc<Cfg>,
) -> io::Result<()>
where
    IO: 'static + Send + AsyncRead + AsyncWrite,
    Cfg: Config,
{
    let (io_r, io_w) = io.split();
    let mut io = duplexify::Duplex::new(
        Box::pin(io_r) as Pin<Box<dyn Send + AsyncRead>>,
        Box::pin(io_w) as Pin<Box<dyn Send + AsyncWrite>>,
    );

    let rdbuf = &mut [0; RDBUF_SIZE];
    // ephemail patch 4: the configured line limit, never over the read buffer.
    let max_line = cmp::min(cfg.max_command_line(), RDBUF_SIZE);
    let mut unhandled = 0..0;
    // TODO: should have a wrslices: Vec<IoSlice> here, so that we don't allocate
    // for each write, but it looks like the API for reusing a Vec's backing
    // allocation isn't ready yet and IoSlice's lifetime is going to make this
    // impossible. Maybe this would require writing a crate that allows such vec
    // storage recycling, as there doesn't appear to be any on crates.io. Having
    // the wrslices would allow us to avoid all the allocations at each
    // .collect() (present in `send_reply()`)
    let mut conn_meta = ConnectionMetadata {
        user: metadata,
        hello: None,
        is_encrypted: is_already_tls == IsAlreadyTls::Yes,
    };
    let mut mail_meta = None;

    let mut waiting_for_command_since = Utc::now();

    // ephemail patch 5: upstream's `read_for_command!`, renamed: the wait with the command timeout
    // only, still used as is while DATA is skipped (`Config::closing` does not cut a message).
    macro_rules! read_with_timeout {
        ($e:expr) => {
            $e.or(async {
                let max_delay: std::time::Duration =
                    (waiting_for_command_since + cfg.command_read_timeout() - Utc::now())
                        .to_std()
                        .unwrap_or(std::time::Duration::from_secs(0));
                // ephemail patch 8: tokio's timer, not smol's (async-io's reactor thread is woken
                // to register every timer: a thread switch per command).
                tokio::time::sleep(max_delay).await;
                // ephemail patch 2: the error says it is a command timeout (`CommandTimeout`).
                Err(io::Error::new(io::ErrorKind::TimedOut, CommandTimeout))
            })
        };
    }

    // ephemail patch 5: a wait for a command also ends when `Config::closing` resolves. One
    // future per session, polled again by every wait (a wait that lost to a command leaves it
    // pending, ready to be polled by the next).
    let mut closing = cfg.closing(&conn_meta);
    macro_rules! read_for_command {
        ($e:expr) => {
            read_with_timeout!($e)
                .or(async { Err(io::Error::other(Closing((&mut closing).await))) })
        };
    }

    macro_rules! send_reply {
        ($writer:expr, $reply:expr) => {
            // ephemail patch 8: futures-lite's `or`, not smol's.
            futures_lite::future::or(
                async {
                    // ephemail patch 9: the reply is kept for `Config::reply_sent`.
                    let reply = $reply;
                    // ephemail patch 7: one write per reply. Upstream's vectored write becomes one
                    // small write per slice on most streams, and Nagle's algorithm then holds
                    // each reply's tail for the peer's delayed ACK (about 40 ms a reply).
                    let mut bytes = Vec::with_capacity(256);
                    for slice in reply.as_io_slices() {
                        bytes.extend_from_slice(&slice);
                    }
                    $writer.write_all(&bytes).await?;
                    waiting_for_command_since = Utc::now();
                    // ephemail patch 9: every reply written is reported, once.
                    cfg.reply_sent(&reply, &mut conn_meta);
                    Ok(())
                },
                async {
                    // ephemail patch 8: tokio's timer, not smol's.
                    tokio::time::sleep(
                        cfg.reply_write_timeout()
                            .to_std()
                            .unwrap_or(std::time::Duration::from_secs(0)),
                    )
                    .await;
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "timed out sending a reply",
                    ))
                },
            )
        };
    }

    macro_rules! dispatch_decision {
        ($e:expr, Accept($reply:pat, $res:pat) => $accept:block) => {
            dispatch_decision!($e,
                Reject(reply) => {
                    send_reply!(io, reply).await?
                }
                Accept($reply, $res) => $accept
            )
        };

        (
            $e:expr,
            Reject($reply_r:pat) => $reject:block
            Accept($reply_a:pat, $res_a:pat) => $accept:block
        ) => {
            match $e {
                Decision::Accept { reply: $reply_a, res: $res_a } => $accept,
                Decision::Reject { reply: $reply_r } => $reject,
                Decision::Kill { reply, res } => {
                    if let Some(r) = reply {
                        send_reply!(io, r).await?;
                    }
                    return res;
                }
            }
        };
    }

    macro_rules! simple_handler {
        ($handler:expr) => {
            dispatch_decision! {
                $handler,
                Accept(reply, ()) => {
                    send_reply!(io, reply).await?;
                }
            }
        };
    }

    send_reply!(io, cfg.welcome_banner_reply(&mut conn_meta)).await?;

    // ephemail patch 2 (used by patch 5 too): the loop runs in an async block, so that the error
    // that ends it can still be answered below, on the same stream.
    let outcome: io::Result<()> = async { loop {
        // ephemail patch 3: the session may be over before the next command.
        if let Some(reply) = cfg.session_over(&mut conn_meta) {
            send_reply!(io, reply).await?;
            return Ok(());
        }
        if unhandled.is_empty() {
            unhandled = 0..read_for_command!(io.read(rdbuf)).await?;
            if unhandled.is_empty() {
                return Ok(());
            }
        }

        let cmd = match Command::<&str>::parse(&rdbuf[unhandled.clone()]) {
            Err(nom::Err::Incomplete(n)) => {
                // Don't have enough data to handle command, let's fetch more
                if unhandled.start != 0 {
                    // Do we have to copy the data to the beginning of the buffer?
                    let missing = match n {
                        nom::Needed::Unknown => MINIMUM_FREE_BUFSPACE,
                        nom::Needed::Size(s) => cmp::max(MINIMUM_FREE_BUFSPACE, s.into()),
                    };
                    if missing > rdbuf.len() - unhandled.end {
                        rdbuf.copy_within(unhandled.clone(), 0);
                        unhandled.end = unhandled.len();
                        unhandled.start = 0;
                    }
                }
                // ephemail patch 4: `|| unhandled.len() >= max_line`.
                if unhandled.end == rdbuf.len() || unhandled.len() >= max_line {
                    // If we reach here, it means that unhandled is already
                    // basically the full buffer (or the configured maximum). Which means that we
                    // have to error out that the line is too long.
                    read_for_command!(advance_until_crlf(&mut io, rdbuf, &mut unhandled)).await?;
                    send_reply!(io, cfg.line_too_long(&mut conn_meta)).await?;
                } else {
                    let read = read_for_command!(io.read(&mut rdbuf[unhandled.end..])).await?;
                    if read == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "connection shutdown with partial command",
                        ));
                    }
                    unhandled.end += read;
                }
                None
            }
            Err(_) => {
                // Syntax error
                // ephemail patch 6: a known verb gets `bad_arguments`, and patch 4: an over-long
                // line `line_too_long`; upstream answered `command_unrecognized` to all.
                let verb = verb_taking_arguments(&rdbuf[unhandled.clone()]);
                let line =
                    read_for_command!(advance_until_crlf(&mut io, rdbuf, &mut unhandled)).await?;
                if line > max_line {
                    send_reply!(io, cfg.line_too_long(&mut conn_meta)).await?;
                } else if let Some(verb) = verb {
                    send_reply!(io, cfg.bad_arguments(verb, &mut conn_meta)).await?;
                } else {
                    send_reply!(io, cfg.command_unrecognized(&mut conn_meta)).await?;
                }
                None
            }
            Ok((rem, cmd)) => {
                // Got a command
                // ephemail patch 4: a command over the limit is not run.
                let line = unhandled.len() - rem.len();
                unhandled.start = unhandled.end - rem.len();
                if line > max_line {
                    send_reply!(io, cfg.line_too_long(&mut conn_meta)).await?;
                    None
                } else {
                    Some(cmd)
                }
            }
        };

        // This match is really just to avoid too much rightwards drift, otherwise it
        // could have been included directly in the Ok((rem, cmd)) branch above.
        // Unfortunately we can't make it a function, because `cmd` borrows `rdbuf`, and
        // we need to use `rdbuf` in the `Command::Data` branch here
        match cmd {
            None => (),

            Some(cmd @ (Command::Ehlo { .. } | Command::Helo { .. } | Command::Lhlo { .. })) => {
                let (cmd_proto, is_extended, hostname) = match cmd {
                    Command::Ehlo { hostname } => (ProtocolName::Smtp, true, hostname),
                    Command::Helo { hostname } => (ProtocolName::Smtp, false, hostname),
                    Command::Lhlo { hostname } => (ProtocolName::Lmtp, true, hostname),
                    _ => unreachable!(),
                };
                if cmd_proto != <Cfg::Protocol as Protocol<'static>>::PROTOCOL {
                    send_reply!(io, cfg.command_unrecognized(&mut conn_meta)).await?;
                } else {
                    match conn_meta.hello {
                        Some(_) => {
                            send_reply!(io, cfg.already_did_hello(&mut conn_meta)).await?;
                        }
                        None => dispatch_decision! {
                            cfg.filter_hello(is_extended, hostname.into_owned(), &mut conn_meta)
                                .await,
                            Accept(reply, res) => {
                                conn_meta.hello = Some(res);
                                send_reply!(io, reply).await?;
                            }
                        },
                    }
                }
            }

            Some(Command::Mail {
                path: _path,
                email,
                // ephemail patch 1: kept (upstream bound `_params`), for `filter_mail_params`.
                params,
            }) => {
                if conn_meta.hello.is_none() {
                    send_reply!(io, cfg.mail_before_hello(&mut conn_meta)).await?;
                } else if let Some(reply) = mail_meta
                    // ephemail patch 1: the parameters, asked about outside a transaction only.
                    .is_none()
                    .then(|| cfg.filter_mail_params(&params, &mut conn_meta))
                    .flatten()
                {
                    send_reply!(io, reply).await?;
                } else {
                    match mail_meta {
                        Some(_) => {
                            // Both postfix and OpenSMTPD just return an error and ignore further
                            // MAIL FROM when there is already a MAIL FROM running
                            send_reply!(io, cfg.already_in_mail(&mut conn_meta)).await?;
                        }
                        None => {
                            let mut mail_metadata = MailMetadata {
                                user: cfg.new_mail(&mut conn_meta).await,
                                from: None,
                                to: Vec::with_capacity(4),
                            };
                            dispatch_decision! {
                                cfg.filter_from(
                                    email.as_ref().map(|e| e.clone().into_owned()),
                                    &mut mail_metadata,
                                    &mut conn_meta,
                                )
                                .await,
                                Accept(reply, res) => {
                                    mail_metadata.from = res;
                                    mail_meta = Some(mail_metadata);
                                    send_reply!(io, reply).await?;
                                }
                            }
                        }
                    }
                }
            }

            Some(Command::Rcpt {
                path: _path,
                email,
                params: _params,
            }) => match mail_meta {
                None => {
                    send_reply!(io, cfg.rcpt_before_mail(&mut conn_meta)).await?;
                }
                Some(ref mut mail_meta_unw) => dispatch_decision! {
                    cfg.filter_to(email.into_owned(), mail_meta_unw, &mut conn_meta).await,
                    Accept(reply, res) => {
                        mail_meta_unw.to.push(res);
                        send_reply!(io, reply).await?;
                    }
                },
            },

            Some(Command::Data) => match mail_meta.take() {
                None => {
                    send_reply!(io, cfg.data_before_mail(&mut conn_meta)).await?;
                }
                Some(ref mail_meta_unw) if mail_meta_unw.to.is_empty() => {
                    send_reply!(io, cfg.data_before_rcpt(&mut conn_meta)).await?;
                }
                Some(mut mail_meta_unw) => {
                    dispatch_decision! {
                        cfg.filter_data(&mut mail_meta_unw, &mut conn_meta).await,
                        Reject(reply) => {
                            mail_meta = Some(mail_meta_unw);
                            send_reply!(io, reply).await?;
                        }
                        Accept(reply, ()) => {
                            send_reply!(io, reply).await?;
                            let mut reader =
                                EscapedDataReader::new(rdbuf, unhandled.clone(), &mut io);
                            let expected_n_decisions = match <Cfg::Protocol as Protocol<'static>>::PROTOCOL {
                                ProtocolName::Smtp => 1,
                                ProtocolName::Lmtp => mail_meta_unw.to.len(),
                            };
                            let mut decision_stream = <Cfg::Protocol as Protocol<'_>>::handle_mail_return_type_as_stream(cfg
                                .handle_mail(&mut reader, mail_meta_unw, &mut conn_meta).await);
                            // This variable is a trick because otherwise rustc thinks the `reader`
                            // borrow is still alive across await points and makes `interact: !Send`
                            let reader_was_completed = if let Some(u) = reader.get_unhandled() {
                                unhandled = u;
                                true
                            } else {
                                false
                            };
                            if reader_was_completed {
                                // Other mail systems (at least
                                // postfix, OpenSMTPD and gmail)
                                // appear to drop the state on an
                                // unsuccessful DATA command (eg. too
                                // long, non-RFC5322-compliant, etc.).
                                // Couldn't find the RFC reference
                                // anywhere, though.
                                // ephemail patch 9: the decisions are taken before their replies are
                                // sent, and the stream (which borrows the connection's metadata)
                                // dropped, since `reply_sent` is given that metadata. SMTP has one
                                // decision; LMTP's replies now go out once all are decided.
                                let mut decisions = Vec::with_capacity(expected_n_decisions);
                                while let Some(decision) = decision_stream.next().await {
                                    if decisions.len() == expected_n_decisions {
                                        panic!("got more decisions in handle_mail return than the expected {}", expected_n_decisions);
                                    }
                                    decisions.push(decision);
                                }
                                drop(decision_stream);
                                assert_eq!(decisions.len(), expected_n_decisions, "got {} decisions in handle_mail return, expected {}", decisions.len(), expected_n_decisions);
                                for decision in decisions {
                                    simple_handler!(decision);
                                }
                            } else {
                                // handle_mail did not call complete, let's read until the end and
                                // then return an error
                                // TODO: 128 is probably too small?
                                let ignore_buf = &mut [0u8; 128];
                                // TODO: consider whether it would make sense to have a separate
                                // timeout here... giving as much time for sending the whole DATA
                                // message may be a bit too little? but then it only happens when
                                // handle_mail breaks anyway, so...
                                // ephemail patch 5: `read_with_timeout!` (upstream's
                                // `read_for_command!`): `Config::closing` does not cut this.
                                while read_with_timeout!(reader.read(ignore_buf)).await? != 0 {}
                                if !reader.is_finished() {
                                    // Stream cut mid-connection
                                    return Err(io::Error::new(
                                        io::ErrorKind::ConnectionAborted,
                                        "connection shutdown during email reception",
                                    ));
                                }
                                reader.complete();
                                unhandled = reader.get_unhandled().unwrap();
                                // TODO: rustc complains if we don't drop(decision_stream) here, why?
                                drop(decision_stream);
                                for _i in 0..expected_n_decisions {
                                    send_reply!(io, cfg.handle_mail_did_not_call_complete(&mut conn_meta)).await?;
                                }
                            };
                        }
                    }
                }
            },

            Some(Command::Rset) => dispatch_decision! {
                cfg.handle_rset(&mut mail_meta, &mut conn_meta).await,
                Accept(reply, ()) => {
                    mail_meta = None;
                    send_reply!(io, reply).await?;
                }
            },

            Some(Command::Starttls) => {
                if !cfg.can_do_tls(&conn_meta) {
                    send_reply!(io, cfg.starttls_unsupported(&mut conn_meta)).await?;
                } else if !unhandled.is_empty() {
                    send_reply!(io, cfg.pipeline_forbidden_after_starttls(&mut conn_meta)).await?;
                } else {
                    dispatch_decision! {
                        cfg.handle_starttls(&mut conn_meta).await,
                        Accept(reply, ()) => {
                            send_reply!(io, reply).await?;
                            // ephemail patch 2: swapped out, as the async block borrows `io`.
                            let plain = std::mem::replace(&mut io, duplexify::Duplex::new(
                                Box::pin(futures::io::empty()) as Pin<Box<dyn Send + AsyncRead>>,
                                Box::pin(futures::io::sink()) as Pin<Box<dyn Send + AsyncWrite>>,
                            ));
                            io = cfg.tls_accept(plain, &mut conn_meta).await?;
                            mail_meta = None;
                            conn_meta.is_encrypted = true;
                            conn_meta.hello = None;
                        }
                    }
                }
            }

            Some(Command::Expn { name }) => {
                simple_handler!(cfg.handle_expn(name, &mut conn_meta).await)
            }
            Some(Command::Vrfy { name }) => {
                simple_handler!(cfg.handle_vrfy(name, &mut conn_meta).await)
            }
            Some(Command::Help { subject }) => {
                simple_handler!(cfg.handle_help(subject, &mut conn_meta).await)
            }
            Some(Command::Noop { string }) => {
                simple_handler!(cfg.handle_noop(string, &mut conn_meta).await)
            }
            Some(Command::Quit) => simple_handler!(cfg.handle_quit(&mut conn_meta).await),
        }
    } }.await;
    // ephemail patch 5: a session `Config::closing` ended gets its reply and ends cleanly; patch 2:
    // one that timed out waiting for a command gets `command_timeout_reply`.
    if let Err(error) = &outcome {
        let inner = error.get_ref();
        if let Some(Closing(reply)) = inner.and_then(|inner| inner.downcast_ref::<Closing>()) {
            send_reply!(io, reply.clone()).await?;
            return Ok(());
        }
        let timed_out = inner.is_some_and(|inner| inner.is::<CommandTimeout>());
        if let Some(reply) = timed_out
            .then(|| cfg.command_timeout_reply(&mut conn_meta))
            .flatten()
        {
            send_reply!(io, reply).await?;
        }
    }
    outcome
}

// ephemail: upstream's unit tests (`mod tests`, which need the nightly `negative_impls`
// feature) are removed; tests/patches.rs tests the patches. See PATCHES.md.
