//! Test support for HTTPS: a self-signed certificate made in the test (rcgen), a client that
//! trusts only it, and an HTTP/2 connection over it (the `h2` crate).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use h2::RecvStream;
use h2::client::SendRequest;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::PATIENCE;

/// A certificate for `127.0.0.1` and `localhost` and its key, as PEM files in a directory of
/// their own (removed when dropped).
pub struct Certificate {
    dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    der: CertificateDer<'static>,
}

impl Certificate {
    pub fn new(name: &str) -> Self {
        let made = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        let dir = std::env::temp_dir().join(format!("herald-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        Self {
            dir,
            cert,
            key,
            der: made.cert.der().clone(),
        }
    }

    /// `--tls-cert FILE --tls-key FILE`.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".to_owned(),
            path_text(&self.cert),
            "--tls-key".to_owned(),
            path_text(&self.key),
        ]
    }

    /// Connects over TLS, offering `alpn`, trusting only this certificate.
    pub async fn connect(&self, addr: SocketAddr, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        let tcp = TcpStream::connect(addr).await.unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(ServerName::IpAddress(addr.ip().into()), tcp)
            .await
            .expect("TLS handshake")
    }

    /// An HTTP/2 connection: its request handle (the connection itself runs in a task).
    /// Streams get `stream_window` bytes of flow-control window each, the connection far more,
    /// so that one stream that is not read cannot close the window of the others.
    pub async fn h2(&self, addr: SocketAddr, stream_window: u32) -> h2::client::SendRequest<Bytes> {
        let tls = self.connect(addr, &[b"h2"]).await;
        assert_eq!(
            tls.get_ref().1.alpn_protocol(),
            Some(&b"h2"[..]),
            "h2 by ALPN"
        );
        let (client, connection) = h2::client::Builder::new()
            .initial_window_size(stream_window)
            .initial_connection_window_size(64 << 20)
            .handshake::<_, Bytes>(tls)
            .await
            .expect("h2 handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client.ready().await.expect("h2 ready")
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("a UTF-8 temp path").to_owned()
}

/// Sends `request` and waits for its response head.
pub async fn send(
    client: &mut SendRequest<Bytes>,
    request: http::Request<()>,
    body: Option<Bytes>,
) -> http::Response<RecvStream> {
    let mut client = client.clone().ready().await.expect("room for a stream");
    let (response, mut sending) = client
        .send_request(request, body.is_none())
        .expect("request sent");
    if let Some(body) = body {
        sending.send_data(body, true).expect("body sent");
    }
    tokio::time::timeout(PATIENCE, response)
        .await
        .expect("answered in time")
        .expect("a response")
}

/// A whole response body, its window released as it is read.
pub async fn body_of(response: http::Response<RecvStream>) -> Vec<u8> {
    let mut body = response.into_body();
    let mut all = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("body data");
        let _ = body.flow_control().release_capacity(chunk.len());
        all.extend_from_slice(&chunk);
    }
    all
}

/// Publishes `data` to `topic` with the publish `token`.
pub async fn publish(
    client: &mut SendRequest<Bytes>,
    base: &str,
    token: &str,
    topic: &str,
    data: &str,
) {
    let request = http::Request::post(format!("{base}/publish"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let json = serde_json::json!({ "topic": topic, "data": data }).to_string();
    let response = send(client, request, Some(Bytes::from(json))).await;
    let status = response.status();
    let body = body_of(response).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// `GET /metrics`, as name (with labels) to value.
pub async fn metrics(client: &mut SendRequest<Bytes>, base: &str) -> HashMap<String, u64> {
    let request = http::Request::get(format!("{base}/metrics"))
        .body(())
        .unwrap();
    let body = body_of(send(client, request, None).await).await;
    String::from_utf8(body)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}
