//! Who may use the admin API, and where: the admin token on the admin listener only.

use reqwest::Method;
use serde_json::json;
use web::WebOptions;

use super::*;

/// Every route of the admin API, as `(method, path)`.
const ROUTES: [(&str, &str); 10] = [
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("GET", "/admin/users/1"),
    ("PATCH", "/admin/users/1"),
    ("DELETE", "/admin/users/1"),
    ("DELETE", "/admin/users/1/sessions"),
    ("DELETE", "/admin/users/1/totp"),
    (
        "DELETE",
        "/admin/users/1/passkeys/0123456789abcdef0123456789abcdef",
    ),
    ("POST", "/admin/users/1/reset_link"),
    ("GET", "/admin/audit"),
];

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).unwrap()
}

/// Options under which `X-Forwarded-For` from loopback names the client.
fn behind_a_proxy() -> WebOptions {
    let mut options = WebOptions::default();
    options.trusted_proxies = "127.0.0.1".parse().unwrap();
    options
}

each_backend!(a_request_without_the_admin_token_is_401_and_counted);
async fn a_request_without_the_admin_token_is_401_and_counted(backend: Backend) {
    let app = spawn_admin_with(backend, test_config, behind_a_proxy()).await;
    app.create("bob@x.io").await;
    let client = &app.base.client;
    let mut clients = (1..).map(|n: u32| format!("10.0.{}.{}", n / 200, n % 200 + 1));
    for (name, path) in ROUTES {
        let url = format!("{}{path}", app.admin);
        let tries = [
            client.request(method(name), &url),
            client
                .request(method(name), &url)
                .bearer_auth("not-the-token-0123456789"),
            client
                .request(method(name), &url)
                .header("authorization", format!("Basic {TOKEN}")),
        ];
        // Each from an address of its own: one address would be throttled after ten.
        for request in tries {
            let res = request
                .header("x-forwarded-for", clients.next().unwrap())
                .json(&json!({"disabled": true}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.headers().get("www-authenticate").unwrap(),
                r#"Bearer realm="authd admin""#
            );
            assert_error(res, 401, "admin token required").await;
        }
    }
    // Nothing was done: bob is as made.
    let bob = json_body(app.get("/admin/users/1").await, 200).await;
    assert_eq!(bob["disabled"], false);
    let metrics = app.metrics().await;
    for line in [
        r#"authd_admin_refused_total{reason="missing_token"} 20"#,
        r#"authd_admin_refused_total{reason="wrong_token"} 10"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in {metrics}"
        );
    }
}

#[tokio::test]
async fn ten_failures_a_minute_from_one_address_are_followed_by_429_even_with_the_token() {
    let app = spawn_admin_with(Backend::Sqlite, test_config, behind_a_proxy()).await;
    let from = |client: &str, token: &str| {
        app.base
            .client
            .get(format!("{}/admin/users", app.admin))
            .header("x-forwarded-for", client)
            .bearer_auth(token)
            .send()
    };
    for _ in 0..10 {
        let res = from("10.0.0.1", "wrong-token-0123456789").await.unwrap();
        assert_eq!(res.status(), 401);
    }
    let res = from("10.0.0.1", TOKEN).await.unwrap();
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body = json_body(res, 429).await;
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("too many requests without the admin token from this address"));
    // Other addresses keep their allowance (one of three at least: the counters are a table
    // of fixed size, and two addresses may share one).
    let mut answered = Vec::new();
    for client in ["10.0.0.2", "10.0.0.3", "10.0.0.4"] {
        answered.push(from(client, TOKEN).await.unwrap().status().as_u16());
    }
    assert!(answered.contains(&200), "{answered:?}");
    assert!(app
        .metrics()
        .await
        .lines()
        .any(|l| l == r#"authd_admin_refused_total{reason="throttled"} 1"#));
}

each_backend!(the_public_listener_answers_404_to_every_admin_path);
async fn the_public_listener_answers_404_to_every_admin_path(backend: Backend) {
    let app = spawn_admin(backend).await;
    app.create("bob@x.io").await;
    let client = &app.base.client;
    let mut paths: Vec<(&str, &str)> = ROUTES.to_vec();
    paths.extend([
        ("GET", "/admin/openapi.json"),
        ("GET", "/admin"),
        ("GET", "/admin/"),
    ]);
    // The instance that serves the admin API elsewhere, and one that serves none.
    for public in [app.public.as_str(), app.base.address.as_str()] {
        for (name, path) in &paths {
            for with_token in [false, true] {
                let mut request = client
                    .request(method(name), format!("{public}{path}"))
                    .json(&json!({}));
                if with_token {
                    request = request.bearer_auth(TOKEN);
                }
                let res = request.send().await.unwrap();
                assert_error(res, 404, "no such endpoint").await;
            }
        }
        let document = json_body(
            client
                .get(format!("{public}/openapi.json"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await;
        let listed = document["paths"].as_object().unwrap();
        assert!(
            listed.keys().all(|path| !path.starts_with("/admin")),
            "{listed:?}"
        );
    }
    let bob = json_body(app.get("/admin/users/1").await, 200).await;
    assert_eq!(
        (bob["disabled"].clone(), bob["sessions"].clone()),
        (json!(false), json!(0))
    );
}

#[tokio::test]
async fn the_admin_listener_serves_its_own_document_and_nothing_of_the_public_api() {
    let app = spawn_admin(Backend::Sqlite).await;
    let client = &app.base.client;
    // The document needs no token.
    let res = client
        .get(format!("{}/admin/openapi.json", app.admin))
        .send()
        .await
        .unwrap();
    let document = json_body(res, 200).await;
    assert_eq!(document["info"]["title"], "authd admin API");
    let paths = document["paths"].as_object().unwrap();
    for (name, path) in ROUTES {
        let pattern = path
            .replace("/1", "/{id}")
            .replace("0123456789abcdef0123456789abcdef", "{pid}");
        let operation = &paths[&pattern][name.to_lowercase()];
        assert_eq!(
            operation["security"],
            json!([{"admin_token": []}]),
            "{name} {pattern}"
        );
        // Any request may meet the refusals' throttle.
        assert!(
            operation["responses"]["429"].is_object(),
            "{name} {pattern}: no 429"
        );
    }
    assert_eq!(
        document["components"]["securitySchemes"]["admin_token"],
        json!({"type": "http", "scheme": "bearer"})
    );
    // A reset link's body is optional (`send` has a default), as the route takes it.
    assert_ne!(
        paths["/admin/users/{id}/reset_link"]["post"]["requestBody"]["required"],
        json!(true)
    );
    // Every reference resolves within this document (schemathesis refuses one that does not).
    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let pointer = reference.trim_start_matches('#');
        assert!(
            document.pointer(pointer).is_some(),
            "{reference} does not resolve in the admin document"
        );
    }
    // The public API is not on this listener; unknown paths and methods answer JSON.
    for path in [
        "/users",
        "/sessions",
        "/metrics",
        "/openapi.json",
        "/admin/nope",
    ] {
        assert_error(app.get(path).await, 404, "no such endpoint").await;
    }
    let res = app
        .request(Method::PUT, "/admin/users")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET, POST");
    assert_error(res, 405, "method not allowed on this endpoint").await;
}

/// Every `$ref` in `value`, depth first.
fn collect_references(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", serde_json::Value::String(reference)) => into.push(reference.clone()),
                    _ => collect_references(value, into),
                }
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                collect_references(item, into);
            }
        }
        _ => {}
    }
}
