//! The page's sign-in, with OAuth: whether a browser may use a link
//! ([`gate`]), sending it to the authorization server when it has not
//! signed in, and taking it back ([`signed_in`]). What is kept in the
//! browser, and why: [`crate::ask_user::sign_in`].

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::html;
use super::{PageConfig, short};
use crate::ask_user::links::{LINK_PATH, Shown};
use crate::ask_user::sign_in::{
    Authorize, Cookies, FLOW_PURPOSE, FLOW_TTL, Flow, PASS_PURPOSE, PASS_TTL, Pass, SIGNED_IN_PATH,
    SignIn, challenge, cookie,
};
use crate::elicit::unguessable;

/// Why the page is visited.
#[derive(Clone, Copy)]
pub(super) enum Visit {
    /// To see the form: a browser not signed in is sent to sign in (`again`:
    /// even if the authorization server remembers someone).
    Show { again: bool },
    /// To send it: only a browser signed in already may.
    Send,
}

/// Whether this browser may use the link: always without OAuth; with it,
/// only when signed in as the subject the link was opened for. Otherwise
/// the answer to give instead: off to the authorization server, or a
/// refusal (an attempt by another person is recorded).
pub(super) async fn gate(
    config: &PageConfig,
    id: &str,
    shown: &Shown,
    headers: &HeaderMap,
    visit: Visit,
) -> Result<(), Response> {
    let link = short(id);
    let Some(owner) = shown.subject.as_deref() else {
        return Ok(());
    };
    let (Some(sign_in), Ok(base)) = (config.links.sign_in(), config.links.base().await) else {
        tracing::warn!(
            link,
            "one-time page refused: it must sign the person in, and cannot"
        );
        return Err(html::sign_in_unavailable());
    };
    let cookies = Cookies::for_base(&base);
    let again = matches!(visit, Visit::Show { again: true });
    let pass = cookie(headers, cookies.pass())
        .and_then(|sealed| config.links.open_note::<Pass>(PASS_PURPOSE, "", sealed));
    if let Some(pass) = pass.filter(|_| !again) {
        if pass.subject == owner {
            return Ok(());
        }
        tracing::info!(
            link,
            reason = "signed in as another person",
            "one-time page refused"
        );
        config.links.refuse_person(id, &pass.subject).await;
        crate::metrics::metrics().refusal(crate::domain::Rule::PagePerson.name());
        return Err(html::another_person(
            &pass.subject,
            &format!("{base}{LINK_PATH}{id}?again"),
        ));
    }
    if matches!(visit, Visit::Send) {
        tracing::info!(link, reason = "not signed in", "one-time page refused");
        return Err(html::sign_in_first(&format!("{base}{LINK_PATH}{id}")));
    }
    let (Ok(state), Ok(verifier)) = (unguessable(16), unguessable(32)) else {
        return Err(html::sign_in_unavailable());
    };
    let flow = Flow {
        link: id.to_owned(),
        verifier,
    };
    let sealed = config
        .links
        .seal_note(FLOW_PURPOSE, &state, &flow, FLOW_TTL);
    let to = sign_in.authorize(&Authorize {
        redirect_uri: &format!("{base}{SIGNED_IN_PATH}"),
        state: &state,
        challenge: &challenge(&flow.verifier),
        again,
    });
    let (Some(sealed), Ok(location)) = (sealed, HeaderValue::from_str(&to)) else {
        return Err(html::sign_in_unavailable());
    };
    tracing::info!(
        link,
        "one-time page: sent to the authorization server to sign in"
    );
    let mut answer = Response::new(axum::body::Body::empty());
    *answer.status_mut() = StatusCode::SEE_OTHER;
    answer.headers_mut().insert(header::LOCATION, location);
    if let Some(set) = cookies.set(cookies.flow(), Some(&sealed), FLOW_TTL) {
        answer.headers_mut().insert(header::SET_COOKIE, set);
    }
    Err(answer)
}

/// What the authorization server sends the browser back with.
#[derive(serde::Deserialize)]
pub(super) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The end of a sign-in: the code is redeemed for an access token for this
/// server, whose subject the browser's pass then names; back to the link.
pub(super) async fn signed_in(
    State(config): State<Arc<PageConfig>>,
    Query(callback): Query<Callback>,
    headers: HeaderMap,
) -> Response {
    let (Some(sign_in), Ok(base)) = (config.links.sign_in(), config.links.base().await) else {
        return html::sign_in_unavailable();
    };
    let cookies = Cookies::for_base(&base);
    let flow = callback.state.as_deref().and_then(|state| {
        let sealed = cookie(&headers, cookies.flow())?;
        config.links.open_note::<Flow>(FLOW_PURPOSE, state, sealed)
    });
    let mut answer = match flow {
        None => {
            tracing::info!(
                reason = "no sign-in of this browser",
                "one-time page sign-in refused"
            );
            html::sign_in_unknown()
        }
        Some(flow) => finish(&config, sign_in.as_ref(), &base, &cookies, callback, flow).await,
    };
    // The sign-in is over, whatever came of it.
    if let Some(gone) = cookies.set(cookies.flow(), None, FLOW_TTL) {
        answer.headers_mut().append(header::SET_COOKIE, gone);
    }
    answer
}

async fn finish(
    config: &PageConfig,
    sign_in: &dyn SignIn,
    base: &str,
    cookies: &Cookies,
    callback: Callback,
    flow: Flow,
) -> Response {
    let link = format!("{base}{LINK_PATH}{}", flow.link);
    let code = match (callback.code, callback.error) {
        (Some(code), None) if !code.is_empty() && code.len() <= 4096 => code,
        (_, error) => {
            // The authorization server's error code, if it is one: fixed
            // ASCII words (RFC 6749 4.1.2.1); anything else is not shown.
            let said = error.filter(|e| {
                !e.is_empty()
                    && e.len() <= 64
                    && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            });
            tracing::info!(
                link = short(&flow.link),
                error = said.as_deref().unwrap_or("(none)"),
                "one-time page sign-in not completed"
            );
            return html::sign_in_not_completed(said.as_deref(), &link);
        }
    };
    let redirect_uri = format!("{base}{SIGNED_IN_PATH}");
    let verifier = secrecy::SecretString::from(flow.verifier);
    match sign_in.redeem(code, verifier, redirect_uri).await {
        Ok(subject) => {
            let Some(pass) = config
                .links
                .seal_note(PASS_PURPOSE, "", &Pass { subject }, PASS_TTL)
            else {
                return html::sign_in_unavailable();
            };
            tracing::info!(link = short(&flow.link), "one-time page: signed in");
            let mut answer = Response::new(axum::body::Body::empty());
            *answer.status_mut() = StatusCode::SEE_OTHER;
            if let Ok(location) = HeaderValue::from_str(&link) {
                answer.headers_mut().insert(header::LOCATION, location);
            }
            if let Some(set) = cookies.set(cookies.pass(), Some(&pass), PASS_TTL) {
                answer.headers_mut().append(header::SET_COOKIE, set);
            }
            answer
        }
        Err(failed) => {
            tracing::info!(
                link = short(&flow.link),
                reason = failed.as_str(),
                "one-time page sign-in failed"
            );
            html::sign_in_failed(failed.as_str(), &link)
        }
    }
}
