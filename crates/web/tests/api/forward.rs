//! `/auth/forward` (Traefik `ForwardAuth`, Caddy `forward_auth`) and `/auth/nginx` (nginx
//! `auth_request`): the contract, sent directly as each proxy sends it. With the real nginx
//! and Caddy in front: `bins/authd/tests/proxies.rs`.

use reqwest::Response;
use web::{Site, WebOptions};

use crate::helpers::*;

const PUBLIC: &str = "http://auth.authd.test";

fn options(rules: &[&str]) -> WebOptions {
    let mut options = WebOptions::default();
    options.site = Some(Site::new(PUBLIC, Some("authd.test")).unwrap());
    options.forward_auth_rules = rules.iter().map(|rule| rule.parse().unwrap()).collect();
    options
}

/// What Traefik sends for a browser's `method https?://host/uri`, with `session`.
async fn forward(
    app: &TestApp,
    method: &str,
    host: &str,
    uri: &str,
    accept: Option<&str>,
    session: Option<&str>,
) -> Response {
    let mut request = app
        .client
        .get(app.url("/auth/forward"))
        .header("x-forwarded-method", method)
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", host)
        .header("x-forwarded-uri", uri);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    if let Some(session) = session {
        request = request.header("cookie", format!("other=1; session_id={session}"));
    }
    request.send().await.unwrap()
}

/// What nginx's `auth_request` sends for `url`.
async fn nginx(app: &TestApp, url: &str, session: Option<&str>) -> Response {
    let mut request = app
        .client
        .get(app.url("/auth/nginx"))
        .header("x-original-url", url)
        .header("x-original-method", "GET");
    if let Some(session) = session {
        request = request.header("cookie", format!("session_id={session}"));
    }
    request.send().await.unwrap()
}

const BROWSER: Option<&str> = Some("text/html,application/xhtml+xml,*/*;q=0.8");

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .map_or("", |value| value.to_str().unwrap())
}

fn user_id(app: &TestApp, email: &str) -> String {
    app.auth
        .find_user_by_email(email)
        .unwrap()
        .unwrap()
        .id
        .to_string()
}

#[tokio::test]
async fn without_a_public_url_forward_auth_is_not_configured() {
    let app = spawn_app().await;
    for path in ["/auth/forward", "/auth/nginx"] {
        let res = app.get_path(path).await;
        assert_eq!(header(&res, "cache-control"), "no-store");
        assert_error(res, 404, "forward-auth is not configured").await;
    }
}

each_backend!(a_signed_in_account_is_vouched_for_with_its_id_and_address);
async fn a_signed_in_account_is_vouched_for_with_its_id_and_address(backend: Backend) {
    let app = backend.spawn_app_with(test_config(), options(&[])).await;
    let session = app.logged_in("Ada@Authd.test", "pw").await;
    let id = user_id(&app, "ada@authd.test");
    for host in ["app.authd.test", "auth.authd.test", "authd.test:8443"] {
        let res = forward(&app, "GET", host, "/x?y=1", BROWSER, Some(&session)).await;
        assert_eq!(res.status(), 200, "{host}");
        assert_eq!(header(&res, "remote-user"), id);
        assert_eq!(header(&res, "remote-email"), "ada@authd.test");
        assert_eq!(header(&res, "cache-control"), "no-store");
        assert_eq!(res.text().await.unwrap(), "");
    }
    let res = nginx(&app, "http://wiki.authd.test/page", Some(&session)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "remote-user"), id);
    assert_eq!(header(&res, "remote-email"), "ada@authd.test");
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(res.text().await.unwrap(), "");
}

each_backend!(without_a_session_a_browser_is_sent_to_sign_in_and_a_program_gets_401);
async fn without_a_session_a_browser_is_sent_to_sign_in_and_a_program_gets_401(backend: Backend) {
    let app = backend.spawn_app_with(test_config(), options(&[])).await;
    let login = format!("{PUBLIC}/login?rd=http%3A%2F%2Fapp.authd.test%2Fx%3Fy%3D1%26z");
    for (method, status) in [("GET", 302), ("HEAD", 302), ("POST", 303), ("DELETE", 303)] {
        let res = forward(&app, method, "app.authd.test", "/x?y=1&z", BROWSER, None).await;
        assert_eq!(res.status(), status, "{method}");
        assert_eq!(header(&res, "location"), login);
        assert_eq!(header(&res, "cache-control"), "no-store");
        assert_eq!(res.text().await.unwrap(), "");
    }
    // A dead session is no session.
    let res = forward(
        &app,
        "GET",
        "app.authd.test",
        "/x?y=1&z",
        BROWSER,
        Some("dead"),
    )
    .await;
    assert_eq!(res.status(), 302);
    for accept in [None, Some("*/*"), Some("application/json")] {
        let res = forward(&app, "GET", "app.authd.test", "/", accept, None).await;
        assert_eq!(header(&res, "location"), "", "{accept:?}");
        assert_error(res, 401, "no valid session: log in first").await;
    }
    let res = nginx(&app, "http://app.authd.test/x?y=1&z", None).await;
    assert_eq!(header(&res, "location"), login);
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_error(res, 401, "no valid session: log in first").await;
}

each_backend!(the_rules_decide_who_reaches_which_host);
async fn the_rules_decide_who_reaches_which_host(backend: Backend) {
    let rules = [
        "*.authd.test=@staff.test",
        "wiki.authd.test=any",
        "admin.authd.test=@staff.test,two-factor",
        "ops.authd.test=boss@staff.test,verified",
    ];
    let config = crate::totp::two_factor_config();
    let app = backend.spawn_app_with(config, options(&rules)).await;
    let staff = app.logged_in("ann@staff.test", "pw").await;
    let (staff_with_codes, _, _) = crate::totp::enrolled(&app, "tess@staff.test").await;
    let (guest_with_codes, _, _) = crate::totp::enrolled(&app, "gil@guest.test").await;
    let guest = app.logged_in("gus@guest.test", "pw").await;
    let reaches = |session: String, host: &'static str| {
        let app = &app;
        async move {
            let res = forward(app, "GET", host, "/", BROWSER, Some(&session)).await;
            let status = res.status().as_u16();
            if status == 403 {
                assert_eq!(header(&res, "remote-user"), "");
                assert_error(res, 403, "this account may not reach this site").await;
            }
            status
        }
    };
    assert_eq!(reaches(staff.clone(), "app.authd.test").await, 200);
    assert_eq!(reaches(guest.clone(), "app.authd.test").await, 403);
    assert_eq!(reaches(guest.clone(), "wiki.authd.test").await, 200);
    // No rule names the cookie domain itself: any signed-in account.
    assert_eq!(reaches(guest.clone(), "authd.test").await, 200);
    // `two-factor`: only an account with two-factor codes on, and still of the domain.
    assert_eq!(reaches(staff.clone(), "admin.authd.test").await, 403);
    assert_eq!(
        reaches(staff_with_codes.clone(), "admin.authd.test").await,
        200
    );
    assert_eq!(
        reaches(guest_with_codes.clone(), "admin.authd.test").await,
        403
    );
    assert_eq!(reaches(staff_with_codes, "app.authd.test").await, 200);
    assert_eq!(reaches(staff.clone(), "ops.authd.test").await, 403);
    let res = nginx(&app, "http://app.authd.test/", Some(&guest)).await;
    assert_error(res, 403, "this account may not reach this site").await;
}

each_backend!(an_unknown_host_or_a_malformed_header_is_refused_never_a_server_error);
async fn an_unknown_host_or_a_malformed_header_is_refused_never_a_server_error(backend: Backend) {
    let app = backend.spawn_app_with(test_config(), options(&[])).await;
    let session = app.logged_in("ada@authd.test", "pw").await;
    let message = "the forwarded headers name no URL of a host this server vouches for";
    let cases: &[&[(&str, &str)]] = &[
        &[],
        &[("x-forwarded-host", "app.authd.test")],
        &[("x-forwarded-proto", "http")],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "evil.test"),
        ],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "authd.test.evil.test"),
        ],
        &[
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "app.authd.test"),
        ],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "a@app.authd.test"),
        ],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.authd.test:99999"),
        ],
        &[("x-forwarded-proto", "http"), ("x-forwarded-host", "[::1")],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.authd.test"),
            ("x-forwarded-uri", "x"),
        ],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.authd.test"),
            ("x-forwarded-method", "G(E)T"),
        ],
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "app.authd.test"),
            ("x-forwarded-uri", "/a b"),
        ],
    ];
    for session in [None, Some(session.as_str())] {
        for case in cases {
            let mut request = app.client.get(app.url("/auth/forward"));
            for (name, value) in *case {
                request = request.header(*name, *value);
            }
            if let Some(session) = session {
                request = request.header("cookie", format!("session_id={session}"));
            }
            let res = request.header("accept", "text/html").send().await.unwrap();
            assert_eq!(res.status(), 403, "{case:?}");
            assert_error(res, 403, message).await;
        }
        for url in [
            "",
            "/x",
            "http://evil.test/",
            "ftp://app.authd.test/",
            "http://[::1",
        ] {
            let mut request = app.client.get(app.url("/auth/nginx"));
            if !url.is_empty() {
                request = request.header("x-original-url", url);
            }
            if let Some(session) = session {
                request = request.header("cookie", format!("session_id={session}"));
            }
            assert_error(request.send().await.unwrap(), 403, message).await;
        }
    }
    // Bytes that are not text.
    let res = app
        .client
        .get(app.url("/auth/nginx"))
        .header(
            "x-original-url",
            reqwest::header::HeaderValue::from_bytes(b"http://app.authd.test/\xff").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_error(res, 403, message).await;
}

#[tokio::test]
async fn the_redirect_leaves_out_an_rd_of_another_scheme() {
    let mut options = options(&[]);
    options.site = Some(Site::new("https://auth.authd.test", Some("authd.test")).unwrap());
    let app = spawn_app_with(test_config(), options).await;
    // The guarded request came over http, the public URL is https: no way back to it.
    let res = forward(&app, "GET", "app.authd.test", "/x", BROWSER, None).await;
    assert_eq!(res.status(), 302);
    assert_eq!(header(&res, "location"), "https://auth.authd.test/login");
}

#[tokio::test]
async fn the_session_cookie_carries_the_cookie_domain_and_the_form_cookie_stays_host_only() {
    let mut options = options(&[]);
    options.cookie_secure = true;
    let app = spawn_app_with(test_config(), options).await;
    app.post_users("ada@authd.test", "pw").await;
    let res = app.post_sessions("ada@authd.test", "pw").await;
    let cookie = set_cookie(&res).unwrap();
    assert!(cookie.contains("; Domain=authd.test"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    let session = session_cookie(&res).unwrap();
    let res = app.delete_sessions(Some(&session)).await;
    let removal = set_cookie(&res).unwrap();
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert!(removal.contains("; Domain=authd.test"), "{removal}");
    // The pages' CSRF cookie needs to reach authd only: `__Host-`, which forbids `Domain=`.
    let res = app.get_path("/login").await;
    let visitor = set_cookie(&res).unwrap();
    assert!(visitor.starts_with("__Host-authd_visitor="), "{visitor}");
    assert!(!visitor.contains("Domain="), "{visitor}");
}

#[tokio::test]
async fn forward_auth_is_counted_by_route() {
    let app = spawn_app_with(test_config(), options(&[])).await;
    let session = app.logged_in("ada@authd.test", "pw").await;
    forward(&app, "GET", "app.authd.test", "/", BROWSER, Some(&session)).await;
    forward(&app, "GET", "app.authd.test", "/", BROWSER, None).await;
    nginx(&app, "http://app.authd.test/", None).await;
    nginx(&app, "http://evil.test/", None).await;
    let text = app.get_path("/metrics").await.text().await.unwrap();
    for line in [
        r#"authd_http_requests_total{method="GET",route="/auth/forward",status="200"} 1"#,
        r#"authd_http_requests_total{method="GET",route="/auth/forward",status="302"} 1"#,
        r#"authd_http_requests_total{method="GET",route="/auth/nginx",status="401"} 1"#,
        r#"authd_http_requests_total{method="GET",route="/auth/nginx",status="403"} 1"#,
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    // No hashing: only the login above ran bcrypt.
    assert!(
        text.contains("authd_hashing_job_duration_seconds_count 2"),
        "{text}"
    );
}
