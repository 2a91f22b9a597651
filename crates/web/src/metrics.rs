//! Prometheus metrics (OpenMetrics text at `GET /metrics`): requests by route and status, login
//! and passkey sign-in outcomes, the hashing threads (the time of each job, the queue, the jobs turned away), the
//! connections refused by the per-address cap, and (with mail) the outbox's counts.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::connections::ConnectionLimit;
use crate::hashing::Hashing;

/// Every value comes from a closed set, so the number of series has a fixed ceiling whatever
/// clients send: `method` is a standard method or `other`, `route` a registered pattern or
/// `unmatched`, `status` a code the server chose (100 to 999).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    outcome: String,
}

/// How a login attempt ended, for `authd_logins_total`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LoginOutcome {
    Ok,
    Failed,
    Throttled,
}

impl LoginOutcome {
    fn labels(self) -> LoginLabels {
        let outcome = match self {
            LoginOutcome::Ok => "ok",
            LoginOutcome::Failed => "failed",
            LoginOutcome::Throttled => "throttled",
        };
        LoginLabels {
            outcome: outcome.to_owned(),
        }
    }
}

/// How a sign-in through a provider ended, for `authd_oidc_sign_ins_total`: a closed set.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OidcOutcomeLabel {
    /// A sign-in (or connection) begun: the browser sent to the provider.
    Started,
    /// A session started for a known account.
    Ok,
    /// A new account was made, and signed in.
    Created,
    /// The provider was connected to the account that asked.
    Connected,
    /// The account's second factor is asked for.
    SecondFactor,
    /// An unknown, used, expired or foreign state.
    State,
    /// The provider's answer was refused (an error it sent, a bad ID token).
    Refused,
    /// An account has the address, and it was not connected.
    EmailTaken,
    /// The provider confirmed no address.
    NoVerifiedEmail,
    /// The provider could not be reached.
    Unavailable,
    /// Anything else (a disabled account, the database).
    Failed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OidcLabels {
    /// A configured provider's id (at most 16 of them).
    provider: String,
    outcome: &'static str,
}

/// Why the admin API refused a request before looking at it, for
/// `authd_admin_refused_total`: a closed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AdminRefusedLabels {
    reason: &'static str,
}

/// Why the admin API refused a request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AdminRefusal {
    /// No `Authorization: Bearer` token.
    MissingToken,
    /// A token that is not the admin token.
    WrongToken,
    /// Too many failures from the client's address: not looked at.
    Throttled,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 4 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// The registry and its metrics; clones share them.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    registry: Arc<Registry>,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    logins: Family<LoginLabels, Counter>,
    passkey_sign_ins: Family<LoginLabels, Counter>,
    oidc_sign_ins: Family<OidcLabels, Counter>,
    hashing: Histogram,
    admin_refused: Family<AdminRefusedLabels, Counter>,
}

/// The outbox's counts, read at each scrape: `mails_sent_total`, `mails_failed_total`,
/// `mails_retried_total`, `mails_dropped_total` and the gauge `mails_waiting`. No labels.
#[derive(Debug)]
struct MailCollector(auth::Outbox);

impl Collector for MailCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.0.stats();
        let counters = [
            (
                "mails_sent",
                "Mails delivered to the SMTP server",
                stats.sent,
            ),
            (
                "mails_failed",
                "Mails given up: refused (5xx), or undeliverable for longer than the give-up time",
                stats.failed,
            ),
            (
                "mails_retried",
                "Failed tries of a mail followed by another (server down or 4xx)",
                stats.retried,
            ),
            (
                "mails_dropped",
                "Mails not queued because the outbox was full (they spent no allowance)",
                stats.dropped,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        let waiting = ConstGauge::new(i64::try_from(stats.waiting).unwrap_or(i64::MAX));
        let metric = encoder.encode_descriptor(
            "mails_waiting",
            "Mails in the outbox now (in the database, every instance's): queued, waiting \
             for a retry, or being sent",
            None,
            waiting.metric_type(),
        )?;
        waiting.encode(metric)
    }
}

/// Why a job on the hashing threads was turned away: a closed set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    reason: &'static str,
}

/// The hashing threads' queue and the connection cap, read at each scrape:
/// `hashing_jobs_waiting`, `hashing_refused_total{reason}` and `connections_refused_total`.
#[derive(Debug)]
struct LoadCollector {
    hashing: Hashing,
    connections: Arc<ConnectionLimit>,
}

impl Collector for LoadCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = self.hashing.stats();
        let waiting = ConstGauge::new(i64::try_from(stats.waiting).unwrap_or(i64::MAX));
        let metric = encoder.encode_descriptor(
            "hashing_jobs_waiting",
            "Jobs waiting for a hashing thread now, all clients together",
            None,
            waiting.metric_type(),
        )?;
        waiting.encode(metric)?;
        let mut family = encoder.encode_descriptor(
            "hashing_refused",
            "Jobs for the hashing threads turned away: queue_full (503, the queue was full and \
             the client held the most of it), shed (503, a waiting job dropped for a client \
             holding less), client_busy (429, the client had its share waiting or running)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (reason, value) in [
            ("queue_full", stats.refused_full),
            ("shed", stats.shed),
            ("client_busy", stats.client_over_cap),
        ] {
            let labels = RefusedLabels { reason };
            ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
        }
        let refused = ConstCounter::new(self.connections.refused());
        let metric = encoder.encode_descriptor(
            "connections_refused",
            "Connections closed at once because their client address already had \
             --max-connections-per-ip open",
            None,
            refused.metric_type(),
        )?;
        refused.encode(metric)
    }
}

impl Metrics {
    /// The registry, with the state of `hashing` and `connections`; with an `outbox`, its
    /// counts too.
    pub(crate) fn new(
        outbox: Option<auth::Outbox>,
        hashing: Hashing,
        connections: Arc<ConnectionLimit>,
    ) -> Self {
        let mut registry = Registry::with_prefix("authd");
        if let Some(outbox) = outbox {
            registry.register_collector(Box::new(MailCollector(outbox)));
        }
        registry.register_collector(Box::new(LoadCollector {
            hashing,
            connections,
        }));
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let logins = Family::<LoginLabels, Counter>::default();
        let passkey_sign_ins = Family::<LoginLabels, Counter>::default();
        let oidc_sign_ins = Family::<OidcLabels, Counter>::default();
        let hashing = latency_histogram();
        let admin_refused = Family::<AdminRefusedLabels, Counter>::default();
        registry.register(
            "admin_refused",
            "Requests to the admin API refused before anything was done, by reason \
             (missing_token, wrong_token: 401; throttled: 429 after too many failures from \
             the client's address)",
            admin_refused.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route pattern and status",
            latency.clone(),
        );
        registry.register(
            "logins",
            "Login attempts by outcome (ok, failed, throttled)",
            logins.clone(),
        );
        registry.register(
            "passkey_sign_ins",
            "Passkey sign-in attempts by outcome (ok, failed, throttled)",
            passkey_sign_ins.clone(),
        );
        registry.register(
            "oidc_sign_ins",
            "Sign-ins through OpenID Connect providers, by provider and step: started (sent to \
             the provider), then how the callback ended (ok, created, connected, second_factor, \
             state, refused, email_taken, no_verified_email, unavailable, failed)",
            oidc_sign_ins.clone(),
        );
        // Named for what is timed: a job on the hashing threads. Not every job reaches bcrypt
        // (a throttled login or a duplicate registration ends before it), and only `auth` knows
        // whether one did; the old name `bcrypt_job_duration_seconds` claimed more than this.
        registry.register(
            "hashing_job_duration_seconds",
            "Time of one job on the hashing threads (register, login, password update), \
             including those that end before bcrypt runs (throttled, duplicate email)",
            hashing.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            requests,
            latency,
            logins,
            passkey_sign_ins,
            oidc_sign_ins,
            hashing,
            admin_refused,
        }
    }

    /// `method` must come from `telemetry::method_of` and `route` be a registered pattern or
    /// `unmatched` (see `RequestLabels`).
    pub(crate) fn observe_request(
        &self,
        method: &'static str,
        route: &str,
        status: u16,
        took: Duration,
    ) {
        let labels = RequestLabels {
            method,
            route: route.to_owned(),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub(crate) fn observe_login(&self, outcome: LoginOutcome) {
        self.logins.get_or_create(&outcome.labels()).inc();
    }

    pub(crate) fn observe_passkey_sign_in(&self, outcome: LoginOutcome) {
        self.passkey_sign_ins.get_or_create(&outcome.labels()).inc();
    }

    /// `provider` must be a configured provider's id (the label's values stay bounded).
    pub(crate) fn observe_oidc(&self, provider: &str, outcome: OidcOutcomeLabel) {
        use OidcOutcomeLabel as O;
        let outcome = match outcome {
            O::Started => "started",
            O::Ok => "ok",
            O::Created => "created",
            O::Connected => "connected",
            O::SecondFactor => "second_factor",
            O::State => "state",
            O::Refused => "refused",
            O::EmailTaken => "email_taken",
            O::NoVerifiedEmail => "no_verified_email",
            O::Unavailable => "unavailable",
            O::Failed => "failed",
        };
        let labels = OidcLabels {
            provider: provider.to_owned(),
            outcome,
        };
        self.oidc_sign_ins.get_or_create(&labels).inc();
    }

    pub(crate) fn observe_admin_refusal(&self, refusal: AdminRefusal) {
        let reason = match refusal {
            AdminRefusal::MissingToken => "missing_token",
            AdminRefusal::WrongToken => "wrong_token",
            AdminRefusal::Throttled => "throttled",
        };
        self.admin_refused
            .get_or_create(&AdminRefusedLabels { reason })
            .inc();
    }

    pub(crate) fn observe_hashing(&self, took: Duration) {
        self.hashing.observe(took.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            tracing::error!(target: "authd::web::metrics", "could not encode metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        let options = crate::options::WebOptions::default();
        Metrics::new(
            None,
            Hashing::start(1, 1, 1),
            Arc::new(ConnectionLimit::new(&options)),
        )
    }

    #[test]
    fn observed_values_appear_in_the_exposition() {
        let metrics = metrics();
        metrics.observe_request("GET", "/profile", 200, Duration::from_millis(2));
        metrics.observe_login(LoginOutcome::Throttled);
        metrics.observe_hashing(Duration::from_millis(250));
        let text = metrics.encode();
        assert!(text.contains(
            r#"authd_http_requests_total{method="GET",route="/profile",status="200"} 1"#
        ));
        assert!(text.contains(r#"authd_logins_total{outcome="throttled"} 1"#));
        assert!(text.contains("authd_hashing_job_duration_seconds_count 1"));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn the_hashing_queue_and_what_was_turned_away_appear_with_closed_labels() {
        let text = metrics().encode();
        for line in [
            "# TYPE authd_hashing_jobs_waiting gauge",
            "authd_hashing_jobs_waiting 0",
            "# TYPE authd_hashing_refused counter",
            r#"authd_hashing_refused_total{reason="queue_full"} 0"#,
            r#"authd_hashing_refused_total{reason="shed"} 0"#,
            r#"authd_hashing_refused_total{reason="client_busy"} 0"#,
            "# TYPE authd_connections_refused counter",
            "authd_connections_refused_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in {text}");
        }
    }
}
