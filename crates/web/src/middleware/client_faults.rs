//! A client's malformed request is not the server's error. actix-http logs every request head
//! it cannot parse, and every connection a client breaks, as `ERROR stream error: …` on
//! `actix_http::h1::dispatcher`, so any client could write ERROR lines at will (14,823 from
//! 40,000 junk requests) and page an operator. `DemoteClientFaults` wraps the log output and
//! writes exactly those events at WARN instead, same target and text; every other event,
//! actix's own internal errors included, passes through unchanged, so ERROR still means
//! "authd is broken".

use tracing::callsite::{Callsite, Identifier};
use tracing::field::{Field, FieldSet, Visit};
use tracing::metadata::Kind;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// Where actix-http logs connection-level errors.
const DISPATCHER: &str = "actix_http::h1::dispatcher";

/// The dispatcher's `stream error: {DispatchError}` lines that a client causes: a request head
/// that does not parse (or is too large), and a read that fails because the peer went away.
/// The others (`internal error`) come after their own ERROR line about authd and stay.
const CLIENT_FAULTS: [&str; 2] = [
    "stream error: request parse error",
    "stream error: I/O error",
];

/// The callsite of the demoted events: a WARN event on the dispatcher's target with a message.
struct Demoted;

static DEMOTED: Demoted = Demoted;

static DEMOTED_METADATA: Metadata<'static> = Metadata::new(
    "client fault",
    DISPATCHER,
    Level::WARN,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    FieldSet::new(&["message"], Identifier(&DEMOTED)),
    Kind::EVENT,
);

impl Callsite for Demoted {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        &DEMOTED_METADATA
    }
}

/// A `tracing_subscriber` layer around the one that writes the log (`L`): it writes the
/// `ERROR stream error: …` events that actix-http's dispatcher logs for a client's malformed
/// request head, or for a connection the client broke, at WARN instead (same target and
/// text); every other event, actix's own internal errors included, passes through unchanged,
/// so ERROR still means the server is broken. Every embedder of [`crate::serve`] wants it, or
/// any client can write ERROR lines at will:
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::util::SubscriberInitExt;
///
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::EnvFilter::new("info"))
///     .with(web::DemoteClientFaults(tracing_subscriber::fmt::layer()))
///     .init();
/// ```
pub struct DemoteClientFaults<L>(pub L);

/// The text of an event's `message` field.
#[derive(Default)]
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_owned();
        }
    }
}

/// The message of `event` when it is a client's fault logged at ERROR by actix's dispatcher.
fn client_fault(event: &Event<'_>) -> Option<String> {
    let metadata = event.metadata();
    if metadata.target() != DISPATCHER || *metadata.level() != Level::ERROR {
        return None;
    }
    let mut message = Message::default();
    event.record(&mut message);
    CLIENT_FAULTS
        .iter()
        .any(|fault| message.0.starts_with(fault))
        .then_some(message.0)
}

impl<S: Subscriber, L: Layer<S>> Layer<S> for DemoteClientFaults<L> {
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(message) = client_fault(event) else {
            return self.0.on_event(event, ctx);
        };
        // The filter let the ERROR through; the WARN must pass it too (`RUST_LOG=error`).
        if !ctx.enabled(&DEMOTED_METADATA) {
            return;
        }
        let fields = DEMOTED_METADATA.fields();
        let Some(field) = fields.field("message") else {
            return;
        };
        let values = [(&field, Some(&message.as_str() as &dyn tracing::Value))];
        let values = fields.value_set(&values);
        self.0
            .on_event(&Event::new(&DEMOTED_METADATA, &values), ctx);
    }

    // Everything else goes to the wrapped layer as it is. (Not `downcast_raw`, which is
    // `unsafe` to implement: nothing here downcasts the fmt layer, and per-layer filters,
    // which do, are not used.)

    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.0.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.0.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.0.enabled(metadata, ctx)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, span: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.0.on_record(span, values, ctx);
    }

    fn on_follows_from(&self, span: &Id, follows: &Id, ctx: Context<'_, S>) {
        self.0.on_follows_from(span, follows, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        self.0.event_enabled(event, ctx)
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.0.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.0.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.0.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &Id, new: &Id, ctx: Context<'_, S>) {
        self.0.on_id_change(old, new, ctx);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::EnvFilter;

    use super::*;

    /// Logs what `emit` logs through `DemoteClientFaults` under `filter`; returns the text.
    fn logged(filter: &str, emit: impl FnOnce()) -> String {
        let out = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&out);
        let output = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_writer(move || Writer(Arc::clone(&writer)));
        let subscriber = tracing_subscriber::registry()
            .with(EnvFilter::new(filter))
            .with(DemoteClientFaults(output));
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        text
    }

    struct Writer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Writer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn dispatcher_errors() {
        tracing::error!(target: DISPATCHER, "stream error: {}", "request parse error: bad");
        tracing::error!(target: DISPATCHER, "stream error: {}", "I/O error: reset by peer");
        tracing::error!(target: DISPATCHER, "stream error: {}", "internal error");
        tracing::error!(target: "web::error", "stream error: request parse error: not actix");
    }

    #[test]
    fn a_clients_malformed_request_is_a_warning_and_everything_else_is_unchanged() {
        let text = logged("info", dispatcher_errors);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            lines[0],
            " WARN actix_http::h1::dispatcher: stream error: request parse error: bad"
        );
        assert_eq!(
            lines[1],
            " WARN actix_http::h1::dispatcher: stream error: I/O error: reset by peer"
        );
        assert_eq!(
            lines[2],
            "ERROR actix_http::h1::dispatcher: stream error: internal error"
        );
        assert!(lines[3].starts_with("ERROR web::error:"), "{text}");
    }

    #[test]
    fn demoted_lines_follow_the_filter_for_warnings() {
        let text = logged("error", dispatcher_errors);
        assert!(!text.contains("WARN"), "{text}");
        assert!(!text.contains("request parse error: bad"), "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
