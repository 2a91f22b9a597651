//! The product's look (`web::Branding`): its name in titles and the header, its logo served
//! under a hashed URL with its own policy, its accent colour and CSS as a stylesheet of their
//! own, the favicon; and 404 as a page for browsers while programs keep the JSON.

use web::{Branding, WebOptions};

use super::*;
use crate::helpers::*;

const CHROMIUM_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,\
                               image/avif,image/webp,image/apng,*/*;q=0.8";

#[tokio::test]
async fn an_unknown_path_is_a_page_for_a_browser_and_json_for_a_program() {
    let app = spawn_app().await;
    for path in [
        "/nowhere",
        "/account/nothing",
        "/assets/logo-0000000000000000.svg",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .header("accept", CHROMIUM_ACCEPT)
            .send()
            .await
            .unwrap();
        let page = Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        assert_eq!(page.status, 404, "{path}");
        page.assert_page_headers();
        assert_eq!(page.title(), "Page not found – authd");
        assert!(page.body.contains("<main>"), "{}", page.body);
        assert!(page.body.contains(r#"<a href="/login">Sign in</a>"#));
        assert!(page
            .body
            .contains(r#"<a href="/account">Go to your account</a>"#));
    }
    let programs: [&[(&str, &str)]; 4] = [
        &[],
        &[("accept", "*/*")],
        &[("accept", "application/json")],
        &[("accept", "text/html, application/json")],
    ];
    for headers in programs {
        let mut request = app.client.get(app.url("/nowhere"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 404, "{headers:?}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.text().await.unwrap(),
            "{\"message\":\"no such endpoint\"}\n",
            "{headers:?}"
        );
    }
}

#[tokio::test]
async fn favicon_ico_is_the_default_icon_without_a_logo() {
    let app = spawn_app().await;
    let response = app.get_path("/favicon.ico").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert_eq!(response.headers()["cache-control"], "public, max-age=86400");
    assert!(response.text().await.unwrap().starts_with("<svg"));
}

const LOGO: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><script>alert(1)</script><rect width="8" height="8" fill="#7b2cbf"/></svg>"##;

async fn branded_app() -> TestApp {
    let mut options = WebOptions::default();
    options.branding = Branding::new("Acme Cloud")
        .unwrap()
        .with_logo(LOGO.as_bytes().to_vec())
        .unwrap()
        .with_accent_color("#7b2cbf")
        .unwrap()
        .with_custom_css(".brand { letter-spacing: .02em; }".into())
        .unwrap();
    spawn_app_with(test_config(), options).await
}

/// The value of the first `attribute="…"` after `after` in `body`.
fn attribute_after<'a>(body: &'a str, after: &str, attribute: &str) -> &'a str {
    let start = body
        .find(after)
        .unwrap_or_else(|| panic!("no {after} in {body}"));
    let rest = &body[start..];
    let rest = &rest[rest.find(&format!("{attribute}=\"")).unwrap() + attribute.len() + 2..];
    &rest[..rest.find('"').unwrap()]
}

#[tokio::test]
async fn a_branded_site_names_itself_and_serves_its_logo_and_stylesheet_safely() {
    let app = branded_app().await;
    let mut visitor = Visitor::new(&app);
    let page = visitor.get("/login").await;
    page.assert_page_headers();
    assert_eq!(page.title(), "Sign in – Acme Cloud");
    assert!(
        page.body.contains(">Acme Cloud</a></header>"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("authd<"), "{}", page.body);

    let logo = attribute_after(&page.body, "<header>", "src");
    assert!(
        logo.starts_with("/assets/logo-") && logo.ends_with(".svg"),
        "{logo}"
    );
    let icon = attribute_after(&page.body, r#"<link rel="icon""#, "href");
    assert_eq!(icon, logo);
    let response = app.get_path(logo).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'"
    );
    assert_eq!(response.text().await.unwrap(), LOGO);
    let favicon = app.get_path("/favicon.ico").await;
    assert_eq!(favicon.headers()["content-type"], "image/svg+xml");
    assert_eq!(
        favicon.headers()["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'"
    );

    // The site's stylesheet comes after authd's, and holds the accent and then the custom CSS.
    let authd_css = page.body.find("/static/authd.css").unwrap();
    let site_css = attribute_after(&page.body, "/static/authd.css", "href");
    assert!(page.body.find(site_css).unwrap() > authd_css);
    assert!(
        site_css.starts_with("/assets/site-") && site_css.ends_with(".css"),
        "{site_css}"
    );
    let response = app.get_path(site_css).await;
    assert_eq!(
        response.headers()["content-type"],
        "text/css; charset=utf-8"
    );
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let css = response.text().await.unwrap();
    assert!(
        css.contains("--accent: #7b2cbf; --on-accent: #ffffff"),
        "{css}"
    );
    assert!(
        css.trim_end()
            .ends_with(".brand { letter-spacing: .02em; }"),
        "{css}"
    );

    // Another hash is not served.
    let stale = app.get_path("/assets/logo-0123456789abcdef.svg").await;
    assert_error(stale, 404, "no such endpoint").await;
}
