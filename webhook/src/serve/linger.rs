//! Closing a connection without destroying the last answer ("lingering close", as nginx and
//! Apache do it): when HTTP is done with a connection, stop writing (TLS close_notify, then
//! FIN) and read and discard whatever the client still sends, until it closes or a short
//! deadline passes. Closing a socket that still has unread input makes the kernel send a TCP
//! reset, and a reset can wipe out a response the client has not read yet: a client still
//! sending a body refused early (413 on its Content-Length) would see "connection reset"
//! instead of the 413.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How long a closed connection keeps discarding what the client still sends.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(5);

enum State {
    Open,
    Draining(Pin<Box<Sleep>>),
    Closed,
}

/// A stream whose shutdown lingers: see the module documentation.
pub struct LingeringClose<T> {
    inner: T,
    state: State,
}

impl<T> LingeringClose<T> {
    /// Wraps a connection's stream.
    pub fn new(inner: T) -> Self {
        LingeringClose {
            inner,
            state: State::Open,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LingeringClose<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for LingeringClose<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Open => {
                    let shut = ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
                    if shut.is_err() {
                        this.state = State::Closed;
                        return Poll::Ready(shut);
                    }
                    this.state = State::Draining(Box::pin(tokio::time::sleep(LINGER_TIMEOUT)));
                }
                State::Draining(deadline) => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.state = State::Closed;
                        continue;
                    }
                    let mut discard = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut discard);
                    match Pin::new(&mut this.inner).poll_read(cx, &mut buf) {
                        // Something more from the client: thrown away, read on.
                        Poll::Ready(Ok(())) if !buf.filled().is_empty() => {}
                        // The client closed (or broke) its side: done.
                        Poll::Ready(_) => this.state = State::Closed,
                        Poll::Pending => return Poll::Pending,
                    }
                }
                State::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}
