//! HTTP routes that need no running app.

use kinoyubot::store::{Store, pool};
use kinoyubot::web::routes::{WebState, routes};

use crate::helpers::TestDatabase;

fn unreachable_store() -> Store {
    // Port 1 on loopback: nothing listens there, so every connection fails fast.
    Store::new(pool::build("postgresql://postgres@127.0.0.1:1/none", 1).expect("pool"))
}

#[tokio::test]
async fn readyz_is_503_when_the_database_is_unreachable_and_healthz_still_200() {
    let filter = routes(WebState::new(unreachable_store()));
    let ready = warp::test::request().path("/readyz").reply(&filter).await;
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = serde_json::from_slice(ready.body()).expect("json");
    assert_eq!(body["status"], "unavailable");
    let health = warp::test::request().path("/healthz").reply(&filter).await;
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn readyz_is_200_with_a_database() {
    let (_database, store) = TestDatabase::migrated().await;
    let filter = routes(WebState::new(store));
    let ready = warp::test::request().path("/readyz").reply(&filter).await;
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let filter = routes(WebState::new(unreachable_store()));
    let missing = warp::test::request().path("/nope").reply(&filter).await;
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = serde_json::from_slice(missing.body()).expect("json");
    assert_eq!(body["error"], "not found");
    let wrong_method = warp::test::request()
        .method("POST")
        .path("/healthz")
        .reply(&filter)
        .await;
    assert!(wrong_method.status().is_client_error());
}

#[tokio::test]
async fn without_a_database_the_dashboard_and_status_answer_503_with_security_headers() {
    let filter = routes(WebState::new(unreachable_store()));
    let page = warp::test::request().path("/").reply(&filter).await;
    assert_eq!(page.status(), 503);
    let html = String::from_utf8_lossy(page.body());
    assert!(html.contains("cannot reach its database"), "{html}");
    assert!(
        html.contains("<script src=\"static/dashboard.js\""),
        "the page retries by itself"
    );
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("script-src 'self'")
    );
    let status = warp::test::request().path("/api/status").reply(&filter).await;
    assert_eq!(status.status(), 503);
    let body: serde_json::Value = serde_json::from_slice(status.body()).expect("json");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(status.headers()["x-content-type-options"], "nosniff");
    // The static files and metrics need no database.
    assert_eq!(
        warp::test::request()
            .path("/static/dashboard.js")
            .reply(&filter)
            .await
            .status(),
        200
    );
    assert_eq!(
        warp::test::request()
            .path("/static/dashboard.css")
            .reply(&filter)
            .await
            .status(),
        200
    );
    assert_eq!(
        warp::test::request().path("/metrics").reply(&filter).await.status(),
        200
    );
}
