//! The console's guard: its refusal of state-changing requests sent by a
//! browser from another origin (CSRF), and the security headers its answers
//! carry, among them a script policy whose per-page nonce it also hands to
//! the page's render.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, ORIGIN, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use leptos::nonce::Nonce;
use leptos::prelude::{provide_context, use_context};
use riskline_app::error::AppError;

use crate::AppState;

/// Everything from this origin only, so injected markup cannot load from
/// elsewhere, and no inline scripts or styles (the console has no inline
/// styles, so none are allowed); frames of the console on another site could
/// trick an admin into a click (clickjacking); `base-uri`, `object-src` and
/// `form-action` close the usual ways around a page's own links and forms.
/// A page adds its own `script-src` ([`page_csp`]).
const CSP: &str = "default-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'; \
form-action 'self'";

/// A page's policy: [`CSP`] with scripts from this origin and inline ones
/// carrying this answer's nonce (Leptos's hydration script and its resource
/// data), so an injected `<script>` or `onclick` does not run;
/// `wasm-unsafe-eval` lets the hydration script start the wasm.
fn page_csp(nonce: &Nonce) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{CSP}; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'"
    ))
    .ok()
}

/// Gives the page being rendered the nonce that [`console_guard`] put in
/// its request and will name in its policy (in place of the one leptos_axum
/// makes up for each render). Called from the console's Leptos context.
pub fn provide_request_nonce() {
    if let Some(nonce) = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Nonce>().cloned())
    {
        provide_context(nonce);
    }
}

/// Adds the security headers to an answer that does not set its own: no
/// framing, no MIME sniffing, no referrer to other sites (`same-origin`,
/// not `no-referrer`: a form posted without the wasm is sent back to its
/// page by its `Referer`, and `no-referrer` would also make browsers send
/// `Origin: null`), HSTS when the base URL is https, and no caching of
/// anything but the console's static files (pages hold an org's data, and
/// a new API token's secret is shown once). An HTML page rendered with
/// `nonce` gets the policy that lets its nonce's scripts run.
fn add_headers(response: &mut Response, https: bool, cacheable: bool, nonce: Option<&Nonce>) {
    let page_policy = nonce
        .filter(|_| is_html(response.headers()))
        .and_then(page_csp);
    let headers = response.headers_mut();
    let mut set = |name, value: HeaderValue| {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    };
    set(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    set(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set(
        CONTENT_SECURITY_POLICY,
        page_policy.unwrap_or(HeaderValue::from_static(CSP)),
    );
    set(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if https {
        set(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if !cacheable {
        set(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"))
}

/// The console's built assets and files (`/pkg/…`, `/favicon.svg`).
fn is_static_file(path: &str) -> bool {
    path.starts_with("/pkg/")
        || (!path.starts_with("/api/")
            && path
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains('.')))
}

/// Refuses a console request that could change something (any method but
/// GET, HEAD and OPTIONS: the server functions are POSTs) when a browser
/// says it comes from another origin. The session cookie is `SameSite=Lax`,
/// which keeps it off cross-site posts, but "site" ignores ports and
/// subdomains: a page on another port of the same host, or on a sibling
/// subdomain, could otherwise post a plain HTML form (no JavaScript, no
/// preflight) with the admin's cookie. Browsers mark every request with
/// `Sec-Fetch-Site` (older ones with `Origin` on a POST); a request with
/// neither comes from a program, which holds no admin's cookie unless given
/// one. The console's own forms, with or without the wasm, are same-origin.
///
/// Every answer of the console also gets the security headers
/// ([`add_headers`]); a request for anything but a static file gets a fresh
/// nonce in its extensions, which its page renders with
/// ([`provide_request_nonce`]) and its policy names. One layer does all
/// this (a further layer once cost about 10 MB of peak memory in the ingest
/// benchmark, when axum still copied the router for every connection; see
/// `Server::run`).
pub async fn console_guard(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let https = state.services.settings.base_url.starts_with("https://");
    let cacheable = is_static_file(request.uri().path());
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe && cross_origin(request.headers(), &state.services.settings.base_url) {
        tracing::warn!(
            "refused a cross-origin {} {} (Origin {:?}, Sec-Fetch-Site {:?})",
            request.method(),
            request.uri().path(),
            request.headers().get(ORIGIN),
            request.headers().get("sec-fetch-site"),
        );
        let mut response = refusal();
        add_headers(&mut response, https, false, None);
        return response;
    }
    // 128 random bits, base64url.
    let nonce = (!cacheable).then(Nonce::new);
    if let Some(nonce) = &nonce {
        request.extensions_mut().insert(nonce.clone());
    }
    let mut response = next.run(request).await;
    add_headers(&mut response, https, cacheable, nonce.as_ref());
    response
}

/// Whether a browser sent this request from a page of another origin.
fn cross_origin(headers: &HeaderMap, base_url: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        // `none`: typed or bookmarked by the user, not sent by a page.
        return !matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    // This org's public URL, or the address the browser used (which is
    // what it is without a base URL, or behind a proxy that keeps `Host`).
    if origin.eq_ignore_ascii_case(base_url_origin(base_url)) {
        return false;
    }
    let authority = origin.split_once("://").map(|(_, rest)| rest);
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    !matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
}

/// `scheme://host[:port]` of a base URL (which may have a path).
fn base_url_origin(base_url: &str) -> &str {
    let after_scheme = base_url.find("://").map_or(0, |i| i + 3);
    match base_url[after_scheme..].find('/') {
        Some(i) => &base_url[..after_scheme + i],
        None => base_url,
    }
}

/// 403 with the console's error shape.
fn refusal() -> Response {
    let error = AppError::Server(
        "this request came from a page of another site, so Riskline refused it; use the console at its own address".into(),
    );
    let body = serde_json::to_vec(&error).unwrap_or_default();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn requests_from_other_origins_are_told_apart() {
        let base = "https://riskline.example.com";
        let cross = |pairs: &[(&'static str, &'static str)]| cross_origin(&headers(pairs), base);
        // Fetch metadata decides when present.
        assert!(!cross(&[("sec-fetch-site", "same-origin")]));
        assert!(!cross(&[("sec-fetch-site", "none")]));
        assert!(cross(&[("sec-fetch-site", "same-site")]));
        assert!(cross(&[("sec-fetch-site", "cross-site")]));
        assert!(cross(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://riskline.example.com")
        ]));
        // Else the Origin: the base URL's, or the Host's.
        assert!(!cross(&[("origin", "https://riskline.example.com")]));
        assert!(!cross(&[("origin", "https://RiskLine.example.com")]));
        assert!(!cross(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000")
        ]));
        assert!(cross(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:3000")
        ]));
        assert!(cross(&[("origin", "https://evil.example")]));
        assert!(cross(&[("origin", "null"), ("host", "127.0.0.1:3000")]));
        assert!(cross(&[
            ("origin", "https://riskline.example.com.evil.example"),
            ("host", "riskline.example.com")
        ]));
        // Neither: not a browser.
        assert!(!cross(&[]));
        assert!(!cross(&[("host", "127.0.0.1:3000")]));
    }

    #[test]
    fn the_base_url_origin_drops_any_path() {
        assert_eq!(
            base_url_origin("https://a.example/riskline"),
            "https://a.example"
        );
        assert_eq!(
            base_url_origin("http://127.0.0.1:3000"),
            "http://127.0.0.1:3000"
        );
    }

    #[test]
    fn only_static_files_may_be_cached() {
        assert!(is_static_file("/pkg/riskline.js"));
        assert!(is_static_file("/favicon.svg"));
        assert!(!is_static_file("/admin/security/api/tokens"));
        assert!(!is_static_file("/_fn/take_new_token123"));
        assert!(!is_static_file("/api/v1/users/a.b"));
    }
}
