//! What a page shows: one template (`templates/page.html`) filled from a `Page`, so every page
//! has the same head, headers, error summary and form markup. askama checks the template at
//! compile time and escapes every value written into it.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

use super::activity::ActivityItem;
use super::assets::{CSS_VERSION, PASSKEYS_JS_VERSION};
use super::field::Field;
use super::when::When;
use crate::branding::Branding;

/// A whole page.
#[derive(Template)]
#[template(path = "page.html")]
pub(crate) struct Page {
    /// The path the pages are mounted under ("" at the root).
    pub(crate) base: String,
    /// The site's name, logo, icon and stylesheet.
    pub(crate) brand: Brand,
    /// The `<h1>`, and the title after the error.
    pub(crate) title: &'static str,
    /// What went wrong, shown at the top and first in the `<title>`; the field it is about,
    /// if any, shows it again beside the input.
    pub(crate) error: Option<Problem>,
    /// A status message after a redirect ("You are signed out.").
    pub(crate) notice: Option<&'static str>,
    /// Paragraphs before the forms.
    pub(crate) texts: Vec<String>,
    /// The account part of `/account`.
    pub(crate) account: Option<Account>,
    /// A new authenticator to add to an app (its QR code and secret), before the forms.
    pub(crate) enrolment: Option<Enrolment>,
    /// Recovery codes to keep, shown once, before the forms.
    pub(crate) codes: Option<CodesShown>,
    pub(crate) forms: Vec<Form>,
    /// The "Recent activity" section of `/account`, after the forms.
    pub(crate) activity: Option<Vec<ActivityItem>>,
    /// The passkey button of `/login` (after the forms), when passkeys are on.
    pub(crate) passkey_login: Option<PasskeyLogin>,
    /// "Continue with NAME" of `/login` and `/signup`, one per sign-in provider.
    pub(crate) providers: Vec<ProviderButton>,
    /// Links after the forms ("Forgot your password?").
    pub(crate) links: Vec<Link>,
}

impl Page {
    /// An empty page titled `title`.
    pub(crate) fn new(base: &str, title: &'static str) -> Self {
        Page {
            base: base.to_owned(),
            brand: Brand::of(&Branding::default(), base),
            title,
            error: None,
            notice: None,
            texts: Vec::new(),
            account: None,
            enrolment: None,
            codes: None,
            forms: Vec::new(),
            activity: None,
            passkey_login: None,
            providers: Vec::new(),
            links: Vec::new(),
        }
    }

    /// This page in the site's look.
    pub(crate) fn branded(mut self, branding: &Branding) -> Self {
        self.brand = Brand::of(branding, &self.base);
        self
    }

    pub(crate) fn text(mut self, text: impl Into<String>) -> Self {
        self.texts.push(text.into());
        self
    }

    pub(crate) fn form(mut self, form: Form) -> Self {
        self.forms.push(form);
        self
    }

    pub(crate) fn link(mut self, path: &str, text: &'static str) -> Self {
        self.links.push(Link {
            href: format!("{}{path}", self.base),
            text,
        });
        self
    }

    /// The `<title>`: the error first, so a screen reader announces it on arrival.
    pub(crate) fn head_title(&self) -> String {
        match &self.error {
            Some(problem) => format!(
                "Error: {} – {} – {}",
                problem.text, self.title, self.brand.name
            ),
            None => format!("{} – {}", self.title, self.brand.name),
        }
    }

    pub(crate) fn css_href(&self) -> String {
        format!("{}/static/authd.css?v={CSS_VERSION}", self.base)
    }

    /// The passkey script's URL, when the page has passkey buttons.
    pub(crate) fn script_href(&self) -> Option<String> {
        let passkeys = self.passkey_login.is_some()
            || self
                .account
                .as_ref()
                .is_some_and(|account| account.passkeys.is_some());
        passkeys.then(|| format!("{}/static/passkeys.js?v={PASSKEYS_JS_VERSION}", self.base))
    }

    /// The page as an HTML answer with `status`.
    pub(crate) fn answer(&self, status: StatusCode) -> HttpResponse {
        match self.render() {
            Ok(html) => HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(html),
            Err(error) => {
                tracing::error!(target: "authd::web::pages::view", %error, "page failed to render");
                HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("internal error")
            }
        }
    }
}

/// The site as a page shows it: its name, and the URLs of its logo, icon and stylesheet.
pub(crate) struct Brand {
    pub(crate) name: String,
    pub(crate) logo: Option<String>,
    pub(crate) icon: String,
    pub(crate) icon_type: &'static str,
    /// The accent's and the custom CSS, after authd's.
    pub(crate) site_css: Option<String>,
}

impl Brand {
    fn of(branding: &Branding, base: &str) -> Self {
        let logo = branding.logo();
        Brand {
            name: branding.site_name().to_owned(),
            logo: logo.map(|logo| format!("{base}{}", logo.path)),
            icon: match logo {
                Some(logo) => format!("{base}{}", logo.path),
                None => format!("{base}/static/favicon.svg"),
            },
            icon_type: logo.map_or("image/svg+xml", |logo| logo.content_type),
            site_css: branding.site_css().map(|css| format!("{base}{}", css.path)),
        }
    }
}

/// An error message, the id of the input it is about, and where to go instead.
pub(crate) struct Problem {
    pub(crate) text: String,
    pub(crate) field: Option<&'static str>,
    /// A way out shown under the message at the top ("Sign in with this address").
    pub(crate) link: Option<Link>,
}

impl Problem {
    /// `text`, about the input `field` (if any).
    pub(crate) fn new(text: impl Into<String>, field: Option<&'static str>) -> Self {
        Problem {
            text: text.into(),
            field,
            link: None,
        }
    }
}

/// A link.
pub(crate) struct Link {
    pub(crate) href: String,
    pub(crate) text: &'static str,
}

/// A form that posts to one of the pages' own routes, with the visitor's CSRF token.
pub(crate) struct Form {
    pub(crate) heading: Option<&'static str>,
    /// The heading's level: 2, or 3 within a section of the account page.
    pub(crate) level: u8,
    pub(crate) intro: Option<String>,
    pub(crate) action: String,
    pub(crate) csrf: String,
    pub(crate) hidden: Vec<(&'static str, String)>,
    pub(crate) fields: Vec<Field>,
    pub(crate) submit: &'static str,
    /// Red button: the form destroys something.
    pub(crate) danger: bool,
    /// A secondary action: a plain button.
    pub(crate) quiet: bool,
}

impl Form {
    pub(crate) fn new(base: &str, path: &str, csrf: &str, submit: &'static str) -> Self {
        Form {
            heading: None,
            level: 2,
            intro: None,
            action: format!("{base}{path}"),
            csrf: csrf.to_owned(),
            hidden: Vec::new(),
            fields: Vec::new(),
            submit,
            danger: false,
            quiet: false,
        }
    }

    pub(crate) fn heading(mut self, heading: &'static str) -> Self {
        self.heading = Some(heading);
        self
    }

    /// A part of a section: its heading one level down.
    pub(crate) fn within_section(mut self) -> Self {
        self.level = 3;
        self
    }

    pub(crate) fn intro(mut self, intro: impl Into<String>) -> Self {
        self.intro = Some(intro.into());
        self
    }

    pub(crate) fn hidden(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.hidden.push((name, value.into()));
        self
    }

    pub(crate) fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }

    pub(crate) fn danger(mut self) -> Self {
        self.danger = true;
        self
    }

    pub(crate) fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Puts `problem` beside its field, if it names one of this form's.
    pub(crate) fn with_problem(mut self, problem: Option<&Problem>) -> Self {
        if let Some(Problem {
            text,
            field: Some(id),
            ..
        }) = problem
        {
            for field in &mut self.fields {
                if field.id == *id {
                    field.error = Some(text.clone());
                }
            }
        }
        self
    }

    pub(crate) fn button_class(&self) -> &'static str {
        match (self.danger, self.quiet) {
            (true, _) => "danger",
            (false, true) => "quiet",
            (false, false) => "primary",
        }
    }
}

/// `/account`, in the sections a person scans: profile (the email and the one sign-out),
/// devices (the sessions), security (password, two-factor, passkeys), danger zone.
pub(crate) struct Account {
    pub(crate) email: String,
    pub(crate) sessions: Vec<Device>,
    /// The token of the forms of the devices, the sign-out and the passkeys: each other
    /// device's button posts its id to `revoke_action`; the sign-out posts to `logout_action`.
    pub(crate) csrf: String,
    pub(crate) revoke_action: String,
    pub(crate) logout_action: String,
    /// "Sign out all other devices", when there are others.
    pub(crate) others: Option<Form>,
    /// The password's and two-factor's forms.
    pub(crate) security: Vec<Form>,
    /// The account's passkeys, when passkeys are on.
    pub(crate) passkeys: Option<Passkeys>,
    /// The sign-in providers, connected or not, when any is configured or connected.
    pub(crate) providers: Option<Providers>,
    /// Deleting the account.
    pub(crate) danger: Vec<Form>,
}

/// The passkeys part of `/account`: the list, each with its rename and remove forms (which
/// work without script), and the add button (which needs it).
pub(crate) struct Passkeys {
    pub(crate) list: Vec<PasskeyItem>,
    pub(crate) rename_action: String,
    pub(crate) remove_action: String,
}

/// A passkey as the account page shows it.
pub(crate) struct PasskeyItem {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) added: When,
    /// `None` before its first sign-in.
    pub(crate) last_used: Option<When>,
}

/// The "Sign in with a passkey" button of `/login`: where to go once signed in.
pub(crate) struct PasskeyLogin {
    pub(crate) next: String,
}

/// A new authenticator, as the enrolment page shows it: the QR code of its `otpauth://` URL
/// (inline SVG: markup, no script, no request) and its secret for typing.
pub(crate) struct Enrolment {
    /// `<svg>…</svg>`, made by [`crate::totp_qr_svg`] from authd's own URL, never from input.
    pub(crate) qr_svg: String,
    /// The base32 secret in blocks of four ("ABCD EFGH …").
    pub(crate) secret_blocks: String,
    /// The name the app will show (the TOTP issuer).
    pub(crate) issuer: String,
}

impl Enrolment {
    pub(crate) fn new(otpauth_url: &str, secret: &str, issuer: &str) -> Self {
        let svg = crate::totp_qr_svg(otpauth_url);
        // Inline in HTML: the XML declaration goes.
        let qr_svg = match svg.find("<svg") {
            Some(start) => svg[start..].to_owned(),
            None => String::new(),
        };
        Enrolment {
            qr_svg,
            secret_blocks: blocks_of_four(secret),
            issuer: issuer.to_owned(),
        }
    }
}

/// `text` in blocks of four characters, separated by spaces.
pub(crate) fn blocks_of_four(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(4)
        .map(|block| block.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Recovery codes shown once, with a form that sends them back as a text file to save.
pub(crate) struct CodesShown {
    pub(crate) codes: Vec<String>,
    pub(crate) download_action: String,
    pub(crate) csrf: String,
    /// Where to go once they are kept.
    pub(crate) done_href: String,
}

impl CodesShown {
    /// The codes as the download form sends them: one field, separated by spaces.
    pub(crate) fn joined(&self) -> String {
        self.codes.join(" ")
    }
}

/// A session as the account page shows it.
pub(crate) struct Device {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) ip: String,
    pub(crate) signed_in: When,
    pub(crate) last_seen: When,
    pub(crate) current: bool,
}

pub(crate) use super::device::device_name;

/// A "Continue with NAME" link to a provider's `/oidc/{id}/start`.
pub(crate) struct ProviderButton {
    pub(crate) href: String,
    pub(crate) text: String,
}

/// The "Sign-in providers" part of `/account`.
pub(crate) struct Providers {
    pub(crate) list: Vec<ProviderItem>,
    pub(crate) connect_action: String,
    pub(crate) disconnect_action: String,
    /// Whether the account has a password (else the section says so).
    pub(crate) has_password: bool,
    /// Whether mail is on (then "Forgot your password?" can set one).
    pub(crate) mail: bool,
}

/// One provider on `/account`.
pub(crate) struct ProviderItem {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) connected: bool,
    /// Connected, and the account's only way in: it cannot be disconnected.
    pub(crate) last: bool,
    /// The address it gave when connected.
    pub(crate) email: Option<String>,
    /// When it was connected.
    pub(crate) since: Option<When>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_by_browser_and_system() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                      HeadlessChrome/120.0.0.0 Safari/537.36";
        assert_eq!(device_name(Some(chrome)), "Chrome on Linux");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(device_name(Some(iphone)), "Safari on iPhone");
        assert_eq!(device_name(Some("curl/8.5.0")), "curl");
        assert_eq!(device_name(None), "Unknown device");
        assert_eq!(device_name(Some("  ")), "Unknown device");
        assert_eq!(
            device_name(Some(&"x".repeat(50))),
            format!("{}…", "x".repeat(40))
        );
    }

    #[test]
    fn what_a_visitor_typed_is_escaped() {
        let mut page = Page::new("", "Sign in").text("<script>alert(1)</script>");
        page.forms.push(
            Form::new("", "/login", "t", "Sign in").field(Field::email("email", "\"><b>x</b>")),
        );
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<b>x</b>"), "{html}");
        assert!(html.contains("&#60;script&#62;alert(1)"), "{html}");
    }
}
