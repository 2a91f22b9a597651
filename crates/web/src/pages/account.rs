//! `/account`, in sections: profile (the email, signing out), devices (sessions, signing
//! them out) and their recent activity (`activity.rs`), security (the password, two-factor
//! sign-in, passkeys, sign-in providers (`providers.rs`)), danger zone (deleting the account); the two-factor forms' handlers are
//! in `two_factor.rs`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use auth::{AuthError, SessionInfo};

use super::activity::items;
use super::field::Field;
use super::form::CsrfForm;
use super::paths::{ACCOUNT, DELETE, LOGIN, LOGOUT, PASSWORD, REVOKE, REVOKE_OTHERS};
use super::paths::{PASSKEY_REMOVE, PASSKEY_RENAME, RECOVERY_CODES, TWO_FACTOR, TWO_FACTOR_OFF};
use super::view::{device_name, Account, Device, Form, Problem};
use super::view::{PasskeyItem, Passkeys};
use super::visit::{query_param, signed_in, Visit};
use super::when::When;
use super::words::{about, notice, passwords_differ, retry_after, sentence, About};
use crate::current_user::CurrentUser;
use crate::error::ApiError;

/// `GET /account[?m=code]`.
pub(super) async fn account_page(
    request: HttpRequest,
    user: Result<CurrentUser, ApiError>,
) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let user = or_answer!(signed_in(&visit, user));
    let code = query_param(&request, "m");
    render(&visit, &user, notice(code.as_deref()), None, StatusCode::OK).await
}

/// Which form of the account page a problem belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Which {
    ChangePassword,
    Delete,
    /// Turning two-factor sign-in on (the password).
    TwoFactorOn,
    /// New recovery codes.
    RenewCodes,
    /// Turning two-factor sign-in off.
    TwoFactorOff,
}

/// The account page, with the account's sessions read afresh.
async fn render(
    visit: &Visit,
    user: &CurrentUser,
    notice: Option<&'static str>,
    problem: Option<(Which, Problem)>,
    status: StatusCode,
) -> HttpResponse {
    let id = user.id();
    let sessions: Vec<SessionInfo> =
        match visit.authd.run_lookup(move |a| a.list_sessions(id)).await {
            Ok(sessions) => sessions,
            Err(error) => return visit.failure(&error),
        };
    let passkeys = if visit.authd.auth().passkeys_enabled() {
        match visit.authd.run_lookup(move |a| a.list_passkeys(id)).await {
            Ok(list) => Some(list),
            Err(error) => return visit.failure(&error),
        }
    } else {
        None
    };
    let two_factor = match visit.authd.run_lookup(move |a| a.totp_status(id)).await {
        Ok(status) => status,
        Err(error) => return visit.failure(&error),
    };
    let now = visit.authd.auth().config().clock.now();
    let activity = match visit.authd.run_lookup(move |a| a.activity(id)).await {
        Ok(rows) => items(&rows, now),
        Err(error) => return visit.failure(&error),
    };
    let providers =
        match super::providers::section(visit, user, passkeys.as_ref().map_or(0, Vec::len)).await {
            Ok(providers) => providers,
            Err(error) => return visit.failure(&error),
        };
    let csrf = visit.visitor.token();
    let base = &visit.base;
    let passkeys = passkeys.map(|list| Passkeys {
        list: list
            .into_iter()
            .map(|passkey| PasskeyItem {
                id: passkey.id,
                name: passkey.name,
                added: When::at(passkey.created_at, now),
                last_used: passkey.last_used_at.map(|at| When::at(at, now)),
            })
            .collect(),
        rename_action: format!("{base}{PASSKEY_RENAME}"),
        remove_action: format!("{base}{PASSKEY_REMOVE}"),
    });
    let mut devices = sessions
        .iter()
        .map(|session| Device {
            id: session.id.clone(),
            name: device_name(session.user_agent.as_deref()),
            ip: session.ip.clone().unwrap_or_else(|| "unknown".to_owned()),
            signed_in: When::at(session.created_at, now),
            last_seen: When::at(session.last_seen_at, now),
            current: session.id == user.session_id(),
        })
        .collect::<Vec<_>>();
    // This device first, then the others newest first (as listed).
    devices.sort_by_key(|device| !device.current);
    let others = devices.iter().any(|device| !device.current).then(|| {
        Form::new(base, REVOKE_OTHERS, &csrf, "Sign out all other devices")
            .intro("Lost a device, or signed in somewhere you no longer trust?")
            .quiet()
    });
    let problem_of = |which: Which| match &problem {
        Some((w, p)) if *w == which => Some(p),
        _ => None,
    };
    // An account made through a sign-in provider has no password to change or confirm with
    // (its providers' section says how to set one).
    let has_password = visit.authd.auth().has_password(user.user());
    let policy = &visit.authd.auth().config().password_policy;
    // No account has a second factor in this release.
    let new_password = Field::new_password("new-password", "new_password", policy, false);
    let again = Field::password_again(&new_password, "new-password-again", "new_password_again");
    let change = Form::new(base, PASSWORD, &csrf, "Change password")
        .heading("Change password")
        .within_section()
        .intro("Your other devices will be signed out.")
        .field(Field::password(
            "current-password",
            "password",
            "Current password",
            "current-password",
        ))
        .field(new_password)
        .field(again)
        .with_problem(problem_of(Which::ChangePassword));
    let mut security = if has_password {
        vec![change]
    } else {
        Vec::new()
    };
    let password = |id| Field::password(id, "password", "Password", "current-password");
    if two_factor.enabled {
        let left = two_factor.recovery_codes_left;
        let codes = if left == 1 { "code" } else { "codes" };
        security.push(
            Form::new(base, RECOVERY_CODES, &csrf, "Make new recovery codes")
                .heading("Two-factor authentication")
                .within_section()
                .intro(format!(
                    "On: signing in asks for a code from your app. {left} recovery {codes} \
                     left; new codes replace them all."
                ))
                .field(password("renew-password"))
                .field(Field::app_code("renew-code"))
                .with_problem(problem_of(Which::RenewCodes))
                .quiet(),
        );
        security.push(
            Form::new(base, TWO_FACTOR_OFF, &csrf, "Turn off two-factor")
                .intro("Turning it off makes your password alone enough to sign in.")
                .field(password("off-password"))
                .field(Field::app_code("off-code"))
                .with_problem(problem_of(Which::TwoFactorOff))
                .danger(),
        );
    } else if has_password && visit.authd.auth().two_factor_configured() {
        security.push(
            Form::new(base, TWO_FACTOR, &csrf, "Set up two-factor")
                .heading("Two-factor authentication")
                .within_section()
                .intro(
                    "Off. Turn it on to be asked, after your password, for a code from an \
                     authenticator app on your phone.",
                )
                .field(password("two-factor-password"))
                .with_problem(problem_of(Which::TwoFactorOn)),
        );
    }
    let mut delete = Form::new(base, DELETE, &csrf, "Delete my account")
        .heading("Delete account")
        .within_section()
        .intro(if has_password {
            "This deletes your account and signs out every device. It cannot be undone."
        } else {
            "This deletes your account and signs out every device. It cannot be undone. Your \
             account has no password: if you signed in more than 10 minutes ago, sign out and \
             in again first."
        });
    if has_password {
        delete = delete.field(password("delete-password"));
    }
    if two_factor.enabled {
        delete = delete.field(Field::app_code("delete-code"));
    }
    let mut page = visit.page("Your account");
    page.notice = notice;
    page.account = Some(Account {
        email: user.email().to_owned(),
        sessions: devices,
        csrf: csrf.clone(),
        revoke_action: format!("{base}{REVOKE}"),
        logout_action: format!("{base}{LOGOUT}"),
        others,
        security,
        passkeys,
        providers,
        danger: vec![delete.with_problem(problem_of(Which::Delete)).danger()],
    });
    page.activity = Some(activity);
    page.error = problem.map(|(_, p)| p);
    visit.answer(&page, status)
}

/// `POST /account/sessions/revoke` (`id`): signs one device out. The visitor's own device is
/// signing out (→ `/login`).
pub(super) async fn revoke_session(
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let session = fields.required("id").unwrap_or_default();
    let own = session == user.session_id();
    let id = user.id();
    match visit
        .authd
        .run_lookup(move |auth| auth.revoke_session(id, &session))
        .await
    {
        Ok(()) if own => {
            let mut response = visit.redirect(&format!("{LOGIN}?m=signed-out"));
            let _ = response.add_cookie(&visit.authd.session_cookie_removal());
            response
        }
        Ok(()) => visit.redirect(&format!("{ACCOUNT}?m=session-revoked")),
        Err(ApiError::Auth(AuthError::UnknownSession)) => {
            visit.redirect(&format!("{ACCOUNT}?m=session-gone"))
        }
        Err(error) => visit.failure(&error),
    }
}

/// `POST /account/passkeys/rename` (`id`, `name`): as `PATCH /passkeys/{id}`.
pub(super) async fn rename_passkey(
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let passkey = fields.required("id").unwrap_or_default();
    let name = fields.required("name").unwrap_or_default();
    let id = user.id();
    match visit
        .authd
        .run_lookup(move |auth| auth.rename_passkey(id, &passkey, &name))
        .await
    {
        Ok(_) => visit.redirect(&format!("{ACCOUNT}?m=passkey-renamed#passkeys")),
        Err(ApiError::Auth(AuthError::InvalidPasskeyName)) => {
            visit.redirect(&format!("{ACCOUNT}?m=passkey-name#passkeys"))
        }
        Err(ApiError::Auth(AuthError::UnknownPasskey)) => {
            visit.redirect(&format!("{ACCOUNT}?m=passkey-gone#passkeys"))
        }
        Err(error) => visit.failure(&error),
    }
}

/// `POST /account/passkeys/remove` (`id`): as `DELETE /passkeys/{id}`.
pub(super) async fn remove_passkey(
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let passkey = fields.required("id").unwrap_or_default();
    let id = user.id();
    match visit
        .authd
        .run_lookup(move |auth| auth.remove_passkey(id, &passkey))
        .await
    {
        Ok(()) => visit.redirect(&format!("{ACCOUNT}?m=passkey-removed#passkeys")),
        Err(ApiError::Auth(AuthError::UnknownPasskey)) => {
            visit.redirect(&format!("{ACCOUNT}?m=passkey-gone#passkeys"))
        }
        Err(ApiError::Auth(AuthError::LastWayIn)) => {
            visit.redirect(&format!("{ACCOUNT}?m=passkey-last#passkeys"))
        }
        Err(error) => visit.failure(&error),
    }
}

/// `POST /account/sessions/others`: signs every other device out.
pub(super) async fn revoke_others(
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let visit = form.visit;
    let user = or_answer!(signed_in(&visit, user));
    let (id, current) = (user.id(), user.session_id().to_owned());
    match visit
        .authd
        .run_lookup(move |auth| auth.revoke_other_sessions(id, &current))
        .await
    {
        Ok(_) => visit.redirect(&format!("{ACCOUNT}?m=others-revoked")),
        Err(error) => visit.failure(&error),
    }
}

/// `POST /account/password` (`password`, `new_password`): as `PUT /profile/password`.
pub(super) async fn change_password(
    request: HttpRequest,
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let again = fields.required("new_password_again").unwrap_or_default();
    if fields
        .required("new_password")
        .is_ok_and(|new| new != again)
    {
        let problem = passwords_differ("new-password-again");
        let which = Some((Which::ChangePassword, problem));
        return render(&visit, &user, None, which, StatusCode::BAD_REQUEST).await;
    }
    let attempt = async {
        let password = fields.required("password")?;
        let new_password = fields.required("new_password")?;
        let client = visit.authd.client_ip(&request);
        visit.authd.check_login_rate(client)?;
        let (id, current) = (user.id(), user.session_id().to_owned());
        visit
            .authd
            .run_hashing(client, move |auth| {
                auth.change_password(id, &current, &password, &new_password)
            })
            .await
    };
    match attempt.await {
        Ok(_) => visit.redirect(&format!("{ACCOUNT}?m=password-changed")),
        Err(error) => refuse(&visit, &user, Which::ChangePassword, &error).await,
    }
}

/// `POST /account/delete` (`password`, and `code` with two-factor): as `DELETE /profile`; then `/login?m=account-deleted`.
pub(super) async fn delete_account(
    request: HttpRequest,
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let attempt = async {
        if !visit.authd.auth().has_password(user.user()) {
            // Made through a sign-in provider: a recent sign-in confirms instead.
            let (id, since) = (user.id(), user.session().created_at);
            return visit
                .authd
                .run_lookup(move |auth| auth.delete_account_without_password(id, since))
                .await;
        }
        let password = fields.required("password")?;
        // Only an account with two-factor sign-in has the field (and needs it).
        let code = fields.required("code").ok();
        let client = visit.authd.client_ip(&request);
        visit.authd.check_login_rate(client)?;
        let id = user.id();
        visit
            .authd
            .run_hashing(client, move |auth| {
                auth.delete_account_with_code(id, &password, code.as_deref())
            })
            .await
    };
    match attempt.await {
        Ok(_) => {
            let mut response = visit.redirect(&format!("{LOGIN}?m=account-deleted"));
            let _ = response.add_cookie(&visit.authd.session_cookie_removal());
            response
        }
        Err(error) => refuse(&visit, &user, Which::Delete, &error).await,
    }
}

/// The account page again, with `error` beside the field of form `which`.
pub(super) async fn refuse(
    visit: &Visit,
    user: &CurrentUser,
    which: Which,
    error: &ApiError,
) -> HttpResponse {
    if error.status().is_server_error() || matches!(error, ApiError::BadBody(_)) {
        return visit.failure(error);
    }
    let field = match (which, about(error)) {
        (Which::ChangePassword, About::Password) => Some("current-password"),
        (Which::ChangePassword, About::NewPassword) => Some("new-password"),
        (Which::Delete, About::Password | About::NewPassword) => Some("delete-password"),
        (Which::Delete, About::Code) => Some("delete-code"),
        (Which::TwoFactorOn, About::Password) => Some("two-factor-password"),
        (Which::RenewCodes, About::Password) => Some("renew-password"),
        (Which::RenewCodes, About::Code) => Some("renew-code"),
        (Which::TwoFactorOff, About::Password) => Some("off-password"),
        (Which::TwoFactorOff, About::Code) => Some("off-code"),
        _ => None,
    };
    let problem = Problem::new(sentence(error), field);
    let mut response = render(visit, user, None, Some((which, problem)), error.status()).await;
    if let Some(secs) = retry_after(error) {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(secs),
        );
    }
    response
}
