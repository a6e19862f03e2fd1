//! Who may change a data plane through its admin API.
//!
//! Reading (`GET`: `/metrics`, state, counters) is open, so Prometheus can
//! scrape without a credential. Every other call must
//! - name the admin address itself in `Host` (an IP literal or
//!   `localhost`): a page whose own name was rebound to 127.0.0.1 (DNS
//!   rebinding) sends its name and is refused;
//! - come from no web page: an `Origin` other than the admin address;
//! - carry `Authorization: Bearer <token>` (see `admin_token`);
//! - send `Content-Type: application/json`, which a browser never sends
//!   cross-site without asking first (a CORS preflight this API never
//!   grants).

use std::net::{IpAddr, SocketAddr};

use hyper::StatusCode;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderMap, ORIGIN};
use hyper::http::uri::Authority;

use super::admin_token;
use crate::config::Secret;

/// Why a state-changing admin call is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error(
        "Host `{0}` is not this admin API's address: refused so that a web page cannot \
         reach it under its own name (DNS rebinding); call it by its IP address or localhost"
    )]
    ForeignHost(String),
    #[error("admin calls from web pages are refused (Origin `{0}`)")]
    ForeignOrigin(String),
    #[error(
        "this call changes the data plane and needs `Authorization: Bearer <token>`: the \
         backend's `admin_token`, or the token helmsman generated into `admin-token` in its \
         state directory"
    )]
    MissingToken,
    #[error("the bearer token is not this data plane's admin token")]
    WrongToken,
    #[error("this call must send `Content-Type: application/json` (it sent {0})")]
    NotJson(String),
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::ForeignHost(_) | Refusal::ForeignOrigin(_) => StatusCode::FORBIDDEN,
            Refusal::MissingToken | Refusal::WrongToken => StatusCode::UNAUTHORIZED,
            Refusal::NotJson(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }
}

/// Admits or refuses the state-changing calls of one admin listener.
#[derive(Debug)]
pub struct AdminGuard {
    /// The address the admin listener is bound to (with its real port).
    admin: SocketAddr,
    token: Secret,
}

impl AdminGuard {
    pub fn new(admin: SocketAddr, token: Secret) -> Self {
        Self { admin, token }
    }

    /// Checks a state-changing call's headers; the cheapest refusals first.
    /// The address the admin API it guards listens on.
    pub fn admin(&self) -> SocketAddr {
        self.admin
    }

    pub fn admit(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let text = |name| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let host = text(HOST).unwrap_or_default();
        if !self.is_own_address(&host) {
            return Err(Refusal::ForeignHost(host));
        }
        if let Some(origin) = text(ORIGIN) {
            let own = origin
                .strip_prefix("http://")
                .is_some_and(|authority| self.is_own_address(authority));
            if !own {
                return Err(Refusal::ForeignOrigin(origin));
            }
        }
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| bearer(v.as_bytes()))
            .ok_or(Refusal::MissingToken)?;
        if !admin_token::matches(&self.token, presented) {
            return Err(Refusal::WrongToken);
        }
        match text(CONTENT_TYPE) {
            Some(media) if is_json(&media) => Ok(()),
            Some(media) => Err(Refusal::NotJson(format!("`{media}`"))),
            None => Err(Refusal::NotJson("none".to_string())),
        }
    }

    /// `host[:port]` names this listener: its port, and `localhost`, a
    /// loopback IP or the bound IP (any IP when bound to all interfaces).
    /// A name other than `localhost` may resolve anywhere, so none is taken.
    fn is_own_address(&self, authority: &str) -> bool {
        let Ok(authority) = authority.parse::<Authority>() else {
            return false;
        };
        if authority.port_u16().unwrap_or(80) != self.admin.port() {
            return false;
        }
        let host = authority.host();
        if host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == self.admin.ip() || self.admin.ip().is_unspecified(),
            Err(_) => false,
        }
    }
}

/// The token of `Bearer <token>` (the scheme is case-insensitive).
fn bearer(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
}

/// `application/json`, with or without parameters such as `charset`.
fn is_json(media: &str) -> bool {
    media
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn guard(admin: &str) -> AdminGuard {
        AdminGuard::new(admin.parse().unwrap(), Secret::new("t0k".into(), None))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const GOOD: [(&str, &str); 3] = [
        ("host", "127.0.0.1:19080"),
        ("authorization", "Bearer t0k"),
        ("content-type", "application/json"),
    ];

    fn with(changes: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = headers(&GOOD);
        for (name, value) in changes {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_operators_call_is_admitted() {
        let g = guard("127.0.0.1:19080");
        assert_eq!(g.admit(&headers(&GOOD)), Ok(()));
        for ok in [
            ("host", "localhost:19080"),
            ("host", "[::1]:19080"),
            ("origin", "http://127.0.0.1:19080"),
            ("authorization", "bearer t0k"),
            ("content-type", "application/json; charset=utf-8"),
        ] {
            assert_eq!(g.admit(&with(&[ok])), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn each_defence_refuses_on_its_own() {
        let g = guard("127.0.0.1:19080");
        let refused = |changes: &[(&'static str, &str)]| g.admit(&with(changes)).unwrap_err();
        for host in [
            "evil.example:19080",
            "127.0.0.1:19081",
            "127.0.0.1",
            "10.1.2.3:19080",
        ] {
            assert!(
                matches!(refused(&[("host", host)]), Refusal::ForeignHost(_)),
                "{host}"
            );
        }
        for origin in ["http://evil.example", "null", "https://127.0.0.1:19080"] {
            assert!(
                matches!(refused(&[("origin", origin)]), Refusal::ForeignOrigin(_)),
                "{origin}"
            );
        }
        assert_eq!(
            refused(&[("authorization", "Bearer nope")]),
            Refusal::WrongToken
        );
        assert_eq!(
            refused(&[("authorization", "Basic dDBr")]),
            Refusal::MissingToken
        );
        assert_eq!(
            refused(&[("content-type", "text/plain")]),
            Refusal::NotJson("`text/plain`".into())
        );
        let mut no_type = headers(&GOOD);
        no_type.remove(CONTENT_TYPE);
        assert_eq!(g.admit(&no_type), Err(Refusal::NotJson("none".into())));
        let mut no_host = headers(&GOOD);
        no_host.remove(HOST);
        assert!(matches!(g.admit(&no_host), Err(Refusal::ForeignHost(_))));
    }

    #[test]
    fn an_admin_api_on_every_interface_takes_any_ip_of_the_host() {
        let g = guard("0.0.0.0:19080");
        assert_eq!(g.admit(&with(&[("host", "10.1.2.3:19080")])), Ok(()));
        assert!(g.admit(&with(&[("host", "ops.example:19080")])).is_err());
    }
}
