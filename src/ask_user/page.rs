//! askUser's one-time page: where the human types a value, out of the
//! model's sight.
//!
//! `GET {LINK_PATH}{id}` shows which key will be written and how; `POST`
//! the same path (a form, from the page's own origin) claims the link once,
//! runs its job with the value and shows the outcome. The unguessable id is
//! the only capability: there is no bearer token (a browser has none), but
//! the same Host rules as the MCP endpoint apply, and an exact Origin.
//!
//! Plain HTML, no script. Every response forbids caching, referrers to
//! other origins, framing, sniffing and any script. No value is logged, echoed or kept
//! beyond the job's run; the form body is wiped once parsed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use secrecy::{ExposeSecret, SecretString};
use zeroize::{Zeroize, Zeroizing};

use super::links::{BoxFuture, Claimed, Fate, LINK_PATH, LinkError, Links, PageHost, Settled};
use super::sign_in::SIGNED_IN_PATH;
use crate::domain::MAX_VALUE_LEN;
use crate::web::{BodyCap, BodyError, HostRules};

/// Largest form body accepted: a value of the largest size a `value`
/// argument may have, every byte percent-encoded (three bytes each), plus
/// the other fields.
pub const MAX_FORM_BYTES: usize = 3 * MAX_VALUE_LEN + 4096;

/// The `Content-Security-Policy` of every response: no script, no style,
/// no images, forms post only to this origin, never framed.
pub const CSP: &str =
    "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The `Referrer-Policy` of every response: the link never leaves in a
/// `Referer`. Under it browsers send `Origin: null` with the form's own
/// POST (Fetch standard, "serializing a request origin"), so the Origin
/// check also accepts `null` when the browser itself says the request came
/// from the same origin (`Sec-Fetch-Site: same-origin`, a header no page
/// can set).
pub const REFERRER_POLICY: &str = "no-referrer";

/// Which `Host` headers the page answers.
pub enum PageHosts {
    /// The MCP endpoint's rules (the HTTP listener).
    Rules(HostRules),
    /// Exactly these `host:port` values, lowercase (the stdio loopback
    /// listener: its own address only).
    Exact(Vec<String>),
}

impl PageHosts {
    fn allows(&self, request: &Request) -> bool {
        match self {
            PageHosts::Rules(rules) => rules.check(request.uri(), request.headers()).is_ok(),
            PageHosts::Exact(allowed) => {
                let mut values = request.headers().get_all(header::HOST).iter();
                match (values.next(), values.next()) {
                    (Some(value), None) => value.to_str().is_ok_and(|v| {
                        let v = v.trim().to_ascii_lowercase();
                        !v.contains('@') && allowed.contains(&v)
                    }),
                    _ => false,
                }
            }
        }
    }
}

/// What the page needs.
pub struct PageConfig {
    pub links: Arc<Links>,
    pub hosts: PageHosts,
    /// The page's own origins (`scheme://host[:port]`, as browsers send
    /// them): a POST must carry one of these exactly.
    pub origins: Vec<String>,
    /// How long a form body may take to arrive.
    pub body_timeout: Duration,
}

/// The origin of a base URL as a browser serializes it (default port left
/// out), or None if it has none.
pub fn origin_of(base: &str) -> Option<String> {
    let url = reqwest::Url::parse(base).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The page's routes, with the headers every response carries. Merge it
/// into a listener's router outside any bearer-token check.
pub fn router(config: PageConfig) -> Router {
    let config = Arc::new(config);
    Router::new()
        .route(SIGNED_IN_PATH, get(signed_in).fallback(other_method))
        .route(
            &format!("{LINK_PATH}{{id}}"),
            get(show).post(submit).fallback(other_method),
        )
        .with_state(Arc::clone(&config))
        .layer(middleware::from_fn_with_state(config, checked))
}

/// A router that serves only the page, answering anything else with a plain
/// "not found" page: for a listener of its own.
pub fn standalone(config: PageConfig) -> Router {
    router(config).fallback(|| async { secured(not_found()) })
}

/// A base URL known once a listener is bound (the HTTP listener without
/// `--public-url`): the listener's own address.
#[derive(Default)]
pub struct ListenerBase(std::sync::OnceLock<String>);

impl PageHost for ListenerBase {
    fn base(&self) -> BoxFuture<Result<String, LinkError>> {
        let base =
            self.0.get().cloned().ok_or_else(|| {
                LinkError::NoPage("the HTTP listener is not listening yet".to_owned())
            });
        Box::pin(async move { base })
    }

    fn listening(&self, local: std::net::SocketAddr) {
        let mut addr = local;
        // A wildcard address is no place to send a browser: name loopback.
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = self.0.set(format!("http://{addr}"));
    }
}

/// The link id as it may appear in a log line: its first 6 characters,
/// when it looks like an id at all (the path is the visitor's text).
fn short(id: &str) -> &str {
    if id.len() == 48 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..6]
    } else {
        "(not a link id)"
    }
}

/// Host and Origin first; then the security headers on whatever answers.
async fn checked(State(config): State<Arc<PageConfig>>, request: Request, next: Next) -> Response {
    let id = request
        .uri()
        .path()
        .strip_prefix(LINK_PATH)
        .map(short)
        .unwrap_or("(none)")
        .to_owned();
    if !config.hosts.allows(&request) {
        tracing::info!(link = %id, reason = "host not allowed", "one-time page refused");
        return secured(page(
            StatusCode::FORBIDDEN,
            "Wrong address",
            "This page is not served under the host name your browser used. Open the link exactly as it was given to you.",
        ));
    }
    // GET and HEAD may come without an Origin (a navigation); any other
    // method needs the page's own, exactly. Every Origin header is read: a
    // request with two (the page's own and another) is no browser's.
    let mut origins = request.headers().get_all(header::ORIGIN).iter();
    let origin = origins.next();
    if origins.next().is_some() {
        tracing::info!(link = %id, reason = "more than one origin", "one-time page refused");
        return secured(page(
            StatusCode::BAD_REQUEST,
            "Not sent from this page",
            "The form must be sent from the page itself, in a browser. Nothing was written. Open the link again and submit the form there.",
        ));
    }
    let needs_origin = !matches!(*request.method(), Method::GET | Method::HEAD);
    let same_site = request
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|s| s.as_bytes() == b"same-origin");
    let own = origin
        .and_then(|o| o.to_str().ok())
        .is_some_and(|o| config.origins.iter().any(|own| own == o) || (o == "null" && same_site));
    if (needs_origin || origin.is_some()) && !own {
        tracing::info!(link = %id, reason = "origin not the page's own", "one-time page refused");
        return secured(page(
            StatusCode::FORBIDDEN,
            "Not sent from this page",
            "The form must be sent from the page itself, in a browser. Nothing was written. Open the link again and submit the form there.",
        ));
    }
    secured(next.run(request).await)
}

/// The headers every answer of the page carries.
const SECURITY_HEADERS: [(header::HeaderName, &str); 6] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::PRAGMA, "no-cache"),
    (header::REFERRER_POLICY, REFERRER_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CONTENT_SECURITY_POLICY, CSP),
];

/// Adds the headers every response of the page carries.
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// The whole HTTP/1.1 answer, as bytes, for what no handler of the page
/// answers: a request too malformed for hyper to hand to the page (it
/// answers those itself, with `status`: 400, 414 or 431, and no header of
/// ours), and a connection refused because all are busy (503). The page's
/// own listener writes this instead, so that these answers too carry every
/// header of the page.
pub fn malformed_answer(status: StatusCode) -> Vec<u8> {
    let (title, text) = match status {
        StatusCode::SERVICE_UNAVAILABLE => (
            "Busy",
            "This page has all the connections it keeps open right now. Nothing was written. Reload it in a moment.",
        ),
        StatusCode::URI_TOO_LONG => (
            "Address too long",
            "The address of this request is longer than this page reads. Nothing was written. Open the link exactly as it was given to you.",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            "Request too large",
            "The headers of this request are larger than this page reads. Nothing was written. Open the link in an ordinary browser.",
        ),
        _ => (
            "Bad request",
            "This request could not be read as HTTP. Nothing was written. Open the link exactly as it was given to you, in a browser.",
        ),
    };
    let body = html::paragraph(title, text);
    let mut head = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: {}\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        html::HTML,
        body.len()
    );
    for (name, value) in SECURITY_HEADERS {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut answer = head.into_bytes();
    answer.extend_from_slice(body.as_bytes());
    answer
}

async fn other_method() -> Response {
    let mut response = page(
        StatusCode::METHOD_NOT_ALLOWED,
        "Not available",
        "Open the link in a browser.",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

/// What the page's address may say besides the link: `?again` asks the
/// authorization server to sign the person in afresh.
#[derive(serde::Deserialize)]
struct ShowQuery {
    again: Option<String>,
}

async fn show(
    State(config): State<Arc<PageConfig>>,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
    headers: HeaderMap,
) -> Response {
    match config.links.show(&id).await {
        Ok(shown) => {
            let again = query.again.is_some();
            if let Err(answer) = gate(&config, &id, &shown, &headers, Visit::Show { again }).await {
                return answer;
            }
            tracing::info!(link = short(&id), "one-time page shown");
            form(StatusCode::OK, &shown, None)
        }
        Err(fate) => {
            tracing::info!(
                link = short(&id),
                reason = fate_word(&fate),
                "one-time page refused"
            );
            fate_page(&fate)
        }
    }
}

/// What the form held: the button pressed, and the two value fields.
#[derive(Default)]
struct Submitted {
    decline: bool,
    value: Option<SecretString>,
    multiline: Option<SecretString>,
    /// A field came more than once: a hand-made request, not the page.
    repeated: bool,
    /// A field was not well-formed: a `%` without two hex digits after it,
    /// or bytes that are not UTF-8. Never stored with replacement
    /// characters or as the raw escape.
    malformed: bool,
}

/// Parses the form body. The value fields go straight into secrets; every
/// other field is dropped. The buffer is wiped afterwards.
///
/// Decoded by hand rather than with `form_urlencoded::parse`, which turns
/// a malformed escape into the raw text and bytes that are not UTF-8 into
/// replacement characters: a value must arrive exactly as typed, or not at
/// all.
fn parse(mut body: Vec<u8>) -> Submitted {
    let mut out = Submitted::default();
    for pair in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (name, field) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        let (Some(name), Some(field)) = (decode_strict(name), decode_strict(field)) else {
            out.malformed = true;
            continue;
        };
        let slot = match name.as_str() {
            "value" => &mut out.value,
            "multiline" => &mut out.multiline,
            "action" => {
                out.decline = field.as_str() == "decline";
                continue;
            }
            _ => continue,
        };
        if slot.is_some() {
            out.repeated = true;
        }
        *slot = Some(SecretString::from(field.as_str()));
    }
    body.zeroize();
    out
}

/// One form-encoded name or value: `+` is a space, `%` must be followed by
/// two hex digits, and the result must be UTF-8; None otherwise. Every
/// buffer on the way is wiped.
fn decode_strict(raw: &[u8]) -> Option<Zeroizing<String>> {
    let mut bytes = Zeroizing::new(Vec::with_capacity(raw.len()));
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    let text = std::str::from_utf8(&bytes).ok()?;
    Some(Zeroizing::new(text.to_owned()))
}

/// The one value the form carries, as typed; or what to tell the human.
fn chosen(submitted: Submitted) -> Result<SecretString, &'static str> {
    let filled =
        |s: &Option<SecretString>| s.as_ref().is_some_and(|v| !v.expose_secret().is_empty());
    if submitted.repeated {
        return Err(
            "The form arrived with a field twice. Fill in the form on this page and save again.",
        );
    }
    if submitted.malformed {
        return Err(
            "The form arrived garbled (an escape that is not one, or bytes that are not text). \
             Nothing was written. Fill in the form on this page and save again.",
        );
    }
    match (filled(&submitted.value), filled(&submitted.multiline)) {
        (true, true) => {
            Err("Both fields are filled in. Fill in exactly one of them, then save again.")
        }
        (false, false) => {
            Err("Both fields are empty. Type the value in one of them, then save again.")
        }
        (true, false) => submitted.value.ok_or("The value is missing."),
        (false, true) => {
            // Browsers send a text area's line breaks as CRLF whatever was
            // typed; store the lines as typed (LF), as keys and certificates
            // expect.
            let text = submitted.multiline.ok_or("The value is missing.")?;
            if text.expose_secret().contains("\r\n") {
                let lines = Zeroizing::new(text.expose_secret().replace("\r\n", "\n"));
                Ok(SecretString::from(lines.as_str()))
            } else {
                Ok(text)
            }
        }
    }
}

mod gate;
mod html;

use gate::{Visit, gate, signed_in};
use html::{fate_page, form, not_found, page};

/// A page refusal: the reason for the log, and the page to show.
type PageRefusal = (&'static str, Response);

async fn submit(
    State(config): State<Arc<PageConfig>>,
    Path(id): Path<String>,
    request: Request,
) -> Response {
    let link = short(&id);
    let refused = |(reason, response): PageRefusal| {
        tracing::info!(link = %link, reason, "one-time page refused");
        response
    };
    // A link that cannot be used is said so before any body is read.
    let shown = match config.links.show(&id).await {
        Ok(shown) => shown,
        Err(fate) => return refused((fate_word(&fate), fate_page(&fate))),
    };
    if let Err(answer) = gate(&config, &id, &shown, request.headers(), Visit::Send).await {
        return answer;
    }
    let submitted = match read_form(&config, request).await {
        Ok(submitted) => submitted,
        Err(refusal) => return refused(refusal),
    };
    if submitted.decline {
        return match config.links.decline(&id).await {
            Ok(()) => {
                tracing::info!(link = %link, "one-time page declined");
                page(
                    StatusCode::OK,
                    "Declined",
                    "Nothing was written, and this link no longer works. You can close this page.",
                )
            }
            Err(fate) => refused((fate_word(&fate), fate_page(&fate))),
        };
    }
    let value = match checked_value(submitted) {
        Ok(value) => value,
        Err((reason, problem)) => {
            return refused((
                reason,
                form(StatusCode::BAD_REQUEST, &shown, Some(&problem)),
            ));
        }
    };
    let claimed = match config.links.claim(&id).await {
        Ok(claimed) => claimed,
        Err(fate) => return refused((fate_word(&fate), fate_page(&fate))),
    };
    tracing::info!(link = %link, "one-time page used: running its write");
    let settled = run(Arc::clone(&config.links), claimed, value).await;
    tracing::info!(link = %link, "one-time page used: outcome shown");
    // The title says what came of the key: a write OSC refused is not
    // "Done", and a rotation that stored the key is not "Not stored".
    page(StatusCode::OK, &settled.title, &settled.page_text)
}

/// The form's fields, read through the one capped body reader; or why not.
async fn read_form(config: &PageConfig, request: Request) -> Result<Submitted, PageRefusal> {
    if !is_form(request.headers()) {
        return Err((
            "not a form",
            page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Not sent from this page",
                "Only the form on this page can be sent here. Nothing was written. Open the link again and submit the form there.",
            ),
        ));
    }
    let too_large = || {
        page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            &format!(
                "What was sent is larger than this page accepts. A value can be at most {} KiB. Nothing was written.",
                MAX_VALUE_LEN / 1024
            ),
        )
    };
    let cap = BodyCap {
        max_bytes: MAX_FORM_BYTES,
        timeout: config.body_timeout,
    };
    if cap.declared_too_large(request.headers()) {
        return Err(("body too large", too_large()));
    }
    match cap.read(request.into_body()).await {
        Ok(bytes) => Ok(parse(Vec::from(bytes))),
        Err(BodyError::TooLarge { .. }) => Err(("body too large or broken", too_large())),
        Err(BodyError::TooSlow { .. }) => Err((
            "body too slow",
            page(
                StatusCode::REQUEST_TIMEOUT,
                "Too slow",
                "The form did not arrive in time. Nothing was written. Submit it again.",
            ),
        )),
    }
}

/// The one value the form carries, if it is one that can be stored; else
/// the reason to log and what to tell the human above the form.
fn checked_value(submitted: Submitted) -> Result<SecretString, (&'static str, String)> {
    let value =
        chosen(submitted).map_err(|problem| ("form not filled in right", problem.to_owned()))?;
    if let Err(problem) = crate::domain::value(&value) {
        // The check's words never quote the value.
        let problem = format!("This value cannot be stored: it {}.", problem.message);
        return Err(("value refused", problem));
    }
    Ok(value)
}

/// Runs a claimed link's job in a task of its own, so a browser that goes
/// away mid-write can neither cut it half-way nor leave the link unsettled.
async fn run(links: Arc<Links>, claimed: Claimed, value: SecretString) -> Settled {
    let run = tokio::spawn(async move {
        let id = claimed.id.clone();
        let settled = match tokio::spawn(links.run(claimed, value)).await {
            Ok(settled) => settled,
            Err(_) => failed(),
        };
        links
            .settle(&id, Fate::Done(Box::new(settled.clone())))
            .await;
        settled
    });
    run.await.unwrap_or_else(|_| failed())
}

/// What a job that ended without an outcome (it panicked) came to.
fn failed() -> Settled {
    let text = "The write ended unexpectedly; whether the value was stored is not known. \
                Check the key with list_tenant_secrets, and ask for a new link if it is not there.";
    Settled {
        result: rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(text)]),
        title: "Outcome not known".to_owned(),
        page_text: text.to_owned(),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn fate_word(fate: &Fate) -> &'static str {
    match fate {
        Fate::Pending => "in use",
        Fate::Done(_) => "already used",
        Fate::Declined => "declined",
        Fate::Withdrawn => "withdrawn",
        Fate::Expired => "expired",
        Fate::Unknown => "unknown",
        Fate::Unreachable => "state store unreachable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A malformed escape or bytes that are not UTF-8 are refused, never
    /// stored as replacement characters or as the raw escape; a
    /// well-formed form decodes exactly.
    #[test]
    fn a_garbled_form_is_refused_not_repaired() {
        for body in [
            "value=%ff%fe",
            "value=ab%zz",
            "value=ab%2",
            "value=%C3%28",
            "val%ue=x",
        ] {
            let submitted = parse(body.as_bytes().to_vec());
            assert!(submitted.malformed, "{body}");
            let said = chosen(submitted).err().unwrap_or_default();
            assert!(said.contains("garbled"), "{body}: {said}");
        }
        let good = chosen(parse(b"value=a%20b+c%C3%A9&action=save".to_vec())).unwrap();
        assert_eq!(good.expose_secret(), "a b c\u{e9}");
    }

    #[test]
    fn origins_as_browsers_send_them() {
        assert_eq!(
            origin_of("https://Secrets.Example.com:443/prefix").as_deref(),
            Some("https://secrets.example.com")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8765").as_deref(),
            Some("http://127.0.0.1:8765")
        );
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn form_fields_one_of_two() {
        let take = |body: &str| {
            chosen(parse(body.as_bytes().to_vec())).map(|s| s.expose_secret().to_owned())
        };
        assert_eq!(
            take("value=a%2Bb+c&multiline=&action=save").unwrap(),
            "a+b c"
        );
        assert_eq!(
            take("value=&multiline=l1%0D%0Al2%0D%0A").unwrap(),
            "l1\nl2\n"
        );
        assert!(take("value=a&multiline=b").is_err());
        assert!(take("value=&multiline=").is_err());
        assert!(take("action=save").is_err());
        assert!(take("value=a&value=b").is_err());
        assert!(parse(b"action=decline&value=x".to_vec()).decline);
    }

    #[tokio::test]
    async fn the_listener_base_names_its_address_and_loopback_for_a_wildcard() {
        let base = ListenerBase::default();
        assert!(
            base.base().await.is_err(),
            "no base before the listener is up"
        );
        base.listening("0.0.0.0:8765".parse().unwrap());
        assert_eq!(base.base().await.unwrap(), "http://127.0.0.1:8765");
        let v6 = ListenerBase::default();
        v6.listening("[::1]:9".parse().unwrap());
        assert_eq!(v6.base().await.unwrap(), "http://[::1]:9");
    }

    /// The listener's own answers carry every header of the page, with a
    /// page of their status, and a length that matches.
    #[test]
    fn the_listeners_own_answers_carry_the_page_headers() {
        for (status, title) in [
            (StatusCode::BAD_REQUEST, "Bad request"),
            (StatusCode::URI_TOO_LONG, "Address too long"),
            (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request too large",
            ),
            (StatusCode::SERVICE_UNAVAILABLE, "Busy"),
        ] {
            let answer = String::from_utf8(malformed_answer(status)).unwrap();
            let (head, body) = answer.split_once("\r\n\r\n").unwrap();
            let mut lines = head.split("\r\n");
            assert_eq!(
                lines.next(),
                Some(
                    format!(
                        "HTTP/1.1 {} {}",
                        status.as_u16(),
                        status.canonical_reason().unwrap()
                    )
                    .as_str()
                )
            );
            let headers: Vec<&str> = lines.collect();
            for (name, value) in SECURITY_HEADERS {
                assert!(
                    headers.contains(&format!("{name}: {value}").as_str()),
                    "{status}: {name}"
                );
            }
            assert!(headers.contains(&"connection: close"), "{status}");
            assert!(
                headers.contains(&format!("content-length: {}", body.len()).as_str()),
                "{status}"
            );
            assert!(body.contains(&format!("<h1>{title}</h1>")), "{body}");
        }
    }

    #[test]
    fn only_hex_ids_reach_the_log() {
        assert_eq!(short(&"ab".repeat(24)), "ababab");
        assert_eq!(short("../../etc\n"), "(not a link id)");
    }
}
