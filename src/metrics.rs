//! What an operator's Prometheus scrapes: counts of tool calls by tool and
//! outcome, refusals by rule, requests to OSC by method and status with
//! their durations, and the sessions and one-time links open now.
//!
//! One registry per process (metrics are a process's, as Prometheus
//! scrapes each replica on its own). Every label value comes from a fixed
//! set this module names: tool names from the tool table (anything else
//! is `other`), outcome and rule words, HTTP methods and status codes. No
//! key name, service id, client name, value or token is ever a label.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    tool: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OscLabels {
    method: &'static str,
    /// The status code, or `none` when no answer came (a timeout, a
    /// refused connection).
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// This process's metrics.
pub struct Metrics {
    registry: Registry,
    tool_calls: Family<CallLabels, Counter>,
    refusals: Family<RuleLabels, Counter>,
    osc_requests: Family<OscLabels, Counter>,
    osc_seconds: Family<MethodLabels, Histogram, fn() -> Histogram>,
    sessions: Gauge,
    links: Gauge,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

fn osc_histogram() -> Histogram {
    // 5 ms to about 20 s: a loopback emulator to a slow OSC with retries.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("osc_secrets_mcp");
        let tool_calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "tool_calls",
            "Tool calls by tool and outcome (ok, error, refused, pending, declined, expired, cancelled, asked)",
            tool_calls.clone(),
        );
        let refusals = Family::<RuleLabels, Counter>::default();
        registry.register(
            "refusals",
            "Calls refused before anything was sent to OSC, by the rule that refused them",
            refusals.clone(),
        );
        let osc_requests = Family::<OscLabels, Counter>::default();
        registry.register(
            "osc_requests",
            "Requests to OSC (each attempt) by method and status code (none: no answer)",
            osc_requests.clone(),
        );
        let osc_seconds =
            Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                osc_histogram,
            );
        registry.register(
            "osc_request_duration_seconds",
            "Time of each request to OSC, until its answer or its failure",
            osc_seconds.clone(),
        );
        let sessions = Gauge::default();
        registry.register(
            "sessions_open",
            "MCP sessions open in this process (Streamable HTTP and legacy SSE)",
            sessions.clone(),
        );
        let links = Gauge::default();
        registry.register(
            "links_pending",
            "One-time askUser links open and unused, in the state store this process uses",
            links.clone(),
        );
        Metrics {
            registry,
            tool_calls,
            refusals,
            osc_requests,
            osc_seconds,
            sessions,
            links,
        }
    }

    /// A tool call of `tool` ended with `outcome` (an audit outcome word).
    pub fn tool_call(&self, tool: &str, outcome: &'static str) {
        let tool = crate::domain::tool::entry(tool).map_or("other", |e| e.name);
        self.tool_calls
            .get_or_create(&CallLabels { tool, outcome })
            .inc();
    }

    /// A call was refused by `rule` (its name).
    pub fn refusal(&self, rule: &'static str) {
        self.refusals.get_or_create(&RuleLabels { rule }).inc();
    }

    /// One request to OSC took `elapsed` and got `status`, or no answer.
    pub fn osc_request(&self, method: &str, status: Option<u16>, elapsed: Duration) {
        let method = match method {
            "GET" => "GET",
            "PUT" => "PUT",
            "POST" => "POST",
            "DELETE" => "DELETE",
            "PATCH" => "PATCH",
            _ => "other",
        };
        let status = status.map_or("none", status_word);
        self.osc_requests
            .get_or_create(&OscLabels { method, status })
            .inc();
        self.osc_seconds
            .get_or_create(&MethodLabels { method })
            .observe(elapsed.as_secs_f64());
    }

    /// A session opened (`+1`) or closed (`-1`).
    pub fn sessions(&self, change: i64) {
        self.sessions.inc_by(change);
    }

    /// How many one-time links are open now.
    pub fn set_links_pending(&self, open: u64) {
        self.links.set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Everything, in the OpenMetrics text format (which Prometheus reads).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// A status code as a label value: every code from 100 to 599 is a word of
/// its own (bounded), anything else `other`.
fn status_word(code: u16) -> &'static str {
    static WORDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
        (100..600u16)
            .map(|c| &*Box::leak(c.to_string().into_boxed_str()))
            .collect()
    });
    code.checked_sub(100)
        .and_then(|i| WORDS.get(usize::from(i)))
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Labels come from fixed sets: an unknown tool, method or status
    /// becomes a word of the set, never the text that came in.
    #[test]
    fn labels_are_bounded_words() {
        let m = Metrics::new();
        m.tool_call("set_tenant_secret", "ok");
        m.tool_call("user.secret-name-as-tool", "refused");
        m.refusal("guardrail");
        m.osc_request("GET", Some(200), Duration::from_millis(3));
        m.osc_request("BREW", Some(999), Duration::from_millis(3));
        m.osc_request("PUT", None, Duration::from_secs(1));
        m.sessions(1);
        m.set_links_pending(2);
        let text = m.encode();
        for expected in [
            "osc_secrets_mcp_tool_calls_total{tool=\"set_tenant_secret\",outcome=\"ok\"} 1",
            "osc_secrets_mcp_tool_calls_total{tool=\"other\",outcome=\"refused\"} 1",
            "osc_secrets_mcp_refusals_total{rule=\"guardrail\"} 1",
            "osc_secrets_mcp_osc_requests_total{method=\"GET\",status=\"200\"} 1",
            "osc_secrets_mcp_osc_requests_total{method=\"other\",status=\"other\"} 1",
            "osc_secrets_mcp_osc_requests_total{method=\"PUT\",status=\"none\"} 1",
            "osc_secrets_mcp_sessions_open 1",
            "osc_secrets_mcp_links_pending 2",
            "# EOF",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
        assert!(!text.contains("user.secret-name-as-tool"), "{text}");
        assert!(!text.contains("BREW"), "{text}");
    }
}
