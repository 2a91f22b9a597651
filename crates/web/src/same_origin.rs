//! `require_same_origin`: authd's cross-site refusal, for an embedder to wrap around routes of
//! its own, so a form on another site cannot post to them with the visitor's session cookie.

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, ResponseError};

use crate::error::ApiError;
use crate::middleware::origins::page_post_refused;
use crate::pages::refused_page_for_host;

/// Middleware for an app's own scopes and resources: a POST, PUT, DELETE or PATCH (any method
/// but GET, HEAD and OPTIONS) sent from another site gets 403 before the handler runs, as
/// authd's own routes and pages refuse it: an `Origin` that is neither the request's host
/// nor in [`crate::WebOptions::allowed_origins`] (`null` included), or `Sec-Fetch-Site:
/// cross-site` from an unlisted origin; `Sec-Fetch-Site: same-origin`, which only the browser
/// sets, is let through (as the pages' forms are). Requests without those headers (curl,
/// servers) pass.
///
/// The answer is authd's: `{"message": "cross-origin request refused"}`, or, for a form a
/// browser sent while the app mounts [`crate::pages`], the pages' "Request refused" page.
/// Reads [`crate::WebOptions::allowed_origins`] from the app's `Data<Authd>`.
pub fn require_same_origin() -> RequireSameOrigin {
    RequireSameOrigin
}

/// The middleware [`require_same_origin`] makes.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequireSameOrigin;

impl<S, B> Transform<S, ServiceRequest> for RequireSameOrigin
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = SameOriginService<S>;
    type InitError = ();
    type Future = Ready<Result<SameOriginService<S>, ()>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SameOriginService { service }))
    }
}

/// The service [`RequireSameOrigin`] wraps around the app's.
pub struct SameOriginService<S> {
    service: S,
}

type Answer<B> = Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, Error>>>>;

impl<S, B> Service<ServiceRequest> for SameOriginService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Answer<B>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        if page_post_refused(&request) {
            let refused = refused_page_for_host(request.request())
                .unwrap_or_else(|| ApiError::CrossOriginRefused.error_response());
            let response = request.into_response(refused).map_into_right_body();
            return Box::pin(async move { Ok(response) });
        }
        let answer = self.service.call(request);
        Box::pin(async move { Ok(answer.await?.map_into_left_body()) })
    }
}
