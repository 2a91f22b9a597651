//! The two-factor forms of `/account`: setting up an authenticator (password → QR code and
//! key → a code to confirm), the recovery codes shown once, new recovery codes, turning it off.
//!
//! The secret and the recovery codes are only ever in the answer to the POST that made them
//! (`no-store`, as every page): nothing reads them back later. The page that shows the codes
//! carries them in a hidden field of a form that posts them to `/account/recovery-codes.txt`,
//! which answers them as a file to save (CSRF-checked like every form, for the signed-in
//! visitor only, and only text shaped like recovery codes): a download without script, and
//! without a `data:` URL, which the strict CSP would refuse.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use auth::{AuthError, RecoveryCodes, RECOVERY_CODES};

use super::account::{refuse, Which};
use super::field::Field;
use super::form::CsrfForm;
use super::paths::{ACCOUNT, RECOVERY_CODES_TXT, TWO_FACTOR_CONFIRM};
use super::view::{CodesShown, Enrolment, Form, Problem};
use super::visit::{signed_in, Visit};
use super::words::sentence;
use crate::current_user::CurrentUser;
use crate::error::ApiError;

/// The file name the recovery codes are saved as: `<site>-recovery-codes.txt`, the site's
/// name in lower-case letters, digits and dashes ("authd" when nothing is left of it).
fn codes_file(site_name: &str) -> String {
    let mut slug = String::new();
    for c in site_name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug = if slug.is_empty() { "authd" } else { slug };
    format!("{slug}-recovery-codes.txt")
}

/// `POST /account/two-factor` (`password`): as `POST /profile/totp`; the enrolment page (QR
/// code, key, and the form for the first code).
pub(super) async fn begin(
    request: HttpRequest,
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let attempt = async {
        let password = fields.required("password")?;
        let client = visit.authd.client_ip(&request);
        visit.authd.check_login_rate(client)?;
        let id = user.id();
        visit
            .authd
            .run_hashing(client, move |auth| auth.begin_totp(id, &password))
            .await
    };
    match attempt.await {
        Ok(enrolment) => {
            let issuer = &visit.authd.auth().config().totp_issuer;
            let shown = Enrolment::new(enrolment.otpauth_url(), enrolment.secret_base32(), issuer);
            confirm_page(&visit, Some(shown), None, StatusCode::OK)
        }
        Err(error) => refuse(&visit, &user, Which::TwoFactorOn, &error).await,
    }
}

/// The page that asks for the first code of a new authenticator: with its QR code and key
/// right after the setup started, without them after a wrong code (the app has them by then;
/// starting again makes a new key).
fn confirm_page(
    visit: &Visit,
    enrolment: Option<Enrolment>,
    problem: Option<Problem>,
    status: StatusCode,
) -> HttpResponse {
    let csrf = visit.visitor.token();
    let mut page = visit.page("Set up two-factor authentication");
    let heading = if enrolment.is_some() {
        "2. Type the code it shows"
    } else {
        "Type the code your app shows"
    };
    page.enrolment = enrolment;
    page = page
        .form(
            Form::new(&visit.base, TWO_FACTOR_CONFIRM, &csrf, "Turn on two-factor")
                .heading(heading)
                .intro("Nothing changes until the code is confirmed.")
                .field(Field::code(
                    "code",
                    "Code",
                    "6 digits; the app shows a new one every 30 seconds.",
                ))
                .with_problem(problem.as_ref()),
        )
        .link(ACCOUNT, "Cancel: back to your account");
    if let Some(field) = page.forms.last_mut().and_then(|f| f.fields.first_mut()) {
        field.inputmode = Some("numeric");
    }
    page.error = problem;
    visit.answer(&page, status)
}

/// `POST /account/two-factor/confirm` (`code`): as `PUT /profile/totp`; the recovery codes,
/// shown once.
pub(super) async fn confirm(user: Result<CurrentUser, ApiError>, form: CsrfForm) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let attempt = async {
        let code = fields.required("code")?;
        let (id, current) = (user.id(), user.session_id().to_owned());
        visit
            .authd
            .run_lookup(move |auth| auth.confirm_totp(id, &current, &code))
            .await
    };
    match attempt.await {
        Ok(codes) => codes_page(
            &visit,
            "Two-factor authentication is on",
            &codes,
            "two-factor-on",
        ),
        Err(
            error @ (ApiError::Auth(AuthError::WrongCode | AuthError::Throttled { .. })
            | ApiError::MissingField(_)
            | ApiError::NotAString(_)),
        ) => {
            let field =
                (!matches!(error, ApiError::Auth(AuthError::Throttled { .. }))).then_some("code");
            let problem = Problem::new(sentence(&error), field);
            let mut response = confirm_page(&visit, None, Some(problem), error.status());
            if let Some(secs) = super::words::retry_after(&error) {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        Err(error) => refuse(&visit, &user, Which::TwoFactorOn, &error).await,
    }
}

/// The recovery codes, once, with the form that saves them as a file.
fn codes_page(
    visit: &Visit,
    title: &'static str,
    codes: &RecoveryCodes,
    done: &str,
) -> HttpResponse {
    let mut page = visit.page(title);
    page.codes = Some(CodesShown {
        codes: codes.expose().to_vec(),
        download_action: format!("{}{RECOVERY_CODES_TXT}", visit.base),
        csrf: visit.visitor.token(),
        done_href: format!("{}{ACCOUNT}?m={done}", visit.base),
    });
    visit.answer(&page, StatusCode::OK)
}

/// `POST /account/recovery-codes` (`password`, `code`): as `POST /profile/recovery_codes`; the
/// new codes, shown once.
pub(super) async fn renew(
    request: HttpRequest,
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let attempt = async {
        let password = fields.required("password")?;
        let code = fields.required("code")?;
        let client = visit.authd.client_ip(&request);
        visit.authd.check_login_rate(client)?;
        let id = user.id();
        visit
            .authd
            .run_hashing(client, move |auth| {
                auth.regenerate_recovery_codes(id, &password, &code)
            })
            .await
    };
    match attempt.await {
        Ok(codes) => codes_page(&visit, "New recovery codes", &codes, "codes-renewed"),
        Err(error) => refuse(&visit, &user, Which::RenewCodes, &error).await,
    }
}

/// `POST /account/two-factor/off` (`password`, `code`): as `DELETE /profile/totp`; then
/// `/account?m=two-factor-off`.
pub(super) async fn turn_off(
    request: HttpRequest,
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let attempt = async {
        let password = fields.required("password")?;
        let code = fields.required("code")?;
        let client = visit.authd.client_ip(&request);
        visit.authd.check_login_rate(client)?;
        let id = user.id();
        visit
            .authd
            .run_hashing(client, move |auth| auth.disable_totp(id, &password, &code))
            .await
    };
    match attempt.await {
        Ok(()) => visit.redirect(&format!("{ACCOUNT}?m=two-factor-off")),
        Err(error) => refuse(&visit, &user, Which::TwoFactorOff, &error).await,
    }
}

/// A recovery code as shown: four groups of four base32 characters.
fn shaped_like_a_code(code: &str) -> bool {
    code.len() == 19
        && code.split('-').count() == 4
        && code
            .split('-')
            .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// `POST /account/recovery-codes.txt` (`codes`, as the codes page sends them): the codes
/// back as a text file to save. It stores and checks nothing but their shape: the form that
/// sends them is on the page that showed them (nothing else knows them), and it answers only
/// the signed-in visitor, with only text shaped like recovery codes, so it can put nothing
/// else into a file.
pub(super) async fn download(user: Result<CurrentUser, ApiError>, form: CsrfForm) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let sent = fields.required("codes").unwrap_or_default();
    let codes: Vec<&str> = sent.split_whitespace().collect();
    if codes.is_empty()
        || codes.len() > RECOVERY_CODES
        || !codes.iter().all(|c| shaped_like_a_code(c))
    {
        let page = visit
            .page("Nothing to save")
            .text("Only the recovery codes this site showed you can be saved as a file.")
            .link(ACCOUNT, "Go to your account");
        return visit.answer(&page, StatusCode::BAD_REQUEST);
    }
    let site = visit.authd.options().branding.site_name();
    let mut text = format!(
        "Recovery codes of {} for {site}\n\nEach code signs in once in place of a code from \
         the authenticator app. Keep this file somewhere safe.\n\n",
        user.email()
    );
    for code in codes {
        text.push_str(code);
        text.push('\n');
    }
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", codes_file(site)),
        ))
        .body(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codes_file_is_named_after_the_site() {
        assert_eq!(codes_file("authd"), "authd-recovery-codes.txt");
        assert_eq!(codes_file("Acme Cloud!"), "acme-cloud-recovery-codes.txt");
        assert_eq!(codes_file("Ünï"), "n-recovery-codes.txt");
        assert_eq!(codes_file("…"), "authd-recovery-codes.txt");
    }

    #[test]
    fn only_text_shaped_like_recovery_codes_is_saved() {
        assert!(shaped_like_a_code("abcd-efgh-ijkl-mn23"));
        for other in [
            "abcd-efgh-ijkl",
            "abcd-efgh-ijkl-mn2<",
            "abcdefghijklmnopqrs",
            "",
        ] {
            assert!(!shaped_like_a_code(other), "{other}");
        }
    }
}
