//! The `x-request-id` answer header: the id of the request's span, for a client to quote.

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpMessage;
use tracing_actix_web::RequestId;

/// The answer header that carries the request id.
pub(crate) const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Copies the request id `TracingLogger` made into the answer's `x-request-id` header.
pub(crate) fn add_request_id<B>(mut response: ServiceResponse<B>) -> ServiceResponse<B> {
    let id = response.request().extensions().get::<RequestId>().copied();
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id.to_string()).ok()) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}
