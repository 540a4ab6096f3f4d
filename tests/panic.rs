//! A panic's message never reaches the output: the hook prints only the place.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use osc_secrets_mcp::logging::panic_report;

#[test]
fn the_panic_report_withholds_the_payload() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    std::panic::set_hook(Box::new(move |info| {
        sink.lock().unwrap().push(panic_report(info))
    }));
    let canary = "CANARY-in-a-panic";
    let caught = std::panic::catch_unwind(|| panic!("value was {canary}"));
    let _ = std::panic::take_hook();
    assert!(caught.is_err());
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert!(!reports[0].contains(canary), "{}", reports[0]);
    assert!(reports[0].contains("tests/panic.rs"), "{}", reports[0]);
}
