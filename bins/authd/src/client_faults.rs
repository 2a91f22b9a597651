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

/// Wraps the layer that writes the log; see the module documentation.
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
