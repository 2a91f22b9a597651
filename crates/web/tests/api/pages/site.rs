//! What every page shares: the strict headers, labels, the referrer policy, the assets, the
//! answers to other methods, pages turned off, the root for browsers, a database outage.

use web::WebOptions;

use super::*;
use crate::helpers::*;

#[tokio::test]
async fn every_page_has_the_strict_headers_a_language_and_labelled_inputs() {
    let app = spawn_app().await;
    app.post_users("ada@example.com", "pw").await;
    let reset = format!("/reset?token={}", app.reset_token("ada@example.com").await);
    let mut visitor = Visitor::new(&app);
    for path in ["/signup", "/login", "/forgot", &reset] {
        let page = visitor.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        page.assert_page_headers();
        // Every input but the hidden ones has a label that names it.
        for input in page.body.split("<input ").skip(1) {
            if input.starts_with(r#"type="hidden""#) {
                continue;
            }
            let id = input
                .split(r#"id=""#)
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            assert!(
                page.body.contains(&format!(r#"<label for="{id}">"#)),
                "{path} {id}"
            );
        }
    }
    // The visitor cookie of the CSRF tokens: set once, HttpOnly, Lax, for the whole site.
    let mut fresh = Visitor::new(&app);
    let page = fresh.get("/login").await;
    let cookie = page.header("set-cookie");
    assert!(cookie.starts_with("authd_visitor="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=2592000"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert_eq!(fresh.get("/signup").await.header("set-cookie"), "");
}

#[tokio::test]
async fn pages_with_a_token_in_their_url_send_no_referrer_at_all() {
    let app = spawn_app().await;
    let mut visitor = Visitor::new(&app);
    for (path, policy) in [
        ("/reset?token=abc", "no-referrer"),
        ("/reset", "no-referrer"),
        ("/verify?token=abc", "no-referrer"),
        ("/login", "same-origin"),
        ("/account", "same-origin"),
    ] {
        let page = visitor.get(path).await;
        assert_eq!(page.header("referrer-policy"), policy, "{path}");
    }
}

#[tokio::test]
async fn the_stylesheet_is_embedded_and_cached_for_a_year() {
    let app = spawn_app().await;
    let page = Visitor::new(&app).get("/login").await;
    let start = page.body.find("/static/authd.css?v=").unwrap();
    let href = &page.body[start..start + "/static/authd.css?v=".len() + 8];
    let response = app.get_path(href).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let css = response.text().await.unwrap();
    assert!(css.len() < 8 * 1024 && css.contains("box-sizing"));
}

#[tokio::test]
async fn every_page_names_its_icon_which_is_served_beside_the_stylesheet() {
    let app = spawn_app().await;
    let page = Visitor::new(&app).get("/login").await;
    assert!(
        page.body
            .contains(r#"<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">"#),
        "{}",
        page.body
    );
    let response = app.get_path("/static/favicon.svg").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    assert_eq!(response.headers()["cache-control"], "public, max-age=86400");
    let icon = response.text().await.unwrap();
    assert!(icon.starts_with("<svg") && icon.len() < 1024, "{icon}");
}

#[tokio::test]
async fn pages_are_not_served_when_turned_off() {
    let mut options = WebOptions::default();
    options.pages = false;
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    for path in ["/login", "/signup", "/account", "/static/authd.css"] {
        crate::helpers::assert_error(app.get_path(path).await, 404, "no such endpoint").await;
    }
}

#[tokio::test]
async fn other_methods_get_a_page_with_allow() {
    let app = spawn_app().await;
    let response = app.client.put(app.url("/login")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET, POST");
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let response = app.get_path("/logout").await;
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn a_browser_opening_the_root_goes_to_the_account_page_and_programs_keep_the_json() {
    let app = spawn_app().await;
    let browser_like: [&[(&str, &str)]; 2] = [
        &[("sec-fetch-mode", "navigate")],
        &[(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8",
        )],
    ];
    for headers in browser_like {
        let mut request = app.client.get(app.url("/"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 303, "{headers:?}");
        assert_eq!(response.headers()["location"], "/account");
    }
    let programs: [&[(&str, &str)]; 5] = [
        &[],
        &[("accept", "*/*")],
        &[("accept", "application/json")],
        &[("accept", "text/html, application/json")],
        &[("sec-fetch-mode", "cors"), ("accept", "*/*")],
    ];
    for headers in programs {
        let mut request = app.client.get(app.url("/"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{headers:?}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.text().await.unwrap(),
            "{\"message\":\"Bienvenue\"}\n"
        );
    }
    // Without the pages there is nowhere to go: the JSON.
    let mut options = WebOptions::default();
    options.pages = false;
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        options,
    )
    .await;
    let response = app
        .client
        .get(app.url("/"))
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// Holds SQLite's write lock on `path` from another process until dropped.
struct WriteLock(std::process::Child);

impl WriteLock {
    fn take(path: &str) -> WriteLock {
        use std::io::{BufRead, BufReader};
        let script = "import sqlite3,sys\n\
                      c=sqlite3.connect(sys.argv[1],isolation_level=None)\n\
                      c.execute('BEGIN EXCLUSIVE')\n\
                      print('locked',flush=True)\n\
                      sys.stdin.read()\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script, path])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        WriteLock(child)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_database_outage_keeps_what_was_typed() {
    let app = spawn_on(
        auth::testing::TestDatabase::sqlite(),
        test_config(),
        WebOptions::default(),
    )
    .await;
    app.post_users("ada@example.com", "pw").await;
    let mut visitor = Visitor::new(&app);
    let signup = visitor.get("/signup").await.csrf();
    let lock = WriteLock::take(&app.sqlite_path().unwrap());
    let form = [
        ("email", "bob@example.com"),
        ("password", "pw"),
        ("password_again", "pw"),
        ("csrf_token", signup.as_str()),
    ];
    let answer = visitor.post("/signup", &form).await;
    assert!(answer.status.is_server_error(), "{}", answer.status);
    answer.assert_page_headers();
    assert!(answer.title().starts_with("Error: "), "{}", answer.title());
    assert!(answer
        .body
        .contains(r#"<form method="post" action="/signup">"#));
    assert!(
        answer.body.contains(r#"value="bob@example.com""#),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains("Try again in a moment"),
        "{}",
        answer.body
    );
    let form = [
        ("email", "ada@example.com"),
        ("password", "pw"),
        ("csrf_token", signup.as_str()),
    ];
    let answer = visitor.post("/login", &form).await;
    assert!(answer.status.is_server_error(), "{}", answer.status);
    assert!(answer
        .body
        .contains(r#"<form method="post" action="/login">"#));
    assert!(
        answer.body.contains(r#"value="ada@example.com""#),
        "{}",
        answer.body
    );
    drop(lock);
    let answer = visitor.post("/login", &form).await;
    assert_eq!(answer.location(), "/account");
}
