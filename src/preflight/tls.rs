//! `tls`: how many days until the certificates a TLS server presents
//! expire. Every certificate of the presented chain counts, not only the
//! server's own: an intermediate that expires first breaks the chain just
//! the same, so the soonest is reported and named.
//!
//! This check is about expiry. The handshake accepts any chain (its
//! signatures are still verified) so that a private or self-signed CA can
//! be watched too; whether the platform's roots trust the chain is judged
//! separately, as reqwest would, and only reported in the value ("trusted",
//! "not trusted: unknown issuer"). An expired or not-yet-valid certificate
//! fails, and so does a failed handshake.

use std::sync::Arc;

use chrono::DateTime;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

use super::{Finding, tcp};
use crate::config::preflight::TlsProbe;
use crate::observed::CheckStatus;

const DAY: i64 = 24 * 3600;

pub async fn check(probe: &TlsProbe) -> Finding {
    let host = probe.server_name.as_deref().unwrap_or(&probe.address.host);
    let name = match ServerName::try_from(host.to_string()) {
        Ok(name) => name,
        Err(_) => return Finding::fail(format!("`{host}` is not a valid TLS server name")),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = match handshake(probe, name.clone(), provider.clone()).await {
        Ok(chain) => chain,
        Err(why) => return Finding::fail(why.to_string()),
    };
    let dated = match chain
        .iter()
        .map(|der| dates(der))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(dated) => dated,
        Err(why) => return Finding::fail(why.to_string()),
    };
    let now = UnixTime::now().as_secs() as i64;
    let (status, expiry) = judge(&dated, now, probe.warn_days, probe.fail_days);
    let trust = trust(&chain, &name, provider);
    Finding {
        status,
        value: format!("{expiry}; {trust}"),
    }
}

/// Why the server's chain could not be had, or read.
#[derive(Debug, thiserror::Error)]
enum TlsError {
    #[error(transparent)]
    Connect(#[from] tcp::ConnectError),
    #[error("cannot set up TLS: {0}")]
    Setup(rustls::Error),
    #[error("TLS handshake with {peer} failed: {source}")]
    Handshake {
        peer: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0} presented no certificate")]
    NoCertificate(std::net::SocketAddr),
    #[error("a presented certificate cannot be read: {0}")]
    Unreadable(x509_parser::nom::Err<x509_parser::error::X509Error>),
}

/// Connects and completes a handshake; the chain the server presented.
async fn handshake(
    probe: &TlsProbe,
    name: ServerName<'static>,
    provider: Arc<CryptoProvider>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let (stream, peer) = tcp::connect(&probe.address).await?;
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyChain(provider)))
        .with_no_client_auth();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .map_err(|source| TlsError::Handshake { peer, source })?;
    let chain: Vec<CertificateDer<'static>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|der| der.clone().into_owned())
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(peer));
    }
    Ok(chain)
}

/// One certificate's name and validity, in Unix seconds.
#[derive(Debug, Clone, PartialEq)]
struct Dated {
    /// "CN=api.example.com", or the whole subject without a common name.
    subject: String,
    not_before: i64,
    not_after: i64,
}

fn dates(der: &CertificateDer<'_>) -> Result<Dated, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(TlsError::Unreadable)?;
    let subject = cert.subject();
    let common_name = subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok());
    let validity = cert.validity();
    Ok(Dated {
        subject: match common_name {
            Some(cn) => format!("CN={cn}"),
            None => subject.to_string(),
        },
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

/// The chain's verdict at `now`: a certificate not valid yet or expired
/// fails; otherwise the one that expires soonest decides.
fn judge(chain: &[Dated], now: i64, warn_days: u32, fail_days: u32) -> (CheckStatus, String) {
    let which = |i: usize| {
        let cert = &chain[i];
        if chain.len() == 1 {
            format!("({})", cert.subject)
        } else {
            format!(
                "({}, {} of {} in the chain)",
                cert.subject,
                i + 1,
                chain.len()
            )
        }
    };
    if let Some(i) = chain.iter().position(|c| c.not_before > now) {
        return (
            CheckStatus::Fail,
            format!("not valid until {} {}", day(chain[i].not_before), which(i)),
        );
    }
    let Some(i) = (0..chain.len()).min_by_key(|&i| chain[i].not_after) else {
        return (CheckStatus::Fail, "no certificate".to_string());
    };
    let left = chain[i].not_after - now;
    if left < 0 {
        return (
            CheckStatus::Fail,
            format!(
                "expired {} ago on {} {}",
                span_words(-left),
                day(chain[i].not_after),
                which(i)
            ),
        );
    }
    let days = left / DAY;
    let status = if days < i64::from(fail_days) {
        CheckStatus::Fail
    } else if days < i64::from(warn_days) {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    (
        status,
        format!("expires in {} {}", span_words(left), which(i)),
    )
}

/// "23 days", "1 day", "5 hours".
fn span_words(seconds: i64) -> String {
    match seconds / DAY {
        0 => match seconds / 3600 {
            1 => "1 hour".to_string(),
            h => format!("{h} hours"),
        },
        1 => "1 day".to_string(),
        d => format!("{d} days"),
    }
}

fn day(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map_or_else(|| unix.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

/// Whether the platform's roots trust the chain for `name`, in words.
fn trust(
    chain: &[CertificateDer<'static>],
    name: &ServerName<'_>,
    provider: Arc<CryptoProvider>,
) -> String {
    let verifier = match rustls_platform_verifier::Verifier::new(provider) {
        Ok(verifier) => verifier,
        Err(e) => return format!("trust not checked: {e}"),
    };
    let (leaf, intermediates) = chain.split_first().expect("the chain is not empty");
    match verifier.verify_server_cert(leaf, intermediates, name, &[], UnixTime::now()) {
        Ok(_) => "trusted".to_string(),
        Err(rustls::Error::InvalidCertificate(e)) => format!("not trusted: {}", short(&e)),
        Err(e) => format!("not trusted: {e}"),
    }
}

fn short(error: &CertificateError) -> String {
    match error {
        CertificateError::UnknownIssuer => "unknown issuer".to_string(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "expired".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "not valid yet".to_string()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "not valid for this name".to_string()
        }
        CertificateError::Revoked => "revoked".to_string(),
        other => other.to_string(),
    }
}

/// Accepts whatever chain the server presents, still checking that the
/// server holds its key (the handshake signatures), so the chain can be read
/// whoever issued it.
#[derive(Debug)]
struct AnyChain(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyChain {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    fn cert(subject: &str, from_days: i64, to_days: i64) -> Dated {
        Dated {
            subject: format!("CN={subject}"),
            not_before: NOW + from_days * DAY,
            not_after: NOW + to_days * DAY + 60,
        }
    }

    #[test]
    fn the_soonest_expiry_in_the_chain_decides_and_is_named() {
        let leaf = cert("api", -10, 300);
        assert_eq!(
            judge(std::slice::from_ref(&leaf), NOW, 30, 7),
            (CheckStatus::Pass, "expires in 300 days (CN=api)".into())
        );
        let chain = [
            leaf.clone(),
            cert("Intermediate", -10, 20),
            cert("Root", -10, 900),
        ];
        assert_eq!(
            judge(&chain, NOW, 30, 7),
            (
                CheckStatus::Warn,
                "expires in 20 days (CN=Intermediate, 2 of 3 in the chain)".into()
            )
        );
        assert_eq!(
            judge(&[cert("api", -1, 3)], NOW, 30, 7).0,
            CheckStatus::Fail
        );
        assert_eq!(
            judge(&[cert("api", -1, 0)], NOW, 30, 7),
            (CheckStatus::Fail, "expires in 0 hours (CN=api)".into())
        );
    }

    #[test]
    fn expired_and_not_yet_valid_certificates_fail() {
        let (status, words) = judge(&[cert("old", -400, -3)], NOW, 30, 7);
        assert_eq!(status, CheckStatus::Fail);
        assert!(words.starts_with("expired 2 days ago on "), "{words}");
        let (status, words) = judge(&[cert("new", 2, 300)], NOW, 30, 7);
        assert_eq!(status, CheckStatus::Fail);
        assert!(words.starts_with("not valid until "), "{words}");
        assert!(words.ends_with("(CN=new)"), "{words}");
    }
}
