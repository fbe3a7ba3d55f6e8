//! The session cookie: HttpOnly (no script reads it), SameSite=Lax (no cross-site
//! POST carries it), and over HTTPS Secure and named with the `__Host-` prefix:
//! a browser then takes it only from this host over HTTPS, never from a sibling
//! subdomain or a plain-HTTP response that would plant a session of its choosing.
use axum::http::{header, HeaderMap};
use muster_store::sessions::SESSION_TTL;

pub const SESSION_COOKIE: &str = "muster_session";
pub const SECURE_SESSION_COOKIE: &str = "__Host-muster_session";

fn name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

fn flags(secure: bool) -> &'static str {
    if secure {
        "; Secure"
    } else {
        ""
    }
}

pub fn session_cookie(token: &str, secure: bool) -> String {
    let (name, secure) = (name(secure), flags(secure));
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", SESSION_TTL.num_seconds())
}

pub fn cleared_session_cookie(secure: bool) -> String {
    let (name, secure) = (name(secure), flags(secure));
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// The session token the request carries, under the one name this server gives
/// it: over HTTPS a cookie without the prefix is not ours.
pub fn session_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    let wanted = name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn finds_the_session_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; muster_session=abc; b=2"));
        assert_eq!(session_token(&headers, false).as_deref(), Some("abc"));
        let mut empty = HeaderMap::new();
        empty.append(header::COOKIE, HeaderValue::from_static("muster_session="));
        assert_eq!(session_token(&empty, false), None);
    }

    #[test]
    fn cookie_flags() {
        let c = session_cookie("t", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("; Secure"));
        assert!(!session_cookie("t", false).contains("Secure"));
        assert!(cleared_session_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn over_https_the_session_is_a_host_cookie_and_only_that_one_counts() {
        let c = session_cookie("t", true);
        assert!(c.starts_with("__Host-muster_session=t; Path=/;") && !c.contains("Domain"), "{c}");
        assert!(cleared_session_cookie(true).starts_with("__Host-muster_session=; Path=/;"));
        assert!(session_cookie("t", false).starts_with("muster_session=t;"));
        let mut plain = HeaderMap::new();
        plain.append(header::COOKIE, HeaderValue::from_static("muster_session=planted"));
        assert_eq!(session_token(&plain, true), None, "a cookie a subdomain or plain HTTP could set");
        let mut host = HeaderMap::new();
        host.append(header::COOKIE, HeaderValue::from_static("muster_session=planted; __Host-muster_session=ours"));
        assert_eq!(session_token(&host, true).as_deref(), Some("ours"));
        assert_eq!(session_token(&host, false).as_deref(), Some("planted"));
    }
}
