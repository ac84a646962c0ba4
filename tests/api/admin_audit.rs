//! Roles, suspension and the audit trail.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{TestApp, eventually};

pub async fn became_admin(app: &TestApp, token: &str) {
    eventually("the promotion to reach the app", || async {
        (app.get("/api/v1/me", Some(token)).await.1["role"] == "admin").then_some(())
    })
    .await;
}

#[tokio::test]
async fn admins_search_suspend_and_change_roles() {
    let app = TestApp::spawn().await;
    let (admin_token, admin_id) = app.register("boss@example.com").await;
    let (user_token, user_id) = app.register("worker@example.com").await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            Some(&user_token),
            json!({"name": "bot"}),
        )
        .await;
    let key = key["key"].as_str().unwrap().to_owned();
    let (_, qr) = app
        .post(
            "/api/v1/qr-codes",
            Some(&user_token),
            json!({"name": "Shop", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/shop"}),
        )
        .await;
    let short = format!("/r/{}", qr["short_code"].as_str().unwrap());
    let scan = || async { app.http.get(app.url(&short)).send().await.unwrap().status() };
    assert_eq!(scan().await, StatusCode::FOUND, "live (and now cached)");

    // Not an admin yet: 403.
    let (s, b) = app.get("/api/v1/admin/users", Some(&admin_token)).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    qrsaas::accounts::admin::promote(&app.settings, "BOSS@example.com")
        .await
        .unwrap();
    // The CLI announces the change over pub/sub; the running app sees it a moment later.
    became_admin(&app, &admin_token).await;

    let (s, list) = app
        .get("/api/v1/admin/users?q=work", Some(&admin_token))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["email"], "worker@example.com");
    assert_eq!(
        app.get("/api/v1/admin/users", Some(&admin_token)).await.1["total"],
        2
    );
    // LIKE wildcards in q are literal.
    assert_eq!(
        app.get("/api/v1/admin/users?q=%25", Some(&admin_token))
            .await
            .1["total"],
        0
    );

    // Suspend: sessions revoked, keys refused, login refused.
    let path = format!("/api/v1/admin/users/{user_id}");
    let (s, u) = app
        .patch(&path, Some(&admin_token), json!({"suspended": true}))
        .await;
    assert_eq!((s, u["suspended"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(
        app.get("/api/v1/me", Some(&user_token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&key)).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, b) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "worker@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    // The account's codes stop serving (the cached entry is dropped): the "disabled" page.
    assert_eq!(scan().await, StatusCode::GONE);

    // Unsuspend and promote.
    let (_, u) = app
        .patch(
            &path,
            Some(&admin_token),
            json!({"suspended": false, "role": "admin"}),
        )
        .await;
    assert_eq!(
        (u["suspended"].as_bool(), u["role"].as_str()),
        (Some(false), Some("admin"))
    );
    assert_eq!(app.get("/api/v1/me", Some(&key)).await.0, StatusCode::OK);
    assert_eq!(scan().await, StatusCode::FOUND, "serving again");
    let (s, _) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "worker@example.com", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // No self-demotion; bad role 422; unknown user 404; unknown field 422.
    let me = format!("/api/v1/admin/users/{admin_id}");
    let (s, b) = app
        .patch(&me, Some(&admin_token), json!({"role": "user"}))
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("cannot_change_self"))
    );
    assert_eq!(
        app.patch(&path, Some(&admin_token), json!({"role": "god"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let ghost = format!("/api/v1/admin/users/{}", uuid::Uuid::new_v4());
    assert_eq!(
        app.patch(&ghost, Some(&admin_token), json!({"suspended": true}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.patch(&path, Some(&admin_token), json!({"plan": "x"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn every_change_is_audited_with_before_after_ip_and_request_id() {
    let app = TestApp::spawn().await;
    let (token, user_id) = app.register("audited@example.com").await;
    let res = app
        .http
        .post(app.url("/api/v1/projects"))
        .bearer_auth(&token)
        .header("x-request-id", "req-create-1")
        .json(&json!({"name": "Alpha", "color": "#000000"}))
        .send()
        .await
        .unwrap();
    let p: serde_json::Value = res.json().await.unwrap();
    let pid = p["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/projects/{pid}"),
        Some(&token),
        json!({"name": "Beta"}),
    )
    .await;
    app.delete(&format!("/api/v1/projects/{pid}"), Some(&token))
        .await;
    let (_, created_key) = app
        .post("/api/v1/api-keys", Some(&token), json!({"name": "k"}))
        .await;
    let full_key = created_key["key"].as_str().unwrap();

    let (s, log) = app.get("/api/v1/audit-logs", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_key.create",
            "project.delete",
            "project.update",
            "project.create",
            "user.register"
        ]
    );
    let items = log["items"].as_array().unwrap();
    let create = &items[3];
    assert_eq!(create["entity_id"], pid);
    assert_eq!(create["request_id"], "req-create-1");
    assert_eq!(create["ip"], "127.0.0.1");
    assert_eq!(create["actor_user_id"], user_id.as_str());
    assert!(create["before"].is_null());
    assert_eq!(create["after"]["name"], "Alpha");
    let update = &items[2];
    assert_eq!(
        (
            update["before"]["name"].as_str(),
            update["after"]["name"].as_str()
        ),
        (Some("Alpha"), Some("Beta"))
    );
    assert_eq!(items[1]["before"]["name"], "Beta");
    // Secrets never reach the trail.
    let text = log.to_string();
    assert!(
        !text.contains(full_key),
        "the API key leaked into the audit log"
    );
    assert!(
        !text.contains("argon2") && !text.contains("password_hash"),
        "{text}"
    );
    assert_eq!(items[0]["after"]["prefix"], created_key["prefix"]);
    // Filters.
    let (_, only) = app
        .get(
            "/api/v1/audit-logs?entity_type=project&per_page=1",
            Some(&token),
        )
        .await;
    assert_eq!(
        (
            only["total"].as_i64(),
            only["items"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );

    // Another user sees only their own; admins see everyone's.
    let (other, _) = app.register("other@example.com").await;
    assert_eq!(
        app.get("/api/v1/audit-logs", Some(&other)).await.1["total"],
        1
    );
    assert_eq!(
        app.get("/api/v1/admin/audit-logs", Some(&other)).await.0,
        StatusCode::FORBIDDEN
    );
    qrsaas::accounts::admin::promote(&app.settings, "other@example.com")
        .await
        .unwrap();
    became_admin(&app, &other).await;
    let (_, all) = app.get("/api/v1/admin/audit-logs", Some(&other)).await;
    // 5 of the first user, the second's registration, and the promotion (a system action).
    assert_eq!(all["total"], 7, "{all}");
    let (_, by_user) = app
        .get(
            &format!("/api/v1/admin/audit-logs?user_id={user_id}"),
            Some(&other),
        )
        .await;
    assert_eq!(by_user["total"], 5);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_console_counts_searches_every_tenant_and_unblocks() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.register("ops@example.com").await;
    let (alice, _) = app.register("alice@example.com").await;
    let (bob, _) = app.register("bob@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "ops@example.com")
        .await
        .unwrap();
    became_admin(&app, &admin).await;
    let code = |t: String, name: &'static str, target: &'static str| {
        let app = &app;
        async move {
            let (s, qr) = app
                .post(
                    "/api/v1/qr-codes",
                    Some(&t),
                    json!({"name": name, "qr_type": "url", "dynamic": true, "target_url": target}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{qr}");
            qr
        }
    };
    let phish = code(
        alice.clone(),
        "Prize draw",
        "https://evil-login.example.net/win",
    )
    .await;
    code(alice.clone(), "Menu", "https://cafe.example.com/menu").await;
    code(
        bob.clone(),
        "Flyer",
        "https://shop.example.org/?ref=evil-login",
    )
    .await;
    let short = format!("/r/{}", phish["short_code"].as_str().unwrap());
    assert_eq!(
        app.http.get(app.url(&short)).send().await.unwrap().status(),
        StatusCode::FOUND
    );

    // Stats: accounts, codes, scans (one), queues.
    let (s, st) = app.get("/api/v1/admin/stats", Some(&admin)).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(
        (
            st["accounts"].as_i64(),
            st["codes"].as_i64(),
            st["dynamic_codes"].as_i64()
        ),
        (Some(3), Some(3), Some(3))
    );
    assert_eq!(st["active_accounts_30d"], 3);
    assert_eq!(
        (st["paying_accounts"].as_i64(), st["mrr"].as_str()),
        (Some(0), Some("0"))
    );
    assert_eq!(st["currency"], "INR");
    assert!(st["queue_depths"]["email"].is_u64(), "{st}");
    eventually("the scan counted", || async {
        let (_, st) = app.get("/api/v1/admin/stats", Some(&admin)).await;
        (st["scans_today"] == 1 && st["scans_30d"] == 1).then_some(())
    })
    .await;
    // MRR: a monthly pro (999.00) and a yearly business (49,990.00 / 12) subscription.
    for (email, plan, interval) in [
        ("alice@example.com", "pro", "month"),
        ("bob@example.com", "business", "year"),
    ] {
        sqlx::query(
            "INSERT INTO billing_subscriptions (id, user_id, plan_id, status, interval) \
             SELECT gen_random_uuid(), id, $2, 'active', $3 FROM users WHERE email = $1",
        )
        .bind(email)
        .bind(plan)
        .bind(interval)
        .execute(&app.db)
        .await
        .unwrap();
    }
    let (_, st) = app.get("/api/v1/admin/stats", Some(&admin)).await;
    assert_eq!(
        (st["paying_accounts"].as_i64(), st["mrr"].as_str()),
        (Some(2), Some("5164.83"))
    );
    // Not for users, nor for keys without account:admin.
    assert_eq!(
        app.get("/api/v1/admin/stats", Some(&alice)).await.0,
        StatusCode::FORBIDDEN
    );

    // Search across tenants: by target host (not the query string), name, short code.
    let (_, hits) = app
        .get("/api/v1/admin/qr-codes?q=evil-login", Some(&admin))
        .await;
    assert_eq!(hits["total"], 1, "{hits}");
    assert_eq!(hits["items"][0]["owner_email"], "alice@example.com");
    assert_eq!(
        hits["items"][0]["target_url"],
        "https://evil-login.example.net/win"
    );
    let (_, hits) = app
        .get("/api/v1/admin/qr-codes?q=flyer", Some(&admin))
        .await;
    assert_eq!(
        (
            hits["total"].as_i64(),
            hits["items"][0]["owner_email"].as_str()
        ),
        (Some(1), Some("bob@example.com"))
    );
    let (_, hits) = app
        .get(
            &format!(
                "/api/v1/admin/qr-codes?q={}",
                phish["short_code"].as_str().unwrap()
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(hits["items"][0]["id"], phish["id"]);
    let (_, all) = app
        .get("/api/v1/admin/qr-codes?per_page=2", Some(&admin))
        .await;
    assert_eq!(
        (
            all["total"].as_i64(),
            all["items"].as_array().unwrap().len()
        ),
        (Some(3), 2)
    );
    let (_, none) = app.get("/api/v1/admin/qr-codes?q=%25", Some(&admin)).await;
    assert_eq!(none["total"], 0, "LIKE wildcards are literal");

    // Block, then unblock: the code serves again; both audited.
    let id = phish["id"].as_str().unwrap();
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/qr-codes/{id}/unblock"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_blocked"))
    );
    app.post(
        &format!("/api/v1/admin/qr-codes/{id}/block"),
        Some(&admin),
        json!({}),
    )
    .await;
    assert_eq!(
        app.http.get(app.url(&short)).send().await.unwrap().status(),
        StatusCode::GONE
    );
    let (s, _) = app
        .post(
            &format!("/api/v1/admin/qr-codes/{id}/unblock"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.http.get(app.url(&short)).send().await.unwrap().status(),
        StatusCode::FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/qr-codes/{id}"), Some(&alice))
            .await
            .1["status"],
        "active"
    );
    let actions = app.audit_actions("/api/v1/admin/audit-logs", &admin).await;
    assert!(
        actions.iter().any(|a| a == "qr_code.block")
            && actions.iter().any(|a| a == "qr_code.unblock"),
        "{actions:?}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_blocklist_refuses_new_targets_blocks_live_codes_and_reports_reach_the_queue() {
    let file = std::env::temp_dir().join(format!("blocklist-{}.txt", uuid::Uuid::new_v4()));
    std::fs::write(&file, "# from the operator's feed\nfilebad.example\n").unwrap();
    let app = TestApp::spawn_with(|s| s.targets.blocklist_file = Some(file.clone())).await;
    let (admin, _) = app.register("ops@example.com").await;
    let (alice, _) = app.register("alice@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "ops@example.com")
        .await
        .unwrap();
    became_admin(&app, &admin).await;
    let create = |target: &str| {
        let app = &app;
        let alice = alice.clone();
        let body = json!({"name": "c", "qr_type": "url", "dynamic": true, "target_url": target});
        async move { app.post("/api/v1/qr-codes", Some(&alice), body).await }
    };
    let (_, bad) = create("https://a.evil-login.example.net/x").await;
    let (_, good) = create("https://cafe.example.com/").await;
    let scan = |qr: &serde_json::Value| {
        let url = app.url(&format!("/r/{}", qr["short_code"].as_str().unwrap()));
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap().status() }
    };
    assert_eq!(scan(&bad).await, StatusCode::FOUND);

    // An entry blocks the live code it catches, at once, and nothing else.
    let (s, added) = app
        .post(
            "/api/v1/admin/blocklist",
            Some(&admin),
            json!({"pattern": "Evil-Login.example.net.", "reason": "phishing kit"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{added}");
    assert_eq!(added["entry"]["pattern"], "evil-login.example.net");
    assert_eq!(added["codes_blocked"], 1);
    assert_eq!(scan(&bad).await, StatusCode::GONE);
    assert_eq!(scan(&good).await, StatusCode::FOUND);
    let (s, _) = app
        .post(
            "/api/v1/admin/blocklist",
            Some(&admin),
            json!({"pattern": "evil-login.example.net"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = app
        .post(
            "/api/v1/admin/blocklist",
            Some(&admin),
            json!({"pattern": "*"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        "/api/v1/admin/blocklist",
        Some(&admin),
        json!({"pattern": "*paypal*"}),
    )
    .await;

    // New targets, retargets and rule redirects are refused, naming the field; the file's
    // entries count too.
    for target in [
        "https://login.evil-login.example.net/",
        "https://paypal-secure.example.org/",
        "https://filebad.example/",
    ] {
        let (s, b) = create(target).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{target}: {b}");
        assert_eq!(
            b["error"]["fields"]["target_url"],
            "points at a destination this service blocks"
        );
    }
    let gid = good["id"].as_str().unwrap();
    let (s, b) = app
        .patch(
            &format!("/api/v1/qr-codes/{gid}"),
            Some(&alice),
            json!({"target_url": "https://evil-login.example.net/"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["fields"]["target_url"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let (s, b) = app
        .patch(
            &format!("/api/v1/qr-codes/{gid}"),
            Some(&alice),
            json!({"rules": [{"if": {"device": ["ios"]}, "then": {"redirect": "https://www.paypal.evil.io/"}}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["error"]["fields"]["rules[0].then.redirect"].is_string(),
        "{b}"
    );
    let (_, list) = app.get("/api/v1/admin/blocklist", Some(&admin)).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let entry = added["entry"]["id"].as_str().unwrap();
    let (s, _) = app
        .delete(&format!("/api/v1/admin/blocklist/{entry}"), Some(&admin))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        create("https://login.evil-login.example.net/").await.0,
        StatusCode::CREATED
    );

    // Reports: the landing page links the form; a report reaches the operator's queue.
    let (_, card) = app
        .post(
            "/api/v1/qr-codes",
            Some(&alice),
            json!({"name": "v", "qr_type": "vcard", "dynamic": true, "data": {"first_name": "Ann"}}),
        )
        .await;
    let code = card["short_code"].as_str().unwrap();
    let page = app
        .http
        .get(app.url(&format!("/r/{code}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("href=\"/r/{code}/report\"")),
        "{page}"
    );
    let form = app
        .http
        .get(app.url(&format!("/r/{code}/report")))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    assert!(form.text().await.unwrap().contains("name=\"reason\""));
    let post = |reason: &'static str| {
        app.http
            .post(app.url(&format!("/r/{code}/report")))
            .form(&[("reason", reason), ("details", "asks for my bank password")])
            .send()
    };
    let res = post("fraud-ish").await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("must be phishing"));
    let res = post("phishing").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Thank you"));
    let (s, q) = app
        .get("/api/v1/admin/reports?status=open", Some(&admin))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(q["total"], 1, "{q}");
    assert_eq!(
        (
            q["items"][0]["short_code"].as_str(),
            q["items"][0]["reason"].as_str(),
            q["items"][0]["details"].as_str()
        ),
        (
            Some(code),
            Some("phishing"),
            Some("asks for my bank password")
        )
    );
    assert_eq!(
        app.get("/api/v1/admin/reports", Some(&alice)).await.0,
        StatusCode::FORBIDDEN
    );
    let report = q["items"][0]["id"].as_str().unwrap().to_owned();
    // One address cannot flood the queue.
    for _ in 0..4 {
        post("spam").await.unwrap();
    }
    assert_eq!(
        post("spam").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Closed reports leave the open queue.
    let (s, _) = app
        .post(
            &format!("/api/v1/admin/reports/{report}/resolve"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, open) = app
        .get("/api/v1/admin/reports?status=open", Some(&admin))
        .await;
    assert!(
        open["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != report.as_str()),
        "{open}"
    );
    let (_, done) = app
        .get("/api/v1/admin/reports?status=resolved", Some(&admin))
        .await;
    assert_eq!(done["total"], 1);
    // Everything the operator did is audited.
    let actions = app.audit_actions("/api/v1/admin/audit-logs", &admin).await;
    assert!(
        actions.iter().any(|a| a == "blocklist.add")
            && actions.iter().any(|a| a == "blocklist.remove")
            && actions.iter().any(|a| a == "abuse_report.resolve"),
        "{actions:?}"
    );
    app.stop().await.unwrap();
}
