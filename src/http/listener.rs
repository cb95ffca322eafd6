//! The HTTP server's connections: TLS when configured (rustls, handshaken lazily so one slow
//! client cannot hold up accepting others), and deadlines hyper does not apply under poem:
//! each request head must arrive within `--http-header-timeout` of its first byte (or of the
//! connection opening), and a kept-alive connection with nothing to do is closed. A client
//! that trickles its headers (slowloris) therefore holds a connection for a bounded time.
//! Once a request head is in, the request may take as long as it needs (long polls), and
//! upgraded connections (WebSocket) have limits of their own.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Duration,
};

use futures_rustls::{server::TlsStream, Accept, TlsAcceptor};
use poem::{
    listener::{Acceptor, TcpAcceptor},
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    time::{Instant, Sleep},
};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};

/// How long a kept-alive connection may wait for its next request.
const KEEP_ALIVE: Duration = Duration::from_secs(60);

pub struct HttpAcceptor {
    tcp: TcpAcceptor,
    tls: Option<TlsAcceptor>,
    head_timeout: Duration,
}

impl HttpAcceptor {
    pub fn new(tcp: TcpAcceptor, tls: Option<TlsAcceptor>, head_timeout: Duration) -> Self {
        Self {
            tcp,
            tls,
            head_timeout,
        }
    }
}

impl Acceptor for HttpAcceptor {
    type Io = Deadlines<Connection>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.tcp.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (stream, local, remote, scheme) = self.tcp.accept().await?;
        let (connection, scheme) = match &self.tls {
            Some(tls) => (
                Connection::Handshaking(Box::new(tls.accept(stream.compat()))),
                poem::http::uri::Scheme::HTTPS,
            ),
            None => (Connection::Plain(stream), scheme),
        };
        Ok((
            Deadlines::new(connection, self.head_timeout),
            local,
            remote,
            scheme,
        ))
    }
}

/// A plain or TLS connection; the TLS handshake runs on first use.
pub enum Connection {
    Plain(TcpStream),
    Handshaking(Box<Accept<Compat<TcpStream>>>),
    Tls(Box<Compat<TlsStream<Compat<TcpStream>>>>),
    Failed,
}

impl Connection {
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Self::Handshaking(accept) = self {
            match ready!(Pin::new(accept.as_mut()).poll(cx)) {
                Ok(stream) => *self = Self::Tls(Box::new(stream.compat())),
                Err(error) => {
                    *self = Self::Failed;
                    return Poll::Ready(Err(error));
                }
            }
        }
        match self {
            Self::Failed => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Runs `operation` on the stream once the handshake is done.
    fn poll_io<R>(
        &mut self,
        cx: &mut Context<'_>,
        operation: impl FnOnce(Pin<&mut (dyn Io + Send)>, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        ready!(self.poll_handshake(cx))?;
        match self {
            Self::Plain(stream) => operation(Pin::new(stream), cx),
            Self::Tls(stream) => operation(Pin::new(stream.as_mut()), cx),
            Self::Handshaking(_) | Self::Failed => {
                Poll::Ready(Err(io::ErrorKind::NotConnected.into()))
            }
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().poll_io(cx, |io, cx| io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_io(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_io(cx, |io, cx| io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_io(cx, |io, cx| io.poll_shutdown(cx))
    }
}

/// Where a connection is between requests, as seen from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for (the rest of) a request head; the deadline runs.
    Head,
    /// The head is in; the request and its response take what they take.
    Request,
    /// A response was written; the deadline runs until the next request starts.
    Idle,
    /// Switched to another protocol (WebSocket, HTTP/2): no more HTTP/1 heads to watch.
    Upgraded,
}

pub struct Deadlines<T> {
    inner: T,
    phase: Phase,
    head_timeout: Duration,
    /// Gone once the connection is upgraded: a timer that is never polled again would keep the
    /// waker of the task that served the HTTP request, and with it that task's memory, for as
    /// long as the upgraded connection lives.
    deadline: Option<Pin<Box<Sleep>>>,
    /// The last bytes of the head read so far, to find its end across reads.
    tail: [u8; 3],
}

impl<T> Deadlines<T> {
    fn new(inner: T, head_timeout: Duration) -> Self {
        Self {
            inner,
            phase: Phase::Head,
            head_timeout,
            deadline: Some(Box::pin(tokio::time::sleep(head_timeout))),
            tail: [0; 3],
        }
    }

    fn arm(&mut self, after: Duration) {
        // Only an upgraded connection has none, and it is never armed again.
        if let Some(deadline) = &mut self.deadline {
            deadline.as_mut().reset(Instant::now() + after);
        }
    }

    fn upgraded(&mut self) {
        self.phase = Phase::Upgraded;
        self.deadline = None;
    }

    /// Follows the request heads in `bytes`, just read.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.phase == Phase::Idle {
            self.phase = Phase::Head;
            self.tail = [0; 3];
            self.arm(self.head_timeout);
        }
        if self.phase != Phase::Head {
            return;
        }
        if bytes.starts_with(b"PRI * HTTP/2.0") {
            self.upgraded();
            return;
        }
        let mut window = self.tail.to_vec();
        window.extend_from_slice(&bytes[..bytes.len().min(3)]);
        let ended = window.windows(4).any(|w| w == b"\r\n\r\n")
            || bytes.windows(4).any(|w| w == b"\r\n\r\n");
        if ended {
            self.phase = Phase::Request;
        } else {
            let keep = bytes.len().min(3);
            self.tail.rotate_left(keep);
            self.tail[3 - keep..].copy_from_slice(&bytes[bytes.len() - keep..]);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Deadlines<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let watched = matches!(this.phase, Phase::Head | Phase::Idle);
                if watched
                    && (this.deadline.as_mut())
                        .is_some_and(|deadline| deadline.as_mut().poll(cx).is_ready())
                {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no complete request in time",
                    )));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Deadlines<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        if matches!(this.phase, Phase::Request | Phase::Idle) {
            if buf.starts_with(b"HTTP/1.1 101") {
                this.upgraded();
            } else {
                this.phase = Phase::Idle;
                this.arm(KEEP_ALIVE);
            }
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
