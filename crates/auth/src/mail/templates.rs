//! The words of each mail: built-in subjects and bodies, which a folder of files may replace,
//! checked when they are loaded so that rendering cannot fail later.
//!
//! Files (each optional; a missing one keeps the built-in text), for each kind
//! `password_reset`, `password_changed` and `email_verification`:
//! `KIND.subject` (one line), `KIND.txt` (the plain-text part), `KIND.html` (the HTML part).
//!
//! Placeholders, written `{{name}}`:
//! - every kind: `{{email}}` (the recipient), `{{public_url}}`, `{{site_name}}` (`authd`
//!   unless set), `{{logo_url}}` (the logo's absolute URL, empty without a logo) and `{{logo}}`
//!   (in the `.html` part, the logo's whole `<img>` tag, or nothing without a logo; empty in
//!   the subject and the `.txt` part): templates have no conditionals, so the one piece that
//!   is there or not is written here;
//! - `password_reset` and `email_verification`: `{{link}}` (required in the `.txt` and `.html`
//!   files), `{{expires_in}}` (`1 hour`), `{{expires_at}}` (`2026-11-28 14:05 UTC`);
//! - `password_changed`: `{{changed_at}}` (`2026-11-28 13:05 UTC`).
//!
//! Values are HTML-escaped in the `.html` part (`{{logo}}` is made of escaped values). Any other
//! placeholder, any other file name (but hidden files), a subject of more than one line or a
//! file that is not UTF-8 is an error.
//!
//! The built-in HTML is written for mail clients, not browsers: inline styles only (clients
//! drop `<style>` blocks and style sheets), a table layout centred at most 560 pixels wide, one
//! button (a styled link, which every client shows) with the link in full below it, and light
//! colours with dark text that stay readable when a client darkens the mail. The `.txt` part
//! says the same things in the same order.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use super::message::MailKind;

/// Which part of a mail a template writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Subject,
    Text,
    Html,
}

impl Part {
    const ALL: [Part; 3] = [Part::Subject, Part::Text, Part::Html];

    fn extension(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Text => "txt",
            Part::Html => "html",
        }
    }
}

/// A template that cannot be used; the message names the file and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mail template {file}: {problem}")]
pub struct TemplateError {
    file: String,
    problem: String,
}

/// A parsed template: text and placeholders in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Value(&'static str),
}

/// The placeholders a kind's templates may use.
fn placeholders(kind: MailKind) -> &'static [&'static str] {
    match kind {
        MailKind::PasswordReset | MailKind::EmailVerification => &[
            "email",
            "public_url",
            "site_name",
            "logo_url",
            "logo",
            "link",
            "expires_in",
            "expires_at",
        ],
        MailKind::PasswordChanged => &[
            "email",
            "public_url",
            "site_name",
            "logo_url",
            "logo",
            "changed_at",
        ],
    }
}

/// The `{{logo}}` of the HTML part: the logo above the site name, or nothing.
fn logo_tag(logo_url: &str, site_name: &str) -> String {
    if logo_url.is_empty() {
        return String::new();
    }
    format!(
        "<img src=\"{}\" alt=\"{}\" height=\"48\" style=\"display:block;margin:0 auto 12px \
         auto;height:48px;width:auto;max-width:200px;border:0;outline:none;\">",
        escape_html(logo_url),
        escape_html(site_name)
    )
}

fn parse(
    kind: MailKind,
    part: Part,
    file: &str,
    source: &str,
) -> Result<Vec<Piece>, TemplateError> {
    let problem = |problem: String| TemplateError {
        file: file.to_owned(),
        problem,
    };
    let allowed = placeholders(kind);
    let mut pieces = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| problem("a `{{` without its `}}`".into()))?;
        let name = after[..end].trim();
        let known = allowed
            .iter()
            .find(|known| **known == name)
            .ok_or_else(|| {
                problem(format!(
                    "unknown placeholder {{{{{name}}}}} (this kind has: {})",
                    allowed.join(", ")
                ))
            })?;
        pieces.push(Piece::Value(known));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    if part == Part::Subject {
        let text = source.trim_end_matches(['\n', '\r']);
        if text.contains(['\n', '\r']) {
            return Err(problem("a subject is one line".into()));
        }
        if text.trim().is_empty() {
            return Err(problem("the subject is empty".into()));
        }
        if let Some(Piece::Text(last)) = pieces.last_mut() {
            let trimmed = last.trim_end_matches(['\n', '\r']).to_owned();
            *last = trimmed;
        }
    }
    let needs_link = matches!(kind, MailKind::PasswordReset | MailKind::EmailVerification)
        && part != Part::Subject;
    if needs_link && !pieces.contains(&Piece::Value("link")) {
        return Err(problem("the link is missing: add {{link}}".into()));
    }
    Ok(pieces)
}

/// The subjects and bodies of every kind of mail. Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct Templates(std::sync::Arc<HashMap<(MailKind, Part), Vec<Piece>>>);

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Templates(..)")
    }
}

impl Default for Templates {
    fn default() -> Self {
        let mut parsed = HashMap::new();
        for kind in MailKind::ALL {
            for part in Part::ALL {
                let source = builtin(kind, part);
                let pieces = parse(kind, part, "built-in", source)
                    .unwrap_or_else(|_| vec![Piece::Text(source.to_owned())]);
                parsed.insert((kind, part), pieces);
            }
        }
        Templates(std::sync::Arc::new(parsed))
    }
}

impl Templates {
    /// The built-in templates with those of `folder` in their place (see the module docs for
    /// the file names and placeholders).
    ///
    /// Errors: a folder that cannot be read, a file of another name (hidden files aside), a
    /// file that is not UTF-8, an unknown placeholder, a subject over one line, or a
    /// reset or verification body without `{{link}}`.
    pub fn load(folder: &Path) -> Result<Self, TemplateError> {
        let shown = folder.display().to_string();
        let unreadable = |file: &str, e: std::io::Error| TemplateError {
            file: file.to_owned(),
            problem: format!("cannot be read ({e})"),
        };
        let mut parsed = (*Templates::default().0).clone();
        let entries = std::fs::read_dir(folder).map_err(|e| unreadable(&shown, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| unreadable(&shown, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path().display().to_string();
            let found = MailKind::ALL.iter().find_map(|&kind| {
                Part::ALL.iter().find_map(|&part| {
                    (name == format!("{}.{}", kind.as_str(), part.extension()))
                        .then_some((kind, part))
                })
            });
            let Some((kind, part)) = found else {
                return Err(TemplateError {
                    file: path,
                    problem: "not a template name: use KIND.subject, KIND.txt or KIND.html \
                              with KIND password_reset, password_changed or \
                              email_verification"
                        .into(),
                });
            };
            let bytes = std::fs::read(entry.path()).map_err(|e| unreadable(&path, e))?;
            let source = String::from_utf8(bytes).map_err(|_| TemplateError {
                file: path.clone(),
                problem: "not UTF-8".into(),
            })?;
            parsed.insert((kind, part), parse(kind, part, &path, &source)?);
        }
        Ok(Templates(std::sync::Arc::new(parsed)))
    }

    /// `(subject, text, html)` of `kind` with `values` in place (HTML-escaped in the HTML).
    /// A placeholder without a value renders empty; `{{logo}}` is made here from the
    /// `logo_url` and `site_name` values (see the module docs).
    pub(crate) fn render(
        &self,
        kind: MailKind,
        values: &[(&str, &str)],
    ) -> (String, String, String) {
        let value = |name: &str| {
            values
                .iter()
                .find(|(known, _)| *known == name)
                .map_or("", |(_, value)| value)
        };
        let logo = logo_tag(value("logo_url"), value("site_name"));
        let fill = |part: Part, escape: bool| {
            let mut out = String::new();
            for piece in self.0.get(&(kind, part)).into_iter().flatten() {
                match piece {
                    Piece::Text(text) => out.push_str(text),
                    // Already escaped, and only in the HTML part.
                    Piece::Value("logo") => {
                        if escape {
                            out.push_str(&logo);
                        }
                    }
                    Piece::Value(name) => {
                        let value = value(name);
                        if escape {
                            out.push_str(&escape_html(value));
                        } else {
                            out.push_str(value);
                        }
                    }
                }
            }
            out
        };
        (
            fill(Part::Subject, false),
            fill(Part::Text, false),
            fill(Part::Html, true),
        )
    }
}

/// `&`, `<`, `>`, `"` and `'` as entities: safe in element text and quoted attributes.
pub(crate) fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `1 hour`, `24 hours`, `30 minutes`, `2 days`, `90 seconds`.
pub(crate) fn duration_words(secs: u64) -> String {
    let (n, unit) = if secs >= 2 * 86_400 && secs.is_multiple_of(86_400) {
        (secs / 86_400, "day")
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn builtin(kind: MailKind, part: Part) -> &'static str {
    match (kind, part) {
        (MailKind::PasswordReset, Part::Subject) => "Reset your password for {{site_name}}",
        (MailKind::PasswordReset, Part::Text) => include_str!("templates/password_reset.txt"),
        (MailKind::PasswordReset, Part::Html) => include_str!("templates/password_reset.html"),
        (MailKind::PasswordChanged, Part::Subject) => "Your password for {{site_name}} was changed",
        (MailKind::PasswordChanged, Part::Text) => {
            include_str!("templates/password_changed.txt")
        }
        (MailKind::PasswordChanged, Part::Html) => {
            include_str!("templates/password_changed.html")
        }
        (MailKind::EmailVerification, Part::Subject) => {
            "Confirm your email address for {{site_name}}"
        }
        (MailKind::EmailVerification, Part::Text) => {
            include_str!("templates/email_verification.txt")
        }
        (MailKind::EmailVerification, Part::Html) => {
            include_str!("templates/email_verification.html")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<(&'static str, &'static str)> {
        vec![
            ("email", "bob@x.io"),
            ("public_url", "https://authd.test"),
            ("link", "https://authd.test/reset?token=T&x=<1>"),
            ("expires_in", "1 hour"),
            ("expires_at", "2026-11-28 14:05 UTC"),
            ("changed_at", "2026-11-28 13:05 UTC"),
            ("site_name", "authd"),
            ("logo_url", ""),
        ]
    }

    /// `values()` with `name` set to `value`.
    fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut values = values();
        values.retain(|(known, _)| *known != name);
        values.push((name, value));
        values
    }

    #[test]
    fn the_built_in_templates_parse_and_name_the_link_and_its_expiry() {
        for kind in MailKind::ALL {
            for part in Part::ALL {
                assert!(
                    parse(kind, part, "built-in", builtin(kind, part)).is_ok(),
                    "{kind:?} {part:?}"
                );
            }
        }
        let (subject, text, html) = Templates::default().render(MailKind::PasswordReset, &values());
        assert_eq!(subject, "Reset your password for authd");
        assert!(text.contains("https://authd.test/reset?token=T&x=<1>"));
        assert!(text.contains("1 hour") && text.contains("2026-11-28 14:05 UTC"));
        assert!(text.contains("did not ask"));
        assert!(html.contains("https://authd.test/reset?token=T&amp;x=&lt;1&gt;"));
        assert!(!html.contains("<1>"));
    }

    #[test]
    fn the_site_name_and_the_logo_are_escaped_and_the_logo_shows_only_when_set() {
        let hostile = with("site_name", "Ops <script>alert('x')</script> & \"co\"");
        for kind in MailKind::ALL {
            let (subject, text, html) = Templates::default().render(kind, &hostile);
            // The subject is a header, not HTML: as given.
            assert!(
                subject.contains(r#" for Ops <script>alert('x')</script> & "co""#),
                "{subject}"
            );
            assert!(
                text.starts_with("Ops <script>alert('x')</script> & \"co\"\n"),
                "{text}"
            );
            assert!(
                !html.contains("<script>") && !html.contains("<img"),
                "{html}"
            );
            assert!(html.contains(
                "Ops &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;"
            ));
        }
        let mut logo = with("logo_url", "https://authd.test/logo.png?a=1&b=\"x\"");
        logo.retain(|(known, _)| *known != "site_name");
        logo.push(("site_name", "A&B"));
        let (_, text, html) = Templates::default().render(MailKind::PasswordChanged, &logo);
        assert!(html.contains(
            r#"<img src="https://authd.test/logo.png?a=1&amp;b=&quot;x&quot;" alt="A&amp;B" height="48""#
        ), "{html}");
        assert!(!text.contains("logo") && !text.contains("<img"), "{text}");
    }

    #[test]
    fn a_value_that_looks_like_a_placeholder_stays_as_it_is() {
        let tricky = with("email", "{{link}}&'x@x.io");
        let (_, text, html) = Templates::default().render(MailKind::PasswordReset, &tricky);
        assert!(text.contains("{{link}}&'x@x.io"), "{text}");
        assert!(html.contains("{{link}}&amp;&#39;x@x.io"), "{html}");
    }

    #[test]
    fn an_unknown_placeholder_is_an_error() {
        let error = parse(MailKind::PasswordChanged, Part::Text, "f", "{{link}}").unwrap_err();
        assert!(
            error.to_string().contains("unknown placeholder {{link}}"),
            "{error}"
        );
        assert!(parse(MailKind::PasswordReset, Part::Text, "f", "{{link").is_err());
    }

    #[test]
    fn a_reset_body_without_the_link_is_an_error() {
        assert!(parse(MailKind::PasswordReset, Part::Html, "f", "<p>hi</p>").is_err());
        assert!(parse(MailKind::PasswordReset, Part::Subject, "f", "Reset").is_ok());
    }

    #[test]
    fn a_subject_is_one_line() {
        assert!(parse(MailKind::PasswordReset, Part::Subject, "f", "a\nb").is_err());
        let pieces = parse(MailKind::PasswordReset, Part::Subject, "f", "Reset\n").unwrap();
        assert_eq!(pieces, vec![Piece::Text("Reset".into())]);
    }

    #[test]
    fn files_in_a_folder_replace_the_built_in_ones_and_other_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("password_reset.subject"), "Hi {{email}}\n").unwrap();
        std::fs::write(dir.path().join(".hidden"), "ignored").unwrap();
        let templates = Templates::load(dir.path()).unwrap();
        let (subject, text, _) = templates.render(MailKind::PasswordReset, &values());
        assert_eq!(subject, "Hi bob@x.io");
        assert!(text.contains("token=T"));
        std::fs::write(dir.path().join("pasword_reset.txt"), "{{link}}").unwrap();
        assert!(Templates::load(dir.path()).is_err());
        assert!(Templates::load(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration_words(3600), "1 hour");
        assert_eq!(duration_words(86_400), "24 hours");
        assert_eq!(duration_words(2 * 86_400), "2 days");
        assert_eq!(duration_words(90), "90 seconds");
        assert_eq!(duration_words(1800), "30 minutes");
    }
}
