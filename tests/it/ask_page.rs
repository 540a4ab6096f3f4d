//! askUser's one-time page, spoken to as a hostile browser would: plain
//! HTTP against the page served in-process (writing to the emulator through
//! the real OSC client), then through the built binary.

use crate::support;
use crate::support::assert_no_leak;
use std::time::Duration;

use crate::support::http as bin;
use crate::support::logs::Logs;
use crate::support::page::{CANARY, Page};
use osc_secrets_mcp::ask_user::links::{Fate, Ticket};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use secrecy::ExposeSecret;

const TTL: Duration = Duration::from_secs(600);

/// What every response of the page must carry.
fn assert_secure_headers(what: &str, headers: &HeaderMap) {
    for (name, want) in [
        ("cache-control", "no-store"),
        ("pragma", "no-cache"),
        ("referrer-policy", "no-referrer"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ] {
        let got = headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(got, Some(want), "{what}: header {name}");
    }
}

struct Answer {
    status: StatusCode,
    body: String,
}

/// Sends a request, checks the headers and that no byte holds the canary.
async fn send(what: &str, request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    assert_secure_headers(what, &headers);
    for (name, value) in &headers {
        assert!(
            !String::from_utf8_lossy(value.as_bytes()).contains(CANARY),
            "{what}: header {name} holds the value"
        );
    }
    let body = response.text().await.unwrap();
    assert!(
        !body.contains(CANARY),
        "{what}: the body holds the value:\n{body}"
    );
    Answer { status, body }
}

fn client() -> reqwest::Client {
    bin::http()
}

/// A form post as the page's own browser sends it.
fn post(page: &Page, url: &str, body: String) -> reqwest::RequestBuilder {
    client()
        .post(url)
        .header("origin", page.base.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
}

fn form_value(value: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("value", value)
        .append_pair("multiline", "")
        .append_pair("action", "save")
        .finish()
}

#[tokio::test]
async fn the_form_shows_key_mode_existence_and_expiry_with_both_fields_and_no_script() {
    let logs = Logs::capture();
    let page = Page::start(TTL).await;
    page.emu.insert_tenant_secret("user.db", "old-value");
    let ticket = page.open("user.db").await;
    let shown = send("GET form", client().get(&ticket.url)).await;
    assert_eq!(shown.status, StatusCode::OK);
    let body = &shown.body;
    assert!(body.contains("<code>user.db</code>"), "{body}");
    assert!(body.contains("upsert"), "{body}");
    assert!(body.contains("This key exists already"), "{body}");
    assert!(body.contains("expires at"), "{body}");
    assert!(
        body.contains(r#"<input type="password" id="value" name="value" autocomplete="off""#),
        "{body}"
    );
    assert!(
        body.contains(r#"<textarea id="multiline" name="multiline""#),
        "{body}"
    );
    assert!(body.contains(r#"name="action" value="decline""#), "{body}");
    assert!(body.contains(r#"<form method="post">"#), "{body}");
    let lower = body.to_ascii_lowercase();
    for forbidden in [
        "<script",
        "javascript:",
        "onload",
        "onclick",
        "<style",
        "<iframe",
    ] {
        assert!(!lower.contains(forbidden), "{forbidden} in:\n{body}");
    }
    assert!(
        logs.text()
            .contains(&format!("one-time page shown link=\"{}\"", &ticket.id[..6]))
            || logs.text().contains(&format!("link={}", &ticket.id[..6])),
        "the log names the link by its first 6 characters"
    );
    assert!(
        !logs.text().contains(&ticket.id),
        "never the whole id in the log"
    );

    // A key that does not exist yet says so.
    let fresh = page.open("user.fresh").await;
    let shown = send("GET fresh", client().get(&fresh.url)).await;
    assert!(
        shown.body.contains("This key does not exist yet"),
        "{}",
        shown.body
    );
}

#[tokio::test]
async fn a_submit_writes_the_value_once_and_a_second_use_says_already_used() {
    let logs = Logs::capture();
    let page = Page::start(TTL).await;
    let ticket = page.open("user.api").await;
    let done = send("POST value", post(&page, &ticket.url, form_value(CANARY))).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("Saved."), "{}", done.body);
    assert_eq!(
        page.emu
            .tenant_value("user.api")
            .map(|v| v.expose_secret().to_owned()),
        Some(CANARY.to_owned())
    );
    assert!(matches!(page.links.fate(&ticket.id).await, Fate::Done(_)));
    assert!(matches!(
        page.links.wait(&ticket.id, Duration::from_secs(5)).await,
        Fate::Done(_)
    ));

    let again = send(
        "POST again",
        post(&page, &ticket.url, form_value("second-value")),
    )
    .await;
    assert_eq!(again.status, StatusCode::GONE);
    assert!(again.body.contains("already used"), "{}", again.body);
    let shown = send("GET after use", client().get(&ticket.url)).await;
    assert_eq!(shown.status, StatusCode::GONE);
    assert!(shown.body.contains("already used"), "{}", shown.body);
    assert_eq!(
        page.emu
            .tenant_value("user.api")
            .map(|v| v.expose_secret().to_owned()),
        Some(CANARY.to_owned()),
        "the second use wrote nothing"
    );
    assert!(logs.text().contains("one-time page used"));
    assert_no_leak("the trace log", &logs.text(), &[CANARY]);
}

/// Under `Referrer-Policy: no-referrer` a browser sends `Origin: null`
/// with the page's own POST, and says `Sec-Fetch-Site: same-origin`: that
/// submit is the page's and writes.
#[tokio::test]
async fn a_null_origin_that_the_browser_calls_same_origin_writes() {
    let page = Page::start(TTL).await;
    let ticket = page.open("user.nullorigin").await;
    let done = send(
        "POST with Origin null",
        client()
            .post(&ticket.url)
            .header("origin", "null")
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_value(CANARY)),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        page.emu
            .tenant_value("user.nullorigin")
            .map(|v| v.expose_secret().to_owned()),
        Some(CANARY.to_owned())
    );
}

#[tokio::test]
async fn a_multi_line_value_is_stored_with_its_line_breaks_as_typed() {
    let logs = Logs::capture();
    let page = Page::start(TTL).await;
    let ticket = page.open("user.cert").await;
    let pem = format!("-----BEGIN KEY-----\n{CANARY}\nAAAA+/==\n-----END KEY-----\n");
    // Browsers send a text area's line breaks as CRLF.
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("value", "")
        .append_pair("multiline", &pem.replace('\n', "\r\n"))
        .append_pair("action", "save")
        .finish();
    let done = send("POST multiline", post(&page, &ticket.url, body)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        page.emu
            .tenant_value("user.cert")
            .map(|v| v.expose_secret().to_owned()),
        Some(pem)
    );
    assert_no_leak("the trace log", &logs.text(), &[CANARY]);
}

/// Nothing was written to `user.origin`, and `ticket`'s link is still open.
async fn assert_untouched(page: &Page, ticket: &Ticket) {
    assert!(
        page.emu.tenant_value("user.origin").is_none(),
        "nothing was written"
    );
    assert!(matches!(page.links.fate(&ticket.id).await, Fate::Pending));
    assert!(
        page.links.show(&ticket.id).await.is_ok(),
        "the link is still open"
    );
}

/// A POST without the page's own Origin (none, foreign, `null` without the
/// browser's word) is refused and writes nothing.
#[tokio::test]
async fn posts_without_the_pages_own_origin_write_nothing() {
    let logs = Logs::capture();
    let page = Page::start(TTL).await;
    let ticket = page.open("user.origin").await;
    let bare = client()
        .post(&ticket.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_value(CANARY));
    let answer = send("POST without Origin", bare).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    for origin in [
        "https://evil.example",
        "null",
        "http://localhost:1",
        &format!("{}/", page.base),
        &format!("https://{}", page.addr),
    ] {
        let foreign = post(&page, &ticket.url, form_value(CANARY)).header("origin", origin);
        // `header` appends: replace the page's own with the foreign one.
        let mut request = foreign.build().unwrap();
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        let response = client().execute(request).await.unwrap();
        assert_secure_headers(origin, response.headers());
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{origin}");
    }
    // `null` counts only with the browser's own word that the form is the
    // page's (what Chromium sends under `Referrer-Policy: no-referrer`).
    for (fetch_site, status) in [
        ("cross-site", StatusCode::FORBIDDEN),
        ("same-site", StatusCode::FORBIDDEN),
        ("none", StatusCode::FORBIDDEN),
    ] {
        let answer = send(
            fetch_site,
            client()
                .post(&ticket.url)
                .header("origin", "null")
                .header("sec-fetch-site", fetch_site)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_value(CANARY)),
        )
        .await;
        assert_eq!(answer.status, status, "{fetch_site}");
    }
    // A foreign Origin stays refused whatever Sec-Fetch-Site claims.
    let answer = send(
        "foreign with same-origin",
        client()
            .post(&ticket.url)
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_value(CANARY)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_untouched(&page, &ticket).await;
    assert_no_leak("the trace log", &logs.text(), &[CANARY]);
}

/// Two Origin headers, the page's own first and another after it, are no
/// browser's request: refused, with the page's security headers, and
/// nothing written.
#[tokio::test]
async fn a_post_with_two_origins_writes_nothing() {
    let page = Page::start(TTL).await;
    let ticket = page.open("user.origin").await;
    for second in ["https://evil.example", page.base.as_str()] {
        let twice = post(&page, &ticket.url, form_value(CANARY)).header("origin", second);
        let answer = send("two Origin headers", twice).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{second}");
    }
    assert_untouched(&page, &ticket).await;
}

/// A POST that is not a form is refused and writes nothing.
#[tokio::test]
async fn posts_that_are_not_a_form_write_nothing() {
    let logs = Logs::capture();
    let page = Page::start(TTL).await;
    let ticket = page.open("user.origin").await;
    for content_type in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/json",
    ] {
        let answer = send(
            content_type,
            client()
                .post(&ticket.url)
                .header("origin", page.base.clone())
                .header("content-type", content_type)
                .body(form_value(CANARY)),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
    }
    assert_untouched(&page, &ticket).await;
    assert_no_leak("the trace log", &logs.text(), &[CANARY]);
}

/// A GET from another origin (a cross-site fetch) is refused as well.
#[tokio::test]
async fn a_cross_site_get_is_refused() {
    let logs = Logs::capture();
    let page = Page::start(TTL).await;
    let ticket = page.open("user.origin").await;
    let cross = send(
        "cross-site GET",
        client()
            .get(&ticket.url)
            .header("origin", "https://evil.example"),
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);

    assert_untouched(&page, &ticket).await;
    assert_no_leak("the trace log", &logs.text(), &[CANARY]);
}

#[tokio::test]
async fn gets_and_other_methods_never_write_or_claim() {
    let page = Page::start(TTL).await;
    let ticket = page.open("user.get").await;
    for _ in 0..3 {
        let shown = send(
            "GET",
            client().get(format!("{}?value={CANARY}x", ticket.url)),
        )
        .await;
        assert_eq!(shown.status, StatusCode::OK);
    }
    for method in [
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let answer = send(
            method.as_str(),
            client()
                .request(method.clone(), &ticket.url)
                .header("origin", page.base.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form_value(CANARY)),
        )
        .await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    assert!(page.emu.tenant_value("user.get").is_none());
    assert!(page.links.show(&ticket.id).await.is_ok(), "still usable");
    let done = send("POST", post(&page, &ticket.url, form_value("the-real-one"))).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_eq!(
        page.emu
            .tenant_value("user.get")
            .map(|v| v.expose_secret().to_owned()),
        Some("the-real-one".to_owned())
    );
}

#[tokio::test]
async fn both_fields_or_neither_or_a_bad_value_are_refused_without_claiming() {
    let logs = Logs::capture();
    let page = Page::start(TTL).await;
    let ticket = page.open("user.fields").await;
    let cases = [
        (
            "both",
            format!("value={CANARY}&multiline={CANARY}&action=save"),
            "Both fields are filled in",
        ),
        (
            "neither",
            "value=&multiline=&action=save".to_owned(),
            "Both fields are empty",
        ),
        (
            "no fields",
            "action=save".to_owned(),
            "Both fields are empty",
        ),
        (
            "twice",
            format!("value={CANARY}&value=x&action=save"),
            "a field twice",
        ),
        (
            "NUL",
            "value=a%00b&multiline=&action=save".to_owned(),
            "NUL",
        ),
        (
            "too long",
            format!("value={}&action=save", "v".repeat(64 * 1024 + 1)),
            "the limit is 65536 bytes",
        ),
    ];
    for (what, body, says) in cases {
        let answer = send(what, post(&page, &ticket.url, body)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{what}");
        assert!(answer.body.contains(says), "{what}:\n{}", answer.body);
        assert!(
            answer.body.contains(r#"name="multiline""#),
            "{what}: the form is shown again"
        );
        assert!(
            page.links.show(&ticket.id).await.is_ok(),
            "{what}: not claimed"
        );
    }
    assert!(page.emu.tenant_value("user.fields").is_none());
    let done = send("POST", post(&page, &ticket.url, form_value("good"))).await;
    assert_eq!(done.status, StatusCode::OK);
    assert_no_leak("the trace log", &logs.text(), &[CANARY]);
}

#[tokio::test]
async fn a_body_larger_than_the_largest_value_allows_is_refused() {
    let page = Page::start(TTL).await;
    let ticket = page.open("user.large").await;
    // Every byte of a 64 KiB value percent-encoded is 192 KiB; beyond that
    // and the other fields, nothing is read.
    let huge = format!("value={}", "%41".repeat(64 * 1024 + 2048));
    let answer = send("declared", post(&page, &ticket.url, huge.clone())).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Without a Content-Length (chunked), the read stops at the cap too.
    let chunks = futures::stream::iter(
        huge.into_bytes()
            .chunks(8192)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let streamed = client()
        .post(&ticket.url)
        .header("origin", page.base.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(reqwest::Body::wrap_stream(chunks));
    let answer = send("chunked", streamed).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(page.links.show(&ticket.id).await.is_ok(), "not claimed");
    assert!(page.emu.tenant_value("user.large").is_none());

    // The largest value a `value` argument may have, fully encoded, fits.
    let largest = format!("value={}&multiline=&action=save", "%41".repeat(64 * 1024));
    let done = send("largest", post(&page, &ticket.url, largest)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        page.emu
            .tenant_value("user.large")
            .map(|v| v.expose_secret().len()),
        Some(64 * 1024)
    );
}

#[tokio::test]
async fn expired_unknown_and_declined_links_say_so_and_change_nothing() {
    let logs = Logs::capture();
    // A link that expires at once: the registry, not the page, sets the floor.
    let short = Page::start(Duration::ZERO).await;
    let ticket = short.open("user.late").await;
    let shown = send("GET expired", client().get(&ticket.url)).await;
    assert_eq!(shown.status, StatusCode::GONE);
    assert!(shown.body.contains("Link expired"), "{}", shown.body);
    let posted = send(
        "POST expired",
        post(&short, &ticket.url, form_value(CANARY)),
    )
    .await;
    assert_eq!(posted.status, StatusCode::GONE);
    assert!(posted.body.contains("has expired"), "{}", posted.body);
    assert!(short.emu.tenant_value("user.late").is_none());

    let page = Page::start(TTL).await;
    let unknown = format!("{}/ask/{}", page.base, "ab".repeat(24));
    for (what, request) in [
        ("GET unknown", client().get(&unknown)),
        ("POST unknown", post(&page, &unknown, form_value(CANARY))),
        (
            "GET odd id",
            client().get(format!("{}/ask/..%2F%0Aevil", page.base)),
        ),
    ] {
        let answer = send(what, request).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{what}");
        assert!(
            answer.body.contains("Unknown link"),
            "{what}: {}",
            answer.body
        );
    }
    let elsewhere = send("other path", client().get(format!("{}/mcp", page.base))).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND);

    let ticket = page.open("user.declined").await;
    let declined = send(
        "decline",
        post(
            &page,
            &ticket.url,
            format!("value={CANARY}&multiline=&action=decline"),
        ),
    )
    .await;
    assert_eq!(declined.status, StatusCode::OK);
    assert!(
        declined.body.contains("Nothing was written"),
        "{}",
        declined.body
    );
    assert!(matches!(page.links.fate(&ticket.id).await, Fate::Declined));
    let after = send("GET declined", client().get(&ticket.url)).await;
    assert_eq!(after.status, StatusCode::GONE);
    assert!(after.body.contains("Link declined"), "{}", after.body);
    let posted = send(
        "POST declined",
        post(&page, &ticket.url, form_value(CANARY)),
    )
    .await;
    assert_eq!(posted.status, StatusCode::GONE);
    assert!(page.emu.tenant_value("user.declined").is_none());
    assert_no_leak("the trace log", &logs.text(), &[CANARY]);
}

/// A link whose call was cancelled says it was withdrawn, and a submit
/// writes nothing.
#[tokio::test]
async fn a_withdrawn_link_says_so_and_writes_nothing() {
    let page = Page::start(TTL).await;
    let ticket = page.open("user.withdrawn").await;
    page.links.withdraw(&ticket.id).await.unwrap();
    let shown = send("GET withdrawn", client().get(&ticket.url)).await;
    assert_eq!(shown.status, StatusCode::GONE);
    assert!(shown.body.contains("Link withdrawn"), "{}", shown.body);
    assert!(
        shown.body.contains(
            "the assistant&#39;s request for the value was cancelled. Nothing was written."
        ),
        "{}",
        shown.body
    );
    let posted = send(
        "POST withdrawn",
        post(&page, &ticket.url, form_value(CANARY)),
    )
    .await;
    assert_eq!(posted.status, StatusCode::GONE);
    assert!(posted.body.contains("Link withdrawn"), "{}", posted.body);
    assert!(page.emu.tenant_value("user.withdrawn").is_none());
    assert!(page.emu.requests().is_empty(), "nothing reached OSC");
}

/// Sends `request` as raw bytes on a new connection to the page and reads
/// the answer to its end: (status, headers, body).
async fn raw_exchange(page: &Page, request: &[u8]) -> (u16, HeaderMap, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(page.addr).await.unwrap();
    // The server may answer before reading all of a long request and close;
    // what it answered is still there to read.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(support::WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the page answers and closes");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap();
        headers.append(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
            reqwest::header::HeaderValue::from_str(value.trim()).unwrap(),
        );
    }
    (status, headers, body.to_owned())
}

/// A request too malformed for hyper to hand to the page (which hyper
/// answers itself) gets an answer with every header of the page all the
/// same, and a page that says what happened; nothing is claimed.
#[tokio::test]
async fn the_listeners_own_answers_to_malformed_requests_carry_the_page_headers() {
    let page = Page::start(TTL).await;
    let ticket = page.open("user.malformed").await;
    let path = format!("/ask/{}", ticket.id);
    let host = format!("Host: {}\r\n", page.addr);
    let huge = format!("X-Big: {}\r\n", "a".repeat(512 * 1024));
    for (what, request, status, title) in [
        (
            "a header line without a colon",
            format!("GET {path} HTTP/1.1\r\n{host}This is not a header\r\n\r\n"),
            400,
            "Bad request",
        ),
        (
            "bytes that are not HTTP",
            "\u{1}\u{2}\u{3} not http at all\r\n\r\n".to_owned(),
            400,
            "Bad request",
        ),
        (
            "a bad method",
            format!("G(T {path} HTTP/1.1\r\n{host}\r\n"),
            400,
            "Bad request",
        ),
        (
            "headers larger than hyper reads",
            format!("GET {path} HTTP/1.1\r\n{host}{huge}\r\n"),
            431,
            "Request too large",
        ),
    ] {
        let (got, headers, body) = raw_exchange(&page, request.as_bytes()).await;
        assert_eq!(got, status, "{what}: {body}");
        assert_secure_headers(what, &headers);
        assert_eq!(
            headers.get("content-type").unwrap(),
            "text/html; charset=utf-8",
            "{what}"
        );
        assert_eq!(
            headers.get("content-length").unwrap().to_str().unwrap(),
            body.len().to_string(),
            "{what}"
        );
        assert!(
            body.contains(&format!("<h1>{title}</h1>")),
            "{what}: {body}"
        );
        assert!(body.contains("Nothing was written."), "{what}: {body}");
    }
    // A well-formed request on the same listener is answered by the page.
    let shown = send("GET after", client().get(&ticket.url)).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        page.links.show(&ticket.id).await.is_ok(),
        "nothing claimed the link"
    );
    assert!(page.emu.requests().is_empty(), "nothing reached OSC");
}

#[tokio::test]
async fn a_foreign_host_is_refused_before_anything_is_shown() {
    let page = Page::start(TTL).await;
    let ticket = page.open("user.host").await;
    for host in ["evil.example", "localhost.evil.example", "user@localhost"] {
        let answer = send(host, client().get(&ticket.url).header("host", host)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{host}");
        assert!(
            !answer.body.contains("user.host"),
            "{host}: nothing of the link shown"
        );
        let posted = send(
            host,
            post(&page, &ticket.url, form_value(CANARY)).header("host", host),
        )
        .await;
        assert_eq!(posted.status, StatusCode::FORBIDDEN, "{host}");
    }
    assert!(page.links.show(&ticket.id).await.is_ok());
    assert!(page.emu.tenant_value("user.host").is_none());
}

// ---------------------------------------------------------------------------
// Through the binary

#[tokio::test]
async fn the_http_listener_serves_the_page_without_the_bearer_token() {
    let emulator = support::seeded_emulator().await;
    let server = bin::Server::start(&emulator, &[], Some(support::MCP_TOKEN)).await;
    let unknown = server.url(&format!("/ask/{}", "0f".repeat(24)));
    let answer = send("binary: unknown link", bin::http().get(&unknown)).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.body.contains("Unknown link"), "{}", answer.body);
    let posted = send(
        "binary: POST unknown",
        bin::http()
            .post(&unknown)
            .header("origin", format!("http://{}", server.addr))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_value(CANARY)),
    )
    .await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
    // Another origin is refused, though loopback origins pass the MCP rules.
    let foreign = send(
        "binary: foreign origin",
        bin::http()
            .post(&unknown)
            .header("origin", "http://localhost:1")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_value(CANARY)),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    let evil = send(
        "binary: foreign host",
        bin::http().get(&unknown).header("host", "evil.example"),
    )
    .await;
    assert_eq!(evil.status, StatusCode::FORBIDDEN);
    // The MCP endpoint still wants its token.
    let mcp = bin::http()
        .post(server.url("/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(bin::initialize_request().to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(mcp.status(), StatusCode::UNAUTHORIZED);
    let (_, log) = server.terminate().await;
    assert!(log.contains("one-time page refused"), "{log}");
    assert!(!log.contains(CANARY), "{log}");
}

#[tokio::test]
async fn bad_page_settings_stop_the_server_with_words_for_the_operator() {
    let emulator = support::seeded_emulator().await;
    let cases: [(&[&str], &str); 4] = [
        (&["--ask-user-ttl-secs", "29"], "from 30 to 3600"),
        (&["--ask-user-ttl-secs", "3601"], "from 30 to 3600"),
        (
            &["--public-url", "https://user:canary-pw@secrets.example.com"],
            "must not hold a user name or password",
        ),
        (
            &["--public-url", "secrets.example.com/x?y"],
            "is not an absolute URL",
        ),
    ];
    for (args, says) in cases {
        let (status, stderr) =
            bin::run_to_exit(bin::command(&emulator, args, Some(support::MCP_TOKEN))).await;
        assert!(!status.success(), "{args:?}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(!stderr.contains("canary-pw"), "{stderr}");
    }
    // On stdio, the page's listener must be loopback.
    let mut stdio = support::binary();
    stdio
        .args(["--sandbox", "--ask-user-listen", "0.0.0.0:0"])
        .stdin(std::process::Stdio::piped());
    let (status, stderr) = bin::run_to_exit(stdio).await;
    assert!(!status.success());
    assert!(stderr.contains("--ask-user-listen"), "{stderr}");
    assert!(stderr.contains("loopback"), "{stderr}");
}

/// The TCP ports a process listens on, from /proc.
#[cfg(target_os = "linux")]
fn listening_ports(pid: u32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            if fields.len() > 9 && fields[3] == "0A" && inodes.iter().any(|i| i == fields[9]) {
                let port = fields[1].rsplit(':').next().unwrap();
                ports.push(u16::from_str_radix(port, 16).unwrap());
            }
        }
    }
    ports
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn stdio_listens_on_nothing_until_a_link_is_opened() {
    let emulator = support::emulator().await;
    let mut server = support::StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", &emulator.base_url()),
            ("OSC_ACCESS_TOKEN", support::OSC_TOKEN),
            ("OSC_MCP_LOG", "trace"),
        ],
    );
    server.initialize().await;
    let listed = server
        .call_tool("list_tenant_secrets", serde_json::json!({}))
        .await;
    assert!(listed.get("result").is_some(), "{listed}");
    let pid = server.child.id().unwrap();
    assert_eq!(
        listening_ports(pid),
        Vec::<u16>::new(),
        "no listener before a link"
    );
    let (ok, _, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("one-time askUser page served"), "{stderr}");

    // The same check sees the HTTP transport's listener: it works.
    let http_emu = support::seeded_emulator().await;
    let http = bin::Server::start(&http_emu, &[], Some(support::MCP_TOKEN)).await;
    assert_eq!(listening_ports(http.pid()), vec![http.addr.port()]);
    http.terminate().await;
}

/// A job that writes only once `release` fires, telling `started` first.
fn held_job(
    page: &Page,
    key: &str,
) -> (
    osc_secrets_mcp::ask_user::links::Job,
    tokio::sync::oneshot::Receiver<()>,
    tokio::sync::oneshot::Sender<()>,
) {
    let (started, release) = page.hold_next();
    let job = page.job(key, osc_secrets_mcp::domain::WriteMode::Upsert);
    (job, started, release)
}

#[tokio::test]
async fn a_browser_that_leaves_mid_write_neither_cuts_it_nor_leaves_the_link_unsettled() {
    use tokio::io::AsyncWriteExt;
    let page = Page::start(TTL).await;
    let (job, started, release) = held_job(&page, "user.leaver");
    let ticket = page.links.open(job).await.unwrap();
    let body = form_value(CANARY);
    let path = ticket.url.strip_prefix(&page.base).unwrap();
    let mut stream = tokio::net::TcpStream::connect(page.addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nOrigin: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        page.addr,
        page.base,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    tokio::time::timeout(support::WAIT, started)
        .await
        .expect("the job starts")
        .unwrap();
    // The browser goes away while the write is under way.
    drop(stream);
    release.send(()).unwrap();
    assert!(matches!(
        page.links.wait(&ticket.id, support::WAIT).await,
        Fate::Done(_)
    ));
    assert_eq!(
        page.emu
            .tenant_value("user.leaver")
            .map(|v| v.expose_secret().to_owned()),
        Some(CANARY.to_owned())
    );
}

#[tokio::test]
async fn two_submits_racing_write_once() {
    let page = Page::start(TTL).await;
    let (job, started, release) = held_job(&page, "user.race");
    let ticket = page.links.open(job).await.unwrap();
    let first = tokio::spawn(send("first", post(&page, &ticket.url, form_value(CANARY))));
    tokio::time::timeout(support::WAIT, started)
        .await
        .expect("the first submit runs its job")
        .unwrap();
    let second = send("second", post(&page, &ticket.url, form_value("the-loser"))).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert!(second.body.contains("Link in use"), "{}", second.body);
    release.send(()).unwrap();
    let first = tokio::time::timeout(support::WAIT, first)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(
        page.emu
            .tenant_value("user.race")
            .map(|v| v.expose_secret().to_owned()),
        Some(CANARY.to_owned())
    );
}

#[tokio::test]
async fn behind_a_proxy_the_page_wants_the_public_origin() {
    let emulator = support::seeded_emulator().await;
    let server = bin::Server::start(
        &emulator,
        &[
            "--public-url",
            "https://secrets.example.com/mcp-prefix/",
            "--allowed-hosts",
            "secrets.example.com",
        ],
        Some(support::MCP_TOKEN),
    )
    .await;
    let unknown = server.url(&format!("/ask/{}", "0f".repeat(24)));
    let from = |origin: &str| {
        bin::http()
            .post(&unknown)
            .header("host", "secrets.example.com")
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_value(CANARY))
    };
    // The listener's own origin is not the page's any more.
    let local = send("local origin", from(&format!("http://{}", server.addr))).await;
    assert_eq!(local.status, StatusCode::FORBIDDEN);
    // The public one passes the Origin and Host checks, to the link lookup.
    let public = send("public origin", from("https://secrets.example.com")).await;
    assert_eq!(public.status, StatusCode::NOT_FOUND);
    assert!(public.body.contains("Unknown link"), "{}", public.body);
    let (_, log) = server.terminate().await;
    assert!(!log.contains("MCP_ALLOWED_HOSTS does not accept"), "{log}");

    // A public host the Host rules refuse is worth a warning at start.
    let server = bin::Server::start(
        &emulator,
        &["--public-url", "https://secrets.example.com"],
        Some(support::MCP_TOKEN),
    )
    .await;
    let (_, log) = server.terminate().await;
    assert!(
        log.contains("MCP_ALLOWED_HOSTS does not accept that host"),
        "{log}"
    );
}

// ---------------------------------------------------------------------------
// End to end through the binary: a client without URL elicitation gets the
// link (the pending fallback), and the human uses it.

/// Submits `value` on the page at `url` as its own browser would, checking
/// every byte of both answers.
async fn use_link(url: &str, key: &str, value: &str) -> Answer {
    let origin = {
        let parsed = reqwest::Url::parse(url).unwrap();
        parsed.origin().ascii_serialization()
    };
    let shown = send("e2e GET", bin::http().get(url)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(
        shown.body.contains(&format!("<code>{key}</code>")),
        "{}",
        shown.body
    );
    send(
        "e2e POST",
        bin::http()
            .post(url)
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_value(value)),
    )
    .await
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn on_stdio_the_first_link_starts_the_loopback_page_and_the_human_uses_it() {
    let emulator = support::emulator().await;
    let mut server = support::StdioServer::spawn(
        &[],
        &[
            ("OSC_API_URL", &emulator.base_url()),
            ("OSC_ACCESS_TOKEN", support::OSC_TOKEN),
            ("OSC_MCP_LOG", "trace"),
        ],
    );
    server.initialize().await;
    let pid = server.child.id().unwrap();
    assert_eq!(listening_ports(pid), Vec::<u16>::new());
    let answer = server
        .call_tool(
            "set_tenant_secret",
            serde_json::json!({"key": "user.e2e.stdio", "askUser": true}),
        )
        .await;
    let out = &answer["result"]["structuredContent"];
    assert_eq!(out["status"], "pending", "{answer}");
    let url = out["url"].as_str().unwrap().to_owned();
    let port = reqwest::Url::parse(&url).unwrap().port().unwrap();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{port}/ask/")),
        "{url}"
    );
    assert_eq!(
        listening_ports(pid),
        vec![port],
        "one loopback listener, the link's"
    );

    let done = use_link(&url, "user.e2e.stdio", CANARY).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        emulator
            .tenant_value("user.e2e.stdio")
            .map(|v| v.expose_secret().to_owned()),
        Some(CANARY.to_owned())
    );
    let again = use_link_post_only(&url, "second").await;
    assert_eq!(again.status, StatusCode::GONE);
    let listed = server
        .call_tool("list_tenant_secrets", serde_json::json!({}))
        .await;
    assert!(listed.to_string().contains("user.e2e.stdio"), "{listed}");
    let (ok, stdout, stderr) = server.finish().await;
    assert!(ok, "{stderr}");
    assert!(!stdout.contains(CANARY), "the agent received the value");
    assert!(!stderr.contains(CANARY), "the trace log holds the value");
    assert!(
        stderr.contains("one-time askUser page served at http://127.0.0.1:"),
        "{stderr}"
    );
}

async fn use_link_post_only(url: &str, value: &str) -> Answer {
    let origin = reqwest::Url::parse(url)
        .unwrap()
        .origin()
        .ascii_serialization();
    send(
        "e2e POST again",
        bin::http()
            .post(url)
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_value(value)),
    )
    .await
}

#[tokio::test]
async fn over_http_the_link_names_the_listener_and_the_human_uses_it() {
    let emulator = support::seeded_emulator().await;
    let server = bin::Server::start(
        &emulator,
        &["--log-level", "trace"],
        Some(support::MCP_TOKEN),
    )
    .await;
    let session = bin::open_session(&server, Some(support::MCP_TOKEN)).await;
    let response = bin::post_mcp(
        &server,
        Some(support::MCP_TOKEN),
        Some(&session),
        &bin::call(
            2,
            "set_tenant_secret",
            serde_json::json!({"key": "user.e2e.http", "askUser": true}),
        ),
    )
    .send()
    .await
    .unwrap();
    let text = response.text().await.unwrap();
    let answer = bin::message_in(&text);
    let out = &answer["result"]["structuredContent"];
    assert_eq!(out["status"], "pending", "{answer}");
    let url = out["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("http://{}/ask/", server.addr)),
        "{url} names the listener"
    );
    let done = use_link(&url, "user.e2e.http", CANARY).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        emulator
            .tenant_value("user.e2e.http")
            .map(|v| v.expose_secret().to_owned()),
        Some(CANARY.to_owned())
    );
    assert!(!text.contains(CANARY));
    let (_, log) = server.terminate().await;
    assert!(!log.contains(CANARY), "the trace log holds the value");
    assert!(log.contains("one-time page used"), "{log}");
}

/// A write OSC refused is not shown as done: the page's title says it was
/// not stored, with the job's own words.
#[tokio::test]
async fn a_write_that_failed_is_not_titled_done() {
    use osc_secrets_mcp::ask_user::links::{BoxFuture, Job, Settled, Worker};
    use osc_secrets_mcp::domain::{Key, WriteMode};
    use rmcp::model::{CallToolResult, ContentBlock};
    use secrecy::SecretString;

    let page = Page::start(TTL).await;
    struct Refused;
    impl Worker for Refused {
        fn run(&self, _job: Job, _value: SecretString) -> BoxFuture<Settled> {
            Box::pin(async {
                Settled {
                    result: CallToolResult::error(vec![ContentBlock::text("OSC refused it.")]),
                    title: "Not stored".into(),
                    page_text: "The value was not stored in user.refused. OSC refused it.".into(),
                }
            })
        }
    }
    page.links.set_worker(std::sync::Arc::new(Refused));
    let job = Job {
        tool: "set_tenant_secret".into(),
        client: None,
        key: Key::check("user.refused").unwrap(),
        mode: WriteMode::Upsert,
        exists: Some(false),
        work: serde_json::Value::Null,
        audit: None,
        subject: None,
    };
    let ticket = page.links.open(job).await.unwrap();
    let answer = send("POST refused", post(&page, &ticket.url, form_value(CANARY))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.body.contains("<title>Not stored"), "{}", answer.body);
    assert!(!answer.body.contains("<title>Done"), "{}", answer.body);
    assert!(
        answer.body.contains("was not stored in user.refused"),
        "{}",
        answer.body
    );
}
