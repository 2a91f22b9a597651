//! `PageUser`: [`CurrentUser`] for an embedder's HTML page. Without a session a person is sent
//! to the pages' sign-in, wherever the app mounts them, and comes back to the page after.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{InternalError, UrlGenerationError};
use actix_web::{FromRequest, HttpRequest};
use auth::AuthError;

use super::paths::{local_path, mounted_base, LOGIN, QUERY_VALUE};
use super::visit::see_other;
use crate::current_user::CurrentUser;
use crate::error::ApiError;

/// The signed-in user of a page, as [`CurrentUser`] (which it derefs to); without a live
/// session, extraction answers 303 See Other to the sign-in page of [`crate::pages`] where the
/// app mounts them (`/auth/login` under `web::scope("/auth")`), with `next=` the requested path
/// and query (percent-encoded as the pages write it, and left out past the 512 bytes the
/// sign-in page follows), so the person lands back on the page after signing in or up.
///
/// Other failures are [`CurrentUser`]'s (503 JSON when the database is unreachable). An app
/// that mounts no pages gets 500 (and an error in the log): mount [`crate::pages`] beside it.
#[derive(Debug, Clone)]
pub struct PageUser(CurrentUser);

impl PageUser {
    /// The [`CurrentUser`] it holds.
    pub fn into_inner(self) -> CurrentUser {
        self.0
    }
}

impl Deref for PageUser {
    type Target = CurrentUser;

    fn deref(&self) -> &CurrentUser {
        &self.0
    }
}

impl FromRequest for PageUser {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = CurrentUser::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            match user.await {
                Ok(user) => Ok(PageUser(user)),
                Err(
                    ApiError::NotLoggedIn
                    | ApiError::LoginRequired
                    | ApiError::Auth(AuthError::UnknownUser),
                ) => Err(sign_in_first(&req)),
                Err(error) => Err(error.into()),
            }
        })
    }
}

/// 303 to the mounted sign-in page, with `next` the path asked for.
fn sign_in_first(request: &HttpRequest) -> actix_web::Error {
    let base = match mounted_base(request) {
        Ok(base) => base,
        Err(UrlGenerationError::ResourceNotFound) => {
            tracing::error!(target: "authd::web::pages::page_user", "PageUser used in an app that mounts no authd pages");
            return ApiError::Internal.into();
        }
        Err(_) => return ApiError::BadBody("the Host header names no host").into(),
    };
    let asked = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut location = format!("{base}{LOGIN}");
    if let Some(next) = local_path(asked) {
        let next = percent_encoding::utf8_percent_encode(next, QUERY_VALUE);
        location.push_str(&format!("?next={next}"));
    }
    InternalError::from_response("sign in first", see_other(&location)).into()
}
