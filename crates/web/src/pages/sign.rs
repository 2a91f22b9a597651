//! `/signup`, `/login`, `/login/code`, `/logout`: creating an account, signing in (with the
//! code of an account with two-factor sign-in on a second page) and out, with a "Continue
//! with NAME" button for each sign-in provider (whose routes are `providers.rs`'s).
//!
//! The second page carries no password: after the right one, `POST /login` answers the code
//! page with the sign-in's single-use token (5 minutes, as `POST /sessions` hands it out) in a
//! hidden field, and `POST /login/code` gives it back with the code.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use auth::AuthError;

use super::field::Field;
use super::form::CsrfForm;
use super::paths::{local_path, return_url, ACCOUNT, FORGOT, LOGIN, LOGIN_CODE, QUERY_VALUE};
use super::paths::{RESEND, SIGNUP};
use super::view::{Form, Link, Page, PasskeyLogin, Problem, ProviderButton};
use super::visit::{query_param, see_other, sign_in, Visit};
use super::words::{about, notice, passwords_differ, sentence, About};
use crate::current_user::CurrentUser;
use crate::error::ApiError;

/// Where `?rd=` (forward-auth's "where the person came from") sends them after they sign in:
/// the URL when [`return_url`] accepts it under the configured site, else `None`.
fn return_to(visit: &Visit, rd: Option<&str>) -> Option<String> {
    let site = visit.authd.options().site.as_ref()?;
    return_url(rd?, site)
}

/// `path` with `next` added to its query, when `next` is a local path (see [`local_path`]).
fn with_next(path: &str, next: Option<&str>) -> String {
    match next.and_then(local_path) {
        Some(next) => {
            let next = percent_encoding::utf8_percent_encode(next, QUERY_VALUE);
            let join = if path.contains('?') { '&' } else { '?' };
            format!("{path}{join}next={next}")
        }
        None => path.to_owned(),
    }
}

/// "Continue with NAME" for each provider, to `/oidc/{id}/start` with `next` and `rd`.
fn provider_buttons(visit: &Visit, next: Option<&str>, rd: Option<&str>) -> Vec<ProviderButton> {
    let mut query = String::new();
    if let Some(next) = next.and_then(local_path) {
        let next = percent_encoding::utf8_percent_encode(next, QUERY_VALUE);
        query = format!("?next={next}");
    }
    if let Some(rd) = rd {
        let rd = percent_encoding::utf8_percent_encode(rd, QUERY_VALUE);
        query.push(if query.is_empty() { '?' } else { '&' });
        query.push_str(&format!("rd={rd}"));
    }
    visit
        .authd
        .auth()
        .oidc_providers()
        .into_iter()
        .map(|p| ProviderButton {
            href: format!("{}/oidc/{}/start{query}", visit.base, p.id),
            text: format!("Continue with {}", p.name),
        })
        .collect()
}

/// `GET /signup[?next=/path][&rd=URL]`.
pub(super) async fn signup_page(request: HttpRequest) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let next = query_param(&request, "next");
    let rd = query_param(&request, "rd");
    let page = signup(&visit, "", next.as_deref(), rd.as_deref(), None);
    visit.answer(&page, StatusCode::OK)
}

/// The sign-up page; `next` (a local path, as the sign-in page takes it) and `rd` ride along
/// in the form, the sign-in link and the provider buttons.
fn signup(
    visit: &Visit,
    email: &str,
    next: Option<&str>,
    rd: Option<&str>,
    problem: Option<Problem>,
) -> Page {
    let policy = &visit.authd.auth().config().password_policy;
    // A new account has no second factor.
    let mut password = Field::new_password("password", "password", policy, false);
    password.label = "Password";
    let mut again = Field::password_again(&password, "password-again", "password_again");
    again.label = "Repeat the password";
    let mut form = Form::new(
        &visit.base,
        SIGNUP,
        &visit.visitor.token(),
        "Create account",
    )
    .field(Field::email("email", email))
    .field(password)
    .field(again)
    .with_problem(problem.as_ref());
    if let Some(next) = next.and_then(local_path) {
        form = form.hidden("next", next);
    }
    if let Some(rd) = return_to(visit, rd) {
        form = form.hidden("rd", &rd);
    }
    let mut page = visit
        .page("Create an account")
        .form(form)
        .link(&with_next(LOGIN, next), "Already have an account? Sign in");
    page.providers = provider_buttons(visit, next, return_to(visit, rd).as_deref());
    page.error = problem;
    page
}

/// The problem of a sign-up or sign-in form for `error`, beside its field.
fn problem_of(error: &ApiError) -> Problem {
    let field = match about(error) {
        About::Email => Some("email"),
        About::Password | About::NewPassword => Some("password"),
        About::Code | About::Page => None,
    };
    Problem::new(sentence(error), field)
}

/// `POST /signup`: registers, then signs in, then goes to `rd` (see [`return_url`]), `next`
/// (a local path) or `/account?m=welcome`.
pub(super) async fn sign_up(request: HttpRequest, form: CsrfForm) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let email = fields.required("email").unwrap_or_default();
    let next = fields.required("next").ok();
    let rd = fields.required("rd").ok();
    let again = fields.required("password_again").unwrap_or_default();
    let registered = async {
        let typed = fields.required("email")?;
        let password = fields.required("password")?;
        if password != again {
            return Ok(None);
        }
        let client = visit.authd.client_ip(&request);
        let (email, again) = (typed.clone(), password.clone());
        visit
            .authd
            .run_hashing(client, move |auth| auth.register_user(&email, &again))
            .await?;
        Ok::<_, ApiError>(Some((typed, password)))
    };
    let (typed, password) = match registered.await {
        Ok(Some(registered)) => registered,
        Ok(None) => {
            let problem = Some(passwords_differ("password-again"));
            let page = signup(&visit, &email, next.as_deref(), rd.as_deref(), problem);
            return visit.answer(&page, StatusCode::BAD_REQUEST);
        }
        Err(error) => {
            let mut problem = problem_of(&error);
            if matches!(error, ApiError::Auth(AuthError::UserAlreadyExists(_))) {
                problem.link = Some(Link {
                    href: format!("{}{LOGIN}", visit.base),
                    text: "Sign in with this address",
                });
            }
            // A server error too keeps what was typed, so trying again is one press.
            let (next, rd) = (next.as_deref(), rd.as_deref());
            let page = signup(&visit, &email, next, rd, Some(problem));
            return visit.refuse(&page, &error);
        }
    };
    if visit.authd.auth().requires_verified_email() {
        // The account cannot sign in before its address is confirmed; the mail is on its way.
        return visit.redirect(&with_next(
            &format!("{LOGIN}?m=check-mail"),
            next.as_deref(),
        ));
    }
    match sign_in(&visit.authd, &request, typed, password).await {
        Ok((_, token)) => {
            let next = next.as_deref().and_then(local_path);
            let mut response = match (return_to(&visit, rd.as_deref()), next) {
                (Some(url), _) => see_other(&url),
                (None, Some(next)) => see_other(next),
                (None, None) => visit.redirect(&format!("{ACCOUNT}?m=welcome")),
            };
            let _ = response.add_cookie(&visit.authd.session_cookie(&token));
            response
        }
        // The account exists; only the sign-in did not happen (busy, throttled…).
        Err(_) => visit.redirect(&with_next(&format!("{LOGIN}?m=created"), next.as_deref())),
    }
}

/// `GET /login[?next=/path][&rd=URL][&m=code]`.
pub(super) async fn login_page(request: HttpRequest) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let next = query_param(&request, "next");
    let rd = query_param(&request, "rd");
    let mut page = login(&visit, "", next.as_deref(), rd.as_deref(), None);
    page.notice = notice(query_param(&request, "m").as_deref());
    visit.answer(&page, StatusCode::OK)
}

fn login(
    visit: &Visit,
    email: &str,
    next: Option<&str>,
    rd: Option<&str>,
    problem: Option<Problem>,
) -> Page {
    let passkeys = visit.authd.auth().passkeys_enabled();
    let mut email_field = Field::email("email", email);
    if passkeys {
        // The browser offers passkeys among the email field's suggestions.
        email_field.autocomplete = "username webauthn";
    }
    let mut form = Form::new(&visit.base, LOGIN, &visit.visitor.token(), "Sign in")
        .field(email_field)
        .field(Field::password(
            "password",
            "password",
            "Password",
            "current-password",
        ))
        .with_problem(problem.as_ref());
    if let Some(next) = next.and_then(local_path) {
        form = form.hidden("next", next);
    }
    if let Some(rd) = return_to(visit, rd) {
        form = form.hidden("rd", &rd);
    }
    let mut page = visit
        .page("Sign in")
        .form(form)
        .link(FORGOT, "Forgot your password?")
        .link(&with_next(SIGNUP, next), "No account yet? Create one");
    page.providers = provider_buttons(visit, next, return_to(visit, rd).as_deref());
    if passkeys {
        let target = next.and_then(local_path).map(str::to_owned);
        page.passkey_login = Some(PasskeyLogin {
            next: target.unwrap_or_else(|| format!("{}{ACCOUNT}", visit.base)),
        });
    }
    page.error = problem;
    page
}

/// `POST /login`: signs in and goes to `rd` (a URL [`return_url`] accepts), `next` (a local
/// path) or `/account`.
pub(super) async fn log_in(request: HttpRequest, form: CsrfForm) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let email = fields.required("email").unwrap_or_default();
    let next = fields.required("next").ok();
    let rd = fields.required("rd").ok();
    let attempt = async {
        let typed = fields.required("email")?;
        let password = fields.required("password")?;
        sign_in(&visit.authd, &request, typed, password).await
    };
    match attempt.await {
        Ok((_, token)) => signed_in_to(&visit, next.as_deref(), rd.as_deref(), &token),
        Err(ApiError::Auth(AuthError::SecondFactorRequired(token))) => {
            let (next, rd) = (next.as_deref(), rd.as_deref());
            let page = code_page(&visit, token.expose(), next, rd, false, None);
            visit.answer(&page, StatusCode::OK)
        }
        Err(error) => {
            let problem = Some(problem_of(&error));
            let mut page = login(&visit, &email, next.as_deref(), rd.as_deref(), problem);
            if matches!(error, ApiError::Auth(AuthError::EmailNotVerified)) {
                page = page.form(
                    Form::new(
                        &visit.base,
                        RESEND,
                        &visit.visitor.token(),
                        "Send the link again",
                    )
                    .intro("No mail, or the link expired?")
                    .hidden("email", email.as_str())
                    .quiet(),
                );
            }
            // A server error too keeps what was typed, so trying again is one press.
            visit.refuse(&page, &error)
        }
    }
}

/// The redirect of a completed sign-in to `rd` (a URL forward-auth may send people back to),
/// else `next` (a local path), else `/account`, with the session cookie.
fn signed_in_to(
    visit: &Visit,
    next: Option<&str>,
    rd: Option<&str>,
    token: &auth::SessionToken,
) -> HttpResponse {
    let target = return_to(visit, rd).or_else(|| next.and_then(local_path).map(str::to_owned));
    let mut response = match target {
        Some(path) => see_other(&path),
        None => visit.redirect(ACCOUNT),
    };
    let _ = response.add_cookie(&visit.authd.session_cookie(token));
    response
}

/// The second page of a sign-in with two-factor: the code (the app's, or with `recovery`
/// the label of a recovery code: the field takes either), the sign-in's token and `next`
/// hidden (and `rd` when it is one to return to), and the switch between the two labels.
pub(super) fn code_page(
    visit: &Visit,
    mfa_token: &str,
    next: Option<&str>,
    rd: Option<&str>,
    recovery: bool,
    problem: Option<Problem>,
) -> Page {
    let csrf = visit.visitor.token();
    let next = next.and_then(local_path);
    let rd = return_to(visit, rd);
    let mut field = if recovery {
        Field::code(
            "code",
            "Recovery code",
            "One of the codes you saved when you set up two-factor authentication; each \
             works once.",
        )
    } else {
        let issuer = &visit.authd.auth().config().totp_issuer;
        let mut field = Field::code(
            "code",
            "Code",
            &format!("The 6 digits your authenticator app shows for {issuer}."),
        );
        field.inputmode = Some("numeric");
        field
    };
    field.autocomplete = "one-time-code";
    let with_context = |mut form: Form| {
        form = form.hidden("mfa_token", mfa_token);
        if let Some(next) = next {
            form = form.hidden("next", next);
        }
        if let Some(rd) = &rd {
            form = form.hidden("rd", rd);
        }
        form
    };
    let mut form = with_context(Form::new(&visit.base, LOGIN_CODE, &csrf, "Sign in"));
    if recovery {
        // Keeps the label after a wrong code.
        form = form.hidden("use", "recovery");
    }
    let form = form.field(field).with_problem(problem.as_ref());
    let (switch, to) = if recovery {
        ("Use the code from the app instead", "app")
    } else {
        ("Use a recovery code instead", "recovery")
    };
    let switch = with_context(Form::new(&visit.base, LOGIN_CODE, &csrf, switch))
        .hidden("use", to)
        .quiet();
    let mut page = visit
        .page("Enter your code")
        .text("Your account has two-factor authentication: one more step.")
        .form(form)
        .form(switch)
        .link(LOGIN, "Start again");
    page.error = problem;
    page
}

/// `POST /login/code` (`mfa_token`, `code`, `next`): as `POST /sessions/mfa`, then as `POST
/// /login`. Without `code` (the switch's form), the page again with the other label. A wrong
/// code shows the page again with the same token (it stays valid until it signs in or
/// expires); an expired or used one goes back to `/login`, with `next`.
pub(super) async fn log_in_code(request: HttpRequest, form: CsrfForm) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let mfa_token = fields.required("mfa_token").unwrap_or_default();
    let next = fields.required("next").ok();
    let rd = fields.required("rd").ok();
    let recovery = fields.required("use").ok().as_deref() == Some("recovery");
    let Ok(code) = fields.required("code") else {
        let page = code_page(
            &visit,
            &mfa_token,
            next.as_deref(),
            rd.as_deref(),
            recovery,
            None,
        );
        return visit.answer(&page, StatusCode::OK);
    };
    let from = visit.authd.client_info(&request);
    let client = visit.authd.client_ip(&request);
    let attempt = visit
        .authd
        .log_in_second_factor(client, mfa_token.clone(), code, from)
        .await;
    match attempt {
        Ok((_, token)) => signed_in_to(&visit, next.as_deref(), rd.as_deref(), &token),
        Err(ApiError::Auth(AuthError::UnknownMfaToken)) => {
            let mut to = format!("{LOGIN}?m=code-expired");
            if let Some(next) = next.as_deref().and_then(local_path) {
                let next = percent_encoding::utf8_percent_encode(next, QUERY_VALUE);
                to.push_str(&format!("&next={next}"));
            }
            if let Some(rd) = return_to(&visit, rd.as_deref()) {
                let rd = percent_encoding::utf8_percent_encode(&rd, QUERY_VALUE);
                to.push_str(&format!("&rd={rd}"));
            }
            visit.redirect(&to)
        }
        Err(error) => {
            let field = matches!(about(&error), About::Code).then_some("code");
            let problem = Problem::new(sentence(&error), field);
            let (next, rd) = (next.as_deref(), rd.as_deref());
            let page = code_page(&visit, &mfa_token, next, rd, recovery, Some(problem));
            visit.refuse(&page, &error)
        }
    }
}

/// `POST /logout`: ends this session (the account's others stay), clears the cookie, and
/// goes to `/login?m=signed-out` (or [`crate::WebOptions::sign_out_to`]). Without a live session it only clears the cookie.
pub(super) async fn log_out(user: Result<CurrentUser, ApiError>, form: CsrfForm) -> HttpResponse {
    let visit = form.visit;
    match user {
        Ok(user) => {
            let (id, current) = (user.id(), user.session_id().to_owned());
            let ended = visit
                .authd
                .run_lookup(move |auth| match auth.log_out(id, &current) {
                    Err(AuthError::UnknownSession) => Ok(()),
                    other => other,
                })
                .await;
            if let Err(error) = ended {
                return visit.failure(&error);
            }
        }
        Err(ApiError::NotLoggedIn | ApiError::LoginRequired) => {}
        Err(error) => return visit.failure(&error),
    }
    let signed_out = format!("{}{LOGIN}?m=signed-out", visit.base);
    let mut response = see_other(&visit.authd.signed_out_location(&signed_out));
    let _ = response.add_cookie(&visit.authd.session_cookie_removal());
    response
}
