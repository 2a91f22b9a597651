//! What each kind of mail says, as the relay receives it (issue 25, "mail people trust"): a
//! `multipart/alternative` of a plain and an HTML part (decoded by Python's `email` module in
//! the sink, quoted-printable or base64 alike), the same link in both, the site name in both
//! and in the subject, the logo in the HTML, `Auto-Submitted`, and nothing a user or the
//! operator wrote left unescaped in the HTML.

use auth::testing::TestDatabase;
use serde_json::Value;
use web::WebOptions;

use crate::helpers::*;

/// An address the rules accept that holds `&`, `'`, `{`, `}` (`<`, `>` and `"` are refused).
const TRICKY_EMAIL: &str = "o'brien&co{{link}}@example.com";
/// A site name an operator could write, with what HTML must never carry raw.
const TRICKY_SITE: &str = r#"Ops <script>alert("x")</script> & 'co'"#;
const LOGO: &str = "https://authd.test/logo.png?v=1&size=2";

/// A part of a mail the sink received (`text` or `html`), with its line ends as written
/// (SMTP carries CRLF).
fn part(mail: &Value, name: &str) -> String {
    mail[name].as_str().unwrap().replace("\r\n", "\n")
}

/// `text` with `&`, `<`, `>`, `"` and `'` as the entities the templates write.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The `href` values of `html`, with entities decoded.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .map(|rest| {
            let value = &rest[..rest.find('"').unwrap()];
            value
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&")
        })
        .collect()
}

/// The one link starting with `prefix` in `text`, up to the end of its line.
fn link_in(text: &str, prefix: &str) -> String {
    let links: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with(prefix))
        .collect();
    assert_eq!(links.len(), 1, "one line with {prefix} in {text}");
    links[0].to_owned()
}

/// Checks one mail of the sink: its subject, the link of `prefix` the same in both parts (the
/// button and the full link below it, once each in the HTML).
fn check_mail(mail: &Value, subject: &str, prefix: &str) {
    let headers = &mail["headers"];
    assert_eq!(mail["content_type"], "multipart/alternative", "{mail}");
    assert_eq!(headers["auto-submitted"], "auto-generated", "{headers}");
    assert_eq!(headers["subject"], subject);
    let raw = mail["raw"].as_str().unwrap();
    assert!(
        raw.contains("Content-Type: text/plain; charset=utf-8"),
        "{raw}"
    );
    assert!(
        raw.contains("Content-Type: text/html; charset=utf-8"),
        "{raw}"
    );
    let (text, html) = (part(mail, "text"), part(mail, "html"));

    let link = link_in(&text, prefix);
    let links = hrefs(&html);
    assert_eq!(links, [link.clone(), link.clone()], "{html}");
    assert!(
        html.contains(&format!(">{}</a>", escaped(&link))),
        "the link in full: {html}"
    );

    // The site name: first in the plain part, above the body in the HTML, escaped there.
    assert!(text.starts_with(&format!("{TRICKY_SITE}\n\n")), "{text}");
    assert!(html.contains(&escaped(TRICKY_SITE)), "{html}");
    // The recipient as given in the plain part, escaped in the HTML; `{{link}}` in it is text.
    assert!(text.contains(TRICKY_EMAIL), "{text}");
    assert!(html.contains(&escaped(TRICKY_EMAIL)), "{html}");
    // The logo above the site name, in the HTML only.
    let img = format!(
        r#"<img src="{}" alt="{}""#,
        escaped(LOGO),
        escaped(TRICKY_SITE)
    );
    assert!(html.find(&img).unwrap() < html.find(&escaped(TRICKY_SITE)).unwrap());
    assert!(!text.contains("logo.png"), "{text}");

    // Nothing unescaped: no tag but the template's, every `&` an entity.
    for raw in ["<script", "o'brien", "&co", "& 'co'", "'co'"] {
        assert!(!html.contains(raw), "{raw} unescaped in {html}");
    }
    for (at, _) in html.match_indices('&') {
        let entity = &html[at..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                .iter()
                .any(|known| entity.starts_with(known)),
            "a raw & at {}",
            &html[at..html.len().min(at + 20)]
        );
    }
}

#[tokio::test]
async fn each_kind_of_mail_has_both_parts_one_link_the_site_name_and_nothing_unescaped() {
    let sink = SmtpSink::start();
    let mut config = mail_config(sink.port, true);
    config.mail = config.mail.map(|mail| {
        mail.with_site_name(TRICKY_SITE)
            .unwrap()
            .with_logo_url(LOGO)
            .unwrap()
    });
    let app = spawn_on(TestDatabase::sqlite(), config, WebOptions::default()).await;
    assert_eq!(app.post_users(TRICKY_EMAIL, "old-pw").await.status(), 200);
    let verification = sink.wait_for(1).await.remove(0);
    check_mail(
        &verification,
        &format!("Confirm your email address for {TRICKY_SITE}"),
        "https://authd.test/verify?token=",
    );

    assert_eq!(app.post_reset_password(TRICKY_EMAIL).await.status(), 200);
    let reset = sink.wait_for(2).await.remove(1);
    check_mail(
        &reset,
        &format!("Reset your password for {TRICKY_SITE}"),
        "https://authd.test/reset?token=",
    );
    let token = link_token(mail_text(&reset), "reset");
    let done = app.put_reset_password(TRICKY_EMAIL, &token, "new-pw").await;
    assert_eq!(done.status(), 200);

    let changed = sink.wait_for(3).await.remove(2);
    check_mail(
        &changed,
        &format!("Your password for {TRICKY_SITE} was changed"),
        "https://authd.test/forgot",
    );
    assert!(mail_text(&changed).contains("was changed at"));
}

#[tokio::test]
async fn without_a_logo_the_html_has_no_image_and_the_site_name_is_authd() {
    let sink = SmtpSink::start();
    let app = spawn_on(
        TestDatabase::sqlite(),
        mail_config(sink.port, false),
        WebOptions::default(),
    )
    .await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    assert_eq!(app.post_reset_password("bob@x.io").await.status(), 200);
    let mail = sink.wait_for(1).await.remove(0);
    let html = mail["html"].as_str().unwrap();
    assert!(!html.contains("<img"), "{html}");
    assert!(part(&mail, "text").starts_with("authd\n\nReset your password\n"));
    assert_eq!(mail["headers"]["auto-submitted"], "auto-generated");
}

/// Custom templates keep working, and may use the new placeholders.
#[tokio::test]
async fn custom_templates_may_use_the_site_name_and_the_logo() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("password_reset.subject", "{{site_name}}: a new password");
    write(
        "password_reset.txt",
        "{{site_name}} {{logo_url}} {{logo}}\n{{link}}\n",
    );
    write(
        "password_reset.html",
        "<p>{{logo}}{{site_name}} <a href=\"{{link}}\">go</a></p>",
    );
    let templates = auth::Templates::load(dir.path()).unwrap();
    let sink = SmtpSink::start();
    let mut config = mail_config(sink.port, false);
    config.mail = config.mail.map(|mail| {
        mail.with_templates(templates)
            .with_site_name("A & B")
            .unwrap()
            .with_logo_url(LOGO)
            .unwrap()
    });
    let app = spawn_on(TestDatabase::sqlite(), config, WebOptions::default()).await;
    assert_eq!(app.post_users("bob@x.io", "pw").await.status(), 200);
    assert_eq!(app.post_reset_password("bob@x.io").await.status(), 200);
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail["headers"]["subject"], "A & B: a new password");
    let text = part(&mail, "text");
    assert!(text.starts_with(&format!("A & B {LOGO} \n")), "{text}");
    let html = mail["html"].as_str().unwrap();
    let img = format!(r#"<p><img src="{}" alt="A &amp; B""#, escaped(LOGO));
    assert!(html.starts_with(&img), "{html}");
    let token = link_token(&text, "reset");
    assert_eq!(link_token(html, "reset"), token);
}
