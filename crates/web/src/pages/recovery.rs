//! `/forgot`, `/reset?token=…`, `/verify?token=…`: where a person asks for a reset mail, and
//! where the links of the mails land. A GET checks the token and shows a form, or says at once
//! that the link is stale and offers the right next step; only the POST of the form's button
//! uses the token up, so a mail scanner that fetches links uses nothing.
//!
//! The links are the ones `auth` mails: `{public_url}/reset?token=…` (redeemed with
//! `Auth::update_password`) and `{public_url}/verify?token=…` (`Auth::verify_email`). Without
//! mail, `/forgot` says what is true (no mail; the API hands reset tokens to programs);
//! without verification, `/verify` says it is not available.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use auth::{AuthError, MailKind};

use super::field::Field;
use super::form::CsrfForm;
use super::paths::{FORGOT, LOGIN, RESEND, RESET, VERIFY};
use super::view::{Form, Page, Problem};
use super::visit::{query_param, Visit};
use super::words::{about, notice, passwords_differ, sentence, About};
use crate::error::ApiError;
use crate::state::Authd;

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
    /// has the address), within the per-client limit on mail requests. True when the mail
    /// limit held it back (which says nothing about whether an account has the address: every
    /// address is counted).
    ///
    /// Errors: `MailRateExceeded` over the per-client limit, `InvalidEmail` for a malformed
    /// address.
    async fn request(
        &self,
        authd: &Authd,
        request: &HttpRequest,
        email: String,
    ) -> Result<bool, ApiError> {
        authd.check_mail_rate(authd.client_ip(request))?;
        authd
            .run_lookup(move |auth| {
                let limited = auth.mail_limited(MailKind::PasswordReset, &email)?;
                auth.request_password_reset(&email)?;
                Ok(limited)
            })
            .await
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
    match authd
        .run_lookup(move |auth| auth.verify_email(&token))
        .await
    {
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
            "This server sends no mail, so this page cannot send you a reset link. Resets \
             here go through this service's API, which hands the reset token to the program that \
             asks for it: ask the people who run this service to reset your password.",
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

/// `POST /forgot` (`email`): asks for a reset mail, then `/forgot?m=reset-sent` (or
/// `reset-limited` when the mail limit held it back), whatever the address.
pub(super) async fn forgot(request: HttpRequest, form: CsrfForm) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let Some(mail) = reset_mail(&visit.authd) else {
        return visit.answer(&forgot_form(&visit, "", None), StatusCode::NOT_FOUND);
    };
    let email = fields.required("email").unwrap_or_default();
    let attempt = async {
        let email = fields.required("email")?;
        mail.request(&visit.authd, &request, email).await
    };
    match attempt.await {
        Ok(false) => visit.redirect(&format!("{FORGOT}?m=reset-sent")),
        Ok(true) => visit.redirect(&format!("{FORGOT}?m=reset-limited")),
        Err(error) => {
            let field = (about(&error) == About::Email).then_some("email");
            let problem = Problem::new(sentence(&error), field);
            visit.refuse(&forgot_form(&visit, &email, Some(problem)), &error)
        }
    }
}

/// `GET /reset?token=…`: the form for the new password, the token going along in the form;
/// a stale token is said at once.
pub(super) async fn reset_page(request: HttpRequest) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let Some(token) = query_param(&request, "token") else {
        let page = incomplete_link(&visit, "Set a new password").link(FORGOT, "Ask for a new link");
        return visit.answer(&page, StatusCode::BAD_REQUEST);
    };
    let checked = token.clone();
    match visit
        .authd
        .run_lookup(move |auth| auth.reset_token_is_live(&checked))
        .await
    {
        Ok(true) => visit.answer(&reset_form(&visit, &token, None), StatusCode::OK),
        Ok(false) => visit.answer(&stale_reset(&visit), StatusCode::BAD_REQUEST),
        Err(error) => visit.failure(&error),
    }
}

fn reset_form(visit: &Visit, token: &str, problem: Option<Problem>) -> Page {
    let policy = &visit.authd.auth().config().password_policy;
    // No account has a second factor in this release.
    let password = Field::new_password("new-password", "new_password", policy, false);
    let again = Field::password_again(&password, "new-password-again", "new_password_again");
    let form = Form::new(&visit.base, RESET, &visit.visitor.token(), "Set password")
        .hidden("token", token)
        .field(password)
        .field(again)
        .with_problem(problem.as_ref());
    let mut page = visit
        .page("Set a new password")
        .text("Choose a new password. Every device signed in to your account will be signed out.")
        .form(form);
    page.error = problem;
    page
}

/// The error of a link whose token is unknown, used or expired.
const STALE: &str = "This link has expired or was used already.";

/// A page for a link without its token.
fn incomplete_link(visit: &Visit, title: &'static str) -> Page {
    let mut page = visit
        .page(title)
        .text("Open the link from the mail again: all of it, as one line.")
        .link(LOGIN, "Sign in");
    page.error = Some(Problem::new(
        "This link is not valid: its token is missing.",
        None,
    ));
    page
}

/// A reset link that is unknown, used or expired: ask for a new one.
fn stale_reset(visit: &Visit) -> Page {
    let mut page = visit
        .page("Set a new password")
        .text("A reset link works once, for a limited time.")
        .link(FORGOT, "Ask for a new link")
        .link(LOGIN, "Sign in");
    page.error = Some(Problem::new(STALE, None));
    page
}

/// POST `/reset` (`token`, `new_password`, `new_password_again`): sets the password, ending
/// the account's sessions, then `/login?m=password-reset`.
pub(super) async fn reset(request: HttpRequest, form: CsrfForm) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let token = fields.required("token").unwrap_or_default();
    let again = fields.required("new_password_again").unwrap_or_default();
    if fields
        .required("new_password")
        .is_ok_and(|new| new != again)
    {
        let page = reset_form(&visit, &token, Some(passwords_differ("new-password-again")));
        return visit.answer(&page, StatusCode::BAD_REQUEST);
    }
    let attempt = async {
        let token = fields.required("token")?;
        let password = fields.required("new_password")?;
        let client = visit.authd.client_ip(&request);
        visit
            .authd
            .run_hashing(client, move |auth| auth.update_password(&token, &password))
            .await
    };
    match attempt.await {
        Ok(()) => visit.redirect(&format!("{LOGIN}?m=password-reset")),
        Err(ApiError::MissingField("token")) => visit.answer(
            &incomplete_link(&visit, "Set a new password").link(FORGOT, "Ask for a new link"),
            StatusCode::BAD_REQUEST,
        ),
        Err(ApiError::Auth(AuthError::UnknownResetToken)) => {
            visit.answer(&stale_reset(&visit), StatusCode::BAD_REQUEST)
        }
        // A server error too keeps the form (and its token), so trying again is one press.
        Err(error) => {
            let field = matches!(about(&error), About::NewPassword).then_some("new-password");
            let problem = Problem::new(sentence(&error), field);
            visit.refuse(&reset_form(&visit, &token, Some(problem)), &error)
        }
    }
}

/// `GET /verify?token=…`: one button that confirms the address; a stale token is said at
/// once, with a way to a new confirmation mail.
pub(super) async fn verify_page(request: HttpRequest) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    if !verification_on(&visit.authd) {
        return visit.answer(&verification_unavailable(&visit), StatusCode::NOT_FOUND);
    }
    let Some(token) = query_param(&request, "token") else {
        return visit.answer(
            &incomplete_link(&visit, "Confirm your address"),
            StatusCode::BAD_REQUEST,
        );
    };
    let checked = token.clone();
    match visit
        .authd
        .run_lookup(move |auth| auth.verification_token_is_live(&checked))
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            let page = stale_verification(&visit, "", Some(Problem::new(STALE, None)));
            return visit.answer(&page, StatusCode::BAD_REQUEST);
        }
        Err(error) => return visit.failure(&error),
    }
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

/// A verification link that is unknown, used or expired: sign in if it worked before, or
/// ask for a new confirmation mail (never a password reset: that would not confirm).
fn stale_verification(visit: &Visit, email: &str, problem: Option<Problem>) -> Page {
    let mut page = visit
        .page("Confirm your address")
        .text("If you confirmed your address already, sign in. If not, we can mail you a new confirmation link.")
        .form(
            Form::new(
                &visit.base,
                RESEND,
                &visit.visitor.token(),
                "Mail me a new confirmation link",
            )
            .field(Field::email("email", email))
            .with_problem(problem.as_ref()),
        )
        .link(LOGIN, "Sign in");
    page.error = problem;
    page
}

fn verification_unavailable(visit: &Visit) -> Page {
    visit
        .page("Confirm your address")
        .text("Email verification is not available here.")
        .link(LOGIN, "Sign in")
}

/// `POST /verify` (`token`): confirms the address, then `/login?m=verified`.
pub(super) async fn verify(form: CsrfForm) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let token = fields.required("token").unwrap_or_default();
    match confirm_email(&visit.authd, token).await {
        Ok(Verification::Confirmed) => visit.redirect(&format!("{LOGIN}?m=verified")),
        Ok(Verification::UnknownToken) => visit.answer(
            &stale_verification(&visit, "", Some(Problem::new(STALE, None))),
            StatusCode::BAD_REQUEST,
        ),
        Ok(Verification::Unavailable) => {
            visit.answer(&verification_unavailable(&visit), StatusCode::NOT_FOUND)
        }
        Err(error) => visit.failure(&error),
    }
}

/// `POST /verify/resend` (`email`), from the sign-in page of an unconfirmed account or a
/// stale verification link: mails a new link as `POST /users/verify/resend` does (the same
/// answer whatever the account's state), then `/login?m=verification-sent` (or
/// `verification-limited` when the mail limit held it back).
pub(super) async fn resend(request: HttpRequest, form: CsrfForm) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let email = fields.required("email").unwrap_or_default();
    let sent = async {
        if verification_on(&visit.authd) {
            visit
                .authd
                .check_mail_rate(visit.authd.client_ip(&request))?;
        }
        let email = fields.required("email")?;
        visit
            .authd
            .run_lookup(move |auth| {
                let limited = auth.mail_limited(MailKind::EmailVerification, &email)?;
                auth.resend_verification(&email)?;
                Ok(limited)
            })
            .await
    };
    match sent.await {
        Ok(false) => visit.redirect(&format!("{LOGIN}?m=verification-sent")),
        Ok(true) => visit.redirect(&format!("{LOGIN}?m=verification-limited")),
        Err(ApiError::Auth(AuthError::VerificationOff)) => {
            visit.answer(&verification_unavailable(&visit), StatusCode::NOT_FOUND)
        }
        Err(error) => {
            let field = (about(&error) == About::Email).then_some("email");
            let problem = Problem::new(sentence(&error), field);
            visit.refuse(&stale_verification(&visit, &email, Some(problem)), &error)
        }
    }
}
