//! Bulk exports and job status: the ZIP's images decode back to their payloads, the manifest is
//! safe to open, progress and status are visible to the owner only, cancel works, a job that
//! spends its retries is kept as failed for admins to retry.

use std::io::Read;

use qrsaas::startup::Parts;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::decode::{decode_image, decode_svg};
use crate::common::{TestApp, eventually};

const HTTP_ONLY: Parts = Parts {
    http: true,
    workers: false,
    scheduler: false,
    migrate: true,
};

async fn finished(app: &TestApp, token: &str, job: &str) -> Value {
    eventually("the job to finish", || async {
        let (_, j) = app.get(&format!("/api/v1/jobs/{job}"), Some(token)).await;
        matches!(
            j["status"].as_str(),
            Some("succeeded" | "failed" | "cancelled")
        )
        .then_some(j)
    })
    .await
}

/// Starts an export; answers its job id.
async fn export(app: &TestApp, token: &str, body: Value) -> String {
    let (s, accepted) = app.post("/api/v1/exports", Some(token), body).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
    accepted["job_id"].as_str().unwrap().to_owned()
}

async fn download(app: &TestApp, token: &str, job: &str) -> (StatusCode, Vec<u8>) {
    let res = app
        .http
        .get(app.url(&format!("/api/v1/exports/{job}/download")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status(), res.bytes().await.unwrap().to_vec())
}

fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a ZIP");
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            assert_eq!(
                f.compression(),
                zip::CompressionMethod::Stored,
                "stored, not recompressed"
            );
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().to_owned(), bytes)
        })
        .collect()
}

#[tokio::test]
async fn a_project_exports_to_a_zip_whose_images_scan_back_to_their_payloads() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("exporter@example.com").await;
    let (_, project) = app
        .post("/api/v1/projects", Some(&t), json!({"name": "Cafe"}))
        .await;
    let pid = project["id"].as_str().unwrap();
    let bodies = [
        json!({"name": "Menu / Table 4", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/menu"}),
        json!({"name": "Menu / Table 4", "qr_type": "text", "dynamic": false, "data": {"text": "Hello"}}),
        json!({"name": "=HYPERLINK(\"http://evil\")", "qr_type": "wifi", "dynamic": false, "data": {"ssid": "Cafe", "password": "pw123456", "encryption": "WPA"}}),
        // A name a spreadsheet reads as a formula: the file name loses the sign, so the manifest
        // names the ZIP entry exactly (the lookup below fails otherwise).
        json!({"name": "-2_3", "qr_type": "vcard", "dynamic": true, "data": {"first_name": "Ann"}}),
    ];
    let mut payloads = std::collections::HashMap::new();
    for mut b in bodies {
        b["project_id"] = json!(pid);
        let (s, qr) = app.post("/api/v1/qr-codes", Some(&t), b).await;
        assert_eq!(s, StatusCode::CREATED, "{qr}");
        payloads.insert(
            qr["id"].as_str().unwrap().to_owned(),
            qr["payload"].as_str().unwrap().to_owned(),
        );
    }

    let job = export(
        &app,
        &t,
        json!({"project_id": pid, "format": "png", "size": 512}),
    )
    .await;
    let done = finished(&app, &t, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["kind"], "export");
    assert_eq!(done["progress"], json!({"done": 4, "total": 4}));
    assert_eq!(
        done["result_url"],
        format!("/api/v1/exports/{job}/download")
    );

    let (s, zip) = download(&app, &t, &job).await;
    assert_eq!(s, StatusCode::OK);
    let files = entries(&zip);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(
        names.contains(&"Menu___Table_4.png")
            && names.contains(&"Menu___Table_4-2.png")
            && names.contains(&"2_3.png"),
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"manifest.csv"));
    let manifest = String::from_utf8(files.last().unwrap().1.clone()).unwrap();
    let mut lines = manifest.lines();
    assert_eq!(lines.next(), Some("id,name,type,short_url,payload,file"));
    assert!(
        manifest.contains(",\"'=HYPERLINK(\"\"http://evil\"\")\",wifi,"),
        "formula neutralised: {manifest}"
    );
    // Every image decodes to the payload the API reported for its code.
    let by_name: std::collections::HashMap<&str, &Vec<u8>> =
        files.iter().map(|(n, b)| (n.as_str(), b)).collect();
    let mut checked = 0;
    let mut reader = csv_rows(&manifest);
    for row in reader.by_ref() {
        let (id, file) = (&row[0], &row[5]);
        let decoded = decode_image(by_name[file.as_str()]);
        assert_eq!(&decoded, &payloads[id], "{file}");
        checked += 1;
    }
    assert_eq!(checked, 4);
    // One e-mail, with the link.
    let mails = eventually("the export e-mail", || async {
        let m = app.smtp.to("exporter@example.com");
        m.iter()
            .any(|m| m.subject().contains("export"))
            .then_some(m)
    })
    .await;
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.subject().contains("export"))
            .count(),
        1
    );

    // Another tenant sees neither the job nor the file.
    let (other, _) = app.register("nosy@example.com").await;
    assert_eq!(
        app.get(&format!("/api/v1/jobs/{job}"), Some(&other))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(download(&app, &other, &job).await.0, StatusCode::NOT_FOUND);

    // SVG, by ids.
    let ids: Vec<&String> = payloads.keys().collect();
    let job2 = export(&app, &t, json!({"qr_ids": [ids[0]], "format": "svg"})).await;
    assert_eq!(finished(&app, &t, &job2).await["status"], "succeeded");
    let files = entries(&download(&app, &t, &job2).await.1);
    assert!(files[0].0.ends_with(".svg"));
    assert_eq!(decode_svg(&files[0].1), payloads[ids[0]]);

    // Validation.
    for (body, field) in [
        (json!({"format": "png"}), "qr_ids"),
        (
            json!({"qr_ids": [ids[0]], "project_id": pid, "format": "png"}),
            "qr_ids",
        ),
        (
            json!({"qr_ids": [ids[0]], "format": "png", "size": 50}),
            "size",
        ),
        (
            json!({"qr_ids": [uuid::Uuid::now_v7()], "format": "png"}),
            "qr_ids",
        ),
    ] {
        let (s, b) = app.post("/api/v1/exports", Some(&t), body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {b}");
        assert!(b["error"]["fields"][field].is_string(), "{body}: {b}");
    }
    let (s, _) = app
        .post(
            "/api/v1/exports",
            Some(&t),
            json!({"qr_ids": [ids[0]], "format": "gif"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Expired files are removed by the clean-up schedule; the download then answers 410.
    sqlx::query("UPDATE jobs SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid")
        .bind(&job)
        .execute(&app.db)
        .await
        .unwrap();
    crate::jobs::fire_now(&app, qrsaas_jobs::MaintenanceTask::CleanExports).await;
    eventually("the expired export deleted", || async {
        (download(&app, &t, &job).await.0 == StatusCode::GONE).then_some(())
    })
    .await;
    let left: Vec<_> = walk(&app.settings.uploads_dir.join("exports"));
    assert_eq!(
        left.len(),
        1,
        "only the SVG export's file is left: {left:?}"
    );
    app.stop().await.unwrap();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The manifest's data rows, unquoted (quoted cells may hold commas and doubled quotes).
fn csv_rows(text: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    text.lines().skip(1).map(|line| {
        let mut cells = Vec::new();
        let (mut cell, mut quoted, mut chars) = (String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cell.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => cells.push(std::mem::take(&mut cell)),
                (c, _) => cell.push(c),
            }
        }
        cells.push(cell);
        cells
    })
}

#[tokio::test]
async fn a_queued_export_can_be_cancelled_and_then_never_runs() {
    let app = TestApp::spawn_parts(HTTP_ONLY, |_| {}).await;
    let (t, _) = app.register("canceller@example.com").await;
    let (_, qr) = app
        .post(
            "/api/v1/qr-codes",
            Some(&t),
            json!({"name": "A", "qr_type": "text", "dynamic": false, "data": {"text": "a"}}),
        )
        .await;
    let job = export(&app, &t, json!({"qr_ids": [qr["id"]], "format": "png"})).await;
    let (_, queued) = app.get(&format!("/api/v1/jobs/{job}"), Some(&t)).await;
    assert_eq!(queued["status"], "queued");
    let (s, cancelled) = app
        .post(&format!("/api/v1/jobs/{job}/cancel"), Some(&t), json!({}))
        .await;
    assert_eq!(
        (s, cancelled["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    let (s, again) = app
        .post(&format!("/api/v1/jobs/{job}/cancel"), Some(&t), json!({}))
        .await;
    assert_eq!(
        (s, again["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("job_finished"))
    );

    // Another export queued behind it; a worker comes up and drains the queue: the second one
    // runs, the cancelled one stays cancelled — never attempted, no file, no mail.
    let next = export(&app, &t, json!({"qr_ids": [qr["id"]], "format": "svg"})).await;
    let worker = app.replica_with_workers().await;
    assert_eq!(finished(&app, &t, &next).await["status"], "succeeded");
    let (_, j) = app.get(&format!("/api/v1/jobs/{job}"), Some(&t)).await;
    assert_eq!(
        (j["status"].as_str(), j["attempts"].as_i64()),
        (Some("cancelled"), Some(0))
    );
    // One e-mail: the second export's.
    eventually("the second export's e-mail", || async {
        let m = app.smtp.to("canceller@example.com");
        (m.iter().filter(|m| m.subject().contains("export")).count() == 1).then_some(())
    })
    .await;
    assert_eq!(download(&app, &t, &job).await.0, StatusCode::CONFLICT);
    worker.stop().await.unwrap();
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_export_that_spends_its_retries_is_kept_failed_and_an_admin_retries_it() {
    let app = TestApp::spawn_parts(HTTP_ONLY, |_| {}).await;
    let (t, _) = app.register("unlucky@example.com").await;
    let logo = crate::codes::upload_logo(&app, &t).await;
    let (_, qr) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "L", "qr_type": "text", "dynamic": false, "data": {"text": "logo"}, "design": {"logo_upload_id": logo}}))
        .await;
    let job = export(&app, &t, json!({"qr_ids": [qr["id"]], "format": "png"})).await;
    // The logo's file is gone (a broken store), and seven attempts have already failed.
    let key: String = sqlx::query_scalar("SELECT storage_key FROM uploads WHERE id = $1::uuid")
        .bind(&logo)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let file = app.settings.uploads_dir.join(&key);
    let saved = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    sqlx::query("UPDATE jobs SET attempts = 7 WHERE id = $1::uuid")
        .bind(&job)
        .execute(&app.db)
        .await
        .unwrap();
    let worker = app.replica_with_workers().await;
    let dead = finished(&app, &t, &job).await;
    assert_eq!(dead["status"], "failed", "{dead}");
    assert_eq!(dead["attempts"], 8);
    assert!(
        dead["error"].as_str().unwrap().contains("rendering"),
        "{dead}"
    );

    let (admin_token, _) = app.register("ops@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "ops@example.com")
        .await
        .unwrap();
    let listed = eventually("the admin list of dead jobs", || async {
        let (s, b) = app
            .get("/api/v1/admin/jobs?status=failed", Some(&admin_token))
            .await;
        (s == StatusCode::OK).then_some(b)
    })
    .await;
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["id"], job.as_str());
    assert_eq!(
        app.get("/api/v1/admin/jobs", Some(&t)).await.0,
        StatusCode::FORBIDDEN
    );

    // Fixed; retried by the admin; it runs to the end.
    std::fs::write(&file, saved).unwrap();
    let (s, retried) = app
        .post(
            &format!("/api/v1/admin/jobs/{job}/retry"),
            Some(&admin_token),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, retried["status"].as_str()),
        (StatusCode::OK, Some("queued")),
        "{retried}"
    );
    let ok = finished(&app, &t, &job).await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    let files = entries(&download(&app, &t, &job).await.1);
    assert_eq!(decode_image(&files[0].1), "logo");
    let (s, _) = app
        .post(
            &format!("/api/v1/admin/jobs/{job}/retry"),
            Some(&admin_token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "a succeeded job is not retried");
    worker.stop().await.unwrap();
    app.stop().await.unwrap();
}

async fn bulk(app: &TestApp, token: &str, mime: &str, body: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/api/v1/qr-codes/bulk"))
        .bearer_auth(token)
        .header("content-type", mime)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn bulk_create_from_csv_and_json_reports_every_row_and_reruns_create_nothing_twice() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("bulk@example.com").await;
    let (_, project) = app
        .post("/api/v1/projects", Some(&t), json!({"name": "Cafe"}))
        .await;
    let csv = "name,qr_type,dynamic,target_url,project,ssid,password,encryption\n\
               Menu,url,yes,https://example.com/menu,cafe,,,\n\
               Guest Wi-Fi,wifi,no,,Cafe,Cafe Guest,p4ssw0rd,WPA\n\
               Evil,url,yes,javascript:alert(1),,,,\n\
               Lost,url,yes,https://example.com/x,Nowhere,,,\n\
               \"=HYPERLINK(\"\"x\"\")\",text,no,,,,,\n";
    let (s, accepted) = bulk(&app, &t, "text/csv", csv).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
    let job = accepted["job_id"].as_str().unwrap().to_owned();
    let done = finished(&app, &t, &job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["progress"], json!({"done": 5, "total": 5}));
    let result = &done["result"];
    assert_eq!(
        (result["created"].as_u64(), result["failed"].as_u64()),
        (Some(2), Some(3)),
        "{result}"
    );
    let rows = result["rows"].as_array().unwrap();
    assert!(rows[2]["errors"]["target_url"].is_string(), "{result}");
    assert_eq!(rows[3]["errors"]["project"], "no project named Nowhere");
    assert!(
        rows[4]["errors"]["data"].is_string() || rows[4]["errors"]["data.text"].is_string(),
        "{result}"
    );
    // The created codes are real, in the project, and encode what they should.
    let menu = rows[0]["id"].as_str().unwrap();
    let (_, qr) = app.get(&format!("/api/v1/qr-codes/{menu}"), Some(&t)).await;
    assert_eq!(
        (qr["name"].as_str(), qr["project_id"].as_str()),
        (Some("Menu"), project["id"].as_str())
    );
    assert_eq!(qr["target_url"], "https://example.com/menu");
    let wifi = rows[1]["id"].as_str().unwrap();
    let (_, qr) = app.get(&format!("/api/v1/qr-codes/{wifi}"), Some(&t)).await;
    assert_eq!(qr["payload"], "WIFI:T:WPA;S:Cafe Guest;P:p4ssw0rd;;");

    // A second run of the same job (after a crash, or an admin's retry) makes nothing twice.
    sqlx::query("UPDATE jobs SET status = 'failed' WHERE id = $1::uuid")
        .bind(&job)
        .execute(&app.db)
        .await
        .unwrap();
    let (admin, _) = app.register("bulk-admin@example.com").await;
    qrsaas::accounts::admin::promote(&app.settings, "bulk-admin@example.com")
        .await
        .unwrap();
    eventually("the retry accepted", || async {
        let (s, _) = app
            .post(
                &format!("/api/v1/admin/jobs/{job}/retry"),
                Some(&admin),
                json!({}),
            )
            .await;
        (s == StatusCode::OK).then_some(())
    })
    .await;
    let again = finished(&app, &t, &job).await;
    assert_eq!(again["result"]["rows"], done["result"]["rows"]);
    assert_eq!(app.get("/api/v1/qr-codes", Some(&t)).await.1["total"], 2);

    // JSON arrays too; and bad uploads are refused at once.
    let (s, accepted) = bulk(&app, &t, "application/json",
        &json!([{"name": "T", "qr_type": "text", "dynamic": false, "data": {"text": "hi"}}, {"name": "No type"}]).to_string()).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let done = finished(&app, &t, accepted["job_id"].as_str().unwrap()).await;
    assert_eq!(done["result"]["created"], 1);
    assert!(
        done["result"]["rows"][1]["errors"]["qr_type"].is_string(),
        "{done}"
    );
    assert_eq!(
        bulk(&app, &t, "text/plain", "x").await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        bulk(&app, &t, "application/json", "{").await.0,
        StatusCode::BAD_REQUEST
    );
    let (s, b) = bulk(&app, &t, "text/csv", "name,qr_type\n").await;
    assert_eq!(
        (s, b["error"]["fields"]["rows"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let (s, b) = bulk(&app, &t, "text/csv", "name,dynamic\nx,yes\n").await;
    assert_eq!(
        (s, b["error"]["fields"]["csv"].is_string()),
        (StatusCode::UNPROCESSABLE_ENTITY, true)
    );
    let too_many = format!("name,qr_type,text\n{}", "n,text,t\n".repeat(10_001));
    assert_eq!(
        bulk(&app, &t, "text/csv", &too_many).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn imports_from_shlink_yourls_and_bitly_keep_codes_make_projects_and_rerun_cleanly() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("importer@example.com").await;
    let (other, _) = app.register("squatter@example.com").await;
    // Another account already holds one of the short codes.
    let (s, _) = app
        .post("/api/v1/qr-codes", Some(&other), json!({"name": "mine", "qr_type": "url", "dynamic": true, "target_url": "https://other.example/", "alias": "spring"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let import = |source: &'static str, csv: String| {
        let (app, t) = (&app, &t);
        async move {
            let (s, b) = app
                .post(
                    "/api/v1/imports",
                    Some(t),
                    json!({"source": source, "csv": csv}),
                )
                .await;
            assert_eq!(s, StatusCode::ACCEPTED, "{b}");
            finished(app, t, b["job_id"].as_str().unwrap()).await
        }
    };
    let shlink = "createdAt,shortCode,shortUrl,longUrl,title,tags,visits\n\
        2026-01-02T10:00:00+00:00,menu-2026,https://s.example/menu-2026,https://cafe.example/menu,Menu,food|print,12\n\
        2026-01-03T10:00:00+00:00,spring,https://s.example/spring,https://shop.example/spring,Spring sale,,3\n\
        2026-01-04T10:00:00+00:00,x1,https://s.example/x1,javascript:alert(1),Bad,,0\n"
        .to_owned();
    let done = import("shlink", shlink.clone()).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["kind"], "import");
    let r = &done["result"];
    assert_eq!(
        (
            r["created"].as_u64(),
            r["skipped"].as_u64(),
            r["failed"].as_u64()
        ),
        (Some(2), Some(0), Some(1)),
        "{r}"
    );
    let rows = r["rows"].as_array().unwrap();
    // Kept: its own short code, target, title and first tag as a (new) project.
    let (_, menu) = app
        .get(
            &format!("/api/v1/qr-codes/{}", rows[0]["id"].as_str().unwrap()),
            Some(&t),
        )
        .await;
    assert_eq!(menu["short_code"], "menu-2026");
    assert_eq!(menu["target_url"], "https://cafe.example/menu");
    assert_eq!(menu["name"], "Menu");
    let (_, projects) = app.get("/api/v1/projects", Some(&t)).await;
    assert_eq!(projects["items"][0]["name"], "food");
    assert_eq!(menu["project_id"], projects["items"][0]["id"]);
    let res = app.http.get(app.url("/r/menu-2026")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "https://cafe.example/menu");
    // Taken elsewhere: a new short code, said so; the other account's code is untouched.
    assert_eq!(rows[1]["short_code_changed"], true, "{r}");
    let (_, spring) = app
        .get(
            &format!("/api/v1/qr-codes/{}", rows[1]["id"].as_str().unwrap()),
            Some(&t),
        )
        .await;
    assert_ne!(spring["short_code"], "spring");
    let res = app.http.get(app.url("/r/spring")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "https://other.example/");
    // A bad target is that row's error.
    assert!(rows[2]["errors"]["target_url"].is_string(), "{r}");

    // The same export again (with one new link): nothing twice.
    let again = shlink
        + "2026-01-05T10:00:00+00:00,news,https://s.example/news,https://cafe.example/news,News,food,1\n";
    let done = import("shlink", again).await;
    let r = &done["result"];
    assert_eq!(
        (
            r["created"].as_u64(),
            r["skipped"].as_u64(),
            r["failed"].as_u64()
        ),
        (Some(1), Some(2), Some(1)),
        "{r}"
    );
    let (_, list) = app.get("/api/v1/qr-codes", Some(&t)).await;
    assert_eq!(list["total"], 3);
    let (_, projects) = app.get("/api/v1/projects", Some(&t)).await;
    assert_eq!(projects["total"], 1, "the tag's project is reused");

    // YOURLS and Bitly exports.
    let done = import("yourls", "keyword,url,title,timestamp,ip,clicks\nyl-docs,https://docs.example/,Docs,2026-01-01 00:00:00,127.0.0.1,3\n".into()).await;
    assert_eq!(done["result"]["created"], 1, "{done}");
    let done = import("bitly", "Created,Title,Long URL,Bitlink,Custom Bitlink,Tags,Total engagements\n2026-01-01,Blog,https://blog.example/,bit.ly/3xYzAb,,,5\n".into()).await;
    assert_eq!(done["result"]["created"], 1, "{done}");
    assert_eq!(
        app.http
            .get(app.url("/r/3xYzAb"))
            .send()
            .await
            .unwrap()
            .headers()["location"],
        "https://blog.example/"
    );

    // Not that tool's export, or no rows: refused at once, naming the field.
    for (source, csv) in [
        ("bitly", "a,b\n1,2\n"),
        ("shlink", "shortCode,longUrl\n"),
        ("yourls", "keyword,url\nk,\n"),
    ] {
        let (s, b) = app
            .post(
                "/api/v1/imports",
                Some(&t),
                json!({"source": source, "csv": csv}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{source}: {b}");
    }
    let (s, _) = app
        .post(
            "/api/v1/imports",
            Some(&t),
            json!({"source": "kutt", "csv": "x"}),
        )
        .await;
    assert!(
        s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST,
        "{s}"
    );
    app.stop().await.unwrap();
}

/// A Shlink server's REST API on a local socket: two pages of links, behind an API key.
async fn fake_shlink() -> String {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    async fn short_urls(
        req: HttpRequest,
        q: web::Query<std::collections::HashMap<String, String>>,
    ) -> HttpResponse {
        if req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) != Some("sh-key") {
            return HttpResponse::Unauthorized().json(json!({"type": "INVALID_API_KEY"}));
        }
        let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let data = if page == 1 {
            json!([{"shortCode": "api-menu", "longUrl": "https://cafe.example/menu", "title": "Menu", "tags": ["food"]},
                   {"shortCode": "api-blog", "longUrl": "https://cafe.example/blog", "title": null, "tags": []}])
        } else {
            json!([{"shortCode": "api-news", "longUrl": "https://cafe.example/news", "title": "News", "tags": ["food", "press"]}])
        };
        HttpResponse::Ok().json(json!({"shortUrls": {"data": data, "pagination": {"currentPage": page, "pagesCount": 2}}}))
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let server = HttpServer::new(|| {
                App::new().route("/rest/v3/short-urls", web::get().to(short_urls))
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
            let _ = tx.send(base);
            let _ = server.await;
        });
    });
    rx.await.unwrap()
}

#[tokio::test]
async fn imports_read_a_shlink_server_through_its_api_and_the_guarded_client() {
    let shlink = fake_shlink().await;
    // Loopback is refused unless the operator admits it, as for webhook receivers.
    let closed = TestApp::spawn().await;
    let (t, _) = closed.register("guarded@example.com").await;
    let (s, b) = closed
        .post(
            "/api/v1/imports",
            Some(&t),
            json!({"source": "shlink", "api": {"base_url": shlink, "api_key": "sh-key"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["fields"]["api.base_url"].is_string(), "{b}");
    closed.stop().await.unwrap();

    let app =
        TestApp::spawn_with(|s| s.webhooks.allowed_cidrs = vec!["127.0.0.0/8".parse().unwrap()])
            .await;
    let (t, _) = app.register("shlinker@example.com").await;
    let (s, b) = app
        .post(
            "/api/v1/imports",
            Some(&t),
            json!({"source": "shlink", "api": {"base_url": shlink, "api_key": "wrong"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["error"]["fields"]["api.api_key"].is_string(), "{b}");
    let (s, b) = app
        .post(
            "/api/v1/imports",
            Some(&t),
            json!({"source": "bitly", "api": {"base_url": shlink, "api_key": "sh-key"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = app
        .post(
            "/api/v1/imports",
            Some(&t),
            json!({"source": "shlink", "api": {"base_url": shlink, "api_key": "sh-key"}}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let done = finished(&app, &t, b["job_id"].as_str().unwrap()).await;
    assert_eq!(done["result"]["created"], 3, "{done}");
    // The key is not kept with the job.
    assert!(!done.to_string().contains("sh-key"), "{done}");
    let res = app.http.get(app.url("/r/api-news")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "https://cafe.example/news");
    let (_, projects) = app.get("/api/v1/projects", Some(&t)).await;
    assert_eq!(projects["total"], 1);
    assert_eq!(projects["items"][0]["name"], "food");
    app.stop().await.unwrap();
}
