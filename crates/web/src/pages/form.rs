//! `CsrfForm`: the only way a page handler reads a form, after its CSRF token checks.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};

use super::csrf::FIELD;
use super::paths::{ACCOUNT, LOGIN};
use super::visit::Visit;
use crate::fields::Fields;

/// A page form's fields, from a visitor whose CSRF token they carry, and the visit they came
/// with. Extracting it reads the body and checks the token; a form without the token (or
/// with another visitor's) gets the 403 "Form expired" page and the handler never runs, a
/// body that cannot be read gets the failure page.
pub(crate) struct CsrfForm {
    pub(crate) visit: Visit,
    pub(crate) fields: Fields,
}

impl FromRequest for CsrfForm {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let fields = Fields::from_request(request, payload);
        let request = request.clone();
        Box::pin(async move {
            let visit = Visit::of(&request).map_err(|answer| refused(*answer))?;
            let fields = match fields.await {
                Ok(fields) => fields,
                Err(error) => return Err(refused(visit.failure(&error))),
            };
            let submitted = fields.required(FIELD).ok();
            if !visit.visitor.accepts(submitted.as_deref()) {
                return Err(refused(expired(&visit)));
            }
            Ok(CsrfForm { visit, fields })
        })
    }
}

/// The answer of a form that is not let through, as the extractor's error.
fn refused(answer: HttpResponse) -> actix_web::Error {
    InternalError::from_response("page form refused", answer).into()
}

/// 403 "Form expired": the token is missing or not this visitor's.
fn expired(visit: &Visit) -> HttpResponse {
    let page = visit
        .page("Form expired")
        .text(
            "This form could not be accepted: it was opened in another session, or cookies \
             are off. Nothing changed.",
        )
        .text("Go back, reload the page and try again.")
        .link(ACCOUNT, "Go to your account")
        .link(LOGIN, "Sign in");
    visit.answer(&page, StatusCode::FORBIDDEN)
}
