//! Guarded fetching of admin-typed URLs, SSF discovery and JWKS checks.
//!
//! Admins type URLs (an SSF transmitter's well-known URL, or an issuer and a
//! JWKS URL) and the server fetches them. Such a URL must not let the server
//! probe the internal network, so unless private URLs are explicitly allowed:
//!
//! * only `https://` is accepted;
//! * IP-literal hosts must be public addresses (checked before connecting);
//! * host names are resolved by a resolver that drops every non-public
//!   address, at connection time, so DNS rebinding cannot bypass the check;
//! * every redirect hop is checked again, and hops are counted;
//! * system proxies are ignored (a proxy would resolve names for us).
//!
//! Bodies are streamed and cut off at a size limit, and the whole exchange is
//! bounded by a timeout.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use url::{Host, Url};

/// Limits applied to every fetch of an admin-typed URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Allow `http://` and private, loopback and link-local addresses
    /// (development and tests only; `RISKLINE_ALLOW_PRIVATE_URLS`).
    pub allow_private: bool,
    /// Bound on the whole exchange: connection, redirects and body.
    pub timeout: Duration,
    /// Largest accepted response body, in bytes.
    pub max_bytes: usize,
    /// Most redirects followed for one fetch.
    pub max_redirects: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: Duration::from_secs(5),
            max_bytes: 256 * 1024,
            max_redirects: 3,
        }
    }
}

/// Why a URL could not be fetched.
///
/// The messages have no subject, so that the caller can prefix them with the
/// field the URL came from, e.g. `"The well-known URL {error}"`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FetchError {
    /// The text does not parse as an absolute URL we can fetch.
    #[error("is not a valid URL: {reason}")]
    InvalidUrl { reason: String },
    /// `http://` while private URLs are not allowed.
    #[error(
        "must use https:// (plain http is allowed only when RISKLINE_ALLOW_PRIVATE_URLS is set)"
    )]
    InsecureScheme,
    /// The host is, or resolves only to, non-public addresses.
    #[error(
        "points to a private or loopback address ({host}); such URLs are refused unless RISKLINE_ALLOW_PRIVATE_URLS is set"
    )]
    PrivateAddress { host: String },
    /// Connection refused, DNS failure, TLS failure and the like.
    #[error("could not be reached ({detail})")]
    Unreachable { detail: String },
    /// The whole exchange took longer than the policy's timeout.
    #[error("did not answer within {}", seconds_text(*.seconds))]
    TimedOut { seconds: f64 },
    /// More redirects than the policy allows.
    #[error("redirected more than {max} times")]
    TooManyRedirects { max: usize },
    /// A non-2xx final answer.
    #[error("answered HTTP {}", status_text(*.status))]
    HttpStatus { status: u16 },
    /// The body is larger than the policy allows.
    #[error("returned more than {}", size_text(*.max_bytes))]
    TooLarge { max_bytes: usize },
    /// The body is not JSON.
    #[error("did not return JSON ({detail})")]
    NotJson { detail: String },
    /// The HTTP client itself could not be built (not the URL's fault).
    #[error("could not be fetched: the HTTP client could not be set up ({detail})")]
    ClientSetup { detail: String },
}

fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

fn seconds_text(seconds: f64) -> String {
    if seconds == 1.0 {
        "1 second".to_owned()
    } else {
        format!("{seconds} seconds")
    }
}

fn size_text(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// A guarded HTTP client for admin-typed URLs. Cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// For actions (`post_json`): never follows a redirect. A logout or
    /// webhook counts only when its own endpoint answers, and reqwest would
    /// turn a POST into a GET on 301/302/303 and drop its body.
    post_client: reqwest::Client,
    policy: Arc<FetchPolicy>,
}

/// A POST's answer: its status, up to 1 KiB of its body, and the
/// `Location` of a redirect (which is not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostAnswer {
    pub status: u16,
    pub body: String,
    pub location: Option<String>,
}

impl fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetcher")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Fetcher {
    /// Build a fetcher enforcing `policy`.
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        let allow_private = policy.allow_private;
        let max_redirects = policy.max_redirects;
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            // `previous` holds the first URL plus every hop followed so far.
            if attempt.previous().len() > max_redirects {
                return attempt.error(FetchError::TooManyRedirects { max: max_redirects });
            }
            match check_parsed(attempt.url(), allow_private) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let build = |redirect: reqwest::redirect::Policy| {
            let mut builder = reqwest::Client::builder()
                .redirect(redirect)
                .no_proxy()
                .timeout(policy.timeout)
                .connect_timeout(policy.timeout)
                .https_only(!allow_private)
                .user_agent(concat!("Riskline/", env!("CARGO_PKG_VERSION")));
            if !allow_private {
                builder = builder.dns_resolver(PublicOnlyResolver);
            }
            builder.build().map_err(|e| FetchError::ClientSetup {
                detail: deepest_message(&e),
            })
        };
        let client = build(redirect)?;
        let post_client = build(reqwest::redirect::Policy::none())?;
        Ok(Self {
            client,
            post_client,
            policy: Arc::new(policy),
        })
    }

    /// The policy this fetcher enforces.
    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Check a URL as typed, without fetching: it parses, its scheme is https
    /// (or http when private URLs are allowed), it has a host and no user
    /// name or password, and an IP-literal host is a public address unless
    /// private URLs are allowed. Host names are checked when resolved.
    pub fn check_url(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = Url::parse(url.trim()).map_err(|e| FetchError::InvalidUrl {
            reason: url_parse_reason(e),
        })?;
        check_parsed(&parsed, self.policy.allow_private)?;
        Ok(parsed)
    }

    /// GET `url` with `Accept: application/json` and parse the body as JSON,
    /// within the policy's limits.
    pub async fn get_json(&self, url: &str) -> Result<Value, FetchError> {
        let url = self.check_url(url)?;
        let timeout = self.policy.timeout;
        match tokio::time::timeout(timeout, self.get_json_unbounded(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::TimedOut {
                seconds: timeout.as_secs_f64(),
            }),
        }
    }

    /// POST a JSON body to `url` with extra headers, under the same guards
    /// but following no redirect: a 3xx is returned as the answer, with its
    /// `Location`. Returns the status and up to 1 KiB of the body as text.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &Value,
    ) -> Result<PostAnswer, FetchError> {
        let url = self.check_url(url)?;
        let https = url.scheme() == "https";
        let mut request = self.post_client.post(url).json(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let timeout = self.policy.timeout;
        let call = async {
            let response = request
                .send()
                .await
                .map_err(|e| self.map_reqwest_error(&e, https))?;
            let status = response.status().as_u16();
            let location = response.headers().get(reqwest::header::LOCATION).map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .chars()
                    .take(500)
                    .collect()
            });
            let text = response.text().await.unwrap_or_default();
            let mut cut = text.len().min(self.policy.max_bytes).min(1024);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            Ok(PostAnswer {
                status,
                body: text[..cut].to_string(),
                location,
            })
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::TimedOut {
                seconds: timeout.as_secs_f64(),
            }),
        }
    }

    async fn get_json_unbounded(&self, url: Url) -> Result<Value, FetchError> {
        let https = url.scheme() == "https";
        let mut response = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.map_reqwest_error(&e, https))?;

        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::HttpStatus {
                status: status.as_u16(),
            });
        }

        let max_bytes = self.policy.max_bytes;
        let too_large = FetchError::TooLarge { max_bytes };
        if let Some(length) = response.content_length() {
            if usize::try_from(length).map_or(true, |l| l > max_bytes) {
                return Err(too_large);
            }
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);

        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.map_reqwest_error(&e, https))?
        {
            if body.len().saturating_add(chunk.len()) > max_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }

        serde_json::from_slice(&body).map_err(|e| {
            let detail = if body.iter().all(u8::is_ascii_whitespace) {
                "the body is empty".to_owned()
            } else {
                format!("invalid JSON: {e}")
            };
            let detail = match content_type {
                Some(ct) if !ct.contains("json") => format!("content type {ct}; {detail}"),
                _ => detail,
            };
            FetchError::NotJson { detail }
        })
    }

    fn map_reqwest_error(&self, error: &reqwest::Error, https: bool) -> FetchError {
        // Errors we raised ourselves (redirect policy, resolver) travel
        // through reqwest's source chain.
        if let Some(ours) = error_chain(error)
            .into_iter()
            .find_map(|e| e.downcast_ref::<FetchError>())
        {
            return ours.clone();
        }
        if error.is_timeout() {
            return FetchError::TimedOut {
                seconds: self.policy.timeout.as_secs_f64(),
            };
        }
        if error.is_redirect() {
            return FetchError::TooManyRedirects {
                max: self.policy.max_redirects,
            };
        }
        let deepest = deepest_message(error);
        let detail = if error.is_dns() {
            format!("DNS lookup failed: {deepest}")
        } else if let Some(kind) = io_error_kind(error) {
            match kind {
                io::ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                io::ErrorKind::ConnectionReset => "connection reset by the server".to_owned(),
                io::ErrorKind::ConnectionAborted => "connection aborted".to_owned(),
                io::ErrorKind::InvalidData if https && error.is_connect() => {
                    format!("TLS handshake failed: {deepest}")
                }
                _ => deepest,
            }
        } else if https && error.is_connect() {
            format!("connection or TLS handshake failed: {deepest}")
        } else if error.is_connect() {
            format!("connection failed: {deepest}")
        } else {
            deepest
        };
        FetchError::Unreachable { detail }
    }
}

/// The errors of a chain, outermost first. Unlike `source()`, this looks
/// inside `io::Error`s, whose `source()` skips the error they wrap.
fn error_chain<'a>(error: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
    let mut chain = Vec::new();
    let mut current = Some(error);
    while let Some(e) = current {
        chain.push(e);
        current = match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    chain
}

/// The message of the innermost error in a chain.
fn deepest_message(error: &(dyn StdError + 'static)) -> String {
    error_chain(error)
        .last()
        .map_or_else(|| error.to_string(), |e| e.to_string())
}

/// The kind of the innermost `io::Error` in a chain, if any.
fn io_error_kind(error: &(dyn StdError + 'static)) -> Option<io::ErrorKind> {
    error_chain(error)
        .into_iter()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .map(io::Error::kind)
        .last()
}

fn url_parse_reason(error: url::ParseError) -> String {
    match error {
        url::ParseError::RelativeUrlWithoutBase => {
            "it must be a full URL starting with https://".to_owned()
        }
        url::ParseError::EmptyHost => "it has no host name".to_owned(),
        url::ParseError::InvalidPort => "its port is not a number from 0 to 65535".to_owned(),
        other => other.to_string(),
    }
}

/// The checks of [`Fetcher::check_url`] on an already parsed URL; also
/// applied to every redirect hop.
fn check_parsed(url: &Url, allow_private: bool) -> Result<(), FetchError> {
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(FetchError::InsecureScheme),
        other => {
            let expected = if allow_private {
                "http:// or https://"
            } else {
                "https://"
            };
            return Err(FetchError::InvalidUrl {
                reason: format!("its scheme is {other}:, it must start with {expected}"),
            });
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchError::InvalidUrl {
            reason: "it must not contain a user name or password".to_owned(),
        });
    }
    let ip = match url.host() {
        None => {
            return Err(FetchError::InvalidUrl {
                reason: "it has no host name".to_owned(),
            })
        }
        Some(Host::Domain("")) => {
            return Err(FetchError::InvalidUrl {
                reason: "it has no host name".to_owned(),
            })
        }
        Some(Host::Domain(_)) => return Ok(()),
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
    };
    if !allow_private && !is_public_ip(ip) {
        return Err(FetchError::PrivateAddress {
            host: ip.to_string(),
        });
    }
    Ok(())
}

/// Whether an address is publicly routable, i.e. safe to connect to on an
/// admin's behalf.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_ipv4(v4),
        IpAddr::V6(v6) => is_public_ipv6(v6),
    }
}

fn is_public_ipv4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", incl. unspecified
        || a == 10 // private
        || (a == 100 && (64..=127).contains(&b)) // CGNAT 100.64/10
        || a == 127 // loopback
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..=31).contains(&b)) // private
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168) // private
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_ipv6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    // IPv4-mapped ::ffff:a.b.c.d: judge the IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_ipv4(v4);
    }
    // ::/96 holds unspecified, loopback and the deprecated IPv4-compatible
    // addresses.
    if s[..6].iter().all(|&x| x == 0) {
        return false;
    }
    // NAT64 well-known prefix 64:ff9b::/96: judge the embedded IPv4 address.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_ipv4(embedded_v4(s[6], s[7]));
    }
    // 6to4 2002::/16: judge the embedded IPv4 address.
    if s[0] == 0x2002 {
        return is_public_ipv4(embedded_v4(s[1], s[2]));
    }
    // Only global unicast 2000::/3 is public; this excludes unique-local
    // fc00::/7, link-local fe80::/10, site-local fec0::/10, multicast
    // ff00::/8, discard-only 100::/64 and local NAT64 64:ff9b:1::/48.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    // 2001::/23 (IETF protocol assignments, Teredo) and 2001:db8::/32
    // (documentation).
    let refused_2001 = s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8);
    // Documentation 3fff::/20.
    let refused = refused_2001 || (s[0] == 0x3fff && s[1] < 0x1000);
    !refused
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// Resolves host names with the system resolver and keeps only public
/// addresses, so that the check holds at connection time.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (public, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
                .into_iter()
                .partition(|addr| is_public_ip(addr.ip()));
            if public.is_empty() {
                if refused.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{host} has no address"),
                    )
                    .into());
                }
                let mut ips: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
                ips.dedup();
                tracing::warn!(%host, addresses = %ips.join(", "), "refused to connect to a non-public address");
                return Err(Box::new(FetchError::PrivateAddress {
                    host: format!("{host} resolves to {}", ips.join(", ")),
                }) as Box<dyn StdError + Send + Sync>);
            }
            if !refused.is_empty() {
                tracing::debug!(%host, dropped = refused.len(), "dropped non-public addresses");
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

// ---------------------------------------------------------------------------
// SSF discovery
// ---------------------------------------------------------------------------

/// What Riskline needs from a transmitter's SSF configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsfConfiguration {
    /// The URL the configuration was fetched from.
    pub well_known_url: String,
    /// The transmitter's issuer, as the document states it.
    pub issuer: String,
    /// The absolute URL of the transmitter's signing keys.
    pub jwks_uri: String,
    /// Complex-subject members the transmitter marks critical: an event whose
    /// subject has one the receiver cannot process must be discarded.
    pub critical_subject_members: Vec<String>,
}

/// Why SSF discovery failed.
///
/// `Fetch` displays the bare [`FetchError`] message (no subject, to be
/// prefixed by the caller); the other variants are complete sentences that
/// name the URL fetched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("the SSF configuration at {url} is not a JSON object")]
    NotAnObject { url: String },
    #[error(
        "the SSF configuration at {url} has no issuer; the transmitter must name itself in the \"issuer\" field"
    )]
    MissingIssuer { url: String },
    #[error(
        "the SSF configuration at {url} has no jwks_uri; the transmitter must publish its signing keys"
    )]
    MissingJwksUri { url: String },
    #[error("the SSF configuration at {url} has a jwks_uri that is not a valid URL ({jwks_uri:?}: {reason})")]
    InvalidJwksUri {
        url: String,
        jwks_uri: String,
        reason: String,
    },
    #[error(
        "the SSF configuration at {url} names the issuer \"{found}\", not \"{expected}\" as typed; type the transmitter's exact issuer, or its well-known URL"
    )]
    IssuerMismatch {
        url: String,
        expected: String,
        found: String,
    },
}

/// Fetch a transmitter's SSF configuration from a typed URL: either its
/// well-known URL (any path containing `/.well-known/`), fetched as is, or
/// its issuer, from which the well-known URL is built by the SSF 1.0 rule and
/// whose value the document must repeat.
pub async fn discover_ssf(
    fetcher: &Fetcher,
    typed_url: &str,
) -> Result<SsfConfiguration, DiscoveryError> {
    let typed = typed_url.trim();
    let parsed = fetcher.check_url(typed)?;
    let is_well_known = is_well_known_url(&parsed);
    let well_known = if is_well_known {
        parsed.clone()
    } else {
        ssf_well_known_url(&parsed)
    };
    let url_text = well_known.to_string();

    let doc = fetcher.get_json(well_known.as_str()).await?;
    let obj = doc.as_object().ok_or_else(|| DiscoveryError::NotAnObject {
        url: url_text.clone(),
    })?;
    let issuer = obj
        .get("issuer")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DiscoveryError::MissingIssuer {
            url: url_text.clone(),
        })?;
    let jwks_raw = obj
        .get("jwks_uri")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| DiscoveryError::MissingJwksUri {
            url: url_text.clone(),
        })?;

    if !is_well_known {
        let found = strip_one_slash(issuer);
        let matches = found == strip_one_slash(typed) || found == strip_one_slash(parsed.as_str());
        if !matches {
            return Err(DiscoveryError::IssuerMismatch {
                url: url_text,
                expected: typed.to_owned(),
                found: issuer.to_owned(),
            });
        }
    }

    let jwks_uri = well_known
        .join(jwks_raw)
        .map_err(|e| DiscoveryError::InvalidJwksUri {
            url: url_text.clone(),
            jwks_uri: jwks_raw.to_owned(),
            reason: e.to_string(),
        })?;

    let critical_subject_members = obj
        .get("critical_subject_members")
        .and_then(Value::as_array)
        .map(|members| {
            members
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(SsfConfiguration {
        well_known_url: url_text,
        issuer: issuer.to_owned(),
        jwks_uri: jwks_uri.to_string(),
        critical_subject_members,
    })
}

/// SSF 1.0: strip a trailing `/` from the issuer, then insert
/// `/.well-known/ssf-configuration` between the host (and port) and the path.
/// A URL typed as a provider's `well_known_url` is the document's own URL
/// when its path holds `/.well-known/`; otherwise it is taken as the issuer.
fn is_well_known_url(url: &Url) -> bool {
    url.path().contains("/.well-known/")
}

/// The URL [`discover_ssf`] reads for `typed` when that is an issuer URL
/// rather than a well-known one (`None` when it is one, or is no URL).
pub fn ssf_configuration_url_for_issuer(typed: &str) -> Option<String> {
    let parsed = Url::parse(typed.trim()).ok()?;
    (!is_well_known_url(&parsed)).then(|| ssf_well_known_url(&parsed).to_string())
}

fn ssf_well_known_url(issuer: &Url) -> Url {
    let path = issuer.path().trim_end_matches('/').to_owned();
    let mut url = issuer.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("/.well-known/ssf-configuration{path}"));
    url
}

fn strip_one_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

// ---------------------------------------------------------------------------
// JWKS
// ---------------------------------------------------------------------------

/// A public key usable to verify a transmitter's signatures.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: Option<String>,
    pub alg: Option<String>,
    pub kty: String,
    pub key: jsonwebtoken::DecodingKey,
    /// The same key parsed once for fast verification (see `set::PreparedKey`).
    pub prepared: Option<std::sync::Arc<crate::set::PreparedKey>>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("kty", &self.kty)
            .finish_non_exhaustive()
    }
}

/// The usable signing keys of a JWK Set.
#[derive(Debug, Clone)]
pub struct Jwks {
    pub keys: Vec<SigningKey>,
}

/// Why a JWK Set cannot be used.
///
/// `Fetch` displays the bare [`FetchError`] message (no subject, to be
/// prefixed by the caller); the other variants are complete sentences, naming
/// the URL when the set was fetched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JwksError {
    #[error("{0}")]
    Fetch(#[from] FetchError),
    #[error("the document{} is not a JWK Set: it has no \"keys\" array", at_url(.url))]
    NotAJwks { url: Option<String> },
    #[error(
        "the JWKS{} holds no usable signing key ({found} {} found; each must be RSA ≥ 2048 bits, EC P-256/P-384 or Ed25519, with \"use\": \"sig\" or no use)",
        at_url(.url),
        if *.found == 1 { "key" } else { "keys" }
    )]
    NoUsableKey { url: Option<String>, found: usize },
}

fn at_url(url: &Option<String>) -> String {
    match url {
        Some(u) => format!(" at {u}"),
        None => String::new(),
    }
}

/// Keep the usable signing keys of a JWK Set document. Keys that are not
/// usable (wrong type or use, symmetric, too small, malformed) are skipped.
pub fn parse_jwks(doc: &Value) -> Result<Jwks, JwksError> {
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::NotAJwks { url: None })?;
    let usable: Vec<SigningKey> = keys.iter().filter_map(usable_key).collect();
    if usable.is_empty() {
        return Err(JwksError::NoUsableKey {
            url: None,
            found: keys.len(),
        });
    }
    Ok(Jwks { keys: usable })
}

/// Fetch a JWK Set and keep its usable signing keys.
pub async fn fetch_jwks(fetcher: &Fetcher, url: &str) -> Result<Jwks, JwksError> {
    let doc = fetcher.get_json(url).await?;
    parse_jwks(&doc).map_err(|e| match e {
        JwksError::NotAJwks { .. } => JwksError::NotAJwks {
            url: Some(url.trim().to_owned()),
        },
        JwksError::NoUsableKey { found, .. } => JwksError::NoUsableKey {
            url: Some(url.trim().to_owned()),
            found,
        },
        other => other,
    })
}

/// One JWK as a signing key, or `None` when it is not usable.
fn usable_key(raw: &Value) -> Option<SigningKey> {
    let obj = raw.as_object()?;
    let str_field = |name: &str| obj.get(name).and_then(Value::as_str);
    // A member present with a non-string value is malformed.
    let opt_str_field = |name: &str| -> Option<Option<&str>> {
        match obj.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s.as_str())),
            Some(_) => None,
        }
    };

    let kty = str_field("kty")?;
    let use_ = opt_str_field("use")?;
    if use_.is_some_and(|u| u != "sig") {
        return None;
    }
    let alg = opt_str_field("alg")?;
    let kid = opt_str_field("kid")?;

    match kty {
        "RSA" => {
            if alg.is_some_and(|a| {
                !matches!(a, "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512")
            }) {
                return None;
            }
            let n = b64url_decode(str_field("n")?)?;
            if modulus_bits(&n) < 2048 {
                return None;
            }
            b64url_decode(str_field("e")?).filter(|e| e.iter().any(|&b| b != 0))?;
        }
        "EC" => {
            let (len, expected_alg) = match str_field("crv")? {
                "P-256" => (32, "ES256"),
                "P-384" => (48, "ES384"),
                _ => return None,
            };
            if alg.is_some_and(|a| a != expected_alg) {
                return None;
            }
            if b64url_decode(str_field("x")?)?.len() != len
                || b64url_decode(str_field("y")?)?.len() != len
            {
                return None;
            }
        }
        "OKP" => {
            if str_field("crv")? != "Ed25519" || alg.is_some_and(|a| a != "EdDSA") {
                return None;
            }
            if b64url_decode(str_field("x")?)?.len() != 32 {
                return None;
            }
        }
        _ => return None,
    }

    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(raw.clone()).ok()?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).ok()?;
    Some(SigningKey {
        kid: kid.map(str::to_owned),
        alg: alg.map(str::to_owned),
        kty: kty.to_owned(),
        key,
        prepared: crate::set::PreparedKey::from_jwk(obj).map(std::sync::Arc::new),
    })
}

/// Size in bits of a big-endian unsigned integer.
fn modulus_bits(bytes: &[u8]) -> usize {
    let Some(start) = bytes.iter().position(|&b| b != 0) else {
        return 0;
    };
    let significant = &bytes[start..];
    let leading = significant
        .first()
        .map_or(0, |b| b.leading_zeros() as usize);
    significant.len() * 8 - leading
}

/// Decode base64url, with or without padding.
fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;
    use serde_json::json;

    const RSA_2048_N: &str = "mSmGMGN9UAMWvPscK_MakgesUF8z7jR3Y-_9wsZ2LpjjmHR_B8DdR_CycNZjbONsjN7S3oZJsjuKkj0opJzDD364IgcH0UEKi3oEUBIfe_19GjQl7wdSZQFlgDgFbPMCP2bFbU1ZeNupAFTxHqkuYMZq5Rc7URItQ1A6b614yQTk5HhZwHiJrxZBv6D1J371U3sDo0js7jrwcvwE_qTQJskCvi-y1xJVhYbq-udU7ivpWxjupvqwNr-E6MVXgk65WGV5fhX0rUJL5ugOSci4oU4kSDmQ4u-CeTgN-smpV6Fp9bTXU440HvrVMCoEIhwEIyymprm1AeeIjlTjNKqocQ";
    const RSA_1024_N: &str = "03VKq1S-mhXZA86Noe6AYbJEnZO9M-ucb3Kg3tLxeQgKeu4T9F-vQYB9AxVeCZBvoIX0g9ylegOUj4WeHUruU1gV99MfNi2kXLMiscI62lgFsOOET5lWcgrty3ljDyks3mGrTM0StL3zCuysz_YTcnzLe32rW39NBi8-AM8Ww98";
    const EC_P256_X: &str = "Gd8jDqobaDmZEoyRAjflJPmb8A_2aKHWWIm-qWXACkY";
    const EC_P256_Y: &str = "_3XbPpZTJK2yWqKDBqQaUxPVnVmBV4Z2odZh4kM4rpY";

    fn strict() -> Fetcher {
        Fetcher::new(FetchPolicy::default()).unwrap()
    }

    fn lenient() -> Fetcher {
        Fetcher::new(FetchPolicy {
            allow_private: true,
            ..FetchPolicy::default()
        })
        .unwrap()
    }

    async fn bind() -> (tokio::net::TcpListener, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        (listener, base)
    }

    fn spawn(listener: tokio::net::TcpListener, router: Router) {
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
    }

    async fn serve(router: Router) -> String {
        let (listener, base) = bind().await;
        spawn(listener, router);
        base
    }

    fn rsa_key(n: &str) -> Value {
        json!({"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": n, "e": "AQAB"})
    }

    // --- address classification -------------------------------------------

    #[test]
    fn classifies_addresses() {
        for refused in [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "255.255.255.255",
            "0.0.0.0",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(!is_public_ip(ip), "{refused} must be refused");
        }
        for allowed in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            let ip: IpAddr = allowed.parse().unwrap();
            assert!(is_public_ip(ip), "{allowed} must be allowed");
        }
    }

    // --- check_url -----------------------------------------------------------

    #[test]
    fn check_url_refuses_http_when_strict() {
        let err = strict().check_url("http://example.com/x").unwrap_err();
        assert_eq!(err, FetchError::InsecureScheme);
        assert!(err.to_string().starts_with("must use https://"));
    }

    #[test]
    fn check_url_refuses_private_literals_before_connecting() {
        let f = strict();
        for url in [
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::ffff:169.254.169.254]/",
            "https://0x7f.1/",
            "https://2130706433/",
        ] {
            match f.check_url(url) {
                Err(FetchError::PrivateAddress { .. }) => {}
                other => panic!("{url}: expected PrivateAddress, got {other:?}"),
            }
        }
    }

    #[test]
    fn check_url_rejects_malformed() {
        let f = strict();
        for url in [
            "not a url",
            "/relative",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "file:///etc/passwd",
        ] {
            match f.check_url(url) {
                Err(FetchError::InvalidUrl { .. }) => {}
                other => panic!("{url}: expected InvalidUrl, got {other:?}"),
            }
        }
        assert!(f.check_url("https://example.com/.well-known/x").is_ok());
        assert!(lenient().check_url("http://127.0.0.1:8080/").is_ok());
    }

    #[test]
    fn messages_read_well() {
        assert_eq!(
            FetchError::HttpStatus { status: 404 }.to_string(),
            "answered HTTP 404 Not Found"
        );
        assert_eq!(
            FetchError::TooLarge {
                max_bytes: 256 * 1024
            }
            .to_string(),
            "returned more than 256 KiB"
        );
        assert_eq!(
            FetchError::TimedOut { seconds: 5.0 }.to_string(),
            "did not answer within 5 seconds"
        );
    }

    // --- get_json, strict ------------------------------------------------------

    #[tokio::test]
    async fn strict_get_json_refuses_without_connecting() {
        let f = strict();
        assert_eq!(
            f.get_json("http://127.0.0.1:1/").await.unwrap_err(),
            FetchError::InsecureScheme
        );
        for url in [
            "https://127.0.0.1/",
            "https://[::1]/",
            "https://10.0.0.1/",
            "https://169.254.169.254/",
        ] {
            match f.get_json(url).await {
                Err(FetchError::PrivateAddress { .. }) => {}
                other => panic!("{url}: expected PrivateAddress, got {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn strict_resolver_refuses_localhost() {
        // "localhost" is a name, so it goes through the guarded resolver.
        let f = strict();
        match f.get_json("https://localhost:1/").await {
            Err(FetchError::PrivateAddress { host }) => {
                assert!(host.starts_with("localhost resolves to"), "{host}");
            }
            other => panic!("expected PrivateAddress, got {other:?}"),
        }
    }

    // --- get_json, against local servers ---------------------------------------

    #[tokio::test]
    async fn fetches_json() {
        let base = serve(Router::new().route(
            "/doc",
            get(|headers: axum::http::HeaderMap| async move {
                let accept = headers
                    .get("accept")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                axum::Json(json!({"ok": true, "accept": accept}))
            }),
        ))
        .await;
        let v = lenient().get_json(&format!("{base}/doc")).await.unwrap();
        assert_eq!(v, json!({"ok": true, "accept": "application/json"}));
    }

    #[tokio::test]
    async fn not_found_is_http_status() {
        let base = serve(Router::new()).await;
        let err = lenient()
            .get_json(&format!("{base}/missing"))
            .await
            .unwrap_err();
        assert_eq!(err, FetchError::HttpStatus { status: 404 });
    }

    #[tokio::test]
    async fn html_is_not_json() {
        let base = serve(Router::new().route(
            "/",
            get(|| async { axum::response::Html("<html>hello</html>") }),
        ))
        .await;
        match lenient().get_json(&format!("{base}/")).await {
            Err(FetchError::NotJson { detail }) => {
                assert!(detail.contains("text/html"), "{detail}")
            }
            other => panic!("expected NotJson, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn oversized_body_is_too_large() {
        let base = serve(
            Router::new()
                .route("/big", get(|| async { "x".repeat(300 * 1024) }))
                .route(
                    "/stream",
                    get(|| async {
                        let chunks = futures::stream::iter(
                            (0..100).map(|_| Ok::<_, io::Error>(vec![b' '; 8 * 1024])),
                        );
                        axum::body::Body::from_stream(chunks)
                    }),
                ),
        )
        .await;
        let f = lenient();
        let expected = FetchError::TooLarge {
            max_bytes: 256 * 1024,
        };
        assert_eq!(
            f.get_json(&format!("{base}/big")).await.unwrap_err(),
            expected
        );
        // No Content-Length: the limit is enforced while streaming.
        assert_eq!(
            f.get_json(&format!("{base}/stream")).await.unwrap_err(),
            expected
        );
    }

    #[tokio::test]
    async fn slow_server_times_out() {
        let base = serve(Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "{}"
            }),
        ))
        .await;
        let f = Fetcher::new(FetchPolicy {
            allow_private: true,
            timeout: Duration::from_millis(300),
            ..FetchPolicy::default()
        })
        .unwrap();
        let started = std::time::Instant::now();
        let err = f.get_json(&format!("{base}/slow")).await.unwrap_err();
        assert!(matches!(err, FetchError::TimedOut { .. }), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(err.to_string(), "did not answer within 0.3 seconds");
    }

    #[tokio::test]
    async fn connection_refused_is_unreachable() {
        // Bind then drop to get a local port nobody listens on.
        let (listener, base) = bind().await;
        drop(listener);
        match lenient().get_json(&format!("{base}/")).await {
            Err(FetchError::Unreachable { detail }) => {
                assert!(detail.contains("refused"), "{detail}");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn tls_to_plain_server_is_unreachable() {
        let base = serve(Router::new().route("/", get(|| async { "{}" }))).await;
        let https = base.replacen("http://", "https://", 1);
        match lenient().get_json(&https).await {
            Err(FetchError::Unreachable { detail }) => {
                assert!(detail.contains("TLS"), "{detail}");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }

    fn redirect_router() -> Router {
        Router::new()
            .route(
                "/r/{n}",
                get(
                    |axum::extract::Path(n): axum::extract::Path<u32>| async move {
                        if n == 0 {
                            axum::Json(json!({"arrived": true})).into_response()
                        } else {
                            axum::response::Redirect::temporary(&format!("/r/{}", n - 1))
                                .into_response()
                        }
                    },
                ),
            )
            .route(
                "/to-ftp",
                get(|| async { axum::response::Redirect::temporary("ftp://127.0.0.1/x") }),
            )
    }

    #[tokio::test]
    async fn redirects_are_followed_up_to_the_limit() {
        let base = serve(redirect_router()).await;
        let f = lenient();
        assert_eq!(
            f.get_json(&format!("{base}/r/3")).await.unwrap(),
            json!({"arrived": true})
        );
        assert_eq!(
            f.get_json(&format!("{base}/r/4")).await.unwrap_err(),
            FetchError::TooManyRedirects { max: 3 }
        );
    }

    #[tokio::test]
    async fn redirect_hops_are_rechecked() {
        let base = serve(redirect_router()).await;
        match lenient().get_json(&format!("{base}/to-ftp")).await {
            Err(FetchError::InvalidUrl { reason }) => assert!(reason.contains("ftp"), "{reason}"),
            other => panic!("expected InvalidUrl, got {other:?}"),
        }
        // What a strict fetcher's hop check says about typical targets.
        let hop = Url::parse("http://169.254.169.254/").unwrap();
        assert_eq!(check_parsed(&hop, false), Err(FetchError::InsecureScheme));
        let hop = Url::parse("https://169.254.169.254/").unwrap();
        assert!(matches!(
            check_parsed(&hop, false),
            Err(FetchError::PrivateAddress { .. })
        ));
    }

    #[tokio::test]
    async fn a_post_is_never_redirected() {
        let landed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = landed.clone();
        let base = serve(
            Router::new()
                .route(
                    "/gtr",
                    axum::routing::post(|| async {
                        axum::response::Redirect::to("/landing").into_response()
                    }),
                )
                .route(
                    "/landing",
                    axum::routing::any(move || async move {
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        "ok"
                    }),
                ),
        )
        .await;
        let answer = lenient()
            .post_json(&format!("{base}/gtr"), &[], &json!({"sub_id": {}}))
            .await
            .unwrap();
        assert_eq!(answer.status, 303);
        assert_eq!(answer.location.as_deref(), Some("/landing"));
        assert_eq!(landed.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    // --- discovery ---------------------------------------------------------------

    #[test]
    fn builds_ssf_well_known_urls() {
        let build = |s: &str| ssf_well_known_url(&Url::parse(s).unwrap()).to_string();
        assert_eq!(
            build("https://tr.example.com/issuer1"),
            "https://tr.example.com/.well-known/ssf-configuration/issuer1"
        );
        assert_eq!(
            build("https://tr.example.com/issuer1/"),
            "https://tr.example.com/.well-known/ssf-configuration/issuer1"
        );
        assert_eq!(
            build("https://tr.example.com"),
            "https://tr.example.com/.well-known/ssf-configuration"
        );
        assert_eq!(
            build("https://tr.example.com:8443/a/b"),
            "https://tr.example.com:8443/.well-known/ssf-configuration/a/b"
        );
    }

    async fn ssf_server(doc_issuer_path: &'static str, jwks_uri: Option<&'static str>) -> String {
        let (listener, base) = bind().await;
        let issuer = format!("{base}{doc_issuer_path}");
        let mut doc = json!({"issuer": issuer, "delivery_methods_supported": []});
        if let Some(j) = jwks_uri {
            doc["jwks_uri"] = json!(j);
        }
        let d1 = doc.clone();
        let d2 = doc.clone();
        let router = Router::new()
            .route(
                "/.well-known/ssf-configuration/issuer1",
                get(move || async move { axum::Json(d1) }),
            )
            .route(
                "/.well-known/risc-configuration",
                get(move || async move { axum::Json(d2) }),
            );
        spawn(listener, router);
        base
    }

    #[tokio::test]
    async fn discovers_from_well_known_url() {
        // The document's issuer is taken as given (here it differs from the
        // well-known URL's host path on purpose).
        let base = ssf_server("/okta-style", Some("/oauth2/v1/keys")).await;
        let url = format!("{base}/.well-known/risc-configuration");
        let cfg = discover_ssf(&lenient(), &url).await.unwrap();
        assert_eq!(cfg.well_known_url, url);
        assert_eq!(cfg.issuer, format!("{base}/okta-style"));
        assert_eq!(cfg.jwks_uri, format!("{base}/oauth2/v1/keys"));
    }

    #[tokio::test]
    async fn discovers_from_issuer_with_path() {
        let base = ssf_server("/issuer1", Some("https://keys.example.com/jwks")).await;
        for typed in [format!("{base}/issuer1"), format!("{base}/issuer1/")] {
            let cfg = discover_ssf(&lenient(), &typed).await.unwrap();
            assert_eq!(
                cfg.well_known_url,
                format!("{base}/.well-known/ssf-configuration/issuer1")
            );
            assert_eq!(cfg.issuer, format!("{base}/issuer1"));
            assert_eq!(cfg.jwks_uri, "https://keys.example.com/jwks");
        }
    }

    #[tokio::test]
    async fn issuer_mismatch_is_reported() {
        let base = ssf_server("/someone-else", Some("/jwks")).await;
        let typed = format!("{base}/issuer1");
        match discover_ssf(&lenient(), &typed).await {
            Err(e @ DiscoveryError::IssuerMismatch { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&typed), "{msg}");
                assert!(msg.contains(&format!("{base}/someone-else")), "{msg}");
            }
            other => panic!("expected IssuerMismatch, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn missing_jwks_uri_is_reported() {
        let base = ssf_server("/issuer1", None).await;
        match discover_ssf(&lenient(), &format!("{base}/issuer1")).await {
            Err(e @ DiscoveryError::MissingJwksUri { .. }) => {
                assert!(e.to_string().contains("has no jwks_uri"));
                assert!(e.to_string().contains(&base));
            }
            other => panic!("expected MissingJwksUri, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn discovery_fetch_errors_pass_through() {
        let err = discover_ssf(&strict(), "http://tr.example.com/issuer1")
            .await
            .unwrap_err();
        assert_eq!(err, DiscoveryError::Fetch(FetchError::InsecureScheme));
        let base = serve(Router::new()).await;
        let err = discover_ssf(&lenient(), &format!("{base}/nobody"))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::Fetch(FetchError::HttpStatus { status: 404 })
        );
    }

    // --- JWKS ----------------------------------------------------------------------

    #[test]
    fn good_rsa_key_is_usable() {
        let jwks = parse_jwks(&json!({"keys": [rsa_key(RSA_2048_N)]})).unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].kid.as_deref(), Some("r1"));
        assert_eq!(jwks.keys[0].alg.as_deref(), Some("RS256"));
        assert_eq!(jwks.keys[0].kty, "RSA");
    }

    #[test]
    fn enc_only_hmac_only_and_small_rsa_are_not_usable() {
        let mut enc = rsa_key(RSA_2048_N);
        enc["use"] = json!("enc");
        enc["alg"] = json!("RSA-OAEP");
        let hmac = json!({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0", "alg": "HS256"});
        let small = rsa_key(RSA_1024_N);
        for key in [enc, hmac, small] {
            match parse_jwks(&json!({ "keys": [key] })) {
                Err(JwksError::NoUsableKey { found: 1, .. }) => {}
                other => panic!("expected NoUsableKey, got {other:?}"),
            }
        }
    }

    #[test]
    fn junk_key_is_skipped() {
        let doc = json!({"keys": [
            {"kty": "RSA", "n": "!!!", "e": "AQAB"},
            "not even an object",
            rsa_key(RSA_2048_N),
        ]});
        let jwks = parse_jwks(&doc).unwrap();
        assert_eq!(jwks.keys.len(), 1);
    }

    #[test]
    fn ec_p256_key_is_usable() {
        let doc = json!({"keys": [
            {"kty": "EC", "crv": "P-256", "x": EC_P256_X, "y": EC_P256_Y, "kid": "e1"},
        ]});
        let jwks = parse_jwks(&doc).unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].kty, "EC");
        // Same point claimed as P-384 is refused.
        let doc = json!({"keys": [
            {"kty": "EC", "crv": "P-384", "x": EC_P256_X, "y": EC_P256_Y},
        ]});
        assert!(parse_jwks(&doc).is_err());
    }

    #[test]
    fn not_a_jwks() {
        assert_eq!(
            parse_jwks(&json!({"issuer": "x"})).unwrap_err(),
            JwksError::NotAJwks { url: None }
        );
        assert_eq!(
            parse_jwks(&json!({"keys": []})).unwrap_err(),
            JwksError::NoUsableKey {
                url: None,
                found: 0
            }
        );
    }

    #[test]
    fn b64url_and_bits() {
        assert_eq!(b64url_decode("AQAB").unwrap(), vec![1, 0, 1]);
        assert_eq!(b64url_decode("_w").unwrap(), vec![0xff]);
        assert_eq!(b64url_decode("_w==").unwrap(), vec![0xff]);
        assert!(b64url_decode("a+b/").is_none());
        assert_eq!(modulus_bits(&b64url_decode(RSA_2048_N).unwrap()), 2048);
        assert_eq!(modulus_bits(&b64url_decode(RSA_1024_N).unwrap()), 1024);
        assert_eq!(modulus_bits(&[0, 0, 1]), 1);
    }

    #[tokio::test]
    async fn fetch_jwks_names_the_url() {
        let base = serve(
            Router::new()
                .route(
                    "/good",
                    get(|| async { axum::Json(json!({"keys": [rsa_key(RSA_2048_N)]})) }),
                )
                .route(
                    "/enc",
                    get(|| async {
                        let mut k = rsa_key(RSA_2048_N);
                        k["use"] = json!("enc");
                        axum::Json(json!({ "keys": [k, k] }))
                    }),
                ),
        )
        .await;
        let f = lenient();
        let jwks = fetch_jwks(&f, &format!("{base}/good")).await.unwrap();
        assert_eq!(jwks.keys.len(), 1);
        let err = fetch_jwks(&f, &format!("{base}/enc")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the JWKS at {base}/enc holds no usable signing key (2 keys found; each must be RSA ≥ 2048 bits, EC P-256/P-384 or Ed25519, with \"use\": \"sig\" or no use)"
            )
        );
        assert_eq!(
            fetch_jwks(&f, &format!("{base}/none")).await.unwrap_err(),
            JwksError::Fetch(FetchError::HttpStatus { status: 404 })
        );
    }
}
