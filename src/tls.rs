//! TLS distribution, interoperating with `erl -proto_dist inet_tls`, on rustls.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]
//!
//! What OTP does (PROTOCOL.md §6h, `inet_tls_dist`), and what we do:
//!
//! * EPMD is used exactly as with TCP; both sides must be told out of band
//!   that the cluster runs TLS.
//! * The dialling side connects over TCP and starts TLS at once. OTP sends
//!   SNI = the host part of the node name it dials (`vm` for `a@vm`,
//!   `127.0.0.1` for `a@127.0.0.1`) and, with `verify_peer`, checks that the
//!   server certificate names that host. We do the same: the expected name is
//!   the host part of the peer's node name, a DNS name (a one-label `-sname`
//!   host such as `vm` is fine) or an IP address, which must then be in the
//!   certificate's `subjectAltName` as `IP:` (rustls sends no SNI for IPs,
//!   as the TLS RFCs require). [`TlsOptions::verify_hostname`] turns the
//!   host check off for clusters whose certificates do not name their hosts;
//!   the chain is still checked.
//! * The accepting side always asks for a client certificate and refuses a
//!   peer without one or with one not signed by a CA in the CA file: OTP's
//!   `{verify, verify_peer}` plus `{fail_if_no_peer_cert, true}`. Like OTP
//!   by default, it does not match the client certificate against a host
//!   (the client's node name is not known until the distribution handshake).
//! * Inside TLS, the distribution handshake uses 4-byte length prefixes
//!   from its first message ([`HandshakeOptions::tls`]), and the connection
//!   then carries the usual 4-byte packets and empty ticks.
//!
//! A node's certificate serves both roles (server when accepting, client when
//! dialling), so if it has an extended key usage extension, the extension
//! must list both `serverAuth` and `clientAuth`; OTP and rustls both check it.
//! ECDSA P-256 and RSA (2048+) keys work with OTP 25 and rustls; TLS 1.2 and
//! 1.3 are offered (OTP's dist defaults to TLS 1.2).
//!
//! [`HandshakeOptions::tls`]: crate::handshake::HandshakeOptions::tls

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{
    self, AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore,
    ServerConfig, SignatureScheme,
    client::WebPkiServerVerifier,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    server::{ParsedCertificate, WebPkiClientVerifier},
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::handshake::HandshakeError;

/// Largest PEM file we read: certificate chains and CA bundles are a few
/// KiB (a full public CA bundle is ~250 KiB); more means a wrong file.
pub const MAX_PEM_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Bytes of outgoing plaintext buffered between a connection and its TLS
/// writer task. 64 KiB: rustls's own default send buffer limit, so the
/// connection feels backpressure at the same point it would on the socket.
pub const TLS_WRITE_PIPE_BYTES: usize = 64 * 1024;

/// Where a PEM item comes from.
#[derive(Clone)]
enum Pem {
    File(PathBuf),
    Bytes(Arc<[u8]>),
}

impl Pem {
    fn origin(&self) -> String {
        match self {
            Pem::File(p) => p.display().to_string(),
            Pem::Bytes(_) => "the PEM given in memory".to_string(),
        }
    }

    fn read(&self, what: &'static str) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::Bytes(b) => Ok(b.to_vec()),
            Pem::File(path) => read_limited(path).map_err(|cause| TlsError::ReadFile {
                what,
                path: path.display().to_string(),
                cause,
            }),
        }
    }
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(p) => write!(f, "{}", p.display()),
            Pem::Bytes(b) => write!(f, "<{} bytes of PEM>", b.len()),
        }
    }
}

fn read_limited(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    file.take(MAX_PEM_FILE_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {MAX_PEM_FILE_BYTES} bytes; is it the right file?"),
        ));
    }
    Ok(buf)
}

/// Certificate, key and CA for TLS distribution, and how to verify peers.
/// [`TlsOptions::load`] reads and checks them into a [`TlsConfig`].
///
/// The same three files as OTP's `-ssl_dist_optfile` `certfile`, `keyfile`
/// and `cacertfile` (used for both `server` and `client`). The key never
/// appears in `Debug` output.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    cert: Pem,
    key: Pem,
    cacert: Pem,
    verify_hostname: bool,
}

impl TlsOptions {
    /// From PEM files: `cert` holds this node's certificate followed by any
    /// intermediate CA certificates; `key` its private key (PKCS#8,
    /// SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`); `cacert` the CA
    /// certificates that peers' certificates must chain to.
    pub fn from_files(
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
        cacert: impl Into<PathBuf>,
    ) -> TlsOptions {
        TlsOptions {
            cert: Pem::File(cert.into()),
            key: Pem::File(key.into()),
            cacert: Pem::File(cacert.into()),
            verify_hostname: true,
        }
    }

    /// As [`TlsOptions::from_files`], with the PEM text in memory.
    pub fn from_pem(
        cert: impl AsRef<[u8]>,
        key: impl AsRef<[u8]>,
        cacert: impl AsRef<[u8]>,
    ) -> TlsOptions {
        TlsOptions {
            cert: Pem::Bytes(cert.as_ref().into()),
            key: Pem::Bytes(key.as_ref().into()),
            cacert: Pem::Bytes(cacert.as_ref().into()),
            verify_hostname: true,
        }
    }

    /// When dialling, require the peer's certificate to name the host part of
    /// its node name (default on, as OTP's client does). Off: only the chain
    /// to a trusted CA is checked; use it for clusters whose certificates do
    /// not carry host names.
    pub fn verify_hostname(mut self, on: bool) -> TlsOptions {
        self.verify_hostname = on;
        self
    }

    /// Reads the files and builds the TLS settings for both roles.
    pub fn load(&self) -> Result<TlsConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] =
            &[&rustls::version::TLS13, &rustls::version::TLS12];

        let cert_pem = self.cert.read("certificate")?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.bad_pem(&self.cert, "certificate", e.to_string()))?;
        if chain.is_empty() {
            return Err(self.bad_pem(&self.cert, "certificate", "no CERTIFICATE block".into()));
        }
        let key_pem = self.key.read("private key")?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| self.bad_pem(&self.key, "private key", e.to_string()))?;
        let ca_pem = self.cacert.read("CA certificate")?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&ca_pem) {
            let ca = ca.map_err(|e| self.bad_pem(&self.cacert, "CA certificate", e.to_string()))?;
            roots.add(ca).map_err(|e| {
                self.bad_pem(
                    &self.cacert,
                    "CA certificate",
                    format!("a certificate in it is not a usable CA: {e}"),
                )
            })?;
        }
        if roots.is_empty() {
            return Err(self.bad_pem(
                &self.cacert,
                "CA certificate",
                "no CERTIFICATE block".into(),
            ));
        }
        let roots = Arc::new(roots);
        let setup = |e: rustls::Error| TlsError::Setup {
            why: e.to_string(),
            cert: self.cert.origin(),
            key: self.key.origin(),
        };

        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| setup(rustls::Error::General(e.to_string())))?;
        let mut server = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(setup)?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(setup)?;
        // Distribution connections are long-lived and never resumed.
        server.send_tls13_tickets = 0;

        let server_verifier =
            WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .map_err(|e| setup(rustls::Error::General(e.to_string())))?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(setup)?;
        let mut client = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NodeHostVerifier {
                roots,
                inner: server_verifier,
                provider,
                check_host: self.verify_hostname,
            }))
            .with_client_auth_cert(chain, key)
            .map_err(setup)?;
        client.resumption = rustls::client::Resumption::disabled();

        Ok(TlsConfig {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
            cert: self.cert.origin(),
            cacert: self.cacert.origin(),
            verify_hostname: self.verify_hostname,
        })
    }

    fn bad_pem(&self, pem: &Pem, what: &'static str, why: String) -> TlsError {
        TlsError::BadPem {
            what,
            origin: pem.origin(),
            why,
        }
    }
}

/// Loaded TLS settings for both roles; cheap to clone. Give it to
/// [`NodeBuilder::tls`](crate::NodeBuilder::tls).
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
    cert: String,
    cacert: String,
    verify_hostname: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("cert", &self.cert)
            .field("cacert", &self.cacert)
            .field("verify_hostname", &self.verify_hostname)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Where the certificate came from (for logs).
    pub fn cert_origin(&self) -> &str {
        &self.cert
    }

    /// Where the CA certificates came from (for logs).
    pub fn cacert_origin(&self) -> &str {
        &self.cacert
    }

    /// The accepting side: a TLS handshake over `io` that requires a client
    /// certificate signed by a trusted CA, within `timeout`.
    pub(crate) async fn accept<IO>(
        &self,
        io: IO,
        timeout: Duration,
    ) -> Result<tokio_rustls::server::TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        match tokio::time::timeout(timeout, self.acceptor.accept(io)).await {
            Ok(Ok(s)) => {
                log_established(s.get_ref().1, Role::Server);
                Ok(s)
            }
            Ok(Err(e)) => Err(self.classify(e, Role::Server, None)),
            Err(_) => Err(TlsError::Timeout { after: timeout }),
        }
    }

    /// The dialling side: a TLS handshake over `io` with a peer whose node
    /// name has the host part `host`, within `timeout`. SNI is `host` (when
    /// it is a DNS name), and the peer's certificate must name it unless
    /// [`TlsOptions::verify_hostname`] is off.
    pub(crate) async fn connect<IO>(
        &self,
        host: &str,
        io: IO,
        timeout: Duration,
    ) -> Result<tokio_rustls::client::TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = server_name(host)?;
        match tokio::time::timeout(timeout, self.connector.connect(name, io)).await {
            Ok(Ok(s)) => {
                log_established(s.get_ref().1, Role::Client);
                Ok(s)
            }
            Ok(Err(e)) => Err(self.classify(e, Role::Client, Some(host))),
            Err(_) => Err(TlsError::Timeout { after: timeout }),
        }
    }

    /// Explains a distribution handshake that failed inside TLS because of
    /// TLS (for example a TLS 1.3 server refusing our certificate, which the
    /// client only learns on its first read). `None`: not a TLS problem.
    pub(crate) fn explain_handshake_error(
        &self,
        e: &HandshakeError,
        role: Role,
    ) -> Option<TlsError> {
        let HandshakeError::Io(io) = e else {
            return None;
        };
        let cause = rustls_error(io)?.clone();
        Some(self.classify(
            io::Error::new(io::ErrorKind::InvalidData, cause),
            role,
            None,
        ))
    }

    fn classify(&self, e: io::Error, role: Role, host: Option<&str>) -> TlsError {
        let Some(err) = rustls_error(&e) else {
            return match e.kind() {
                io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::BrokenPipe => TlsError::ClosedDuringHandshake,
                _ => TlsError::Io(e),
            };
        };
        match err {
            rustls::Error::InvalidCertificate(ce) => TlsError::UntrustedPeer {
                why: self.cert_problem(ce, host),
                hint: self.hint(ce, role, host),
            },
            rustls::Error::NoCertificatesPresented => TlsError::NoPeerCertificate,
            rustls::Error::AlertReceived(alert) if is_cert_alert(*alert) => {
                TlsError::RefusedByPeer {
                    alert: format!("{alert:?}"),
                    cert: self.cert.clone(),
                }
            }
            rustls::Error::AlertReceived(AlertDescription::HandshakeFailure) => {
                TlsError::PeerAborted {
                    cert: self.cert.clone(),
                }
            }
            rustls::Error::AlertReceived(alert) => TlsError::Negotiation {
                why: format!("the peer sent TLS alert {alert:?}"),
            },
            rustls::Error::PeerIncompatible(p) => TlsError::Negotiation {
                why: format!("{p:?}"),
            },
            rustls::Error::InvalidMessage(m) => TlsError::NotTls {
                why: format!("{m:?}"),
            },
            other => TlsError::Negotiation {
                why: other.to_string(),
            },
        }
    }

    fn cert_problem(&self, ce: &CertificateError, host: Option<&str>) -> String {
        match ce {
            CertificateError::UnknownIssuer => {
                format!(
                    "it is not signed by a CA in {} (unknown issuer)",
                    self.cacert
                )
            }
            CertificateError::BadSignature => format!(
                "its signature does not verify with the CAs in {} (bad signature)",
                self.cacert
            ),
            CertificateError::NotValidForName => format!(
                "it does not name the host {:?} (the host part of the peer's node name)",
                host.unwrap_or("?")
            ),
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => format!(
                "it does not name the host {expected:?} (the host part of the peer's node name); \
                 it names {presented:?}"
            ),
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                format!(
                    "its extended key usage does not allow this role ({ce}); a node's certificate \
                     serves both roles, so it needs serverAuth and clientAuth"
                )
            }
            other => format!("{other}"),
        }
    }

    fn hint(&self, ce: &CertificateError, role: Role, host: Option<&str>) -> String {
        match ce {
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                let h = host.unwrap_or("HOST");
                let san = if h.parse::<std::net::IpAddr>().is_ok() {
                    format!("IP:{h}")
                } else {
                    format!("DNS:{h}")
                };
                format!(
                    "give that node a certificate with subjectAltName {san}, or turn the host \
                     check off (--tls-no-verify-hostname)"
                )
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => {
                "renew that node's certificate, and check both clocks".to_string()
            }
            _ => {
                let who = match role {
                    Role::Server => "the connecting node",
                    Role::Client => "that node",
                };
                format!(
                    "give {who} a certificate signed by a CA in {}, or add its CA to that file \
                     (--tls-cacert)",
                    self.cacert
                )
            }
        }
    }
}

/// Which side of the TLS handshake we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// We accepted the connection.
    Server,
    /// We dialled.
    Client,
}

fn log_established<D>(conn: &rustls::ConnectionCommon<D>, role: Role) {
    tracing::debug!(
        ?role,
        version = ?conn.protocol_version(),
        suite = ?conn.negotiated_cipher_suite().map(|s| s.suite()),
        "TLS established"
    );
}

/// Alerts that mean "I do not accept your certificate".
fn is_cert_alert(a: AlertDescription) -> bool {
    matches!(
        a,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateRequired
    )
}

fn rustls_error(e: &io::Error) -> Option<&rustls::Error> {
    e.get_ref()?.downcast_ref::<rustls::Error>()
}

/// The TLS server name for the host part of a node name.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    // `[::1]`-style brackets are not part of an Erlang host, but be lenient.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|_| TlsError::BadHost {
        host: host.to_string(),
    })
}

/// Checks a server certificate the way OTP's client does: the chain to a
/// trusted CA, then (unless turned off) the host part of the peer's node name.
///
/// An IP host is accepted as an `IP:` subjectAltName or, as OTP 25 checks
/// it, as a `DNS:` subjectAltName spelling the address (OTP's client matches
/// the host string as a DNS id, so certificates made for OTP clusters with
/// `-name a@10.0.0.5` carry `DNS:10.0.0.5`).
#[derive(Debug)]
struct NodeHostVerifier {
    roots: Arc<RootCertStore>,
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    check_host: bool,
}

impl ServerCertVerifier for NodeHostVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        if self.check_host {
            match rustls::client::verify_server_name(&cert, server_name) {
                Ok(()) => {}
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForNameContext { presented, .. },
                )) if ip_spelled_as_dns(server_name, &presented) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// True if `name` is an IP address and `presented` (webpki's list of the
/// certificate's subjectAltNames, in its `Debug` form) has a DNS name that
/// spells it.
fn ip_spelled_as_dns(name: &ServerName<'_>, presented: &[String]) -> bool {
    let ServerName::IpAddress(ip) = name else {
        return false;
    };
    let ip = std::net::IpAddr::from(*ip).to_string();
    let want = format!("DnsName({ip:?})");
    presented.contains(&want)
}

/// Why TLS could not be set up, or why a peer was refused. Messages say
/// what happened and what to do; none contains key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read the TLS {what} file {path}: {cause}")]
    ReadFile {
        /// Which file: certificate, private key, CA certificate.
        what: &'static str,
        /// Its path.
        path: String,
        /// Why.
        cause: io::Error,
    },
    /// A PEM file holds nothing usable.
    #[error("no usable {what} in {origin}: {why}; give a PEM file (-----BEGIN ...-----)")]
    BadPem {
        /// What was expected.
        what: &'static str,
        /// The file.
        origin: String,
        /// What was wrong.
        why: String,
    },
    /// rustls refused the settings, most often a key that does not match
    /// the certificate or an unsupported key type.
    #[error(
        "invalid TLS settings: {why}; check that the key ({key}) belongs to the certificate \
         ({cert}) and is ECDSA P-256/P-384, Ed25519 or RSA"
    )]
    Setup {
        /// rustls's reason.
        why: String,
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
    },
    /// The peer's host cannot be checked against a certificate.
    #[error(
        "the host {host:?} is neither a DNS name nor an IP address, so a certificate cannot \
         be checked against it; use a node name whose host is one"
    )]
    BadHost {
        /// The host part of the node name.
        host: String,
    },
    /// The TLS handshake took too long.
    #[error(
        "the TLS handshake did not finish within {after:?} (net_setuptime); the peer is slow, \
         or does not speak TLS (start it with -proto_dist inet_tls)"
    )]
    Timeout {
        /// The limit.
        after: Duration,
    },
    /// We refused the peer's certificate.
    #[error("its certificate is not trusted: {why}; {hint}")]
    UntrustedPeer {
        /// What is wrong with the certificate.
        why: String,
        /// What to do.
        hint: String,
    },
    /// The peer sent no certificate.
    #[error(
        "it sent no certificate; TLS distribution needs one on both sides (OTP: certfile and \
         keyfile under both server and client in -ssl_dist_optfile)"
    )]
    NoPeerCertificate,
    /// The peer refused our certificate.
    #[error(
        "it refused our certificate (TLS alert {alert}); make sure its CA file (cacertfile in \
         its -ssl_dist_optfile, or its --tls-cacert) holds the CA that signed our certificate \
         ({cert}), and that our certificate names our host"
    )]
    RefusedByPeer {
        /// The alert it sent.
        alert: String,
        /// Our certificate file.
        cert: String,
    },
    /// The peer aborted the handshake with a `handshake_failure` alert.
    #[error(
        "it aborted the TLS handshake (alert HandshakeFailure); OTP sends this when our \
         certificate ({cert}) does not name the host it dialled ({{bad_cert,hostname_check_failed}} \
         in its log: for an IP host, put both IP:addr and DNS:addr in subjectAltName), or when \
         no TLS version or cipher is common; see its log"
    )]
    PeerAborted {
        /// Our certificate file.
        cert: String,
    },
    /// The peer closed the connection during the TLS handshake.
    #[error(
        "the peer closed the connection during the TLS handshake; it may not run TLS \
         distribution (-proto_dist inet_tls), or it refused us: see its log"
    )]
    ClosedDuringHandshake,
    /// The peer does not speak TLS.
    #[error(
        "it does not speak TLS ({why}); start it with -proto_dist inet_tls, or drop the \
         --tls-* options to use plain TCP distribution"
    )]
    NotTls {
        /// What rustls saw.
        why: String,
    },
    /// No common TLS version, cipher or signature scheme, or another
    /// protocol failure.
    #[error(
        "TLS negotiation failed: {why}; both sides need TLS 1.2 or 1.3 and ECDSA or RSA \
         certificates"
    )]
    Negotiation {
        /// rustls's reason.
        why: String,
    },
    /// The socket failed.
    #[error("I/O error during the TLS handshake: {0}")]
    Io(io::Error),
}

/// The boxed read and write halves a connection task works on.
pub(crate) type Halves = (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

/// A distribution socket the connection task can run on.
pub(crate) trait DistStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {
    /// Splits into boxed halves.
    fn into_halves(self) -> Halves;
}

impl DistStream for TcpStream {
    fn into_halves(self) -> Halves {
        let (r, w) = self.into_split();
        (Box::new(r), Box::new(w))
    }
}

impl DistStream for tokio_rustls::server::TlsStream<TcpStream> {
    fn into_halves(self) -> Halves {
        split_tls(self)
    }
}

impl DistStream for tokio_rustls::client::TlsStream<TcpStream> {
    fn into_halves(self) -> Halves {
        split_tls(self)
    }
}

/// Splits a TLS stream for a connection task that writes without flushing.
///
/// A TLS stream may accept plaintext and keep the ciphertext until the next
/// write or flush, so a writer that never flushes could leave a message
/// unsent. The writer half given out is therefore a pipe, drained by a task
/// that writes to TLS and flushes whenever the pipe is empty; it closes the
/// TLS session (close_notify) when the pipe's writer shuts down or is
/// dropped. Write errors show up on the pipe as a broken pipe.
pub(crate) fn split_tls<S>(stream: S) -> Halves
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (r, mut w) = tokio::io::split(stream);
    let (pipe_in, mut pipe_out) = tokio::io::duplex(TLS_WRITE_PIPE_BYTES);
    tokio::spawn(async move {
        // tokio::io::copy flushes the writer whenever the reader has nothing.
        if let Err(e) = tokio::io::copy(&mut pipe_out, &mut w).await {
            tracing::debug!("TLS write failed: {e}");
        }
        let _ = w.shutdown().await;
    });
    (Box::new(r), Box::new(pipe_in))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    use tokio::io::AsyncReadExt;

    const T: Duration = Duration::from_secs(5);

    struct Ca {
        params: CertificateParams,
        key: KeyPair,
        pem: String,
    }

    fn new_ca(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// (cert PEM, key PEM) signed by `ca`, naming `names` (IP addresses as
    /// `IP:`, unless written `dns:ADDR`).
    fn leaf(ca: &Ca, names: &[&str], ekus: &[ExtendedKeyUsagePurpose]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let (dns_forced, plain): (Vec<&str>, Vec<&str>) =
            names.iter().partition(|n| n.starts_with("dns:"));
        let mut params =
            CertificateParams::new(plain.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        for n in dns_forced {
            let ia5 = rcgen::string::Ia5String::try_from(&n[4..]).unwrap();
            params.subject_alt_names.push(rcgen::SanType::DnsName(ia5));
        }
        params.distinguished_name.push(DnType::CommonName, "node");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = ekus.to_vec();
        let issuer = Issuer::from_params(&ca.params, &ca.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    const BOTH: &[ExtendedKeyUsagePurpose] = &[
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];

    fn config(ca: &Ca, names: &[&str]) -> TlsConfig {
        let (c, k) = leaf(ca, names, BOTH);
        TlsOptions::from_pem(c, k, &ca.pem).load().unwrap()
    }

    /// Runs both handshakes over an in-memory pipe.
    async fn pair(
        server: &TlsConfig,
        client: &TlsConfig,
        host: &str,
    ) -> (
        Result<tokio_rustls::server::TlsStream<tokio::io::DuplexStream>, TlsError>,
        Result<tokio_rustls::client::TlsStream<tokio::io::DuplexStream>, TlsError>,
    ) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        tokio::join!(server.accept(a, T), client.connect(host, b, T))
    }

    #[tokio::test]
    async fn same_ca_both_roles_and_data_flows_through_the_pipe_writer() {
        let ca = new_ca("ca");
        let s = config(&ca, &["vm"]);
        let c = config(&ca, &["other"]);
        let (srv, cli) = pair(&s, &c, "vm").await;
        let (mut sr, mut sw) = split_tls(srv.unwrap());
        let (mut cr, mut cw) = split_tls(cli.unwrap());
        // One small write, never flushed by the writer: it must still arrive.
        sw.write_all(b"\0\0\0\x05hello").await.unwrap();
        let mut buf = [0u8; 9];
        tokio::time::timeout(T, cr.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf, b"\0\0\0\x05hello");
        cw.write_all(b"\0\0\0\0").await.unwrap();
        let mut tick = [9u8; 4];
        tokio::time::timeout(T, sr.read_exact(&mut tick))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(tick, [0, 0, 0, 0]);
        // Dropping the writer closes the session: the peer reads EOF.
        drop(cw);
        let mut rest = Vec::new();
        let n = tokio::time::timeout(T, sr.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap_or(0);
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn ip_hosts_are_checked_against_ip_subject_alt_names() {
        let ca = new_ca("ca");
        let s = config(&ca, &["127.0.0.1", "::1"]);
        let c = config(&ca, &["x"]);
        let (srv, cli) = pair(&s, &c, "127.0.0.1").await;
        assert!(srv.is_ok() && cli.is_ok());
        let (srv, cli) = pair(&s, &c, "::1").await;
        assert!(srv.is_ok() && cli.is_ok());
        let (_, cli) = pair(&s, &c, "127.0.0.2").await;
        let e = cli.unwrap_err().to_string();
        assert!(
            e.contains("does not name the host") && e.contains("IP:127.0.0.2"),
            "{e}"
        );
        // OTP 25 checks an IP host as a DNS id, so certificates made for OTP
        // clusters spell the address as a DNS name: accepted too.
        let otp_style = config(&ca, &["dns:10.1.2.3", "dns:fe80::1"]);
        let (srv, cli) = pair(&otp_style, &c, "10.1.2.3").await;
        assert!(srv.is_ok() && cli.is_ok());
        let (_, cli) = pair(&otp_style, &c, "10.1.2.4").await;
        assert!(cli.is_err());
        let (_, cli) = pair(&otp_style, &c, "fe80::1").await;
        assert!(cli.is_ok());
    }

    #[tokio::test]
    async fn client_refuses_a_server_cert_for_another_host_unless_host_check_is_off() {
        let ca = new_ca("ca");
        let s = config(&ca, &["somewhere"]);
        let c = config(&ca, &["x"]);
        let (_, cli) = pair(&s, &c, "vm").await;
        let e = cli.unwrap_err();
        assert!(matches!(e, TlsError::UntrustedPeer { .. }), "{e}");
        assert!(e.to_string().contains("DNS:vm"), "{e}");
        let (cc, ck) = leaf(&ca, &["x"], BOTH);
        let lax = TlsOptions::from_pem(cc, ck, &ca.pem)
            .verify_hostname(false)
            .load()
            .unwrap();
        let (srv, cli) = pair(&s, &lax, "vm").await;
        assert!(srv.is_ok() && cli.is_ok());
        // The chain is still checked with the host check off.
        let other = new_ca("other");
        let stranger = config(&other, &["vm"]);
        let (_, cli) = pair(&stranger, &lax, "vm").await;
        let e = cli.unwrap_err().to_string();
        assert!(e.contains("unknown issuer"), "{e}");
    }

    #[tokio::test]
    async fn server_refuses_a_client_cert_from_another_ca() {
        let ca = new_ca("ca");
        let other = new_ca("other");
        let s = config(&ca, &["vm"]);
        // The client trusts the server, so the server is the one to refuse.
        let (cc, ck) = leaf(&other, &["vm"], BOTH);
        let c = TlsOptions::from_pem(cc, ck, format!("{}{}", ca.pem, other.pem))
            .load()
            .unwrap();
        let (srv, _cli) = pair(&s, &c, "vm").await;
        let e = srv.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, TlsError::UntrustedPeer { .. }), "{text}");
        assert!(
            text.contains("not signed by a CA in the PEM given in memory")
                && text.contains("--tls-cacert"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_client_refused_by_the_server_is_told_so() {
        let ca = new_ca("ca");
        let other = new_ca("other");
        // The client trusts the server, but the server does not trust the client.
        let s = config(&ca, &["vm"]);
        let (cc, ck) = leaf(&other, &["x"], BOTH);
        let both_cas = format!("{}{}", ca.pem, other.pem);
        let c = TlsOptions::from_pem(cc, ck, both_cas).load().unwrap();
        let (srv, cli) = pair(&s, &c, "vm").await;
        assert!(srv.is_err());
        // In TLS 1.3 the client learns it on its first read.
        let err = match cli {
            Err(e) => e,
            Ok(mut stream) => {
                let mut b = [0u8; 1];
                let io = stream.read(&mut b).await.unwrap_err();
                c.explain_handshake_error(&HandshakeError::Io(io), Role::Client)
                    .unwrap()
            }
        };
        assert!(matches!(err, TlsError::RefusedByPeer { .. }), "{err}");
    }

    #[tokio::test]
    async fn server_refuses_a_cert_without_client_auth_usage() {
        let ca = new_ca("ca");
        let s = config(&ca, &["vm"]);
        let (cc, ck) = leaf(&ca, &["x"], &[ExtendedKeyUsagePurpose::ServerAuth]);
        let c = TlsOptions::from_pem(cc, ck, &ca.pem).load().unwrap();
        let (srv, _) = pair(&s, &c, "vm").await;
        let e = srv.unwrap_err().to_string();
        assert!(e.contains("serverAuth and clientAuth"), "{e}");
    }

    #[tokio::test]
    async fn server_refuses_a_client_without_a_certificate() {
        let ca = new_ca("ca");
        let s = config(&ca, &["vm"]);
        let mut roots = RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let anonymous = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (a, b) = tokio::io::duplex(64 * 1024);
        let connector = TlsConnector::from(Arc::new(anonymous));
        let (srv, _cli) = tokio::join!(
            s.accept(a, T),
            connector.connect(server_name("vm").unwrap(), b)
        );
        let e = srv.unwrap_err();
        assert!(matches!(e, TlsError::NoPeerCertificate), "{e}");
        assert!(e.to_string().contains("needs one on both sides"), "{e}");
    }

    #[tokio::test]
    async fn plain_distribution_bytes_are_not_tls() {
        let ca = new_ca("ca");
        let s = config(&ca, &["vm"]);
        let (a, mut b) = tokio::io::duplex(1024);
        let srv = tokio::spawn(async move { s.accept(a, T).await });
        // A TCP-distribution send_name: 2-byte length, 'N', flags...
        b.write_all(b"\x00\x15N\x00\x00\x00\x00\x0d\x07\x9f\xbd\x00\x00\x00\x04\x00\x05a@x")
            .await
            .unwrap();
        let e = srv.await.unwrap().unwrap_err().to_string();
        assert!(e.contains("does not speak TLS"), "{e}");
    }

    #[tokio::test]
    async fn silent_peer_times_out() {
        let ca = new_ca("ca");
        let s = config(&ca, &["vm"]);
        let (a, _b) = tokio::io::duplex(1024);
        let e = s
            .accept(a, Duration::from_millis(50))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("did not finish within"), "{e}");
    }

    #[test]
    fn loading_errors_say_which_file_and_what_to_do() {
        let ca = new_ca("ca");
        let (c, k) = leaf(&ca, &["vm"], BOTH);
        let e = TlsOptions::from_files("/nonexistent/cert.pem", "/nonexistent/key.pem", "/x")
            .load()
            .unwrap_err()
            .to_string();
        assert!(e.contains("certificate file /nonexistent/cert.pem"), "{e}");
        let e = TlsOptions::from_pem("", &k, &ca.pem)
            .load()
            .unwrap_err()
            .to_string();
        assert!(e.contains("no usable certificate"), "{e}");
        let e = TlsOptions::from_pem(&c, "", &ca.pem)
            .load()
            .unwrap_err()
            .to_string();
        assert!(e.contains("no usable private key"), "{e}");
        let e = TlsOptions::from_pem(&c, &k, "junk")
            .load()
            .unwrap_err()
            .to_string();
        assert!(e.contains("no usable CA certificate"), "{e}");
        // A key that does not belong to the certificate.
        let (_, other_key) = leaf(&ca, &["vm"], BOTH);
        let e = TlsOptions::from_pem(&c, &other_key, &ca.pem)
            .load()
            .unwrap_err()
            .to_string();
        assert!(e.contains("belongs to the certificate"), "{e}");
        // Keys never reach Debug output.
        let dbg = format!("{:?}", TlsOptions::from_pem(&c, &k, &ca.pem));
        assert!(!dbg.contains("PRIVATE"), "{dbg}");
    }

    #[test]
    fn server_names_for_node_hosts() {
        assert!(matches!(server_name("vm"), Ok(ServerName::DnsName(_))));
        assert!(matches!(
            server_name("host.example.com"),
            Ok(ServerName::DnsName(_))
        ));
        assert!(matches!(
            server_name("127.0.0.1"),
            Ok(ServerName::IpAddress(_))
        ));
        assert!(matches!(server_name("::1"), Ok(ServerName::IpAddress(_))));
        assert!(server_name("bad host").is_err());
    }
}
