//! What a transport needs kept alive while a call runs.

use std::sync::Arc;

/// Something that must stay alive while a request is being handled (the
/// HTTP transports' in-flight permit, and for legacy SSE its id's place),
/// shared by everything that must be done before it is released: the
/// handler call (see `SecretsServer::call_tool`) and the response body. A client that disconnects early frees nothing
/// while its call still runs.
#[derive(Clone)]
pub(crate) struct CallHold(#[allow(dead_code)] Arc<dyn Send + Sync>);

impl CallHold {
    pub(crate) fn new(held: impl Send + Sync + 'static) -> Self {
        CallHold(Arc::new(held))
    }

    /// The hold a transport attached to a request: in its extensions
    /// (legacy SSE), or in the HTTP request parts rmcp puts there
    /// (Streamable HTTP). Only the hold is copied, not the request's
    /// headers with it.
    pub(crate) fn find(extensions: &rmcp::model::Extensions) -> Option<CallHold> {
        extensions.get::<CallHold>().cloned().or_else(|| {
            extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<CallHold>().cloned())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_is_found_where_either_transport_puts_it() {
        let held = Arc::new(());
        let mut direct = rmcp::model::Extensions::new();
        direct.insert(CallHold::new(Arc::clone(&held)));
        let found = CallHold::find(&direct);
        assert!(found.is_some());

        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.extensions.insert(CallHold::new(Arc::clone(&held)));
        let mut nested = rmcp::model::Extensions::new();
        nested.insert(parts);
        let found_nested = CallHold::find(&nested);
        assert!(found_nested.is_some());
        assert_eq!(
            Arc::strong_count(&held),
            3,
            "both holds keep the permit alive"
        );
        drop(direct);
        drop(nested);
        assert_eq!(
            Arc::strong_count(&held),
            3,
            "the copies found outlive the request"
        );
        drop((found, found_nested));
        assert_eq!(Arc::strong_count(&held), 1);

        assert!(CallHold::find(&rmcp::model::Extensions::new()).is_none());
    }
}
