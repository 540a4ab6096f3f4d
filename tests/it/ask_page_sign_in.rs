//! The one-time page's sign-in, against hostile browsers and a hostile
//! authorization server: the page served in-process (support::page) with
//! a hand-made [`SignIn`] standing in for the authorization server, so
//! that every answer it could give, and every cookie a browser could
//! forge, can be tried. The real authorization server and a real browser
//! run the main path in oauth_page.rs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use osc_secrets_mcp::ask_user::links::Ticket;
use osc_secrets_mcp::ask_user::sign_in::{Authorize, Redeemed, SignIn, SignInFailed};
use osc_secrets_mcp::domain::WriteMode;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::support::page::{CANARY, Page};
use crate::support::stored;

const TTL: Duration = Duration::from_secs(600);

/// What the stand-in authorization server was asked.
#[derive(Default)]
struct Seen {
    /// Each redemption: code, verifier, redirect URI.
    redeemed: Vec<(String, String, String)>,
}

/// Sends browsers to `http://as.invalid/authorize` with every parameter
/// in the query; redeems `as-<subject>` for that subject, and fails the
/// other codes as it is told.
struct StandIn(Arc<Mutex<Seen>>);

impl SignIn for StandIn {
    fn authorize(&self, request: &Authorize<'_>) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("state", request.state)
            .append_pair("code_challenge", request.challenge)
            .append_pair("again", if request.again { "yes" } else { "no" })
            .finish();
        format!("http://as.invalid/authorize?{query}")
    }

    fn redeem(&self, code: String, verifier: SecretString, redirect_uri: String) -> Redeemed {
        self.0.lock().unwrap().redeemed.push((
            code.clone(),
            verifier.expose_secret().to_owned(),
            redirect_uri,
        ));
        Box::pin(async move {
            match code.strip_prefix("as-") {
                Some(subject) => Ok(subject.to_owned()),
                None if code == "refused" => Err(SignInFailed::Refused),
                None => Err(SignInFailed::Token("not issued for this resource")),
            }
        })
    }
}

struct Signing {
    page: Page,
    seen: Arc<Mutex<Seen>>,
}

async fn signing() -> Signing {
    let page = Page::start(TTL).await;
    let seen = Arc::default();
    page.links.set_sign_in(Arc::new(StandIn(Arc::clone(&seen))));
    Signing { page, seen }
}

impl Signing {
    /// A link that Alice's token asked for.
    async fn alices(&self, key: &str) -> Ticket {
        let mut job = self.page.job(key, WriteMode::Upsert);
        job.subject = Some("alice".to_owned());
        self.page.links.open(job).await.unwrap()
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    assert!(!body.contains(CANARY), "the page echoed the value: {body}");
    Answer {
        status,
        headers,
        body,
    }
}

/// The `name=value` of each cookie the answer sets.
fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers).iter().find_map(|c| {
        let pair = c.split(';').next()?;
        let (n, v) = pair.split_once('=')?;
        (n == name && !v.is_empty()).then(|| v.to_owned())
    })
}

fn query_of(location: &str) -> Vec<(String, String)> {
    let query = location.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn param(query: &[(String, String)], name: &str) -> String {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn form(value: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("value", value)
        .append_pair("multiline", "")
        .append_pair("action", "save")
        .finish()
}

/// Opens `link` in a fresh browser and signs in at the stand-in as
/// `subject`: returns the pass cookie's value.
async fn sign_in(s: &Signing, link: &str, subject: &str) -> String {
    let sent = send(client().get(link)).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let location = sent.headers[LOCATION].to_str().unwrap().to_owned();
    let state = param(&query_of(&location), "state");
    let flow = cookie_value(&sent.headers, "osc-ask-signin").expect("a sign-in cookie");
    let back = send(
        client()
            .get(format!(
                "{}/ask/signed-in?code=as-{subject}&state={state}",
                s.page.base
            ))
            .header("cookie", format!("osc-ask-signin={flow}")),
    )
    .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    cookie_value(&back.headers, "osc-ask-pass").expect("a pass cookie")
}

fn post(s: &Signing, url: &str, cookie: Option<&str>) -> reqwest::RequestBuilder {
    let request = client()
        .post(url)
        .header("origin", s.page.base.clone())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(CANARY));
    match cookie {
        Some(pass) => request.header("cookie", format!("osc-ask-pass={pass}")),
        None => request,
    }
}

#[tokio::test]
async fn the_person_who_asked_signs_in_with_pkce_and_writes() {
    let s = signing().await;
    let ticket = s.alices("user.signed").await;

    // Not signed in: off to the authorization server, with a challenge,
    // the state, and the page's own redirect URI.
    let sent = send(client().get(&ticket.url)).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let location = sent.headers[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://as.invalid/authorize?"),
        "{location}"
    );
    let query = query_of(&location);
    let redirect = format!("{}/ask/signed-in", s.page.base);
    assert_eq!(param(&query, "redirect_uri"), redirect);
    assert_eq!(param(&query, "again"), "no");
    let state = param(&query, "state");
    assert_eq!(state.len(), 32, "{state}");
    let challenge = param(&query, "code_challenge");
    let cookies = set_cookies(&sent.headers);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(
        cookies[0].starts_with("osc-ask-signin=")
            && cookies[0].ends_with("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"),
        "{cookies:?}"
    );
    let flow = cookie_value(&sent.headers, "osc-ask-signin").unwrap();
    assert!(
        !flow.contains(&state),
        "the cookie is sealed, not the state in clear"
    );

    // Back with a code: redeemed with the verifier whose S256 is the
    // challenge sent, for the same redirect URI; a pass is set, the
    // sign-in cookie removed, and the browser sent back to the link.
    let back = send(
        client()
            .get(format!("{redirect}?code=as-alice&state={state}"))
            .header("cookie", format!("osc-ask-signin={flow}")),
    )
    .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(back.headers[LOCATION].to_str().unwrap(), ticket.url);
    let redeemed = s.seen.lock().unwrap().redeemed.clone();
    assert_eq!(redeemed.len(), 1);
    let (code, verifier, redirect_uri) = &redeemed[0];
    assert_eq!(code, "as-alice");
    assert_eq!(redirect_uri, &redirect);
    assert!(verifier.len() >= 43, "RFC 7636 wants 43 to 128 characters");
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes())),
        challenge
    );
    let set = set_cookies(&back.headers);
    assert!(
        set.iter()
            .any(|c| c.starts_with("osc-ask-signin=;") && c.contains("Max-Age=0")),
        "{set:?}"
    );
    let pass = cookie_value(&back.headers, "osc-ask-pass").expect("a pass");

    // The form names her; her form writes.
    let shown = send(
        client()
            .get(&ticket.url)
            .header("cookie", format!("osc-ask-pass={pass}")),
    )
    .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown
            .body
            .contains("You are signed in as <strong>alice</strong>"),
        "{}",
        shown.body
    );
    let done = send(post(&s, &ticket.url, Some(&pass))).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(stored(&s.page.emu, "user.signed").as_deref(), Some(CANARY));
}

#[tokio::test]
async fn another_person_is_refused_and_recorded_and_the_link_stays_usable() {
    let s = signing().await;
    let ticket = s.alices("user.not-bobs").await;
    let bobs = sign_in(&s, &ticket.url, "bob").await;

    let shown = send(
        client()
            .get(&ticket.url)
            .header("cookie", format!("osc-ask-pass={bobs}")),
    )
    .await;
    assert_eq!(shown.status, StatusCode::FORBIDDEN);
    assert!(
        shown.body.contains("Another person&#39;s link"),
        "{}",
        shown.body
    );
    assert!(
        shown.body.contains("You are signed in as bob"),
        "{}",
        shown.body
    );
    assert!(
        !shown.body.contains("alice"),
        "the page does not name who asked"
    );
    assert!(
        shown
            .body
            .contains(&format!("href=\"{}?again\"", ticket.url)),
        "{}",
        shown.body
    );
    assert!(!shown.body.contains("name=\"value\""), "no form for bob");

    let posted = send(post(&s, &ticket.url, Some(&bobs))).await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN);
    assert_eq!(stored(&s.page.emu, "user.not-bobs"), None);
    assert_eq!(
        s.page.refusals.lock().unwrap().clone(),
        [
            ("user.not-bobs".to_owned(), "bob".to_owned()),
            ("user.not-bobs".to_owned(), "bob".to_owned())
        ]
    );

    // "Sign in as someone else" asks the authorization server for a fresh
    // sign-in, whatever pass the browser holds.
    let again = send(
        client()
            .get(format!("{}?again", ticket.url))
            .header("cookie", format!("osc-ask-pass={bobs}")),
    )
    .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let location = again.headers[LOCATION].to_str().unwrap();
    assert_eq!(param(&query_of(location), "again"), "yes");

    // Bob's attempts used nothing up: Alice still writes.
    let alices = sign_in(&s, &ticket.url, "alice").await;
    let done = send(post(&s, &ticket.url, Some(&alices))).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        stored(&s.page.emu, "user.not-bobs").as_deref(),
        Some(CANARY)
    );
}

#[tokio::test]
async fn a_form_without_the_browsers_sign_in_writes_nothing() {
    let s = signing().await;
    let ticket = s.alices("user.agent").await;
    let other_server = signing().await;
    let other_ticket = other_server.alices("user.elsewhere").await;
    let foreign_pass = sign_in(&other_server, &other_ticket.url, "alice").await;
    let flow = cookie_value(
        &send(client().get(&ticket.url)).await.headers,
        "osc-ask-signin",
    )
    .unwrap();

    for (what, request) in [
        ("no cookie", post(&s, &ticket.url, None)),
        (
            "a bearer token instead",
            post(&s, &ticket.url, None).header("authorization", "Bearer header.payload.signature"),
        ),
        ("a made-up pass", post(&s, &ticket.url, Some("alice"))),
        (
            "a pass sealed by another server's key",
            post(&s, &ticket.url, Some(&foreign_pass)),
        ),
        (
            "the sign-in cookie as a pass",
            post(&s, &ticket.url, Some(&flow)),
        ),
        (
            "two passes",
            post(&s, &ticket.url, None).header(
                "cookie",
                format!("osc-ask-pass={foreign_pass}; osc-ask-pass=x"),
            ),
        ),
    ] {
        let answer = send(request).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.body
        );
        assert!(
            answer.body.contains("Sign in first"),
            "{what}: {}",
            answer.body
        );
        assert!(
            !set_cookies(&answer.headers)
                .iter()
                .any(|c| c.contains("osc-ask-pass=") && !c.contains("Max-Age=0")),
            "{what}"
        );
    }
    assert_eq!(stored(&s.page.emu, "user.agent"), None);
    assert!(
        s.page.refusals.lock().unwrap().is_empty(),
        "no person to record"
    );
    // Unused: the link still works for the person.
    let alices = sign_in(&s, &ticket.url, "alice").await;
    assert_eq!(
        send(post(&s, &ticket.url, Some(&alices))).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_answer_no_sign_in_of_this_browser_waits_for_is_refused_unredeemed() {
    let s = signing().await;
    let ticket = s.alices("user.callback").await;
    let sent = send(client().get(&ticket.url)).await;
    let location = sent.headers[LOCATION].to_str().unwrap().to_owned();
    let state = param(&query_of(&location), "state");
    let flow = cookie_value(&sent.headers, "osc-ask-signin").unwrap();
    let other_server = signing().await;
    let other_ticket = other_server.alices("user.other").await;
    let other_sent = send(client().get(&other_ticket.url)).await;
    let other_state = param(
        &query_of(other_sent.headers[LOCATION].to_str().unwrap()),
        "state",
    );
    let other_flow = cookie_value(&other_sent.headers, "osc-ask-signin").unwrap();
    let callback = format!("{}/ask/signed-in", s.page.base);

    for (what, query, cookie) in [
        ("no cookie", format!("code=as-alice&state={state}"), None),
        (
            "another state",
            format!("code=as-alice&state={}", "0".repeat(32)),
            Some(flow.clone()),
        ),
        ("no state", "code=as-alice".to_owned(), Some(flow.clone())),
        (
            "a sign-in another server started",
            format!("code=as-alice&state={other_state}"),
            Some(other_flow.clone()),
        ),
    ] {
        let mut request = client().get(format!("{callback}?{query}"));
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("osc-ask-signin={cookie}"));
        }
        let answer = send(request).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{what}: {}",
            answer.body
        );
        assert!(answer.body.contains("Sign-in not recognized"), "{what}");
        assert!(
            cookie_value(&answer.headers, "osc-ask-pass").is_none(),
            "{what}"
        );
    }
    assert!(
        s.seen.lock().unwrap().redeemed.is_empty(),
        "no code was redeemed"
    );

    // The authorization server's error: its code is shown, anything else
    // it sent is not.
    let denied = send(
        client()
            .get(format!(
                "{callback}?error=access_denied&error_description=%3Cscript%3Ex&state={state}"
            ))
            .header("cookie", format!("osc-ask-signin={flow}")),
    )
    .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert!(
        denied.body.contains("(it said: access_denied)"),
        "{}",
        denied.body
    );
    assert!(!denied.body.contains("script"), "{}", denied.body);
    let hostile = send(
        client()
            .get(format!(
                "{callback}?error=%3Cb%3Eclick+here%3C%2Fb%3E&state={state}"
            ))
            .header("cookie", format!("osc-ask-signin={flow}")),
    )
    .await;
    assert_eq!(hostile.status, StatusCode::FORBIDDEN);
    assert!(!hostile.body.contains("click"), "{}", hostile.body);
    assert!(s.seen.lock().unwrap().redeemed.is_empty());

    // A code the authorization server refuses, and a token this server
    // does not accept: no pass, nothing written.
    for (code, said) in [
        ("refused", "the authorization server refused the code"),
        ("for-elsewhere", "not issued for this resource"),
    ] {
        let failed = send(
            client()
                .get(format!("{callback}?code={code}&state={state}"))
                .header("cookie", format!("osc-ask-signin={flow}")),
        )
        .await;
        assert_eq!(failed.status, StatusCode::BAD_GATEWAY, "{}", failed.body);
        assert!(failed.body.contains(said), "{}", failed.body);
        assert!(cookie_value(&failed.headers, "osc-ask-pass").is_none());
    }
    assert_eq!(stored(&s.page.emu, "user.callback"), None);
}

#[tokio::test]
async fn a_persons_link_without_a_sign_in_to_offer_is_refused_and_others_need_none() {
    let page = Page::start(TTL).await;
    let mut job = page.job("user.nobody-can-sign-in", WriteMode::Upsert);
    job.subject = Some("alice".to_owned());
    let ticket = page.links.open(job).await.unwrap();
    let shown = send(client().get(&ticket.url)).await;
    assert_eq!(shown.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        shown.body.contains("Sign-in not available"),
        "{}",
        shown.body
    );
    assert!(shown.headers.get(LOCATION).is_none());

    // A link no token asked for (no OAuth) needs no sign-in, even where
    // the page can sign people in.
    let s = signing().await;
    let plain = s.page.open("user.no-oauth").await;
    let shown = send(client().get(&plain.url)).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(!shown.body.contains("signed in"), "{}", shown.body);
    let done = send(post(&s, &plain.url, None)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
}

/// Two replicas sharing the state store and the key: a sign-in started on
/// one finishes on the other, and the pass it gives opens the person's
/// link on either.
#[tokio::test]
async fn a_sign_in_started_on_one_replica_finishes_on_another() {
    let one = signing().await;
    let two = signing().await;
    let store = osc_secrets_mcp::store::Store::memory();
    let states = Arc::new(osc_secrets_mcp::elicit::States::new().unwrap());
    one.page.links.keep_in(store.clone(), Arc::clone(&states));
    two.page.links.keep_in(store, states);
    let ticket = one.alices("user.replicas").await;
    let on_two = ticket.url.replace(&one.page.base, &two.page.base);

    let sent = send(client().get(&ticket.url)).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let state = param(&query_of(sent.headers[LOCATION].to_str().unwrap()), "state");
    let flow = cookie_value(&sent.headers, "osc-ask-signin").unwrap();
    let back = send(
        client()
            .get(format!(
                "{}/ask/signed-in?code=as-alice&state={state}",
                two.page.base
            ))
            .header("cookie", format!("osc-ask-signin={flow}")),
    )
    .await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    let pass = cookie_value(&back.headers, "osc-ask-pass").unwrap();
    assert!(one.seen.lock().unwrap().redeemed.is_empty());
    assert_eq!(two.seen.lock().unwrap().redeemed.len(), 1);
    let shown = send(
        client()
            .get(&ticket.url)
            .header("cookie", format!("osc-ask-pass={pass}")),
    )
    .await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let done = send(
        client()
            .post(&on_two)
            .header("origin", two.page.base.clone())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", format!("osc-ask-pass={pass}"))
            .body(form(CANARY)),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(
        stored(&two.page.emu, "user.replicas").as_deref(),
        Some(CANARY)
    );
}
