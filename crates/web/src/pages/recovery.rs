//! `/forgot`, `/reset?token=…`, `/verify?token=…`: where a person asks for a reset mail, and
//! where the links of the mails land. A GET only shows a form: the token is used up by the
//! POST of its button, so a mail scanner that fetches links uses nothing.
//!
//! The links are the ones `auth` mails: `{public_url}/reset?token=…` (redeemed with
//! `Auth::update_password`) and `{public_url}/verify?token=…` (`Auth::verify_email`). Without
//! mail, `/forgot` says reset by mail is not available; without verification, `/verify` says
//! so.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use auth::AuthError;

use super::view::{Field, Form, Page, Problem};
use super::{about, notice, query_param, sentence, About, Visit};
use super::{FORGOT, LOGIN, RESET, VERIFY};
use crate::{ApiError, Authd, Fields};

/// How reset mails are sent here: `None` when no mail is configured (then `/forgot` says
/// reset by mail is not available).
fn reset_mail(authd: &Authd) -> Option<ResetMail> {
    authd.auth().mail_enabled().then_some(ResetMail)
}

/// Sends reset mails (see [`reset_mail`]).
struct ResetMail;

impl ResetMail {
    /// Asks for a reset mail to `email` as `POST /reset_password` does
    /// ([`auth::Auth::request_password_reset`]: no bcrypt, the same answer whether an account
    /// has the address), within the per-client limit on mail requests. Errors:
    /// `MailRateExceeded` over that limit, `InvalidEmail` for a malformed address.
    async fn request(
        &self,
        authd: &Authd,
        request: &HttpRequest,
        email: String,
    ) -> Result<(), ApiError> {
        authd.check_mail_rate(authd.client_ip(request))?;
        authd
            .lookup(move |auth| auth.request_password_reset(&email))
            .await
            .map(|_| ())
    }
}

/// What redeeming a verification token came to.
enum Verification {
    /// The address is confirmed.
    Confirmed,
    /// The token is unknown, used or expired.
    UnknownToken,
    /// This server does not verify addresses.
    Unavailable,
}

/// Redeems an email verification token as `POST /users/verify` does
/// ([`auth::Auth::verify_email`], no bcrypt).
async fn confirm_email(authd: &Authd, token: String) -> Result<Verification, ApiError> {
    match authd.lookup(move |auth| auth.verify_email(&token)).await {
        Ok(_) => Ok(Verification::Confirmed),
        Err(ApiError::Auth(AuthError::UnknownVerificationToken)) => Ok(Verification::UnknownToken),
        Err(ApiError::Auth(AuthError::VerificationOff)) => Ok(Verification::Unavailable),
        Err(error) => Err(error),
    }
}

/// Whether this server asks new accounts to confirm their address by mail.
fn verification_on(authd: &Authd) -> bool {
    authd.auth().requires_verified_email()
}

/// `GET /forgot[?m=reset-sent]`.
pub(super) async fn forgot_page(request: HttpRequest) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let mut page = forgot_form(&visit, "", None);
    page.notice = notice(query_param(&request, "m").as_deref());
    visit.answer(&page, StatusCode::OK)
}

fn forgot_form(visit: &Visit, email: &str, problem: Option<Problem>) -> Page {
    let page = visit.page("Forgot your password?");
    let page = match reset_mail(&visit.authd) {
        None => page.text(
            "Reset by mail is not available here. Ask the people who run this service to \
             reset your password.",
        ),
        Some(_) => page
            .text("Enter the address of your account, and we will mail you a link to set a new password.")
            .form(
                Form::new(&visit.base, FORGOT, &visit.visitor.token(), "Send the link")
                    .field(Field::email("email", email))
                    .with_problem(problem.as_ref()),
            ),
    };
    let mut page = page.link(LOGIN, "Back to sign in");
    page.error = problem;
    page
}

/// `POST /forgot` (`email`): asks for a reset mail, then `/forgot?m=reset-sent`, whatever the
/// address.
pub(super) async fn forgot(request: HttpRequest, fields: Result<Fields, ApiError>) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let Some(mail) = reset_mail(&visit.authd) else {
        return visit.answer(&forgot_form(&visit, "", None), StatusCode::NOT_FOUND);
    };
    let fields = or_answer!(visit.form(fields));
    let email = fields.required("email").unwrap_or_default();
    let attempt = async {
        let email = fields.required("email")?;
        mail.request(&visit.authd, &request, email).await
    };
    match attempt.await {
        Ok(()) => visit.redirect(&format!("{FORGOT}?m=reset-sent")),
        Err(error) if error.status().is_server_error() => visit.failure(&error),
        Err(error) => {
            let field = (about(&error) == About::Email).then_some("email");
            let problem = Problem {
                text: sentence(&error),
                field,
            };
            let mut response =
                visit.answer(&forgot_form(&visit, &email, Some(problem)), error.status());
            if let Some(secs) = super::retry_after(&error) {
                response.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(secs),
                );
            }
            response
        }
    }
}

/// `GET /reset?token=…`: the form for the new password; the token goes along in the form.
pub(super) async fn reset_page(request: HttpRequest) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    match query_param(&request, "token") {
        Some(token) => visit.answer(&reset_form(&visit, &token, None), StatusCode::OK),
        None => visit.answer(
            &broken_link(&visit, "Set a new password"),
            StatusCode::BAD_REQUEST,
        ),
    }
}

fn reset_form(visit: &Visit, token: &str, problem: Option<Problem>) -> Page {
    let min = visit.authd.auth().config().min_password_len;
    let form = Form::new(&visit.base, RESET, &visit.visitor.token(), "Set password")
        .hidden("token", token)
        .field(Field::new_password("new-password", "new_password", min))
        .with_problem(problem.as_ref());
    let mut page = visit
        .page("Set a new password")
        .text("Choose a new password. Every device signed in to your account will be signed out.")
        .form(form);
    page.error = problem;
    page
}

/// A page for a link without its token, or with one that is unknown, used or expired.
fn broken_link(visit: &Visit, title: &'static str) -> Page {
    let mut page = visit
        .page(title)
        .link(FORGOT, "Ask for a new link")
        .link(LOGIN, "Sign in");
    page.error = Some(Problem {
        text: "This link is not valid: it may have expired, or been used already.".to_owned(),
        field: None,
    });
    page
}

/// `POST /reset` (`token`, `new_password`): sets the password, ending the account's sessions,
/// then `/login?m=password-reset`.
pub(super) async fn reset(request: HttpRequest, fields: Result<Fields, ApiError>) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let fields = or_answer!(visit.form(fields));
    let token = fields.required("token").unwrap_or_default();
    let attempt = async {
        let token = fields.required("token")?;
        let password = fields.required("new_password")?;
        let client = visit.authd.client_ip(&request);
        visit
            .authd
            .hashing(client, move |auth| auth.update_password(&token, &password))
            .await
    };
    match attempt.await {
        Ok(()) => visit.redirect(&format!("{LOGIN}?m=password-reset")),
        Err(ApiError::MissingField("token") | ApiError::Auth(AuthError::UnknownResetToken)) => {
            visit.answer(
                &broken_link(&visit, "Set a new password"),
                StatusCode::BAD_REQUEST,
            )
        }
        Err(error) if error.status().is_server_error() => visit.failure(&error),
        Err(error) => {
            let field = matches!(about(&error), About::NewPassword).then_some("new-password");
            let problem = Problem {
                text: sentence(&error),
                field,
            };
            visit.answer(&reset_form(&visit, &token, Some(problem)), error.status())
        }
    }
}

/// `GET /verify?token=…`: one button that confirms the address.
pub(super) async fn verify_page(request: HttpRequest) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    verify_form(&visit, &request)
}

fn verify_form(visit: &Visit, request: &HttpRequest) -> HttpResponse {
    if !verification_on(&visit.authd) {
        return visit.answer(&verification_unavailable(visit), StatusCode::NOT_FOUND);
    }
    let Some(token) = query_param(request, "token") else {
        return visit.answer(
            &broken_link(visit, "Confirm your address"),
            StatusCode::BAD_REQUEST,
        );
    };
    let page = visit
        .page("Confirm your address")
        .text("Confirm that this email address is yours.")
        .form(
            Form::new(
                &visit.base,
                VERIFY,
                &visit.visitor.token(),
                "Confirm my address",
            )
            .hidden("token", token),
        );
    visit.answer(&page, StatusCode::OK)
}

fn verification_unavailable(visit: &Visit) -> Page {
    visit
        .page("Confirm your address")
        .text("Email verification is not available here.")
        .link(LOGIN, "Sign in")
}

/// `POST /verify` (`token`): confirms the address, then `/login?m=verified`.
pub(super) async fn verify(request: HttpRequest, fields: Result<Fields, ApiError>) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let fields = or_answer!(visit.form(fields));
    let token = fields.required("token").unwrap_or_default();
    match confirm_email(&visit.authd, token).await {
        Ok(Verification::Confirmed) => visit.redirect(&format!("{LOGIN}?m=verified")),
        Ok(Verification::UnknownToken) => visit.answer(
            &broken_link(&visit, "Confirm your address"),
            StatusCode::BAD_REQUEST,
        ),
        Ok(Verification::Unavailable) => {
            visit.answer(&verification_unavailable(&visit), StatusCode::NOT_FOUND)
        }
        Err(error) => visit.failure(&error),
    }
}

/// `POST /verify/resend` (`email`), from the sign-in page of an unconfirmed account: mails a
/// new link as `POST /users/verify/resend` does (the same answer whatever the account's
/// state), then `/login?m=verification-sent`.
pub(super) async fn resend(request: HttpRequest, fields: Result<Fields, ApiError>) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let fields = or_answer!(visit.form(fields));
    let sent = async {
        if verification_on(&visit.authd) {
            visit
                .authd
                .check_mail_rate(visit.authd.client_ip(&request))?;
        }
        let email = fields.required("email")?;
        visit
            .authd
            .lookup(move |auth| auth.resend_verification(&email))
            .await
    };
    match sent.await {
        Ok(_) => visit.redirect(&format!("{LOGIN}?m=verification-sent")),
        Err(ApiError::Auth(AuthError::VerificationOff)) => {
            visit.answer(&verification_unavailable(&visit), StatusCode::NOT_FOUND)
        }
        Err(error) => visit.failure(&error),
    }
}
