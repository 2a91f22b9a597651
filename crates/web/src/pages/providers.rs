//! Signing in through outside OpenID Connect providers: `GET /oidc/{id}/start` (to the
//! provider), `GET /oidc/{id}/callback` (back from it), the "Continue with NAME" buttons of
//! `/login` and `/signup`, and the "Sign-in providers" part of `/account` with its connect and
//! disconnect forms.
//!
//! A sign-in is bound to the browser that began it: `auth` keeps a row under the digest of the
//! `state`, for the visitor cookie's digest, and derives the PKCE verifier and the nonce from
//! that cookie, so the callback works on any instance and only in that browser. Every answer
//! that is not a redirect is a page that says what happened; nothing is created on a refusal.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use auth::{AuthError, OidcIntent, OidcOutcome, OidcProviderStatus};

use super::form::CsrfForm;
use super::paths::{local_path, return_url, ACCOUNT, LOGIN};
use super::paths::{PROVIDER_CONNECT, PROVIDER_DISCONNECT};
use super::sign::code_page;
use super::view::{Link, Problem, ProviderItem, Providers};
use super::visit::{query_param, see_other, signed_in, Visit};
use super::when::When;
use super::words::sentence;
use crate::current_user::CurrentUser;
use crate::error::ApiError;
use crate::metrics::OidcOutcomeLabel as Label;

/// The configured provider named by the path's `{id}`.
fn provider_of(visit: &Visit, request: &HttpRequest) -> Option<OidcProviderStatus> {
    let id = request.match_info().get("id")?;
    visit
        .authd
        .auth()
        .oidc_providers()
        .into_iter()
        .find(|p| p.id == id)
}

/// Where a sign-in goes afterwards: `rd` (a URL of the site, see [`return_url`]) or `next` (a
/// local path), as stored and checked again.
fn checked_return(visit: &Visit, stored: Option<&str>) -> Option<String> {
    let stored = stored?;
    if stored.starts_with('/') {
        return local_path(stored).map(str::to_owned);
    }
    return_url(stored, visit.authd.options().site.as_ref()?)
}

/// The page of a sign-in through a provider that did not complete, saying why, with the way
/// back.
fn refused(visit: &Visit, error: &ApiError) -> HttpResponse {
    let mut problem = Problem::new(sentence(error), None);
    let mut page = visit.page("Sign-in did not complete");
    if matches!(error, ApiError::Auth(AuthError::OidcEmailTaken)) {
        problem.link = Some(Link {
            href: format!("{}{LOGIN}", visit.base),
            text: "Sign in to that account",
        });
    } else {
        page = page.link(LOGIN, "Back to sign in");
    }
    page.error = Some(problem);
    visit.refuse(&page, error)
}

fn count(visit: &Visit, provider: &str, outcome: Label) {
    visit.authd.metrics().observe_oidc(provider, outcome);
}

fn label_of(error: &ApiError) -> Label {
    match error {
        ApiError::Auth(AuthError::OidcUnavailable) => Label::Unavailable,
        ApiError::Auth(AuthError::UnknownOidcState) => Label::State,
        ApiError::Auth(AuthError::OidcEmailTaken) => Label::EmailTaken,
        ApiError::Auth(AuthError::OidcNoVerifiedEmail) => Label::NoVerifiedEmail,
        ApiError::Auth(AuthError::OidcRefused(_)) => Label::Refused,
        _ => Label::Failed,
    }
}

/// `GET /oidc/{id}/start[?next=/path][&rd=URL]`: begins a sign-in and sends the browser to
/// the provider (302). Counts as a login attempt against the client address's rate.
pub(super) async fn start(request: HttpRequest) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let Some(provider) = provider_of(&visit, &request) else {
        return refused(&visit, &ApiError::Auth(AuthError::UnknownOidcProvider));
    };
    if let Err(error) = visit
        .authd
        .check_login_rate(visit.authd.client_ip(&request))
    {
        return refused(&visit, &error);
    }
    let next = query_param(&request, "next");
    let rd = query_param(&request, "rd");
    let site = visit.authd.options().site.as_ref();
    let return_to = rd
        .as_deref()
        .zip(site)
        .and_then(|(rd, site)| return_url(rd, site))
        .or_else(|| next.as_deref().and_then(local_path).map(str::to_owned));
    if let Err(error) = visit.authd.auth().prepare_oidc(&provider.id).await {
        count(&visit, &provider.id, Label::Unavailable);
        return refused(&visit, &ApiError::Auth(error));
    }
    let (id, secret) = (provider.id.clone(), visit.visitor.secret().to_owned());
    let begun = visit
        .authd
        .run_lookup(move |auth| {
            let return_to = return_to.as_deref();
            auth.begin_oidc(&id, &secret, OidcIntent::SignIn { return_to })
        })
        .await;
    match begun {
        Ok(url) => {
            count(&visit, &provider.id, Label::Started);
            to_provider(&visit, &url)
        }
        Err(error) => refused(&visit, &error),
    }
}

/// 302 to the provider's URL, setting the visitor cookie when it is new.
fn to_provider(visit: &Visit, url: &str) -> HttpResponse {
    let mut response = HttpResponse::Found()
        .insert_header((header::LOCATION, url))
        .finish();
    visit.set_visitor(&mut response);
    response
}

/// `GET /oidc/{id}/callback?state=…&code=…` (or `&error=…`): finishes the sign-in (or the
/// connection) begun in this browser.
pub(super) async fn callback(
    request: HttpRequest,
    user: Result<CurrentUser, ApiError>,
) -> HttpResponse {
    let visit = or_answer!(Visit::of(&request));
    let Some(provider) = provider_of(&visit, &request) else {
        return refused(&visit, &ApiError::Auth(AuthError::UnknownOidcProvider));
    };
    let id = provider.id.clone();
    let (state, code) = (
        query_param(&request, "state"),
        query_param(&request, "code"),
    );
    let provider_error = query_param(&request, "error");
    if let Some(error) = provider_error {
        // The provider's error (a denied consent, say): the sign-in ends here, its row
        // taken when the provider sent the state back (RFC 6749 asks it to).
        if let (Some(state), false) = (state, visit.visitor.is_new()) {
            let (taking, secret) = (id.clone(), visit.visitor.secret().to_owned());
            let _ = visit
                .authd
                .run_lookup(move |auth| auth.take_oidc(&taking, &state, &secret))
                .await;
        }
        let error: String = error
            .chars()
            .take(40)
            .filter(char::is_ascii_graphic)
            .collect();
        tracing::info!(target: "authd::web::pages::providers", event = "oidc_refused", provider = %id, reason = "provider_error", error = %error, "the provider answered an error");
        let why = if error == "access_denied" {
            "access_denied"
        } else {
            "provider_error"
        };
        count(&visit, &id, Label::Refused);
        return refused(&visit, &ApiError::Auth(AuthError::OidcRefused(why)));
    }
    let outcome = async {
        let state = state.ok_or(AuthError::UnknownOidcState)?;
        if visit.visitor.is_new() {
            return Err(ApiError::Auth(AuthError::UnknownOidcState));
        }
        let secret = visit.visitor.secret().to_owned();
        let taking = id.clone();
        // Taken first: whatever the provider answered, the sign-in ends here.
        let pending = visit
            .authd
            .run_lookup(move |auth| auth.take_oidc(&taking, &state, &secret))
            .await?;
        let code = code.ok_or(AuthError::OidcRefused("no_code"))?;
        if let Some((user_id, session)) = pending.connecting() {
            // A connection goes on only in the session that asked for it.
            let same = user
                .as_ref()
                .is_ok_and(|u| u.id() == user_id && u.session_id() == session);
            if !same {
                return Err(ApiError::Auth(AuthError::UnknownOidcState));
            }
        }
        let claims = visit.authd.auth().verify_oidc(&pending, &code).await?;
        let return_to = pending.return_to().map(str::to_owned);
        let client = visit.authd.client_info(&request);
        let outcome = visit
            .authd
            .run_lookup(move |auth| auth.finish_oidc(pending, claims, &client))
            .await;
        Ok::<_, ApiError>((outcome, return_to))
    };
    let (outcome, return_to) = match outcome.await {
        Ok(done) => done,
        Err(error) => {
            count(&visit, &id, label_of(&error));
            return refused(&visit, &error);
        }
    };
    match outcome {
        Ok(OidcOutcome::SignedIn { token, created, .. }) => {
            count(
                &visit,
                &id,
                if created { Label::Created } else { Label::Ok },
            );
            let mut response = match checked_return(&visit, return_to.as_deref()) {
                Some(target) => see_other(&target),
                None if created => visit.redirect(&format!("{ACCOUNT}?m=welcome")),
                None => visit.redirect(ACCOUNT),
            };
            let _ = response.add_cookie(&visit.authd.session_cookie(&token));
            response
        }
        Ok(OidcOutcome::Connected { .. }) => {
            count(&visit, &id, Label::Connected);
            visit.redirect(&format!("{ACCOUNT}?m=provider-connected"))
        }
        Ok(_) => visit.redirect(ACCOUNT),
        Err(ApiError::Auth(AuthError::SecondFactorRequired(token))) => {
            count(&visit, &id, Label::SecondFactor);
            let target = checked_return(&visit, return_to.as_deref());
            let (next, rd) = match target.as_deref() {
                Some(path) if path.starts_with('/') => (Some(path), None),
                other => (None, other),
            };
            let page = code_page(&visit, token.expose(), next, rd, false, None);
            visit.answer(&page, StatusCode::OK)
        }
        Err(error) => {
            count(&visit, &id, label_of(&error));
            refused(&visit, &error)
        }
    }
}

/// `POST /account/providers/connect` (`provider`): begins connecting a provider to the
/// signed-in account, in this session, and sends the browser to the provider.
pub(super) async fn connect(
    request: HttpRequest,
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let id = fields.required("provider").unwrap_or_default();
    let known = visit
        .authd
        .auth()
        .oidc_providers()
        .into_iter()
        .any(|p| p.id == id);
    if !known {
        return refused(&visit, &ApiError::Auth(AuthError::UnknownOidcProvider));
    }
    if let Err(error) = visit
        .authd
        .check_login_rate(visit.authd.client_ip(&request))
    {
        return refused(&visit, &error);
    }
    if let Err(error) = visit.authd.auth().prepare_oidc(&id).await {
        return refused(&visit, &ApiError::Auth(error));
    }
    let secret = visit.visitor.secret().to_owned();
    let (user_id, session) = (user.id(), user.session_id().to_owned());
    let begun = visit
        .authd
        .run_lookup(move |auth| {
            let session_id = session.as_str();
            auth.begin_oidc(
                &id,
                &secret,
                OidcIntent::Connect {
                    user_id,
                    session_id,
                },
            )
        })
        .await;
    match begun {
        Ok(url) => to_provider(&visit, &url),
        Err(error) => refused(&visit, &error),
    }
}

/// `POST /account/providers/disconnect` (`provider`): as `DELETE /profile/identities/{id}`.
pub(super) async fn disconnect(
    user: Result<CurrentUser, ApiError>,
    form: CsrfForm,
) -> HttpResponse {
    let CsrfForm { visit, fields } = form;
    let user = or_answer!(signed_in(&visit, user));
    let provider = fields.required("provider").unwrap_or_default();
    let id = user.id();
    let done = visit
        .authd
        .run_lookup(move |auth| auth.disconnect_identity(id, &provider))
        .await;
    match done {
        Ok(()) => visit.redirect(&format!("{ACCOUNT}?m=provider-disconnected")),
        Err(ApiError::Auth(AuthError::UnknownIdentity)) => {
            visit.redirect(&format!("{ACCOUNT}?m=provider-gone"))
        }
        Err(ApiError::Auth(AuthError::LastWayIn)) => {
            visit.redirect(&format!("{ACCOUNT}?m=provider-last"))
        }
        Err(error) => visit.failure(&error),
    }
}

/// The "Sign-in providers" part of `/account`: every configured provider (connect or
/// disconnect) and any connection to one no longer configured (disconnect). `None` when no
/// provider is configured and the account has no connection. `passkeys`: how many the
/// account holds (the page has them already).
pub(super) async fn section(
    visit: &Visit,
    user: &CurrentUser,
    passkeys: usize,
) -> Result<Option<Providers>, ApiError> {
    let configured = visit.authd.auth().oidc_providers();
    let id = user.id();
    let connected = visit
        .authd
        .run_lookup(move |auth| auth.list_identities(id))
        .await?;
    if configured.is_empty() && connected.is_empty() {
        return Ok(None);
    }
    let now = visit.authd.auth().config().clock.now();
    let has_password = visit.authd.auth().has_password(user.user());
    // The one way in stays (the server refuses it too): no button that cannot work.
    let only_way_in = !has_password && passkeys == 0 && connected.len() == 1;
    let mut list: Vec<ProviderItem> = configured
        .iter()
        .map(|p| {
            let identity = connected.iter().find(|i| i.provider == p.id);
            ProviderItem {
                id: p.id.clone(),
                name: p.name.clone(),
                connected: identity.is_some(),
                last: identity.is_some() && only_way_in,
                email: identity.and_then(|i| i.email.clone()),
                since: identity.map(|i| When::at(i.created_at, now)),
            }
        })
        .collect();
    list.extend(
        connected
            .iter()
            .filter(|i| !configured.iter().any(|p| p.id == i.provider))
            .map(|i| ProviderItem {
                id: i.provider.clone(),
                name: i.name.clone(),
                connected: true,
                last: only_way_in,
                email: i.email.clone(),
                since: Some(When::at(i.created_at, now)),
            }),
    );
    Ok(Some(Providers {
        list,
        connect_action: format!("{}{PROVIDER_CONNECT}", visit.base),
        disconnect_action: format!("{}{PROVIDER_DISCONNECT}", visit.base),
        has_password,
        mail: visit.authd.auth().config().mail.is_some(),
    }))
}
