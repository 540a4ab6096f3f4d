//! The one-time page's HTML: fixed markup, every piece of text escaped.

use std::time::SystemTime;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::ask_user::links::{Fate, Shown};
use crate::domain::WriteMode;

/// The page for a link that cannot be used (any more).
pub(super) fn fate_page(fate: &Fate) -> Response {
    let (status, title, text) = match fate {
        Fate::Unknown => (
            StatusCode::NOT_FOUND,
            "Unknown link",
            "This link is not known: it was mistyped, or it is long past its expiry. Nothing was written. Ask the assistant for a new link.",
        ),
        Fate::Expired => (
            StatusCode::GONE,
            "Link expired",
            "This link has expired. Nothing was written. Ask the assistant for a new link.",
        ),
        Fate::Done(_) => (
            StatusCode::GONE,
            "Link already used",
            "This link was already used; a link works only once. Nothing more was written. Ask the assistant for a new link to change the value again.",
        ),
        Fate::Declined => (
            StatusCode::GONE,
            "Link declined",
            "This link was declined. Nothing was written. Ask the assistant for a new link.",
        ),
        Fate::Withdrawn => (
            StatusCode::GONE,
            "Link withdrawn",
            "This link was withdrawn: the assistant's request for the value was cancelled. Nothing was written. Ask the assistant for a new link if the value is still needed.",
        ),
        Fate::Pending => (
            StatusCode::CONFLICT,
            "Link in use",
            "This link is being used right now, from another page. Nothing more was written.",
        ),
        Fate::Unreachable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again in a minute",
            "The server cannot reach its state store right now, so this link cannot be used yet. Nothing was written. Reload this page in a minute; the link works until it expires.",
        ),
    };
    page(status, title, text)
}

/// HTML-escapes text for an element or a quoted attribute. Five characters
/// need it; a template crate for one page of fixed markup is not worth its
/// weight.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The `Content-Type` of every page.
pub(super) const HTML: &str = "text/html; charset=utf-8";

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{}</title></head>\n<body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HTML)],
        Body::from(document(title, body)),
    )
        .into_response()
}

/// The document of a page with a heading and one paragraph.
pub(super) fn paragraph(title: &str, text: &str) -> String {
    document(
        title,
        &format!("<h1>{}</h1>\n<p>{}</p>", escape(title), escape(text)),
    )
}

/// A page with a heading and one paragraph.
pub(super) fn page(status: StatusCode, title: &str, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HTML)],
        Body::from(paragraph(title, text)),
    )
        .into_response()
}

pub(super) fn not_found() -> Response {
    page(StatusCode::NOT_FOUND, "Not found", "There is nothing here.")
}

fn when(at: SystemTime) -> String {
    let utc: chrono::DateTime<chrono::Utc> = at.into();
    let left = at
        .duration_since(SystemTime::now())
        .map(|d| d.as_secs().div_ceil(60))
        .unwrap_or(0);
    format!(
        "{} UTC (in about {left} minute{})",
        utc.format("%Y-%m-%d %H:%M:%S"),
        if left == 1 { "" } else { "s" }
    )
}

/// A page with a heading, one paragraph and a link to follow.
fn with_link(status: StatusCode, title: &str, text: &str, link: &str, href: &str) -> Response {
    html(
        status,
        title,
        &format!(
            "<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"{}\">{}</a></p>",
            escape(title),
            escape(text),
            escape(href),
            escape(link)
        ),
    )
}

/// The link needs a signed-in person and this server cannot sign one in.
pub(super) fn sign_in_unavailable() -> Response {
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in not available",
        "This link is for one signed-in person, and this server cannot sign anyone in right now. Nothing was written. \
         Try again in a minute; if it persists, ask the server's operator to set up the page's sign-in \
         (--oauth-page-client-id).",
    )
}

/// Signed in, as someone else than the person the link is for.
pub(super) fn another_person(signed_in: &str, again: &str) -> Response {
    with_link(
        StatusCode::FORBIDDEN,
        "Another person's link",
        &format!(
            "You are signed in as {signed_in}, and this link was made for someone else: only the person whose \
             assistant asked for the value can use it. Nothing was written, and this attempt was recorded."
        ),
        "Sign in as someone else",
        again,
    )
}

/// A form sent by a browser that has not signed in.
pub(super) fn sign_in_first(link: &str) -> Response {
    with_link(
        StatusCode::UNAUTHORIZED,
        "Sign in first",
        "This link works only in a browser signed in as the person it was made for. Nothing was written. \
         Open the link to sign in, then fill in the form.",
        "Open the link",
        link,
    )
}

/// An answer from the authorization server that no sign-in of this
/// browser waits for.
pub(super) fn sign_in_unknown() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Sign-in not recognized",
        "This sign-in was not started in this browser, or it took longer than ten minutes. Nothing was written. \
         Open the link you were given again.",
    )
}

/// The authorization server did not sign the person in.
pub(super) fn sign_in_not_completed(said: Option<&str>, link: &str) -> Response {
    let why = said.map_or(String::new(), |e| format!(" (it said: {e})"));
    with_link(
        StatusCode::FORBIDDEN,
        "Not signed in",
        &format!(
            "The sign-in did not complete{why}. Nothing was written. Open the link again to sign in."
        ),
        "Open the link again",
        link,
    )
}

/// Signed in at the authorization server, but no subject came of it.
pub(super) fn sign_in_failed(why: &str, link: &str) -> Response {
    with_link(
        StatusCode::BAD_GATEWAY,
        "Sign-in failed",
        &format!(
            "The sign-in could not be finished: {why}. Nothing was written. Open the link again to retry."
        ),
        "Open the link again",
        link,
    )
}

/// The form for an open link, with a problem to fix above it if any.
pub(super) fn form(status: StatusCode, shown: &Shown, problem: Option<&str>) -> Response {
    let key = escape(&shown.key);
    let mode = match shown.mode {
        WriteMode::Upsert => {
            "It replaces the key's value if the key exists, and creates the key if not."
        }
        WriteMode::Create => {
            "It creates the key; if the key exists by the time you save, nothing is written."
        }
    };
    let exists = match shown.exists {
        Some(true) => "<p><strong>This key exists already.</strong></p>",
        Some(false) => "<p>This key does not exist yet.</p>",
        None => "",
    };
    let problem = problem
        .map(|p| format!("<p role=\"alert\"><strong>{}</strong></p>\n", escape(p)))
        .unwrap_or_default();
    let signed_in = shown
        .subject
        .as_deref()
        .map(|s| {
            format!(
                "<p>You are signed in as <strong>{}</strong>.</p>\n",
                escape(s)
            )
        })
        .unwrap_or_default();
    let sandbox = if shown.sandbox {
        "<p><strong>Sandbox:</strong> this server runs against an offline emulator of Open Source Cloud. \
         Nothing you type here reaches Open Source Cloud, and it is gone when the server stops.</p>\n"
    } else {
        ""
    };
    let body = format!(
        "<h1>Enter the value for <code>{key}</code></h1>\n{signed_in}{sandbox}\
         <p>An assistant asked you for the value of the Open Source Cloud tenant secret <code>{key}</code>. \
         What you type here goes to the secret store; the assistant never sees it.</p>\n\
         <p>Mode: <code>{}</code>. {mode}</p>\n{exists}\n\
         <p>This link works once and expires at {}.</p>\n{problem}\
         <form method=\"post\">\n\
         <p><label for=\"value\">Value (hidden while you type)</label><br>\n\
         <input type=\"password\" id=\"value\" name=\"value\" autocomplete=\"off\" size=\"64\"></p>\n\
         <p><label for=\"multiline\">Or a multi-line value, such as a private key or certificate</label><br>\n\
         <textarea id=\"multiline\" name=\"multiline\" rows=\"10\" cols=\"64\" autocomplete=\"off\" spellcheck=\"false\"></textarea></p>\n\
         <p>Fill in exactly one of the two fields.</p>\n\
         <p><button type=\"submit\" name=\"action\" value=\"save\">Save</button>\n\
         <button type=\"submit\" name=\"action\" value=\"decline\">Decline</button></p>\n\
         </form>",
        shown.mode.as_str(),
        escape(&when(shown.expires_at)),
    );
    html(status, &format!("Value for {}", shown.key), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// A sandbox's form says so; any other says nothing of it.
    #[tokio::test]
    async fn the_sandbox_form_says_it_is_the_sandbox() {
        for sandbox in [true, false] {
            let shown = Shown {
                key: "user.db".to_owned(),
                mode: WriteMode::Upsert,
                exists: Some(false),
                expires_at: SystemTime::now(),
                sandbox,
                subject: None,
            };
            let page = body(form(StatusCode::OK, &shown, None)).await;
            assert_eq!(page.contains("Sandbox:"), sandbox, "{page}");
            assert!(page.contains("user.db"));
        }
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
