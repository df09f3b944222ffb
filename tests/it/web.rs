//! The HTTP server's answers that do not depend on any channel: health,
//! readiness, unknown paths, and what it serves while its database is away.

use crate::helpers::{TestApp, spawn_app};

/// A running app whose database then goes away: new connections are
/// refused and the open ones killed.
async fn app_without_its_database() -> TestApp {
    let app = spawn_app().await;
    app.database.refuse_connections().await;
    app.database.terminate_connections().await;
    app
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_unreachable_and_healthz_still_200() {
    let app = app_without_its_database().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json()["ready"], false);
    let database = ready.json()["checks"]["database"].as_str().map(str::to_owned);
    assert!(
        database
            .as_deref()
            .is_some_and(|check| check.starts_with("unreachable")),
        "{}",
        ready.body
    );
    let health = app.get("/healthz").await;
    assert_eq!(health.status, 200);
}

#[tokio::test]
async fn readyz_is_200_with_a_database() {
    let app = spawn_app().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, 200);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let missing = app.get("/nope").await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not found");
    let wrong_method = app.send(reqwest::Method::POST, "/healthz", None).await;
    assert!(wrong_method.status.is_client_error());
}

#[tokio::test]
async fn without_a_database_the_dashboard_and_status_answer_503_with_security_headers() {
    let app = app_without_its_database().await;
    let page = app.get("/").await;
    assert_eq!(page.status, 503);
    assert!(page.body.contains("cannot reach its database"), "{}", page.body);
    assert!(
        page.body.contains("<script src=\"static/dashboard.js\""),
        "the page retries by itself"
    );
    assert!(page.header("content-security-policy").contains("script-src 'self'"));
    let status = app.get("/api/status").await;
    assert_eq!(status.status, 503);
    assert!(status.json()["error"].is_string(), "{}", status.body);
    assert_eq!(status.header("x-content-type-options"), "nosniff");
    // The static files and metrics need no database.
    for path in ["/static/dashboard.js", "/static/dashboard.css", "/metrics"] {
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
}
