//! Counters exported at /metrics in Prometheus text. They count events, never people or data.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The portal's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Successful sign-ins (both factors done).
    pub sign_ins: Counter,
    /// Refused sign-in attempts.
    pub sign_in_failures: Counter,
    /// Attempts refused by throttling.
    pub throttled: Counter,
    /// Audit events written by this process.
    pub audit_events: Counter,
    /// E-mails delivered by this process.
    pub mail_sent: Counter,
    /// E-mail deliveries that failed (and will be retried).
    pub mail_failures: Counter,
    /// HTTP responses by class.
    pub responses_2xx: Counter,
    /// HTTP 3xx responses.
    pub responses_3xx: Counter,
    /// HTTP 4xx responses.
    pub responses_4xx: Counter,
    /// HTTP 5xx responses.
    pub responses_5xx: Counter,
}

impl Metrics {
    /// Renders the counters in the Prometheus text format, plus the given gauges.
    pub fn render(&self, gauges: &[(&str, &str, i64)]) -> String {
        let mut out = String::new();
        let counters = [
            (
                "portal_sign_ins_total",
                "Successful sign-ins.",
                &self.sign_ins,
            ),
            (
                "portal_sign_in_failures_total",
                "Refused sign-in attempts.",
                &self.sign_in_failures,
            ),
            (
                "portal_throttled_total",
                "Attempts refused by throttling.",
                &self.throttled,
            ),
            (
                "portal_audit_events_total",
                "Audit events written.",
                &self.audit_events,
            ),
            (
                "portal_mail_sent_total",
                "E-mails delivered.",
                &self.mail_sent,
            ),
            (
                "portal_mail_failures_total",
                "Failed e-mail deliveries.",
                &self.mail_failures,
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                c.get()
            );
        }
        let _ = writeln!(
            out,
            "# HELP portal_http_responses_total HTTP responses by status class.\n\
             # TYPE portal_http_responses_total counter"
        );
        for (class, c) in [
            ("2xx", &self.responses_2xx),
            ("3xx", &self.responses_3xx),
            ("4xx", &self.responses_4xx),
            ("5xx", &self.responses_5xx),
        ] {
            let _ = writeln!(
                out,
                "portal_http_responses_total{{class=\"{class}\"}} {}",
                c.get()
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}
