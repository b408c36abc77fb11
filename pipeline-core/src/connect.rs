//! Opening a connection: TCP, an optional proxy tunnel, an optional TLS handshake.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::config::Config;
use crate::proto::ResponseParser;
use crate::{Error, ErrorKind};

/// A connected byte stream: plain TCP or TLS over TCP.
pub(crate) enum Stream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Opens a connection to the client's origin (through its proxy, if any). The error has no
/// request context yet.
pub(crate) async fn connect(cfg: &Config) -> Result<Stream, Error> {
    let o = &cfg.origin;
    let (host, port) = match &cfg.proxy {
        Some(p) => (p.origin.host.as_str(), p.origin.port),
        None => (o.host.as_str(), o.port),
    };
    let tcp = TcpStream::connect((host, port)).await.map_err(|e| {
        let what = if cfg.proxy.is_some() { "proxy " } else { "" };
        Error::new(
            ErrorKind::Connect,
            format!("cannot connect to {what}{host}:{port}"),
        )
        .with_source(e)
    })?;
    let _ = tcp.set_nodelay(true);
    tracing::trace!("connect: TCP connected to {host}:{port}");
    let mut tcp = tcp;
    if let (Some(proxy), true) = (&cfg.proxy, o.https) {
        tunnel(&mut tcp, cfg, proxy.authorization.as_deref()).await?;
    }
    let Some(tls) = &cfg.tls else {
        return Ok(Stream::Tcp(tcp));
    };
    let name = crate::tls::server_name(&o.host)?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Tls,
                format!("TLS handshake with {} failed", o.host),
            )
            .with_source(e)
        })?;
    tracing::trace!("connect: TLS established with {}", o.host);
    Ok(Stream::Tls(Box::new(stream)))
}

/// Asks an HTTP proxy for a `CONNECT` tunnel to the origin.
async fn tunnel(tcp: &mut TcpStream, cfg: &Config, auth: Option<&str>) -> Result<(), Error> {
    let o = &cfg.origin;
    let host = if o.host.contains(':') {
        format!("[{}]:{}", o.host, o.port)
    } else {
        format!("{}:{}", o.host, o.port)
    };
    let mut req = format!("CONNECT {host} HTTP/1.1\r\nHost: {host}\r\n");
    if let Some(a) = auth {
        req.push_str("Proxy-Authorization: ");
        req.push_str(a);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    let io_err = |e: io::Error| {
        Error::new(ErrorKind::Proxy, format!("proxy tunnel to {host} failed")).with_source(e)
    };
    tcp.write_all(req.as_bytes()).await.map_err(io_err)?;
    let mut parser = ResponseParser::new(cfg.max_header_bytes, cfg.max_headers);
    let mut buf = BytesMut::with_capacity(1024);
    let head = loop {
        if tcp.read_buf(&mut buf).await.map_err(io_err)? == 0 {
            return Err(Error::new(
                ErrorKind::Proxy,
                format!("the proxy closed the connection before answering CONNECT {host}"),
            ));
        }
        match parser.parse(&mut buf) {
            Ok(Some(h)) if h.is_interim() => continue,
            Ok(Some(h)) => break h,
            Ok(None) => continue,
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Proxy,
                    format!("invalid answer from the proxy to CONNECT {host}: {e:?}"),
                ))
            }
        }
    };
    if !(200..300).contains(&head.status) {
        return Err(Error::new(
            ErrorKind::Proxy,
            format!(
                "the proxy refused CONNECT {host}: {} {}",
                head.status, head.reason
            ),
        ));
    }
    if !buf.is_empty() {
        return Err(Error::new(
            ErrorKind::Proxy,
            format!("the proxy sent unexpected bytes after accepting CONNECT {host}"),
        ));
    }
    tracing::trace!("connect: proxy tunnel to {host} open");
    Ok(())
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
