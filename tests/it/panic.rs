//! A panic's message never reaches the output: the hook prints only the place.

use std::sync::{Arc, Mutex};

use osc_secrets_mcp::logging::panic_report;

/// The panic hook is the process's, and other tests run in parallel in this
/// process: the test records only its own thread's panic and hands any other
/// to the hook it replaced, which it puts back afterwards.
#[test]
fn the_panic_report_withholds_the_payload() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let previous: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> =
        Arc::from(std::panic::take_hook());
    let others = Arc::clone(&previous);
    let me = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() == me {
            sink.lock().unwrap().push(panic_report(info));
        } else {
            others(info);
        }
    }));
    let canary = "CANARY-in-a-panic";
    let caught = std::panic::catch_unwind(|| panic!("value was {canary}"));
    let _ = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| previous(info)));
    assert!(caught.is_err());
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert!(!reports[0].contains(canary), "{}", reports[0]);
    assert!(reports[0].contains("tests/it/panic.rs"), "{}", reports[0]);
}
