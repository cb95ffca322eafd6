//! One test per ephemail patch of this vendored crate (see PATCHES.md, which names each test).
//!
//! Every test drives `smtp_server::interact` over a real socket pair: a tokio `TcpListener` on
//! 127.0.0.1:0 accepts one connection, wrapped with tokio-util's compat layer as ephemail does,
//! and a tokio `TcpStream` client speaks SMTP to it. The `Config` here is minimal: every hook a
//! test does not switch on keeps the crate's default, that is upstream's behaviour, and several
//! tests check that default too.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use futures::{
    channel::oneshot,
    io::{AsyncRead, AsyncReadExt as _, AsyncWrite},
};
use smtp_message::{Email, EscapedDataReader, MaybeUtf8, Parameters, Reply, ReplyCode};
use smtp_server::{
    reply as default_reply, ConnectionMetadata, Decision, IsAlreadyTls, MailMetadata,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{
        tcp::{OwnedReadHalf, OwnedWriteHalf},
        TcpListener, TcpStream,
    },
    task::JoinHandle,
};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// How long a client waits for a reply or for the end of the session before the test fails.
const CLIENT_WAIT: Duration = Duration::from_secs(10);

fn reply(code: &[u8; 3], text: &str) -> Reply {
    Reply {
        code: ReplyCode(*code),
        ecode: None,
        text: vec![MaybeUtf8::Utf8(text.to_owned())],
    }
}

/// The hooks a test switches on; `Hooks::default()` is upstream's behaviour throughout.
#[derive(Default)]
struct Hooks {
    /// Patch 1: refuse `MAIL FROM` with a `SIZE=` over this.
    refuse_size_over: Option<u64>,
    /// Patch 1: every parameter list `filter_mail_params` was asked about.
    params_seen: Mutex<Vec<String>>,
    /// `command_read_timeout`, when not upstream's five minutes.
    command_timeout: Option<chrono::Duration>,
    /// Patch 2: reply to a command timeout.
    timeout_reply: bool,
    /// Patch 3: end the session once this many commands went unrecognized.
    max_errors: Option<u32>,
    /// Patch 4: the longest command line.
    max_line: Option<usize>,
    /// Patch 5: the session closes once this is sent to.
    closing: Mutex<Option<oneshot::Receiver<()>>>,
    /// Patch 5: how often `closing` was asked for.
    closing_calls: AtomicUsize,
    /// Patch 6: `501` for a known command with bad arguments.
    bad_arguments: bool,
    /// Patch 9: the code of every reply `reply_sent` was told of, in order.
    replies_sent: Mutex<Vec<String>>,
}

/// The connection's own state: the errors counted for patch 3.
#[derive(Default)]
struct Session {
    errors: u32,
}

type Conn = ConnectionMetadata<Session>;

#[async_trait]
impl smtp_server::Config for Hooks {
    type Protocol = smtp_server::protocol::Smtp;
    type ConnectionUserMeta = Session;
    type MailUserMeta = ();

    fn hostname(&self, _conn: &Conn) -> &str {
        "mx.test"
    }

    fn can_do_tls(&self, _conn: &Conn) -> bool {
        false
    }

    async fn tls_accept<IO>(
        &self,
        _io: IO,
        _conn: &mut Conn,
    ) -> io::Result<
        duplexify::Duplex<Pin<Box<dyn Send + AsyncRead>>, Pin<Box<dyn Send + AsyncWrite>>>,
    >
    where
        IO: 'static + Unpin + Send + AsyncRead + AsyncWrite,
    {
        Err(io::Error::new(io::ErrorKind::Unsupported, "no TLS here"))
    }

    async fn new_mail(&self, _conn: &mut Conn) {}

    async fn filter_from(
        &self,
        from: Option<Email>,
        _mail: &mut MailMetadata<()>,
        _conn: &mut Conn,
    ) -> Decision<Option<Email>> {
        Decision::Accept {
            reply: default_reply::okay_from().convert(),
            res: from,
        }
    }

    async fn filter_to(
        &self,
        to: Email,
        _mail: &mut MailMetadata<()>,
        _conn: &mut Conn,
    ) -> Decision<Email> {
        Decision::Accept {
            reply: default_reply::okay_to().convert(),
            res: to,
        }
    }

    async fn handle_mail<'resp, R>(
        &'resp self,
        stream: &mut EscapedDataReader<'_, R>,
        _mail: MailMetadata<()>,
        _conn: &'resp mut Conn,
    ) -> Decision<()>
    where
        R: Send + Unpin + AsyncRead,
        Self: 'resp,
    {
        let mut sink = Vec::new();
        if stream.read_to_end(&mut sink).await.is_err() || !stream.is_finished() {
            return Decision::Reject {
                reply: reply(b"451", "data not received"),
            };
        }
        stream.complete();
        Decision::Accept {
            reply: default_reply::okay_mail().convert(),
            res: (),
        }
    }

    fn command_unrecognized(&self, conn: &mut Conn) -> Reply {
        conn.user.errors += 1;
        default_reply::command_unrecognized().convert()
    }

    fn command_read_timeout(&self) -> chrono::Duration {
        self.command_timeout
            .unwrap_or_else(|| chrono::Duration::minutes(5))
    }

    fn filter_mail_params(&self, params: &Parameters<&str>, _conn: &mut Conn) -> Option<Reply> {
        let listed = params
            .0
            .iter()
            .map(
                |(smtp_message::ParameterName::Other(name), value)| match value {
                    Some(MaybeUtf8::Ascii(value) | MaybeUtf8::Utf8(value)) => {
                        format!("{name}={value}")
                    }
                    None => (*name).to_owned(),
                },
            )
            .collect::<Vec<_>>()
            .join(" ");
        self.params_seen.lock().unwrap().push(listed);
        let limit = self.refuse_size_over?;
        params.0.iter().find_map(|(name, value)| {
            let smtp_message::ParameterName::Other(name) = name;
            let Some(MaybeUtf8::Ascii(size) | MaybeUtf8::Utf8(size)) = value else {
                return None;
            };
            let too_large = name.eq_ignore_ascii_case("SIZE") && size.parse::<u64>().ok()? > limit;
            too_large.then(|| reply(b"552", "message too large"))
        })
    }

    fn command_timeout_reply(&self, _conn: &mut Conn) -> Option<Reply> {
        self.timeout_reply
            .then(|| reply(b"421", "timed out waiting for a command"))
    }

    fn session_over(&self, conn: &mut Conn) -> Option<Reply> {
        let max = self.max_errors?;
        (conn.user.errors >= max).then(|| reply(b"421", "too many errors"))
    }

    fn max_command_line(&self) -> usize {
        self.max_line.unwrap_or(smtp_server::RDBUF_SIZE)
    }

    fn closing(&self, _conn: &Conn) -> Pin<Box<dyn Send + Future<Output = Reply>>> {
        self.closing_calls.fetch_add(1, Ordering::SeqCst);
        let signal = self.closing.lock().unwrap().take();
        Box::pin(async move {
            if let Some(signal) = signal {
                if signal.await.is_ok() {
                    return reply(b"421", "closing");
                }
            }
            std::future::pending().await
        })
    }

    fn bad_arguments(&self, verb: &str, conn: &mut Conn) -> Reply {
        if self.bad_arguments {
            reply(b"501", &format!("bad {verb} arguments"))
        } else {
            self.command_unrecognized(conn)
        }
    }

    fn reply_sent(&self, reply: &Reply, _conn: &mut Conn) {
        let code = String::from_utf8_lossy(&reply.code.0).into_owned();
        self.replies_sent.lock().unwrap().push(code);
    }
}

/// The client end of a session.
struct Client {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl Client {
    async fn send(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
    }

    /// Sends one command line and returns its reply.
    async fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// One whole reply, every line of it, CRLFs included.
    async fn reply(&mut self) -> String {
        tokio::time::timeout(CLIENT_WAIT, async {
            let mut reply = String::new();
            loop {
                let start = reply.len();
                let read = self.read.read_line(&mut reply).await.unwrap();
                assert!(read > 0, "the session closed; got so far: {:?}", reply);
                assert!(
                    reply.ends_with("\r\n"),
                    "a reply line without CRLF: {:?}",
                    reply
                );
                if reply.as_bytes().get(start + 3) == Some(&b' ') {
                    return reply;
                }
            }
        })
        .await
        .expect("no reply in time")
    }

    /// Waits for the server to close the connection, and checks it sent nothing more.
    async fn closed(&mut self) {
        let mut rest = String::new();
        tokio::time::timeout(CLIENT_WAIT, self.read.read_line(&mut rest))
            .await
            .expect("the session was not closed in time")
            .unwrap();
        assert_eq!(rest, "", "more from the server before it closed");
    }
}

/// A session on a real socket pair: the server end runs `interact` with `hooks` on `wrap` of the
/// compat-wrapped accepted stream. Returns the client (the banner already read), the session's
/// outcome and the hooks.
async fn session_with<IO>(
    hooks: Hooks,
    wrap: impl FnOnce(Compat<TcpStream>) -> IO + Send + 'static,
) -> (Client, JoinHandle<io::Result<()>>, Arc<Hooks>)
where
    IO: 'static + Send + AsyncRead + AsyncWrite,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hooks = Arc::new(hooks);
    let cfg = hooks.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        smtp_server::interact(
            wrap(stream.compat()),
            IsAlreadyTls::No,
            Session::default(),
            cfg,
        )
        .await
    });
    let (read, write) = TcpStream::connect(address).await.unwrap().into_split();
    let mut client = Client {
        read: BufReader::new(read),
        write,
    };
    assert_eq!(client.reply().await, "220 mx.test Service ready\r\n");
    (client, server, hooks)
}

async fn session(hooks: Hooks) -> (Client, JoinHandle<io::Result<()>>, Arc<Hooks>) {
    session_with(hooks, |stream| stream).await
}

/// How the session ended, as `interact` returned it.
async fn outcome(server: JoinHandle<io::Result<()>>) -> io::Result<()> {
    tokio::time::timeout(CLIENT_WAIT, server)
        .await
        .expect("interact did not return")
        .expect("interact panicked")
}

/// Patch 1: `filter_mail_params` sees `MAIL FROM`'s ESMTP parameters (upstream drops them) and
/// can refuse the command; it is not asked while a mail transaction is open.
#[tokio::test]
async fn patch_1_filter_mail_params() {
    let (mut client, server, hooks) = session(Hooks {
        refuse_size_over: Some(1000),
        ..Hooks::default()
    })
    .await;
    assert!(client
        .command("EHLO client.test")
        .await
        .starts_with("250-mx.test\r\n"));
    assert_eq!(
        client
            .command("MAIL FROM:<a@client.test> SIZE=5000 BODY=8BITMIME")
            .await,
        "552 message too large\r\n"
    );
    assert_eq!(
        client
            .command("MAIL FROM:<a@client.test> SIZE=10 SMTPUTF8")
            .await,
        "250 2.0.0 Okay\r\n"
    );
    // A transaction is open: upstream's 503, and the filter is not consulted.
    assert_eq!(
        client.command("MAIL FROM:<b@client.test> SIZE=5000").await,
        "503 5.5.1 Bad sequence of commands\r\n"
    );
    assert_eq!(
        *hooks.params_seen.lock().unwrap(),
        ["SIZE=5000 BODY=8BITMIME", "SIZE=10 SMTPUTF8"]
    );
    assert!(client.command("QUIT").await.starts_with("221 "));
    client.closed().await;
    outcome(server).await.unwrap();
}

/// Patch 2: a session that sends no command within `command_read_timeout` gets
/// `command_timeout_reply` before it is closed; by default it is closed without a word, as
/// upstream does.
#[tokio::test]
async fn patch_2_command_timeout_reply() {
    let timeout = chrono::Duration::milliseconds(200);
    let (mut client, server, _) = session(Hooks {
        command_timeout: Some(timeout),
        timeout_reply: true,
        ..Hooks::default()
    })
    .await;
    assert_eq!(client.command("NOOP").await, "250 2.0.0 Okay\r\n");
    assert_eq!(
        client.reply().await,
        "421 timed out waiting for a command\r\n"
    );
    client.closed().await;
    let error = outcome(server).await.unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);

    let (mut client, server, _) = session(Hooks {
        command_timeout: Some(timeout),
        ..Hooks::default()
    })
    .await;
    client.closed().await;
    assert_eq!(
        outcome(server).await.unwrap_err().kind(),
        io::ErrorKind::TimedOut
    );
}

/// Patch 3: `session_over` is asked before each command; its reply ends the session, without
/// waiting for the client's next command.
#[tokio::test]
async fn patch_3_session_over() {
    let (mut client, server, _) = session(Hooks {
        max_errors: Some(2),
        ..Hooks::default()
    })
    .await;
    assert_eq!(client.command("NOOP").await, "250 2.0.0 Okay\r\n");
    assert_eq!(
        client.command("XYZZY").await,
        "500 5.5.1 Command not recognized\r\n"
    );
    assert_eq!(
        client.command("PLUGH").await,
        "500 5.5.1 Command not recognized\r\n"
    );
    assert_eq!(client.reply().await, "421 too many errors\r\n");
    client.closed().await;
    outcome(server).await.unwrap();
}

/// Patch 4: `max_command_line` bounds a command line, CRLF included; a longer one, whole or in
/// pieces, valid or not, gets `line_too_long` and the session goes on. The default stays
/// upstream's read buffer size.
#[tokio::test]
async fn patch_4_max_command_line() {
    const TOO_LONG: &str = "500 5.0.0 Line too long\r\n";
    let (mut client, server, _) = session(Hooks {
        max_line: Some(64),
        ..Hooks::default()
    })
    .await;
    let noop = |length: usize| format!("NOOP {}", "x".repeat(length - "NOOP \r\n".len()));
    assert_eq!(client.command(&noop(64)).await, "250 2.0.0 Okay\r\n");
    assert_eq!(client.command(&noop(65)).await, TOO_LONG);
    // Not a command at all: too long still, rather than unrecognized.
    assert_eq!(client.command(&"XYZZY".repeat(20)).await, TOO_LONG);
    // In pieces, the limit passed before the line's end arrives.
    client.send(noop(100).as_bytes()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.send(b"xxxxxxxxxx").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(client.command("").await, TOO_LONG);
    assert_eq!(client.command("NOOP").await, "250 2.0.0 Okay\r\n");
    assert!(client.command("QUIT").await.starts_with("221 "));
    client.closed().await;
    outcome(server).await.unwrap();

    let (mut client, server, _) = session(Hooks::default()).await;
    assert_eq!(client.command(&noop(1000)).await, "250 2.0.0 Okay\r\n");
    assert!(client.command("QUIT").await.starts_with("221 "));
    outcome(server).await.unwrap();
}

/// Patch 5: `closing` is asked for once per session and raced with every wait for a command;
/// when it resolves its reply is sent and the session ends cleanly.
#[tokio::test]
async fn patch_5_closing() {
    let (close, closing) = oneshot::channel();
    let (mut client, server, hooks) = session(Hooks {
        closing: Mutex::new(Some(closing)),
        ..Hooks::default()
    })
    .await;
    assert!(client
        .command("EHLO client.test")
        .await
        .starts_with("250-mx.test\r\n"));
    for _ in 0..3 {
        assert_eq!(client.command("NOOP").await, "250 2.0.0 Okay\r\n");
    }
    // The session now waits for a command.
    close.send(()).unwrap();
    assert_eq!(client.reply().await, "421 closing\r\n");
    client.closed().await;
    outcome(server).await.unwrap();
    assert_eq!(hooks.closing_calls.load(Ordering::SeqCst), 1);
}

/// Patch 6: a line that starts like a command taking arguments but does not parse gets
/// `bad_arguments(verb)` (by default still upstream's `500`), anything else
/// `command_unrecognized`.
#[tokio::test]
async fn patch_6_bad_arguments() {
    const UNRECOGNIZED: &str = "500 5.5.1 Command not recognized\r\n";
    let (mut client, server, _) = session(Hooks {
        bad_arguments: true,
        ..Hooks::default()
    })
    .await;
    assert_eq!(client.command("EHLO").await, "501 bad EHLO arguments\r\n");
    assert!(client
        .command("EHLO client.test")
        .await
        .starts_with("250-mx.test\r\n"));
    assert_eq!(
        client.command("MAIL FROM:<a b@client.test>").await,
        "501 bad MAIL arguments\r\n"
    );
    assert_eq!(
        client.command("MAIL FROM:<a@client.test>").await,
        "250 2.0.0 Okay\r\n"
    );
    assert_eq!(
        client.command("rcpt to:<a b@mx.test>").await,
        "501 bad RCPT arguments\r\n"
    );
    assert_eq!(client.command("MAIL TO:<a@mx.test>").await, UNRECOGNIZED);
    assert_eq!(client.command("XYZZY").await, UNRECOGNIZED);
    assert!(client.command("QUIT").await.starts_with("221 "));
    outcome(server).await.unwrap();

    let (mut client, server, _) = session(Hooks::default()).await;
    assert!(client
        .command("EHLO client.test")
        .await
        .starts_with("250-mx.test\r\n"));
    assert_eq!(
        client.command("MAIL FROM:<a b@client.test>").await,
        UNRECOGNIZED
    );
    assert!(client.command("QUIT").await.starts_with("221 "));
    outcome(server).await.unwrap();
}

/// Every write the server makes, as the stream saw it.
struct CountingWrites<S> {
    inner: S,
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for CountingWrites<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountingWrites<S> {
    // No `poll_write_vectored`: like tokio-util's compat wrapper, the default one writes the
    // first slice only, which is what made upstream's vectored reply one write per slice.
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            self.writes.lock().unwrap().push(buf[..n].to_vec());
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// Patch 7: `send_reply!` writes each reply, multi-line ones included, with one write.
#[tokio::test]
async fn patch_7_send_reply_one_write() {
    let writes = Arc::new(Mutex::new(Vec::new()));
    let counted = writes.clone();
    let (mut client, server, _) = session_with(Hooks::default(), move |inner| CountingWrites {
        inner,
        writes: counted,
    })
    .await;
    let ehlo = client.command("EHLO client.test").await;
    assert_eq!(ehlo.lines().count(), 5, "a multi-line reply: {ehlo:?}");
    let noop = client.command("NOOP").await;
    let quit = client.command("QUIT").await;
    client.closed().await;
    outcome(server).await.unwrap();
    let replies = ["220 mx.test Service ready\r\n", &ehlo, &noop, &quit];
    let writes = writes.lock().unwrap();
    let writes = writes
        .iter()
        .map(|write| String::from_utf8_lossy(write))
        .collect::<Vec<_>>();
    assert_eq!(writes, replies, "one write per reply");
}

/// Patch 9: `reply_sent` is told of every reply once it is written, in order, whichever hook or
/// default made it: the banner, `354`, the reply after DATA, an unrecognized command's, the
/// reply of a session that `closing` ends after the command loop; and of the command timeout's
/// reply the same way.
#[tokio::test]
async fn patch_9_reply_sent() {
    let (close, closing) = oneshot::channel();
    let (mut client, server, hooks) = session(Hooks {
        closing: Mutex::new(Some(closing)),
        ..Hooks::default()
    })
    .await;
    assert!(client.command("EHLO client.test").await.starts_with("250"));
    assert!(client
        .command("MAIL FROM:<a@client.test>")
        .await
        .starts_with("250"));
    assert!(client
        .command("RCPT TO:<b@mx.test>")
        .await
        .starts_with("250"));
    assert!(client.command("DATA").await.starts_with("354"));
    assert!(client
        .command("Subject: x\r\n\r\nbody\r\n.")
        .await
        .starts_with("250"));
    assert!(client.command("XYZZY").await.starts_with("500"));
    close.send(()).unwrap();
    assert_eq!(client.reply().await, "421 closing\r\n");
    client.closed().await;
    outcome(server).await.unwrap();
    assert_eq!(
        *hooks.replies_sent.lock().unwrap(),
        ["220", "250", "250", "250", "354", "250", "500", "421"]
    );

    let (mut client, server, hooks) = session(Hooks {
        command_timeout: Some(chrono::Duration::milliseconds(200)),
        timeout_reply: true,
        ..Hooks::default()
    })
    .await;
    assert_eq!(
        client.reply().await,
        "421 timed out waiting for a command\r\n"
    );
    client.closed().await;
    assert!(outcome(server).await.is_err());
    assert_eq!(*hooks.replies_sent.lock().unwrap(), ["220", "421"]);
}

/// Patch 8: the command-read timeout sleeps on tokio's timer (here a current-thread runtime's),
/// not on `smol::Timer`, whose first use starts async-io's reactor thread (named "async-io").
/// The crate names neither `smol` nor `async-io` as a dependency (async-io still comes in
/// through duplexify's async-std, compiled but never started).
#[test]
fn patch_8_tokio_timers() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        let (mut client, server, _) = session(Hooks {
            command_timeout: Some(chrono::Duration::milliseconds(200)),
            timeout_reply: true,
            ..Hooks::default()
        })
        .await;
        for _ in 0..10 {
            assert_eq!(client.command("NOOP").await, "250 2.0.0 Okay\r\n");
        }
        assert_eq!(
            client.reply().await,
            "421 timed out waiting for a command\r\n"
        );
        client.closed().await;
        assert_eq!(
            outcome(server).await.unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
    });
    assert!(started.elapsed() < CLIENT_WAIT);

    if cfg!(target_os = "linux") {
        let threads = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .map(|task| {
                let comm = task.unwrap().path().join("comm");
                std::fs::read_to_string(comm).unwrap_or_default()
            })
            .collect::<Vec<_>>();
        assert!(
            !threads.iter().any(|name| name.trim() == "async-io"),
            "async-io's reactor thread runs: {:?}",
            threads
        );
    }

    let manifest = include_str!("../Cargo.toml");
    for line in manifest.lines().map(str::trim) {
        for crate_name in ["smol", "async-io"] {
            let named = line.starts_with(&format!("[dependencies.{crate_name}]"))
                || line.starts_with(&format!("{crate_name} "))
                || line.starts_with(&format!("{crate_name}="))
                || line.starts_with(&format!("{crate_name}."));
            assert!(!named, "{} is a dependency again: {:?}", crate_name, line);
        }
    }
}
