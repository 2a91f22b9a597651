//! Pages for people: sign up, sign in, the account (devices, password, deletion), and the
//! landing pages of the mails (reset, verification). Server-rendered HTML that works without
//! JavaScript; every form posts to its own route and a success answers with a redirect
//! (post/redirect/get) whose `?m=` code names a fixed message. A form with a problem is shown
//! again with the problem beside its field and first in the title.
//!
//! The handlers call the same `auth` operations as the JSON routes (through `Authd::run_hashing`
//! and `run_lookup`, and `Authd::log_in` for the login itself), so every rule, limit, metric and
//! audit line is the API's. Every state-changing form carries a CSRF token bound to the visitor,
//! and a handler reads a form only through `CsrfForm` (`form.rs`), which checks the token
//! before the handler runs; all of that behind the same cross-site check as the API
//! (`origins.rs`), answered here with a page (`guard.rs`), which also gives every answer its
//! headers.
//!
//! The one script, `static/passkeys.js` (embedded, same-origin, no inline script), drives the
//! passkey buttons of `/login` and `/account` through the JSON API; without it those buttons
//! stay hidden and the rest works as before.
//!
//! This file only mounts. The page groups: `sign.rs` (sign up, in and out, the code of a
//! two-factor sign-in), `account.rs` (the account page and its forms, passkeys' rename and
//! remove among them), `activity.rs` (its "Recent activity"), `two_factor.rs` (the account's two-factor forms and its recovery
//! codes), `recovery.rs` (forgot, reset, verify); what they share: `visit.rs` (a page
//! request), `form.rs`, `field.rs` and `csrf.rs` (forms, their fields and tokens), `words.rs`
//! (what pages say), `page_user.rs` (`PageUser`: an embedder's page behind the sign-in),
//! `view.rs` (the templates), `assets.rs` (the files pages link to: the
//! stylesheets, the script, the logo and icons), `paths.rs`, `guard.rs`, `welcome.rs`
//! (`GET /` of the API for a browser) and `not_found.rs` (404 for a browser).

/// The value of an `Early` (`visit.rs`), or the handler returns its answer.
macro_rules! or_answer {
    ($early:expr) => {
        match $early {
            Ok(value) => value,
            Err(answer) => return *answer,
        }
    };
}

mod account;
mod activity;
mod assets;
mod csrf;
mod device;
mod field;
mod form;
mod guard;
mod not_found;
mod page_user;
mod paths;
mod providers;
mod recovery;
mod sign;
mod two_factor;
mod view;
mod visit;
mod welcome;
mod when;
mod words;

use actix_web::middleware::from_fn;
use actix_web::web::{self, Data, ServiceConfig};
use actix_web::{HttpRequest, HttpResponse};

use assets::{favicon, favicon_ico, passkeys_script, site_asset, stylesheet};
use guard::{method_not_allowed, page_guard};
use paths::{ACCOUNT, CSS, DELETE, FAVICON, FORGOT, LOGIN, LOGOUT, PASSWORD, RESEND, RESET};
use paths::{FAVICON_ICO, SITE_ASSET, TWO_FACTOR_OFF, VERIFY};
use paths::{LOGIN_CODE, RECOVERY_CODES, RECOVERY_CODES_TXT, TWO_FACTOR, TWO_FACTOR_CONFIRM};
use paths::{LOGIN_NAME, OIDC_CALLBACK, OIDC_START, PROVIDER_CONNECT, PROVIDER_DISCONNECT};
use paths::{PASSKEYS_JS, PASSKEY_REMOVE, PASSKEY_RENAME, REVOKE, REVOKE_OTHERS, SIGNUP};
use welcome::Mounted;

pub(crate) use guard::refused_page_for_host;
use not_found::not_found;
pub(crate) use not_found::not_found_for_browser;
pub use page_user::PageUser;
#[cfg(feature = "fuzzing")]
pub(crate) use paths::local_path;
pub(crate) use paths::return_url;
pub(crate) use welcome::account_for_browser;

/// Mounts the pages (`/signup`, `/login`, `/login/code`, `/logout`, `/account…`, `/forgot`,
/// `/reset`, `/verify`, `/verify/resend`, `/static/authd.css`, `/static/favicon.svg`,
/// `/static/passkeys.js`, `/favicon.ico`, `/assets/…`: the site's logo and stylesheet) on an `App` or a scope; links and redirects follow the scope's path.
/// The app must have [`crate::Authd::data`] registered. Mount [`crate::routes`] beside it in
/// the same scope: the passkey buttons (the pages' only script) call its `/passkeys` routes;
/// every other page needs none of them.
pub fn pages(cfg: &mut ServiceConfig) {
    // Tells `GET /` of the same scope that there is an account page to send browsers to.
    cfg.app_data(Data::new(Mounted));
    let (get, post) = (web::get, web::post);
    let both = "GET, POST";
    let resources = [
        (
            web::resource(SIGNUP)
                .route(get().to(sign::signup_page))
                .route(post().to(sign::sign_up)),
            both,
        ),
        (
            web::resource(LOGIN)
                .name(LOGIN_NAME)
                .route(get().to(sign::login_page))
                .route(post().to(sign::log_in)),
            both,
        ),
        (
            web::resource(LOGIN_CODE).route(post().to(sign::log_in_code)),
            "POST",
        ),
        (
            web::resource(LOGOUT).route(post().to(sign::log_out)),
            "POST",
        ),
        (
            web::resource(OIDC_START).route(get().to(providers::start)),
            "GET",
        ),
        (
            web::resource(OIDC_CALLBACK).route(get().to(providers::callback)),
            "GET",
        ),
        (
            web::resource(PROVIDER_CONNECT).route(post().to(providers::connect)),
            "POST",
        ),
        (
            web::resource(PROVIDER_DISCONNECT).route(post().to(providers::disconnect)),
            "POST",
        ),
        (
            web::resource(ACCOUNT).route(get().to(account::account_page)),
            "GET",
        ),
        (
            web::resource(REVOKE).route(post().to(account::revoke_session)),
            "POST",
        ),
        (
            web::resource(REVOKE_OTHERS).route(post().to(account::revoke_others)),
            "POST",
        ),
        (
            web::resource(PASSWORD).route(post().to(account::change_password)),
            "POST",
        ),
        (
            web::resource(DELETE).route(post().to(account::delete_account)),
            "POST",
        ),
        (
            web::resource(TWO_FACTOR).route(post().to(two_factor::begin)),
            "POST",
        ),
        (
            web::resource(TWO_FACTOR_CONFIRM).route(post().to(two_factor::confirm)),
            "POST",
        ),
        (
            web::resource(TWO_FACTOR_OFF).route(post().to(two_factor::turn_off)),
            "POST",
        ),
        (
            web::resource(RECOVERY_CODES).route(post().to(two_factor::renew)),
            "POST",
        ),
        (
            web::resource(RECOVERY_CODES_TXT).route(post().to(two_factor::download)),
            "POST",
        ),
        (
            web::resource(FORGOT)
                .route(get().to(recovery::forgot_page))
                .route(post().to(recovery::forgot)),
            both,
        ),
        (
            web::resource(RESET)
                .route(get().to(recovery::reset_page))
                .route(post().to(recovery::reset)),
            both,
        ),
        (
            web::resource(VERIFY)
                .route(get().to(recovery::verify_page))
                .route(post().to(recovery::verify)),
            both,
        ),
        (
            web::resource(RESEND).route(post().to(recovery::resend)),
            "POST",
        ),
        (
            web::resource(PASSKEY_RENAME).route(post().to(account::rename_passkey)),
            "POST",
        ),
        (
            web::resource(PASSKEY_REMOVE).route(post().to(account::remove_passkey)),
            "POST",
        ),
        (web::resource(CSS).route(get().to(stylesheet)), "GET"),
        (
            web::resource(PASSKEYS_JS).route(get().to(passkeys_script)),
            "GET",
        ),
        (web::resource(FAVICON).route(get().to(favicon)), "GET"),
        (
            web::resource(FAVICON_ICO).route(get().to(favicon_ico)),
            "GET",
        ),
        (
            web::resource(SITE_ASSET).route(get().to(site_asset_or_not_found)),
            "GET",
        ),
    ];
    for (resource, allow) in resources {
        cfg.service(
            resource
                .default_service(web::to(move |request: HttpRequest| async move {
                    method_not_allowed(&request, allow)
                }))
                .wrap(from_fn(page_guard)),
        );
    }
}

/// `GET /assets/{file}`: the current logo or site stylesheet; else the 404 of a page or of
/// the API, as the client is a browser or a program.
async fn site_asset_or_not_found(request: HttpRequest) -> HttpResponse {
    site_asset(&request).unwrap_or_else(|| not_found(&request))
}
