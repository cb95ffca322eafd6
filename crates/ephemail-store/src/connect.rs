//! How ephemail connects to PostgreSQL: the URL, with libpq's TLS settings (`sslmode`,
//! `sslrootcert`) read here, since tokio-postgres knows only `disable`, `prefer` and `require`
//! and verifies nothing itself; TLS is rustls (ring) through tokio-postgres-rustls.
//!
//! As with libpq: `disable` never encrypts; `prefer` (the default) encrypts when the server
//! offers TLS; `require` insists on it; these three verify the server's certificate only when
//! `sslrootcert` names the CA file (then as `verify-ca`). `verify-ca` checks the chain against
//! `sslrootcert`, or the system's trusted roots without it or with `sslrootcert=system`;
//! `verify-full` checks the host name too. Unix sockets never use TLS.

use std::{borrow::Cow, fmt, path::Path, str::FromStr, sync::Arc};

use anyhow::{bail, Context};
use diesel::{ConnectionError, ConnectionResult};
use diesel_async::AsyncPgConnection;
use rustls::{
    client::{
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        verify_server_cert_signed_by_trust_anchor, verify_server_name,
    },
    crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms},
    pki_types::{pem::PemObject, CertificateDer, ServerName, UnixTime},
    server::ParsedCertificate,
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::{Host, SslMode as DriverSslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values, less `allow` (plain text first, TLS if the server insists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> anyhow::Result<Self> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            "allow" => bail!(
                "sslmode=allow is not supported: use prefer (TLS when the server offers it) or \
                 disable"
            ),
            other => bail!(
                "sslmode must be disable, prefer, require, verify-ca or verify-full, not \
                 `{other}`"
            ),
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        })
    }
}

/// A parsed database URL and the TLS it asks for: what every connection of the process is made
/// with.
#[derive(Clone)]
pub struct ConnectionSettings {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    ssl_mode: SslMode,
}

/// Not derived: the driver's configuration holds the user, host and database (and, redacted,
/// the password); only the TLS mode is worth a log line.
impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSettings")
            .field("ssl_mode", &self.ssl_mode)
            .finish_non_exhaustive()
    }
}

impl ConnectionSettings {
    /// Reads a `postgres://` URL (or tokio-postgres's `key=value` form, which takes only the
    /// modes tokio-postgres knows) and loads `sslrootcert`. Errors name the setting, never the
    /// URL.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let (rest, tls) = take_tls_params(url)?;
        let mut config = tokio_postgres::Config::from_str(&rest).context(
            "reading the database URL (sslmode verify-ca and verify-full, and sslrootcert, \
             are read from its postgres:// form)",
        )?;
        let ssl_mode = match tls.sslmode {
            Some(mode) => mode.parse()?,
            None => match config.get_ssl_mode() {
                DriverSslMode::Disable => SslMode::Disable,
                DriverSslMode::Require => SslMode::Require,
                // tokio-postgres's default, and libpq's.
                _ => SslMode::Prefer,
            },
        };
        let unix_sockets_only = config.get_hostaddrs().is_empty()
            && config
                .get_hosts()
                .iter()
                .all(|host| matches!(host, Host::Unix(_)));
        let ssl_mode = if unix_sockets_only {
            SslMode::Disable
        } else {
            ssl_mode
        };
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => DriverSslMode::Disable,
            SslMode::Prefer => DriverSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
        });
        let check = server_check(ssl_mode, tls.sslrootcert.as_deref())?;
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new(client_config(check)?),
            ssl_mode,
        })
    }

    /// The mode in force (`disable` for a URL of Unix sockets only).
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    pub async fn connect(&self) -> ConnectionResult<AsyncPgConnection> {
        let (client, connection) = self
            .config
            .connect(self.tls.clone())
            .await
            .map_err(|error| ConnectionError::BadConnection(with_causes(&error)))?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }
}

/// The driver's message says only what failed ("error performing TLS handshake", "db error");
/// why is in its sources.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        message.push_str(": ");
        message.push_str(&error.to_string());
        cause = error.source();
    }
    message
}

/// The URL's values of `sslmode` and `sslrootcert`, percent-decoded.
#[derive(Debug, Default)]
struct TlsParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL's query, since tokio-postgres
/// refuses `verify-ca`, `verify-full` and `sslrootcert`; other forms come back whole.
fn take_tls_params(url: &str) -> anyhow::Result<(Cow<'_, str>, TlsParams)> {
    let Some(after_scheme) = ["postgres://", "postgresql://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
    else {
        return Ok((Cow::Borrowed(url), TlsParams::default()));
    };
    // As tokio-postgres reads a URL: credentials up to the first `@` (a password may hold a
    // `?`), then the host and path up to the first `?`.
    let host_start = url.len() - after_scheme.len() + after_scheme.find('@').map_or(0, |at| at + 1);
    let Some(query_start) = url[host_start..].find('?').map(|at| host_start + at) else {
        return Ok((Cow::Borrowed(url), TlsParams::default()));
    };
    let mut params = TlsParams::default();
    let mut kept = Vec::new();
    for pair in url[query_start + 1..].split('&') {
        let Some((key, value)) = pair.split_once('=') else {
            kept.push(pair);
            continue;
        };
        let slot = match decode(key, "a key")?.as_ref() {
            "sslmode" => &mut params.sslmode,
            "sslrootcert" => &mut params.sslrootcert,
            _ => {
                kept.push(pair);
                continue;
            }
        };
        *slot = Some(decode(value, key)?.into_owned());
    }
    let mut rest = url[..query_start].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((Cow::Owned(rest), params))
}

fn decode<'a>(value: &'a str, what: &str) -> anyhow::Result<Cow<'a, str>> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .with_context(|| format!("the database URL's {what} is not UTF-8 once percent-decoded"))
}

/// What is checked of the server's certificate: nothing (`roots: None`), its chain, and its
/// host name too.
struct ServerCheck {
    roots: Option<RootCertStore>,
    host_name: bool,
}

fn server_check(mode: SslMode, sslrootcert: Option<&str>) -> anyhow::Result<ServerCheck> {
    let roots = match (mode, sslrootcert) {
        (SslMode::Disable, _) => None,
        (SslMode::Prefer | SslMode::Require, Some("system")) => bail!(
            "sslmode={mode} may not be used with sslrootcert=system (use verify-full): it \
             would trust any certificate a public CA issued for any name"
        ),
        (SslMode::Prefer | SslMode::Require, None) => None,
        (_, Some("system")) | (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            Some(system_roots()?)
        }
        (_, Some(path)) => Some(file_roots(Path::new(path))?),
    };
    Ok(ServerCheck {
        roots,
        host_name: mode == SslMode::VerifyFull,
    })
}

fn file_roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .with_context(|| format!("reading sslrootcert {}", path.display()))?
    {
        let cert = cert.with_context(|| format!("reading sslrootcert {}", path.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("sslrootcert {}: a certificate is invalid", path.display()))?;
    }
    if roots.is_empty() {
        bail!("sslrootcert {} holds no PEM certificate", path.display());
    }
    Ok(roots)
}

fn system_roots() -> anyhow::Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        bail!(
            "no trusted CA certificates in the system's store ({} errors: {}); name the CA file \
             with sslrootcert",
            found.errors.len(),
            found
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    Ok(roots)
}

fn client_config(check: ServerCheck) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = CertificateCheck {
        roots: check.roots,
        host_name: check.host_name,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // What libpq sends since PostgreSQL 17, which needs it for `sslnegotiation=direct`.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(config)
}

/// The server certificate check of every mode (rustls's own verifier always checks the host
/// name): the handshake's signatures always, the chain when there are roots, the name with
/// `verify-full`.
#[derive(Debug)]
struct CertificateCheck {
    roots: Option<RootCertStore>,
    host_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for CertificateCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
            if self.host_name {
                verify_server_name(&cert, server_name)?;
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
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> SslMode {
        ConnectionSettings::parse(url).expect("valid").ssl_mode()
    }

    fn error(url: &str) -> String {
        format!("{:#}", ConnectionSettings::parse(url).expect_err("refused"))
    }

    #[test]
    fn tcp_urls_prefer_tls_unless_told_otherwise() {
        assert_eq!(mode("postgres://u@db.internal/ephemail"), SslMode::Prefer);
        assert_eq!(
            mode("postgres://u@db.internal/e?sslmode=disable"),
            SslMode::Disable
        );
        assert_eq!(
            mode("postgresql://u@db.internal/e?connect_timeout=5&sslmode=require"),
            SslMode::Require
        );
        assert_eq!(mode("host=db.internal sslmode=require"), SslMode::Require);
    }

    #[test]
    fn unix_sockets_never_use_tls() {
        assert_eq!(
            mode("postgres://u@%2Fvar%2Frun%2Fpostgresql/e?sslmode=require"),
            SslMode::Disable
        );
        assert_eq!(
            mode("postgres://u@/e?host=%2Ftmp&port=5433&sslmode=verify-full"),
            SslMode::Disable
        );
    }

    #[test]
    fn only_the_tls_keys_leave_the_url() {
        let (rest, params) = take_tls_params(
            "postgres://u:p%3Fw?d@h:5433/db?connect_timeout=5&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fca.pem&keepalives_idle=30",
        )
        .expect("valid");
        assert_eq!(
            rest,
            "postgres://u:p%3Fw?d@h:5433/db?connect_timeout=5&keepalives_idle=30"
        );
        assert_eq!(params.sslmode.as_deref(), Some("verify-full"));
        assert_eq!(params.sslrootcert.as_deref(), Some("/etc/ca.pem"));
        let (rest, _) = take_tls_params("postgres://u@h/db?sslmode=require").expect("valid");
        assert_eq!(rest, "postgres://u@h/db");
        let config: tokio_postgres::Config = rest.parse().expect("tokio-postgres reads the rest");
        assert_eq!(config.get_dbname(), Some("db"));
    }

    #[test]
    fn bad_tls_settings_are_named() {
        assert!(error("postgres://u@h/e?sslmode=verify").contains("sslmode must be"));
        assert!(error("postgres://u@h/e?sslmode=allow").contains("sslmode=allow"));
        let missing = error("postgres://u@h/e?sslmode=verify-full&sslrootcert=%2Fno%2Fca.pem");
        assert!(missing.contains("sslrootcert /no/ca.pem"), "{missing}");
        assert!(error("postgres://u@h/e?sslmode=require&sslrootcert=system")
            .contains("sslrootcert=system"));
        assert!(error("host=h sslmode=verify-full").contains("postgres:// form"));
        // Client certificates are not supported, and not silently ignored.
        assert!(error("postgres://u@h/e?sslcert=c.pem").contains("unknown option `sslcert`"));
    }

    #[test]
    fn errors_and_debug_output_hold_no_password() {
        let url = "postgres://u:secret-pw@h/e?sslmode=bogus";
        assert!(!error(url).contains("secret-pw"));
        let settings = ConnectionSettings::parse("postgres://u:secret-pw@h/e").expect("valid");
        assert!(!format!("{settings:?}").contains("secret-pw"));
    }
}
