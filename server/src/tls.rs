//! HTTPS: the rustls server configuration from `--tls-cert` and `--tls-key`, on the `ring`
//! provider, with every problem told in one line that names the file.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{InconsistentKeys, ServerConfig};

/// The server side of TLS for `cert` (a PEM chain, leaf first) and its private `key`.
///
/// ALPN is left empty here: actix-web offers `h2` and `http/1.1` itself when it listens.
///
/// # Errors
/// One line naming the file and what is wrong with it: missing or unreadable, no PEM of the
/// right kind in it, a key rustls cannot use, or a key that is not the certificate's.
pub(crate) fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let chain = certificates(cert)?;
    let private = private_key(key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS: {err}"))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|err| match err {
            rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch) => format!(
                "--tls-key {}: not the private key of the certificate in {}",
                key.display(),
                cert.display()
            ),
            other => format!("--tls-key {}: {other}", key.display()),
        })
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|err| format!("{flag} {}: {err}", path.display()))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = read("--tls-cert", path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("--tls-cert {}: not PEM ({err})", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no certificate in it (expected PEM `BEGIN CERTIFICATE`)",
            path.display()
        ));
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = read("--tls-key", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|err| match err {
        pem::Error::NoItemsFound => format!(
            "--tls-key {}: no private key in it (expected PEM `BEGIN PRIVATE KEY`, \
             `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`)",
            path.display()
        ),
        other => format!("--tls-key {}: not PEM ({other})", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A directory of its own under the system's temp dir, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("herald-tls-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn pair() -> (String, String) {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        (made.cert.pem(), made.signing_key.serialize_pem())
    }

    #[test]
    fn a_matching_pair_loads() {
        let scratch = Scratch::new("ok");
        let (cert, key) = pair();
        let config = server_config(
            &scratch.write("cert.pem", &cert),
            &scratch.write("key.pem", &key),
        );
        assert!(config.is_ok(), "{config:?}");
    }

    #[test]
    fn every_problem_names_the_file() {
        let scratch = Scratch::new("bad");
        let (cert, key) = pair();
        let (_, other_key) = pair();
        let cert_file = scratch.write("cert.pem", &cert);
        let key_file = scratch.write("key.pem", &key);
        let missing = scratch.0.join("missing.pem");
        let cases = [
            (
                missing.clone(),
                key_file.clone(),
                "missing.pem: No such file",
            ),
            (key_file.clone(), key_file.clone(), "no certificate in it"),
            (cert_file.clone(), cert_file.clone(), "no private key in it"),
            (
                cert_file.clone(),
                scratch.write("other.pem", &other_key),
                "not the private key of the certificate",
            ),
            (
                scratch.write("torn.pem", &cert[..cert.len() / 2]),
                key_file.clone(),
                "torn.pem: not PEM",
            ),
        ];
        for (cert, key, expected) in cases {
            let err = server_config(&cert, &key).unwrap_err();
            assert!(err.contains(expected), "{err:?} should say {expected:?}");
            assert!(!err.contains('\n'), "one line: {err:?}");
        }
    }
}
