//! The requests that ask the human, and reading their answers.
//!
//! rmcp has `Peer::elicit` and `Peer::elicit_url` for the session era; the
//! retry era's requests go into an `InputRequiredResult`, built here. rmcp
//! has no type for `notifications/elicitation/complete`: [`notify_complete`]
//! sends it as a custom notification.

use rmcp::model::{
    CustomNotification, ElicitRequest, ElicitRequestParams, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequests, InputRequiredResult, InputResponses, JsonObject,
    ServerNotification,
};
use rmcp::{Peer, RoleServer};
use serde_json::{Value, json};

/// A URL-mode request, for an `InputRequiredResult`. The retry era has no
/// elicitation id: the retry itself says the page was used.
pub fn url_request(message: impl Into<String>, url: impl Into<String>) -> InputRequest {
    InputRequest::Elicitation(ElicitRequest::new(
        ElicitRequestParams::UrlElicitationParams {
            meta: None,
            message: message.into(),
            url: url.into(),
            elicitation_id: String::new(),
        },
    ))
}

/// A form-mode request, for an `InputRequiredResult`.
pub fn form_request(message: impl Into<String>, schema: ElicitationSchema) -> InputRequest {
    InputRequest::Elicitation(ElicitRequest::new(
        ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: message.into(),
            requested_schema: schema,
        },
    ))
}

/// An `InputRequiredResult` with these named requests (none for a
/// state-only answer that asks the client to retry) and a sealed state.
pub fn input_required(
    requests: impl IntoIterator<Item = (String, InputRequest)>,
    state: String,
) -> InputRequiredResult {
    let requests: InputRequests = requests.into_iter().collect();
    InputRequiredResult::new((!requests.is_empty()).then_some(requests), Some(state))
}

/// What the human answered to one named request of an `InputRequiredResult`.
#[derive(Debug, PartialEq)]
pub enum Answer {
    /// Accepted, with the form's content (empty for a URL request).
    Accepted(JsonObject),
    Declined,
    Cancelled,
    /// The retry carried no answer under this name.
    Missing,
    /// The answer was not an elicitation result.
    Malformed,
}

/// Reads the answer named `name` among a retry's `inputResponses`. The
/// content is the client's, so untrusted: the caller checks it.
pub fn read_answer(responses: Option<&InputResponses>, name: &str) -> Answer {
    let Some(answer) = responses.and_then(|r| r.get(name)) else {
        return Answer::Missing;
    };
    let Some(action) = answer.get("action").cloned() else {
        return Answer::Malformed;
    };
    match serde_json::from_value::<ElicitationAction>(action) {
        Ok(ElicitationAction::Accept) => match answer.get("content") {
            None | Some(Value::Null) => Answer::Accepted(JsonObject::new()),
            Some(Value::Object(content)) => Answer::Accepted(content.clone()),
            Some(_) => Answer::Malformed,
        },
        Ok(ElicitationAction::Decline) => Answer::Declined,
        Ok(ElicitationAction::Cancel) => Answer::Cancelled,
        Ok(_) | Err(_) => Answer::Malformed,
    }
}

/// Tells a session-era client that the URL elicitation `elicitation_id`
/// is complete (`notifications/elicitation/complete`). A failure to send is
/// logged and otherwise ignored: the tool result says the same.
pub async fn notify_complete(peer: &Peer<RoleServer>, elicitation_id: &str) {
    let notification = CustomNotification::new(
        "notifications/elicitation/complete",
        Some(json!({ "elicitationId": elicitation_id })),
    );
    if peer
        .send_notification(ServerNotification::CustomNotification(notification))
        .await
        .is_err()
    {
        tracing::debug!("the elicitation/complete notification could not be sent");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn responses(value: Value) -> InputResponses {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn answers_are_read_by_name_and_checked() {
        let r = responses(json!({
            "ok": {"action": "accept", "content": {"key": "user.db"}},
            "url": {"action": "accept"},
            "no": {"action": "decline"},
            "gone": {"action": "cancel"},
            "odd": {"action": "maybe"},
            "list": {"action": "accept", "content": [1]},
            "bare": 7,
        }));
        let mut typed = JsonObject::new();
        typed.insert("key".into(), json!("user.db"));
        assert_eq!(read_answer(Some(&r), "ok"), Answer::Accepted(typed));
        assert_eq!(
            read_answer(Some(&r), "url"),
            Answer::Accepted(JsonObject::new())
        );
        assert_eq!(read_answer(Some(&r), "no"), Answer::Declined);
        assert_eq!(read_answer(Some(&r), "gone"), Answer::Cancelled);
        assert_eq!(read_answer(Some(&r), "odd"), Answer::Malformed);
        assert_eq!(read_answer(Some(&r), "list"), Answer::Malformed);
        assert_eq!(read_answer(Some(&r), "bare"), Answer::Malformed);
        assert_eq!(read_answer(Some(&r), "absent"), Answer::Missing);
        assert_eq!(read_answer(None, "ok"), Answer::Missing);
    }

    #[test]
    fn requests_serialize_as_the_specification_says() {
        let result = input_required(
            [(
                "page".to_owned(),
                url_request("Type the value", "http://127.0.0.1:1/p"),
            )],
            "sealed".to_owned(),
        );
        let wire = serde_json::to_value(&result).unwrap();
        assert_eq!(wire["resultType"], "input_required");
        assert_eq!(wire["requestState"], "sealed");
        let page = &wire["inputRequests"]["page"];
        assert_eq!(page["method"], "elicitation/create");
        assert_eq!(page["params"]["mode"], "url");
        assert_eq!(page["params"]["url"], "http://127.0.0.1:1/p");

        let state_only = serde_json::to_value(input_required([], "s".to_owned())).unwrap();
        assert!(state_only.get("inputRequests").is_none(), "{state_only}");
    }
}
