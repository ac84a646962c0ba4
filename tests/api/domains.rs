//! Custom short domains: added, verified through a DNS TXT record (asked of a local DNS server
//! on a real socket, as `QRSAAS_DOMAINS__DNS_SERVERS` names it) or an HTTP token, flagged when
//! they stop verifying, and only verified ones get a certificate (the proxy's `ask`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{RData, Record, RecordType};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;

/// A DNS server answering TXT questions from `records` (name with its final dot → value), and
/// A questions from the entries keyed `A <name>.` (an IPv4 address).
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
                let records = records.lock().unwrap();
                let answer = match query.query_type() {
                    RecordType::TXT => records
                        .get(&name)
                        .map(|v| RData::TXT(TXT::new(vec![v.clone()]))),
                    RecordType::A => records
                        .get(&format!("A {name}"))
                        .map(|v| RData::A(A(v.parse().unwrap()))),
                    _ => None,
                };
                if let Some(rdata) = answer {
                    resp.add_answer(Record::from_rdata(query.name().clone(), 1, rdata));
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

/// A port free now, for an app whose own address must be known before it starts (the HTTP
/// check connects to the domain on `http_port`, which here is the app itself).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A request to the app as if sent to `host` (the proxy passes the visitor's `Host` through).
async fn on_host(
    app: &TestApp,
    method: reqwest::Method,
    host: &str,
    path: &str,
) -> reqwest::Response {
    app.http
        .request(method, app.url(path))
        .header("host", host)
        .send()
        .await
        .unwrap()
}

fn location(r: &reqwest::Response) -> &str {
    r.headers()["location"].to_str().unwrap()
}

#[tokio::test]
async fn codes_answer_on_their_owners_domain_by_host_and_nowhere_else_theirs() {
    let records = Arc::new(Mutex::new(HashMap::new()));
    let dns = dns_server(records.clone()).await;
    let port = free_port();
    let blocklist = std::env::temp_dir().join(format!("blocklist-{}.txt", uuid::Uuid::new_v4()));
    std::fs::write(&blocklist, "phish.example\n").unwrap();
    let file = blocklist.clone();
    let app = TestApp::spawn_with(move |s| {
        s.targets.blocklist_file = Some(file);
        s.domains.dns_servers = vec![dns];
        s.domains.http_port = port;
        s.http_addr = SocketAddr::from(([127, 0, 0, 1], port));
        s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (t, _) = app.register("brand@example.com").await;
    let (o, _) = app.register("other@example.com").await;
    // Another replica, whose host map learns of the domain through the cache bus.
    let replica = app
        .replica_with(|s| s.http_addr = "127.0.0.1:0".parse().unwrap())
        .await;

    // The domain points here (its A record); the HTTP check finds the token this service
    // answers on that host, and only there.
    records
        .lock()
        .unwrap()
        .insert("A go.brand.example.".into(), "127.0.0.1".into());
    let (_, d) = app
        .post(
            "/api/v1/domains",
            Some(&t),
            json!({"domain": "go.brand.example"}),
        )
        .await;
    let id = d["id"].as_str().unwrap().to_owned();
    let token = d["verification"]["http_token"].as_str().unwrap().to_owned();
    let well_known = format!("/.well-known/qrsaas/{token}");
    let r = on_host(&app, reqwest::Method::GET, "go.brand.example", &well_known).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), token);
    let r = on_host(&app, reqwest::Method::GET, "other.example", &well_known).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Before verification a code cannot use it.
    let url_code = |domain: Value| {
        json!({"name": "Menu", "qr_type": "url", "dynamic": true,
               "target_url": "https://brand.example/menu", "domain_id": domain})
    };
    let (s, b) = app
        .post("/api/v1/qr-codes", Some(&t), url_code(json!(id)))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["fields"]["domain_id"].is_string(), "{b}");

    let (_, v) = app
        .post(&format!("/api/v1/domains/{id}/verify"), Some(&t), json!({}))
        .await;
    assert_eq!(v["status"], "verified", "{v}");
    assert!(app.metrics().await.contains("custom_domains_served 1"));

    // A code on the domain: its short URL and the image it prints are on the domain.
    let (s, a) = app
        .post("/api/v1/qr-codes", Some(&t), url_code(json!(id)))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let a_code = a["short_code"].as_str().unwrap().to_owned();
    let a_id = a["id"].as_str().unwrap().to_owned();
    let short = format!("https://go.brand.example/{a_code}");
    assert_eq!(a["short_url"], short.as_str());
    assert_eq!(a["domain_id"], id.as_str());
    assert_eq!(a["payload"], short.as_str());
    let png = app
        .http
        .get(app.url(&format!("/api/v1/qr-codes/{a_id}/image")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(crate::common::decode::decode_image(&png), short);

    // Another tenant's code, and other tenants cannot put codes on the domain.
    let (s, b) = app
        .post("/api/v1/qr-codes", Some(&o), url_code(json!(id)))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (_, b) = app
        .post(
            "/api/v1/qr-codes",
            Some(&o),
            json!({"name": "Theirs", "qr_type": "url", "dynamic": true,
                   "target_url": "https://other.example/"}),
        )
        .await;
    let b_code = b["short_code"].as_str().unwrap().to_owned();
    assert!(
        b["short_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/r/{b_code}")),
        "{b}"
    );

    // By Host: the bare path and /r/ answer the owner's code, in any case, with a final dot,
    // for HEAD as for GET, with the scan's query forwarded.
    for (host, path) in [
        ("go.brand.example", format!("/{a_code}")),
        ("go.brand.example", format!("/r/{a_code}")),
        ("GO.Brand.Example.", format!("/{a_code}")),
        ("go.brand.example:443", format!("/{a_code}")),
    ] {
        let r = on_host(&app, reqwest::Method::GET, host, &path).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{host}{path}");
        assert_eq!(location(&r), "https://brand.example/menu", "{host}{path}");
    }
    let r = on_host(
        &app,
        reqwest::Method::HEAD,
        "go.brand.example",
        &format!("/{a_code}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let r = on_host(
        &app,
        reqwest::Method::GET,
        "go.brand.example",
        &format!("/{a_code}?table=4"),
    )
    .await;
    assert_eq!(location(&r), "https://brand.example/menu?table=4");

    crate::common::eventually("the other replica serves the domain", || async {
        let r = on_host(
            &replica,
            reqwest::Method::GET,
            "go.brand.example",
            &format!("/{a_code}"),
        )
        .await;
        (r.status() == StatusCode::FOUND).then_some(())
    })
    .await;
    let r = on_host(
        &replica,
        reqwest::Method::GET,
        "go.brand.example",
        &format!("/{b_code}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A password-protected code on the domain: the form from the bare path posts to /r/, whose
    // unlock cookie then opens the code on the same host.
    let (s, p) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "VIP", "qr_type": "url", "dynamic": true, "domain_id": id,
                   "target_url": "https://brand.example/vip",
                   "rules": [{"if": {}, "then": {"password": "open sesame"}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let pc = p["short_code"].as_str().unwrap();
    let form = on_host(
        &app,
        reqwest::Method::GET,
        "go.brand.example",
        &format!("/{pc}"),
    )
    .await;
    assert_eq!(form.status(), StatusCode::OK);
    assert!(
        form.text()
            .await
            .unwrap()
            .contains(&format!("action=\"/r/{pc}\""))
    );
    let right = app
        .http
        .post(app.url(&format!("/r/{pc}")))
        .header("host", "go.brand.example")
        .form(&[("password", "open sesame")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&right), format!("/r/{pc}"));
    let cookie = right.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let open = app
        .http
        .get(app.url(&format!("/r/{pc}")))
        .header("host", "go.brand.example")
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), StatusCode::FOUND);
    assert_eq!(location(&open), "https://brand.example/vip");
    // Deleted codes do not hold the domain.
    let (s, _) = app
        .delete(
            &format!("/api/v1/qr-codes/{}", p["id"].as_str().unwrap()),
            Some(&t),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // Another tenant's code on my domain is unknown, bare or under /r/, and so is everything
    // that is not a code (the API lives on the service's own host).
    for path in [
        format!("/{b_code}"),
        format!("/r/{b_code}"),
        format!("/{b_code}/report"),
        "/api/v1/me".to_owned(),
        "/".to_owned(),
        "/healthz".to_owned(),
    ] {
        let r = on_host(&app, reqwest::Method::GET, "go.brand.example", &path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}: a page for people"
        );
    }
    // The owner decides where the domain's root and unknown codes send people: their own site,
    // never back to a served host (a loop) or to anything but http(s).
    for (field, bad) in [
        ("root_url", "https://go.brand.example/x"),
        ("root_url", "javascript:alert(1)"),
        ("not_found_url", "ftp://brand.example/"),
        ("not_found_url", "https://login.phish.example/"),
    ] {
        let (s, b) = app
            .patch(
                &format!("/api/v1/domains/{id}"),
                Some(&t),
                json!({ field: bad }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
        assert!(b["error"]["fields"][field].is_string(), "{b}");
    }
    let (s, d) = app
        .patch(
            &format!("/api/v1/domains/{id}"),
            Some(&t),
            json!({"root_url": "https://brand.example/", "not_found_url": "https://brand.example/lost"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["root_url"], "https://brand.example/");
    assert_eq!(d["not_found_url"], "https://brand.example/lost");
    for (method, path, to) in [
        (
            reqwest::Method::GET,
            "/".to_owned(),
            "https://brand.example/",
        ),
        (
            reqwest::Method::HEAD,
            "/".to_owned(),
            "https://brand.example/",
        ),
        (
            reqwest::Method::GET,
            "/r/".to_owned(),
            "https://brand.example/",
        ),
        (
            reqwest::Method::GET,
            "/nope-not-a-code".to_owned(),
            "https://brand.example/lost",
        ),
        // Another tenant's code is an unknown code here: the owner's page, never its target.
        (
            reqwest::Method::GET,
            format!("/{b_code}"),
            "https://brand.example/lost",
        ),
    ] {
        let r = on_host(&app, method.clone(), "go.brand.example", &path).await;
        assert_eq!(r.status(), StatusCode::FOUND, "{method} {path}");
        assert_eq!(location(&r), to, "{method} {path}");
    }
    let r = on_host(
        &app,
        reqwest::Method::GET,
        "go.brand.example",
        &format!("/{b_code}/report"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, d) = app
        .patch(
            &format!("/api/v1/domains/{id}"),
            Some(&t),
            json!({"not_found_url": null}),
        )
        .await;
    assert!(
        d["not_found_url"].is_null() && d["root_url"] == "https://brand.example/",
        "{d}"
    );
    let r = on_host(
        &app,
        reqwest::Method::GET,
        "go.brand.example",
        "/nope-not-a-code",
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (s, _) = app
        .patch(&format!("/api/v1/domains/{id}"), Some(&t), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // An operator blocks the root's destination later: the redirect is cleared (audited), and
    // the domain's root answers the 404 page instead of sending people there.
    let (s, _) = app
        .patch(
            &format!("/api/v1/domains/{id}"),
            Some(&t),
            json!({"root_url": "https://brand-home.example/"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (ops, _) = app.register("ops@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "ops@example.com")
        .await
        .unwrap();
    let (s, b) = app
        .post(
            "/api/v1/admin/blocklist",
            Some(&ops),
            json!({"pattern": "brand-home.example"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, d) = app.get(&format!("/api/v1/domains/{id}"), Some(&t)).await;
    assert!(d["root_url"].is_null(), "{d}");
    let r = on_host(&app, reqwest::Method::GET, "go.brand.example", "/").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The service's own host keeps serving every code under /r/ (printed links stay valid)
    // and is not a short domain.
    let r = app
        .http
        .get(app.url(&format!("/r/{a_code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let r = app
        .http
        .get(app.url(&format!("/r/{b_code}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    let (s, _) = app.get(&format!("/{a_code}"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A host nobody verified is the service's host (no bare codes there either).
    let r = on_host(
        &app,
        reqwest::Method::GET,
        "unknown.example",
        &format!("/{a_code}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Scans on the domain are the code's scans.
    crate::common::eventually("the domain's scans counted", || async {
        let (_, c) = app.get(&format!("/api/v1/qr-codes/{a_id}"), Some(&t)).await;
        (c["scans_total"].as_i64() >= Some(6)).then_some(())
    })
    .await;

    // Default domain: new dynamic codes use it; null asks for the service's host; static codes
    // encode their content and take no domain.
    let (s, _) = app
        .patch(
            &format!("/api/v1/domains/{id}"),
            Some(&t),
            json!({"default": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, c) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "Poster", "qr_type": "url", "dynamic": true,
                   "target_url": "https://brand.example/poster"}),
        )
        .await;
    assert!(
        c["short_url"]
            .as_str()
            .unwrap()
            .starts_with("https://go.brand.example/"),
        "{c}"
    );
    let (_, n) = app
        .post("/api/v1/qr-codes", Some(&t), url_code(Value::Null))
        .await;
    assert!(n["short_url"].as_str().unwrap().contains("/r/"), "{n}");
    let (s, b) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "Text", "qr_type": "text", "dynamic": false,
                   "data": {"text": "hi"}, "domain_id": id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    // A domain in use is not removed (its printed URLs would change); moving a code off it
    // changes its short URL, and the old one keeps answering while the domain is the owner's.
    let (s, b) = app.delete(&format!("/api/v1/domains/{id}"), Some(&t)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["error"]["code"], "domain_in_use");
    let (s, moved) = app
        .patch(
            &format!("/api/v1/qr-codes/{a_id}"),
            Some(&t),
            json!({"domain_id": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    assert!(
        moved["short_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/r/{a_code}"))
    );
    let r = on_host(
        &app,
        reqwest::Method::GET,
        "go.brand.example",
        &format!("/{a_code}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FOUND);

    // The daily re-check: the domain stopped pointing here — flagged failing, its codes still
    // answer (a DNS slip must not break printed codes), but no new certificate.
    records.lock().unwrap().clear();
    sqlx::query("UPDATE domains SET checked_at = now() - interval '2 days'")
        .execute(&app.db)
        .await
        .unwrap();
    crate::jobs::fire_now(&app, qrsaas_jobs::MaintenanceTask::RecheckDomains).await;
    let failing = crate::common::eventually("the re-check flags the domain", || async {
        let (_, d) = app.get(&format!("/api/v1/domains/{id}"), Some(&t)).await;
        (d["status"] == "failing").then_some(d)
    })
    .await;
    assert!(
        failing["error"]
            .as_str()
            .unwrap()
            .contains("go.brand.example"),
        "{failing}"
    );
    // The owner is told, once: another failed check (the API's, then the next day's) is no news.
    let mail = crate::common::eventually("the owner told", || async {
        app.smtp
            .to("brand@example.com")
            .into_iter()
            .find(|m| m.subject().contains("go.brand.example no longer verifies"))
    })
    .await;
    assert!(
        mail.text().contains("_qrsaas.go.brand.example"),
        "{}",
        mail.text()
    );
    assert!(
        mail.text()
            .contains(&format!("POST /api/v1/domains/{id}/verify"))
    );
    let (_, v) = app
        .post(&format!("/api/v1/domains/{id}/verify"), Some(&t), json!({}))
        .await;
    assert_eq!(v["status"], "failing");
    sqlx::query("UPDATE domains SET checked_at = now() - interval '2 days'")
        .execute(&app.db)
        .await
        .unwrap();
    // The next slot's run (this minute's has been taken).
    let next = chrono::Utc::now() + chrono::Duration::minutes(1);
    let fired = crate::jobs::scheduler(&app)
        .await
        .fire(qrsaas_jobs::MaintenanceTask::RecheckDomains, next)
        .await
        .unwrap();
    assert!(fired);
    crate::common::eventually("the second re-check ran", || async {
        let (_, d) = app.get(&format!("/api/v1/domains/{id}"), Some(&t)).await;
        let checked = chrono::DateTime::parse_from_rfc3339(d["checked_at"].as_str()?).ok()?;
        (chrono::Utc::now() - checked.to_utc() < chrono::Duration::hours(1)).then_some(())
    })
    .await;
    let told: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbound_emails WHERE kind = 'domain_failing'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(told, 1);
    let code_c = c["short_code"].as_str().unwrap();
    let r = on_host(
        &app,
        reqwest::Method::GET,
        "go.brand.example",
        &format!("/{code_c}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let r = app
        .http
        .get(app.url("/internal/tls-allowed?domain=go.brand.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Once no code uses it the domain can go, and then nothing answers on it.
    let c_id = c["id"].as_str().unwrap();
    let (s, _) = app
        .patch(
            &format!("/api/v1/qr-codes/{c_id}"),
            Some(&t),
            json!({"domain_id": null}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app.delete(&format!("/api/v1/domains/{id}"), Some(&t)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r = on_host(
        &app,
        reqwest::Method::GET,
        "go.brand.example",
        &format!("/{code_c}"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    replica.stop().await.unwrap();
    app.stop().await.unwrap();
    let _ = std::fs::remove_file(blocklist);
}

#[tokio::test]
async fn a_plan_without_custom_domains_cannot_add_one() {
    let app = TestApp::spawn_with(|s| s.billing.default_plan = "free".into()).await;
    let (t, _) = app.register("free@example.com").await;
    let (s, b) = app
        .post(
            "/api/v1/domains",
            Some(&t),
            json!({"domain": "go.free.example"}),
        )
        .await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{b}");
    assert_eq!(b["error"]["code"], "plan_feature_missing");
    assert_eq!(b["error"]["fields"]["feature"], "custom_domains");
    let (_, list) = app.get("/api/v1/domains", Some(&t)).await;
    assert_eq!(list["total"], 0);
    app.stop().await.unwrap();
}
