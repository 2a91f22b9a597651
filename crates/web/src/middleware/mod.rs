//! What wraps the routes: the cross-origin checks and CORS (`origins`; the refusal an embedder
//! wraps around its own routes is `crate::same_origin`, above the pages it answers with), the
//! request's span
//! and its log line (`telemetry`), the `x-request-id` header (`request_id`); and, for the log
//! output rather than the app, the layer that writes a client's malformed requests at WARN
//! (`client_faults`).

pub(crate) mod client_faults;
pub(crate) mod origins;
pub(crate) mod request_id;
pub(crate) mod telemetry;
