//! Two replicas on the same stores: a change made through one is seen by the other's caches
//! (rendered images, authenticated principals) through the Redis invalidation channel.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestApp, eventually};

async fn etag(app: &TestApp, token: &str, id: &str) -> String {
    let res = app
        .http
        .get(app.url(&format!("/api/v1/qr-codes/{id}/image")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_change_on_one_replica_reaches_the_others_caches() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let (token, _) = a.register("replicas@example.com").await;
    let (_, key) = a
        .post("/api/v1/api-keys", Some(&token), json!({"name": "edge"}))
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let (_, qr) = a
        .post(
            "/api/v1/qr-codes",
            Some(&token),
            json!({"name": "r", "qr_type": "text", "dynamic": false, "data": {"text": "one"}}),
        )
        .await;
    let id = qr["id"].as_str().unwrap();

    // B renders and caches the image, and caches the API key's principal.
    let first = etag(&b, &key, id).await;
    assert_eq!(etag(&b, &key, id).await, first);
    // Changed through A: B serves the new image without a restart.
    let (s, _) = a
        .patch(
            &format!("/api/v1/qr-codes/{id}"),
            Some(&token),
            json!({"data": {"text": "two"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let started = std::time::Instant::now();
    eventually("replica B to drop its cached image", || async {
        let e = etag(&b, &key, id).await;
        (e != first).then_some(())
    })
    .await;
    let res = b
        .http
        .get(b.url(&format!("/api/v1/qr-codes/{id}/image")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::common::decode::decode_image(&res.bytes().await.unwrap()),
        "two"
    );
    eprintln!(
        "image invalidation reached replica B after {:?}",
        started.elapsed()
    );

    // The key is revoked through A: B refuses it, although it had cached the principal.
    let kid = a.get("/api/v1/api-keys", Some(&token)).await.1["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        a.delete(&format!("/api/v1/api-keys/{kid}"), Some(&token))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    eventually("replica B to refuse the revoked key", || async {
        (b.get("/api/v1/me", Some(&key)).await.0 == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
    b.stop().await.unwrap();
    a.stop().await.unwrap();
}
