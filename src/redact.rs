//! Scrubbing of text that comes from outside (upstream error bodies) before it
//! can reach a tool result or a log line.

use secrecy::{ExposeSecret, SecretString};

/// Longest piece of upstream text kept in an error.
pub const MAX_UPSTREAM_TEXT: usize = 200;

const REDACTED: &str = "[redacted]";

/// Returns `text` with every known secret, anything shaped like a JWT or a
/// bearer credential, and every control character removed, truncated to
/// [`MAX_UPSTREAM_TEXT`] characters.
pub fn scrub(text: &str, secrets: &[&SecretString]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        let s = secret.expose_secret();
        // Very short values would redact ordinary words; they are also refused
        // nowhere else, so still scrub them when they are at least 4 bytes.
        if s.len() >= 4 {
            out = out.replace(s, REDACTED);
        }
    }
    let out = scrub_tokens(&out);
    truncate(&out, MAX_UPSTREAM_TEXT)
}

/// Replaces words that look like credentials: JWTs (`eyJ…`), and whatever
/// follows `Bearer`.
fn scrub_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut redact_next = false;
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String, redact_next: &mut bool| {
        if word.is_empty() {
            return;
        }
        let looks_like_jwt = word.starts_with("eyJ") && word.len() > 16;
        if *redact_next || looks_like_jwt {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        *redact_next = word.eq_ignore_ascii_case("bearer");
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '`') {
            flush(&mut word, &mut out, &mut redact_next);
            out.push(if c.is_control() { ' ' } else { c });
        } else if c.is_control() {
            flush(&mut word, &mut out, &mut redact_next);
            out.push(' ');
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out, &mut redact_next);
    out
}

/// Says why an MCP handshake failed without rmcp's own wording, which quotes
/// the client's first message in full: a `tools/call` sent before
/// `initialize` would put its arguments, a value among them, in the text.
pub fn handshake_failure(error: &rmcp::service::ServerInitializeError) -> String {
    use rmcp::service::ServerInitializeError as E;
    match error {
        E::ExpectedInitializeRequest(_) => {
            "the client's first message was not `initialize`".to_owned()
        }
        E::ConnectionClosed(_) | E::Cancelled => {
            "the client went away before the handshake finished".to_owned()
        }
        E::TransportError { context, .. } => format!("a transport error while {context}"),
        _ => "the initialize handshake failed".to_owned(),
    }
}

/// Says why a task ended without its panic payload, which tokio's own
/// wording includes.
pub fn task_failure(error: &tokio::task::JoinError) -> &'static str {
    if error.is_panic() {
        "the task panicked (message withheld)"
    } else {
        "the task was cancelled"
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    let trimmed = text.trim();
    match trimmed.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_and_token_shapes_go() {
        let value = SecretString::from("hunter2-canary");
        let out = scrub(
            "bad value hunter2-canary for Bearer abc.def and eyJhbGciOiJIUzI1NiJ9.x.y\n",
            &[&value],
        );
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("abc.def"), "{out}");
        assert!(!out.contains("eyJhbGci"), "{out}");
        assert!(out.starts_with("bad value [redacted] for Bearer [redacted]"));
    }

    #[test]
    fn long_text_is_truncated() {
        let out = scrub(&"x".repeat(1000), &[]);
        assert_eq!(out.chars().count(), MAX_UPSTREAM_TEXT + 1);
    }
}
