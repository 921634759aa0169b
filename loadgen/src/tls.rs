//! HTTPS for the load generator: the connection subscribers and publishers read and write (a
//! TCP socket, plain or wrapped in rustls), the connector that makes it (TLS only when the run
//! has `--tls-ca`, trusting nothing but that certificate, checked against the address dialled),
//! and the self-signed certificate `cargo xtask bench --tls` serves Herald with
//! (`loadgen tls-cert`).
//!
//! The cleartext path stays what it was: the plain variant is the socket itself, one match away,
//! and the TLS state (rustls' session and its buffers) is boxed, so a plain subscriber is not
//! made larger by it.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddrV4};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use anyhow::{Context as _, bail};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The one application protocol offered: loadgen speaks HTTP/1.1, so a server that also offers
/// h2 (Herald does) picks this.
pub(crate) const ALPN_HTTP11: &[u8] = b"http/1.1";

/// What the bench certificate is valid for: the loopback address loadgen dials (an IP SAN, as
/// it verifies against the address) and `localhost` for anyone trying it by name.
pub(crate) const CERT_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// The file names `loadgen tls-cert` writes into its directory.
pub(crate) const CERT_FILE: &str = "cert.pem";
pub(crate) const KEY_FILE: &str = "key.pem";

/// One connection to the server, cleartext or TLS.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    /// Boxed: rustls' session holds buffers a plain socket has no use for.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The application protocol the TLS handshake settled on (`None` in cleartext, or when
    /// the server took none).
    #[cfg(test)]
    pub(crate) fn alpn(&self) -> Option<&[u8]> {
        match self {
            Self::Plain(_) => None,
            Self::Tls(tls) => tls.get_ref().1.alpn_protocol(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
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
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(tcp) => tcp.is_write_vectored(),
            Self::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Makes a run's connections: plain, or TLS trusting the run's `--tls-ca`. Built once per
/// process and shared by every subscriber and publisher (rustls' configuration, and its
/// session cache, are behind an `Arc`).
#[derive(Clone, Default)]
pub(crate) struct Connector {
    tls: Option<TlsConnector>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Connector {
    /// Cleartext without `ca`; with it, TLS trusting the certificates in that PEM file.
    pub(crate) fn new(ca: Option<&Path>) -> anyhow::Result<Self> {
        let Some(ca) = ca else {
            return Ok(Self::default());
        };
        let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
        Self::trusting(&pem).with_context(|| format!("--tls-ca {}", ca.display()))
    }

    /// TLS trusting only the certificates in `pem` (no system roots: loadgen dials loopback,
    /// whose certificate is one the bench made), offering only HTTP/1.1, on the `ring` provider.
    pub(crate) fn trusting(pem: &[u8]) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots
                .add(cert.context("an unreadable PEM certificate")?)
                .context("a certificate rustls cannot trust")?;
        }
        if roots.is_empty() {
            bail!("no PEM certificate to trust");
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("the ring provider's protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Self {
            tls: Some(TlsConnector::from(Arc::new(config))),
        })
    }

    /// Whether connections are TLS.
    #[cfg(test)]
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// `tcp`, connected to `addr`, as this run speaks to it: as it is, or after a TLS
    /// handshake that verifies the server's certificate for `addr`'s IP address.
    pub(crate) async fn connect(&self, tcp: TcpStream, addr: SocketAddrV4) -> io::Result<Stream> {
        match &self.tls {
            None => Ok(Stream::Plain(tcp)),
            Some(tls) => {
                let name = ServerName::from(IpAddr::V4(*addr.ip()));
                let stream = tls.connect(name, tcp).await?;
                Ok(Stream::Tls(Box::new(stream)))
            }
        }
    }
}

/// A self-signed certificate and its private key, PEM.
#[derive(Debug)]
pub(crate) struct SelfSigned {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

/// Makes a self-signed certificate (ECDSA P-256) for `names`: IP addresses become IP SANs,
/// anything else DNS names.
pub(crate) fn self_signed(names: &[&str]) -> anyhow::Result<SelfSigned> {
    let names: Vec<String> = names.iter().map(|&name| name.to_owned()).collect();
    let made =
        rcgen::generate_simple_self_signed(names).context("cannot make a self-signed cert")?;
    Ok(SelfSigned {
        cert_pem: made.cert.pem(),
        key_pem: made.signing_key.serialize_pem(),
    })
}

/// Writes a fresh self-signed certificate for [`CERT_NAMES`] into `dir` ([`CERT_FILE`] and
/// [`KEY_FILE`], the key readable by its owner only).
pub(crate) fn write_self_signed(dir: &Path) -> anyhow::Result<()> {
    let made = self_signed(&CERT_NAMES)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let key = dir.join(KEY_FILE);
    let write_key = || -> io::Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key)?;
        file.write_all(made.key_pem.as_bytes())
    };
    write_key().with_context(|| format!("cannot write {}", key.display()))?;
    let cert = dir.join(CERT_FILE);
    std::fs::write(&cert, &made.cert_pem)
        .with_context(|| format!("cannot write {}", cert.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use rustls::pki_types::PrivateKeyDer;
    use tokio::io::AsyncWriteExt as _;
    use tokio::net::TcpListener;
    use tokio_rustls::TlsAcceptor;

    use super::*;
    use crate::http::HttpConn;

    const REQUEST: &[u8] = b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    /// A TLS server as Herald is one (ring, ALPN h2 and http/1.1) presenting `made`: it answers
    /// one request per connection with [`ANSWER`], and reports how each handshake ended.
    async fn server(
        made: &SelfSigned,
    ) -> (
        SocketAddrV4,
        tokio::sync::mpsc::UnboundedReceiver<io::Result<()>>,
    ) {
        let certs = CertificateDer::pem_slice_iter(made.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("the cert is PEM");
        let key = PrivateKeyDer::from_pem_slice(made.key_pem.as_bytes()).expect("the key is PEM");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("ring's versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("a usable cert");
        config.alpn_protocols = vec![b"h2".to_vec(), ALPN_HTTP11.to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a port");
        let std::net::SocketAddr::V4(addr) = listener.local_addr().expect("bound") else {
            unreachable!("bound on IPv4");
        };
        let (report, handshakes) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, report) = (acceptor.clone(), report.clone());
                tokio::spawn(async move {
                    let tls = match acceptor.accept(tcp).await {
                        Ok(tls) => {
                            let _ = report.send(Ok(()));
                            tls
                        }
                        Err(err) => {
                            let _ = report.send(Err(err));
                            return;
                        }
                    };
                    let mut conn = HttpConn::new(tls);
                    while !conn.buf.windows(4).any(|window| window == b"\r\n\r\n") {
                        if !conn.fill().await.unwrap_or(false) {
                            return;
                        }
                    }
                    let _ = conn.stream.write_all(ANSWER).await;
                    let _ = conn.stream.flush().await;
                });
            }
        });
        (addr, handshakes)
    }

    async fn dial(connector: &Connector, addr: SocketAddrV4) -> io::Result<Stream> {
        let tcp = TcpStream::connect(addr).await?;
        connector.connect(tcp, addr).await
    }

    /// Why rustls refused the server's certificate, when that is what failed.
    fn certificate_error(err: &io::Error) -> Option<&rustls::CertificateError> {
        match err.get_ref()?.downcast_ref::<rustls::Error>()? {
            rustls::Error::InvalidCertificate(why) => Some(why),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_request_and_its_answer_over_tls_with_http11_negotiated() {
        let made = self_signed(&CERT_NAMES).expect("a cert");
        let (addr, mut handshakes) = server(&made).await;
        let connector = Connector::trusting(made.cert_pem.as_bytes()).expect("trusted");
        assert!(connector.is_tls());
        let stream = dial(&connector, addr)
            .await
            .expect("the handshake verifies");
        assert_eq!(stream.alpn(), Some(ALPN_HTTP11));
        let mut conn = HttpConn::new(stream);
        conn.write_all(REQUEST).await.expect("sent");
        let head = conn.read_head().await.expect("an answer");
        assert_eq!(head.status, 200);
        assert_eq!(head.framing, crate::http::Framing::Length(5));
        while conn.buf.len() < 5 {
            assert!(conn.fill().await.expect("readable"), "the body");
        }
        assert_eq!(conn.buf, b"hello");
        assert!(matches!(handshakes.recv().await, Some(Ok(()))));
    }

    #[tokio::test]
    async fn a_certificate_from_another_ca_is_refused() {
        let served = self_signed(&CERT_NAMES).expect("a cert");
        let other = self_signed(&CERT_NAMES).expect("another cert");
        let (addr, mut handshakes) = server(&served).await;
        let connector = Connector::trusting(other.cert_pem.as_bytes()).expect("trusted");
        let err = dial(&connector, addr)
            .await
            .expect_err("an untrusted certificate");
        // Both carry rcgen's default subject, so the trusted one is taken for the issuer and
        // its key does not verify the signature (an unrelated name would be UnknownIssuer).
        assert!(
            matches!(
                certificate_error(&err),
                Some(
                    rustls::CertificateError::BadSignature
                        | rustls::CertificateError::UnknownIssuer
                )
            ),
            "{err}"
        );
        // The server saw the client give up on its certificate.
        assert!(matches!(handshakes.recv().await, Some(Err(_))));
    }

    #[tokio::test]
    async fn a_certificate_for_another_name_is_refused() {
        // Trusted, but not made for 127.0.0.1: the address dialled is what is verified.
        let made = self_signed(&["localhost"]).expect("a cert");
        let (addr, _handshakes) = server(&made).await;
        let connector = Connector::trusting(made.cert_pem.as_bytes()).expect("trusted");
        let err = dial(&connector, addr).await.expect_err("a name mismatch");
        assert!(
            matches!(
                certificate_error(&err),
                Some(
                    rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn cleartext_is_the_socket_itself() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a port");
        let std::net::SocketAddr::V4(addr) = listener.local_addr().expect("bound") else {
            unreachable!("bound on IPv4");
        };
        let connector = Connector::new(None).expect("cleartext");
        assert!(!connector.is_tls());
        let stream = dial(&connector, addr).await.expect("connected");
        assert!(matches!(stream, Stream::Plain(_)));
    }

    #[test]
    fn tls_cert_writes_a_certificate_to_trust_and_its_key() {
        let dir = std::env::temp_dir().join(format!("loadgen-tls-{}", std::process::id()));
        write_self_signed(&dir).expect("written");
        let connector = Connector::new(Some(&dir.join(CERT_FILE))).expect("a CA file");
        assert!(connector.is_tls());
        let key = std::fs::read(dir.join(KEY_FILE)).expect("a key file");
        assert!(PrivateKeyDer::from_pem_slice(&key).is_ok());
        // A key is not a certificate: refused rather than trusting nothing.
        let err = Connector::new(Some(&dir.join(KEY_FILE))).expect_err("no certificate");
        assert!(format!("{err:#}").contains("no PEM certificate"), "{err:#}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
