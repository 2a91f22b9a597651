//! `/openapi.json`: the document lists exactly what the server answers, and says how; whatever
//! it does not list gets a JSON 404 or 405.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

/// Every (path, method) authd serves. The routes are mounted from the same attributes the
/// document is generated from; this list is the contract both must keep.
const SERVED: [(&str, &str); 40] = [
    ("/", "get"),
    ("/", "head"),
    ("/users", "post"),
    ("/users/verify", "post"),
    ("/users/verify/resend", "post"),
    ("/sessions", "post"),
    ("/sessions", "delete"),
    ("/sessions", "get"),
    ("/sessions/mfa", "post"),
    ("/sessions/others", "delete"),
    ("/sessions/{id}", "delete"),
    ("/profile", "get"),
    ("/profile", "head"),
    ("/profile", "delete"),
    ("/profile/password", "put"),
    ("/profile/identities", "get"),
    ("/profile/identities/{id}", "delete"),
    ("/profile/activity", "get"),
    ("/profile/totp", "get"),
    ("/profile/totp", "post"),
    ("/profile/totp", "put"),
    ("/profile/totp", "delete"),
    ("/profile/recovery_codes", "post"),
    ("/reset_password", "post"),
    ("/reset_password", "put"),
    ("/passkeys/registration", "post"),
    ("/passkeys/registration", "put"),
    ("/passkeys/authentication", "post"),
    ("/passkeys/authentication", "put"),
    ("/passkeys", "get"),
    ("/passkeys/{id}", "patch"),
    ("/passkeys/{id}", "delete"),
    ("/auth/forward", "get"),
    ("/auth/forward", "head"),
    ("/auth/nginx", "get"),
    ("/auth/nginx", "head"),
    ("/healthz", "get"),
    ("/metrics", "get"),
    ("/readyz", "get"),
    ("/openapi.json", "get"),
];

const METHODS: [&str; 8] = [
    "get", "head", "post", "put", "delete", "patch", "options", "trace",
];

async fn document(app: &TestApp) -> Value {
    let res = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    json_body(res, 200).await
}

fn listed(document: &Value) -> BTreeSet<(String, String)> {
    let mut listed = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            listed.insert((path.clone(), method.clone()));
        }
    }
    listed
}

#[tokio::test]
async fn the_document_lists_exactly_the_served_routes() {
    let app = spawn_app().await;
    let document = document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "authd");
    let expected: BTreeSet<_> = SERVED
        .iter()
        .map(|(path, method)| (path.to_string(), method.to_string()))
        .collect();
    assert_eq!(listed(&document), expected);
}

#[tokio::test]
async fn with_a_metrics_listener_the_public_document_leaves_metrics_out() {
    let app = spawn_app_with_metrics_listener().await;
    let expected: BTreeSet<_> = SERVED
        .iter()
        .filter(|(path, _)| *path != "/metrics")
        .map(|(path, method)| (path.to_string(), method.to_string()))
        .collect();
    assert_eq!(listed(&document(&app).await), expected);
    every_listed_method_is_routed_and_the_others_refused_with_allow(&app).await;
}

#[tokio::test]
async fn the_server_routes_every_listed_method_and_refuses_the_others_with_allow() {
    let app = spawn_app().await;
    every_listed_method_is_routed_and_the_others_refused_with_allow(&app).await;
}

async fn every_listed_method_is_routed_and_the_others_refused_with_allow(app: &TestApp) {
    let listed = listed(&document(app).await);
    let paths: BTreeSet<&str> = listed.iter().map(|(path, _)| path.as_str()).collect();
    for path in paths {
        let allowed: BTreeSet<&str> = METHODS
            .into_iter()
            .filter(|m| listed.contains(&(path.to_owned(), m.to_string())))
            .collect();
        for method in METHODS {
            let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client
                .request(http_method, app.url(path))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            if allowed.contains(method) {
                assert_ne!(status, 405, "{method} {path}");
                if status == 404 {
                    // Routed, but answering that it is off (passkeys and forward-auth without
                    // a public URL): a GET says so in its body.
                    if path.starts_with("/passkeys") {
                        assert_error(res, 404, "passkeys are not configured").await;
                        continue;
                    }
                    let res = app.get_path(path).await;
                    let off = "forward-auth is not configured";
                    assert_error(res, 404, off).await;
                }
                continue;
            }
            let allow = res.headers().get("allow").map(|v| v.to_str().unwrap());
            let allow: BTreeSet<String> = allow
                .unwrap_or_else(|| panic!("{method} {path}: no Allow"))
                .split(", ")
                .map(str::to_lowercase)
                .collect();
            assert_eq!(
                allow,
                allowed.iter().map(|m| m.to_string()).collect(),
                "{method} {path}"
            );
            match method {
                "head" => assert_eq!(status, 405, "{path}"), // a HEAD answer has no body
                _ => assert_error(res, 405, "method not allowed on this endpoint").await,
            }
        }
    }
    assert_error(app.get_path("/not-listed").await, 404, "no such endpoint").await;
}

#[tokio::test]
async fn bodies_are_forms_or_json_with_the_same_fields() {
    let app = spawn_app().await;
    let document = document(&app).await;
    for (path, method, schema) in [
        ("/users", "post", "NewAccount"),
        ("/sessions", "post", "Credentials"),
        ("/reset_password", "post", "ResetRequest"),
        ("/reset_password", "put", "PasswordReset"),
        ("/profile/password", "put", "PasswordChange"),
        ("/profile", "delete", "AccountDeletion"),
        ("/sessions/mfa", "post", "SecondFactor"),
        ("/profile/totp", "post", "TotpStart"),
        ("/profile/totp", "put", "TotpConfirmation"),
        ("/profile/totp", "delete", "TotpRemoval"),
        ("/profile/recovery_codes", "post", "RecoveryCodesRenewal"),
    ] {
        let operation = &document["paths"][path][method];
        let content = operation["requestBody"]["content"].as_object().unwrap();
        let types: Vec<&str> = content.keys().map(String::as_str).collect();
        assert_eq!(
            types,
            ["application/json", "application/x-www-form-urlencoded"],
            "{method} {path}"
        );
        for body in content.values() {
            let reference = format!("#/components/schemas/{schema}");
            assert_eq!(body["schema"]["$ref"], reference.as_str());
        }
        for status in ["400", "413", "415", "500", "503"] {
            assert!(
                operation["responses"].get(status).is_some(),
                "{path} {status}"
            );
        }
    }
    let credentials = &document["components"]["schemas"]["Credentials"];
    assert_eq!(
        credentials["required"],
        serde_json::json!(["email", "password"])
    );
}

#[tokio::test]
async fn errors_are_messages_and_throttling_says_when_to_retry() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let message = serde_json::json!({ "$ref": "#/components/schemas/Message" });
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["Message"]["required"],
        serde_json::json!(["message"])
    );
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('2') || status.starts_with('3') || method == "head" {
                    continue;
                }
                let response = match response["$ref"].as_str() {
                    Some(target) => document.pointer(&target[1..]).unwrap(),
                    None => response,
                };
                let schema = &response["content"]["application/json"]["schema"];
                // A refused sign-in is a message, with the `mfa_token` of its second step
                // when the password was right and a code is needed.
                if path == "/sessions" && method == "post" && status == "401" {
                    let refused =
                        serde_json::json!({ "$ref": "#/components/schemas/SecondFactorRequired" });
                    assert_eq!(schema, &refused, "{method} {path} {status}");
                    continue;
                }
                // The readiness probe's refusal is a message with the probes' `status`.
                if path == "/readyz" {
                    let not_ready = serde_json::json!({ "$ref": "#/components/schemas/NotReady" });
                    assert_eq!(schema, &not_ready, "{method} {path} {status}");
                    continue;
                }
                assert_eq!(schema, &message, "{method} {path} {status}");
            }
        }
    }
    assert_eq!(
        schemas["NotReady"]["required"],
        serde_json::json!(["status", "message"])
    );
    assert_eq!(
        schemas["SecondFactorRequired"]["required"],
        serde_json::json!(["message"])
    );
    let throttled = &document["paths"]["/sessions"]["post"]["responses"]["429"];
    assert!(throttled["headers"]["Retry-After"].is_object());
    let unavailable = &document["components"]["responses"]["Unavailable"];
    assert!(unavailable["headers"]["Retry-After"].is_object());
}

#[tokio::test]
async fn session_routes_declare_the_session_cookie() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let scheme = &document["components"]["securitySchemes"]["session_id"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "cookie");
    assert_eq!(scheme["name"], "session_id");
    let session = serde_json::json!([{ "session_id": [] }]);
    // Forward-auth reads the session when there is one, and answers without it too.
    let optional = serde_json::json!([{}, { "session_id": [] }]);
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            // Everything under /profile, /sessions and /passkeys but the logins themselves
            // (both steps of a two-factor one).
            let needs_session = (path.starts_with("/profile")
                || path.starts_with("/sessions")
                || path.starts_with("/passkeys"))
                && !(path == "/sessions" && method == "post")
                && path != "/sessions/mfa"
                && path != "/passkeys/authentication";
            let security = operation.get("security");
            if path.starts_with("/auth/") {
                assert_eq!(security, Some(&optional), "{method} {path}");
                continue;
            }
            assert_eq!(
                security,
                needs_session.then_some(&session),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/nope")).send().await.unwrap();
    assert_error(res, 404, "no such endpoint").await;
    for (method, path) in [
        (Method::PATCH, "/users"),
        (Method::GET, "/users"),
        (Method::POST, "/profile"),
        // GET /sessions lists the caller's sessions now (issue 10); PUT is still no route.
        (Method::PUT, "/sessions"),
        (Method::PUT, "/sessions/others"),
        (Method::DELETE, "/reset_password"),
        (Method::POST, "/"),
    ] {
        let res = app.send_raw(method, path, None, "").await;
        assert_error(res, 405, "method not allowed on this endpoint").await;
    }
}
