//! `CurrentUser`: the extractor a handler takes to require a logged-in user.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use auth::{SessionInfo, User};

use crate::error::ApiError;
use crate::options::NotLoggedIn;
use crate::state::Authd;

/// The user of the request's session cookie (`session_id` unless
/// [`crate::WebOptions::with_session_cookie`] says otherwise), and which of its sessions that
/// is. Extraction fails with 403 JSON (401 with [`crate::NotLoggedIn::Unauthorized`]) when
/// there is no cookie or no live session for it. Needs `Data<Authd>` in the app data.
///
/// Checking the session is one database query, run on the worker's own connection when the
/// backend can (see [`Authd::authenticate`]).
///
/// For an HTML page, take [`crate::PageUser`] instead (a redirect to the sign-in page rather
/// than JSON); wrap your state-changing routes in [`crate::require_same_origin`], as authd's
/// own are, so another site's page cannot use the visitor's cookie on them.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    user: User,
    session: SessionInfo,
}

impl CurrentUser {
    /// The user.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The user's (normalised) email.
    pub fn email(&self) -> &str {
        &self.user.email
    }

    /// The user's id.
    pub fn id(&self) -> auth::UserId {
        self.user.id
    }

    /// The public id of the request's session (as `GET /sessions` lists it; not the token).
    pub fn session_id(&self) -> &str {
        &self.session.id
    }

    /// The request's session.
    pub fn session(&self) -> &SessionInfo {
        &self.session
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let authd = req.app_data::<Data<Authd>>().cloned();
        let token = authd.as_ref().and_then(|authd| {
            req.cookie(authd.options().session_cookie_name())
                .map(|c| c.value().to_owned())
        });
        Box::pin(async move {
            let Some(authd) = authd else {
                tracing::error!(target: "authd::web::current_user", "CurrentUser used without Data<Authd> in the app data");
                return Err(ApiError::Internal);
            };
            let refused = match authd.options().not_logged_in {
                NotLoggedIn::Unauthorized => ApiError::LoginRequired,
                _ => ApiError::NotLoggedIn,
            };
            let Some(token) = token.filter(|t| !t.is_empty()) else {
                return Err(refused);
            };
            authd
                .authenticate(&token)
                .await?
                .map(|found| CurrentUser {
                    user: found.user,
                    session: found.session,
                })
                .ok_or(refused)
        })
    }
}
