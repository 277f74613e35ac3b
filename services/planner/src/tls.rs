//! TLS for the gRPC transport (rustls with the ring provider): the server's certificate and key,
//! and the private CA a client trusts.
//!
//! PEM files are read and checked once, at start, so a missing or malformed file is a one-line
//! error naming the flag and the file instead of a failed handshake on the first call. No system
//! or webpki roots are compiled in: a client trusts exactly the CA file it is given. Key material
//! never appears in errors, logs or `Debug` output.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The server's certificate flag, as errors name it.
pub const CERT_FLAG: &str = "--tls-cert";
/// The server's key flag, as errors name it.
pub const KEY_FLAG: &str = "--tls-key";
/// The clients' CA flag, as errors name it.
pub const CA_FLAG: &str = "--tls-ca-file";
/// The clients' server-name override flag, as errors name it.
pub const DOMAIN_FLAG: &str = "--tls-domain";

/// Returns why TLS cannot be set up; each message is one line naming the flag and the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("cannot read {flag} {}: {reason}", path.display())]
    Read {
        /// The flag that named the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// The file was read but holds no usable PEM of the expected kind.
    #[error("{flag} {}: {reason}", path.display())]
    NotPem {
        /// The flag that named the file.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is missing or malformed.
        reason: String,
    },
    /// Certificate and key parse but do not make a server identity (e.g. the key is another
    /// certificate's).
    #[error("--tls-cert {} with --tls-key {}: {reason}", cert.display(), key.display())]
    Identity {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why rustls refused the pair.
        reason: String,
    },
    /// An `https://` endpoint without a CA to check its certificate against.
    #[error(
        "{endpoint} is https: pass --tls-ca-file with the CA that signed the planner's \
         certificate (no system roots are built in)"
    )]
    HttpsWithoutCa {
        /// The endpoint.
        endpoint: String,
    },
    /// A TLS flag with a plaintext endpoint, which would silently not use it.
    #[error("{flag} needs an https:// endpoint, got {endpoint}")]
    TlsFlagWithoutHttps {
        /// The flag given.
        flag: &'static str,
        /// The endpoint.
        endpoint: String,
    },
}

fn read(flag: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        flag,
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// Returns the certificates of a PEM file; an error unless there is at least one.
fn certificates(flag: &'static str, path: &Path, pem: &[u8]) -> Result<usize, TlsError> {
    let not_pem = |reason: String| TlsError::NotPem {
        flag,
        path: path.to_owned(),
        reason,
    };
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| not_pem(format!("not a PEM certificate file: {error}")))?;
    if certificates.is_empty() {
        return Err(not_pem(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in the file".to_owned(),
        ));
    }
    Ok(certificates.len())
}

/// The server's certificate chain and private key, read from PEM files. `Debug` shows the
/// certificate's path and never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    cert_path: PathBuf,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("cert_path", &self.cert_path)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ServerIdentity {
    /// Reads the certificate chain (leaf first) and the private key (PKCS#8, PKCS#1 or SEC1),
    /// and checks that rustls accepts them as a pair.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<ServerIdentity, TlsError> {
        let cert_pem = read(CERT_FLAG, cert_path)?;
        certificates(CERT_FLAG, cert_path, &cert_pem)?;
        let key_pem = read(KEY_FLAG, key_path)?;
        // The parser's error may quote the file; for a key, say only what is wrong.
        if let Err(error) = PrivateKeyDer::from_pem_slice(&key_pem) {
            let reason = match error {
                rustls_pki_types::pem::Error::NoItemsFound => {
                    "no PEM private key (-----BEGIN PRIVATE KEY-----, RSA or EC) in the file"
                }
                _ => "not a valid PEM private key",
            };
            return Err(TlsError::NotPem {
                flag: KEY_FLAG,
                path: key_path.to_owned(),
                reason: reason.to_owned(),
            });
        }
        let identity = ServerIdentity {
            cert_path: cert_path.to_owned(),
            cert_pem,
            key_pem,
        };
        // Builds the acceptor once now: rustls checks that the key is the certificate's.
        tonic::transport::Server::builder()
            .tls_config(identity.server_config())
            .map_err(|error| {
                let reason = error_chain(&error);
                TlsError::Identity {
                    cert: cert_path.to_owned(),
                    key: key_path.to_owned(),
                    reason: if reason.contains("KeyMismatch") {
                        "the key does not belong to the certificate".to_owned()
                    } else {
                        reason
                    },
                }
            })?;
        Ok(identity)
    }

    /// Returns the certificate file's path (for logs).
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Returns tonic's server TLS configuration for this identity.
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(Identity::from_pem(&self.cert_pem, &self.key_pem))
    }
}

/// The CA certificate(s) a client trusts, read from a PEM file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCertificate {
    path: PathBuf,
    pem: Vec<u8>,
}

impl CaCertificate {
    /// Reads a PEM file with at least one certificate.
    pub fn load(path: &Path) -> Result<CaCertificate, TlsError> {
        let pem = read(CA_FLAG, path)?;
        certificates(CA_FLAG, path, &pem)?;
        Ok(CaCertificate {
            path: path.to_owned(),
            pem,
        })
    }

    /// Returns the file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Returns the client TLS configuration for `endpoint`: `None` for `http://`, one trusting
/// exactly `ca` (checking the certificate for `domain`, default the endpoint's host) for
/// `https://`. An `https://` endpoint needs a CA, and the TLS flags need an `https://` endpoint.
pub fn client_tls_config(
    endpoint: &str,
    ca: Option<&CaCertificate>,
    domain: Option<&str>,
) -> Result<Option<ClientTlsConfig>, TlsError> {
    let https = endpoint
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
    if !https {
        let flag = match (ca, domain) {
            (Some(_), _) => CA_FLAG,
            (None, Some(_)) => DOMAIN_FLAG,
            (None, None) => return Ok(None),
        };
        return Err(TlsError::TlsFlagWithoutHttps {
            flag,
            endpoint: endpoint.to_owned(),
        });
    }
    let ca = ca.ok_or_else(|| TlsError::HttpsWithoutCa {
        endpoint: endpoint.to_owned(),
    })?;
    let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem));
    Ok(Some(match domain {
        Some(domain) => config.domain_name(domain),
        None => config,
    }))
}

/// Returns an error and its sources on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tls")
            .join(name)
    }

    #[test]
    fn loads_the_fixture_identity_and_never_shows_the_key() {
        let identity =
            ServerIdentity::load(&fixture("server.pem"), &fixture("server.key")).unwrap();
        assert_eq!(identity.cert_path(), fixture("server.pem"));
        let key = std::fs::read_to_string(fixture("server.key")).unwrap();
        let body = key.lines().nth(1).unwrap();
        let debug = format!("{identity:?}");
        assert!(debug.contains("<redacted>"), "{debug}");
        assert!(
            !debug.contains(body) && !debug.contains("PRIVATE"),
            "{debug}"
        );
    }

    #[test]
    fn bad_files_name_the_flag_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not pem at all\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let cases = [
            (
                missing.clone(),
                fixture("server.key"),
                "cannot read --tls-cert",
            ),
            (garbage.clone(), fixture("server.key"), "--tls-cert"),
            (
                fixture("server.pem"),
                missing.clone(),
                "cannot read --tls-key",
            ),
            // A certificate where the key should be: no private key in it.
            (fixture("server.pem"), fixture("ca.pem"), "--tls-key"),
            (fixture("server.pem"), garbage.clone(), "--tls-key"),
        ];
        for (cert, key, expected) in cases {
            let error = ServerIdentity::load(&cert, &key).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error}");
            let named = if expected.contains("cert") {
                &cert
            } else {
                &key
            };
            assert!(error.contains(&named.display().to_string()), "{error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
        // The CA's certificate with the server's key: both parse, but they are not a pair.
        let error = ServerIdentity::load(&fixture("ca.pem"), &fixture("server.key"))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("--tls-cert")
                && error.ends_with("the key does not belong to the certificate"),
            "{error}"
        );
        let error = CaCertificate::load(&garbage).unwrap_err().to_string();
        assert!(
            error.starts_with("--tls-ca-file") && error.contains("no PEM certificate"),
            "{error}"
        );
    }

    #[test]
    fn https_needs_a_ca_and_tls_flags_need_https() {
        let ca = CaCertificate::load(&fixture("ca.pem")).unwrap();
        assert!(
            client_tls_config("http://h:1", None, None)
                .unwrap()
                .is_none()
        );
        assert!(
            client_tls_config("https://h:1", Some(&ca), Some("localhost"))
                .unwrap()
                .is_some()
        );
        assert!(
            client_tls_config("HTTPS://h:1", Some(&ca), None)
                .unwrap()
                .is_some()
        );
        let error = client_tls_config("https://h:1", None, None)
            .unwrap_err()
            .to_string();
        assert!(error.contains("--tls-ca-file"), "{error}");
        let error = client_tls_config("http://h:1", Some(&ca), None).unwrap_err();
        assert!(
            matches!(error, TlsError::TlsFlagWithoutHttps { flag: CA_FLAG, .. }),
            "{error}"
        );
        let error = client_tls_config("http://h:1", None, Some("x")).unwrap_err();
        assert!(
            matches!(
                error,
                TlsError::TlsFlagWithoutHttps {
                    flag: DOMAIN_FLAG,
                    ..
                }
            ),
            "{error}"
        );
    }
}
