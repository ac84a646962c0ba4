//! Custom short domains: added, verified through a DNS TXT record (asked of a local DNS server
//! on a real socket, as `QRSAAS_DOMAINS__DNS_SERVERS` names it) or an HTTP token, flagged when
//! they stop verifying, and only verified ones get a certificate (the proxy's `ask`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use reqwest::StatusCode;
use serde_json::json;

use crate::common::TestApp;

/// A DNS server answering TXT questions from `records` (name with its final dot → value).
async fn dns_server(records: Arc<Mutex<HashMap<String, String>>>) -> SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut resp = Message::response(q.metadata.id, OpCode::Query);
            for query in &q.queries {
                resp.add_query(query.clone());
                let name = query.name().to_ascii().to_lowercase();
                if query.query_type() == RecordType::TXT
                    && let Some(v) = records.lock().unwrap().get(&name)
                {
                    resp.add_answer(Record::from_rdata(
                        query.name().clone(),
                        1,
                        RData::TXT(TXT::new(vec![v.clone()])),
                    ));
                }
            }
            let _ = socket.send_to(&resp.to_vec().unwrap(), from).await;
        }
    });
    addr
}

#[tokio::test]
async fn domains_are_verified_by_dns_flagged_when_they_stop_and_only_verified_get_tls() {
    let records = Arc::new(Mutex::new(HashMap::new()));
    let dns = dns_server(records.clone()).await;
    let app = TestApp::spawn_with(move |s| s.domains.dns_servers = vec![dns]).await;
    let (t, _) = app.register("brand@example.com").await;
    let (other, _) = app.register("squat@example.com").await;

    for bad in [
        "localhost",
        "127.0.0.1",
        "not a domain",
        "http://go.example.com",
    ] {
        let (s, b) = app
            .post("/api/v1/domains", Some(&t), json!({"domain": bad}))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
    }
    let (s, d) = app
        .post(
            "/api/v1/domains",
            Some(&t),
            json!({"domain": "Go.Brand.Example."}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!(d["domain"], "go.brand.example");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["verification"]["txt_name"], "_qrsaas.go.brand.example");
    let value = d["verification"]["txt_value"].as_str().unwrap().to_owned();
    assert!(value.starts_with("qrsaas-verify="), "{d}");
    let id = d["id"].as_str().unwrap().to_owned();
    // Anyone may claim an unverified name; only control of it verifies.
    let (s, squat) = app
        .post(
            "/api/v1/domains",
            Some(&other),
            json!({"domain": "go.brand.example"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{squat}");
    let (s, _) = app
        .post(
            "/api/v1/domains",
            Some(&t),
            json!({"domain": "go.brand.example"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "the same account twice");

    // No record yet: still pending, with the reason; no certificate; not a default.
    let (s, v) = app
        .post(&format!("/api/v1/domains/{id}/verify"), Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "pending");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("_qrsaas.go.brand.example"),
        "{v}"
    );
    let ask = |d: &'static str| {
        let app = &app;
        async move {
            app.http
                .get(app.url(&format!("/internal/tls-allowed?domain={d}")))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(ask("go.brand.example").await, StatusCode::NOT_FOUND);
    let (s, _) = app
        .patch(
            &format!("/api/v1/domains/{id}"),
            Some(&t),
            json!({"default": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // The record is published: verified; the squatter's claim cannot verify (its token differs).
    records
        .lock()
        .unwrap()
        .insert("_qrsaas.go.brand.example.".into(), value);
    let (_, v) = app
        .post(&format!("/api/v1/domains/{id}/verify"), Some(&t), json!({}))
        .await;
    assert_eq!(v["status"], "verified", "{v}");
    assert!(v["verified_at"].is_string());
    assert_eq!(ask("go.brand.example").await, StatusCode::OK);
    assert_eq!(ask("GO.brand.example.").await, StatusCode::OK);
    assert_eq!(ask("other.example").await, StatusCode::NOT_FOUND);
    let sid = squat["id"].as_str().unwrap();
    let (_, sv) = app
        .post(
            &format!("/api/v1/domains/{sid}/verify"),
            Some(&other),
            json!({}),
        )
        .await;
    assert_eq!(sv["status"], "pending", "{sv}");
    let (s, v) = app
        .patch(
            &format!("/api/v1/domains/{id}"),
            Some(&t),
            json!({"default": true}),
        )
        .await;
    assert_eq!(
        (s, v["default"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{v}"
    );

    // The record goes away: flagged failing (kept), and no new certificates.
    records.lock().unwrap().clear();
    let (_, v) = app
        .post(&format!("/api/v1/domains/{id}/verify"), Some(&t), json!({}))
        .await;
    assert_eq!(v["status"], "failing", "{v}");
    assert_eq!(ask("go.brand.example").await, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/domains", Some(&t)).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["status"], "failing");

    // Other tenants' ids are not found; removal is the owner's.
    for (m, p) in [
        ("post", format!("/api/v1/domains/{id}/verify")),
        ("delete", format!("/api/v1/domains/{id}")),
    ] {
        let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
        let (s, _) = app.call(method, &p, Some(&other), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {p}");
    }
    let (s, _) = app.delete(&format!("/api/v1/domains/{id}"), Some(&t)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    app.stop().await.unwrap();
}
