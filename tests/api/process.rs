//! The binary itself: `migrate`, `admin promote`, and a clean stop of `all` on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

use secrecy::ExposeSecret;

use crate::common::{eventually, isolated_settings};

const BIN: &str = env!("CARGO_BIN_EXE_qrsaas");

fn command(settings: &qrsaas::config::Settings) -> Command {
    let mut c = Command::new(BIN);
    c.env("DATABASE_URL", settings.database_url.expose_secret())
        .env("QRSAAS_CLICKHOUSE_DATABASE", &settings.clickhouse_database)
        .env("QRSAAS_REDIS_NAMESPACE", &settings.redis_namespace)
        .env("QRSAAS_SMTP__PORT", settings.smtp.port.to_string())
        .env("QRSAAS_SHUTDOWN_GRACE_SECS", "5")
        .env("QRSAAS_UPLOADS_DIR", &settings.uploads_dir)
        // Short heartbeats: jobs held by a process that died (or stopped before finishing them)
        // come back to the living workers in seconds, not the production default's 30 s.
        .env("QRSAAS_QUEUE_HEARTBEAT_SECS", "1")
        .env("QRSAAS_QUEUE_MISSED_HEARTBEATS", "3");
    c
}

#[tokio::test]
async fn migrate_then_admin_promote_from_the_cli() {
    let settings = isolated_settings(1).await;
    let out = command(&settings).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let db = sqlx::PgPool::connect(settings.database_url.expose_secret())
        .await
        .unwrap();
    let tables: i64 = sqlx::query_scalar("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('users','projects','qr_codes','qr_type_details','billing_subscriptions','billing_usage','templates','template_data','audit_logs','sessions','api_keys','user_settings')")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(tables, 12);
    sqlx::query("INSERT INTO users (id, email) VALUES ($1, 'ops@example.com')")
        .bind(uuid::Uuid::now_v7())
        .execute(&db)
        .await
        .unwrap();

    let out = command(&settings)
        .args(["admin", "promote", "ops@example.com"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ops@example.com is now an admin"));
    let role: String = sqlx::query_scalar("SELECT role FROM users")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(role, "admin");
    let out = command(&settings)
        .args(["admin", "promote", "ghost@example.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Starts `qrsaas all` on a free port and waits until it is ready; returns it and its base URL.
async fn start_all(
    settings: &qrsaas::config::Settings,
    stdout: Stdio,
) -> (std::process::Child, String) {
    start_serving(settings, "all", stdout).await
}

/// Starts `qrsaas <role>` (`all` or `serve`) on a free port and waits until it is ready.
async fn start_serving(
    settings: &qrsaas::config::Settings,
    role: &str,
    stdout: Stdio,
) -> (std::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = command(settings)
        .arg(role)
        .env("QRSAAS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("NO_COLOR", "1")
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually("qrsaas all to serve", || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
    (child, base)
}

#[tokio::test]
async fn all_serves_and_stops_cleanly_on_sigterm() {
    let smtp = crate::common::smtp::FakeSmtp::start().await;
    let settings = isolated_settings(smtp.port).await;
    let (mut child, base) = start_all(&settings, Stdio::piped()).await;
    let client = reqwest::Client::new();
    // It does real work: register, and the welcome e-mail is delivered.
    let r = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "proc@example.com", "password": "correct horse battery", "name": "P"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    eventually("welcome e-mail from the process", || async {
        smtp.to("proc@example.com").into_iter().next()
    })
    .await;

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut err).unwrap();
                return (s, err);
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("qrsaas all did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit {:?}: {}", status.0, status.1);
    assert!(
        status.1.contains("shutdown requested") && status.1.contains("stopped"),
        "{}",
        status.1
    );
    // Nothing is listening any more.
    assert!(client.get(format!("{base}/healthz")).send().await.is_err());
}

#[tokio::test]
async fn sigterm_during_traffic_loses_no_scan() {
    let smtp = crate::common::smtp::FakeSmtp::start().await;
    let settings = isolated_settings(smtp.port).await;
    let (mut child, base) = start_all(&settings, Stdio::null()).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let reg: serde_json::Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "term@example.com", "password": "correct horse battery", "name": "T"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reg["token"].as_str().unwrap();
    let qr: serde_json::Value = client
        .post(format!("{base}/api/v1/qr-codes"))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "T", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("{base}/r/{}", qr["short_code"].as_str().unwrap());

    // Four scanners in a loop; SIGTERM lands while they are scanning.
    let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let scanners: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, served) = (client.clone(), url.clone(), served.clone());
            tokio::spawn(async move {
                while let Ok(r) = client
                    .get(&url)
                    .header("user-agent", "Mozilla/5.0 (iPhone)")
                    .send()
                    .await
                {
                    if r.status() == reqwest::StatusCode::FOUND {
                        served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    eventually("traffic under way", || async {
        (served.load(std::sync::atomic::Ordering::SeqCst) >= 200).then_some(())
    })
    .await;
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "clean exit: {status:?}");
    for s in scanners {
        let _ = s.await;
    }
    let served = served.load(std::sync::atomic::Ordering::SeqCst);

    // Scans shipped at shutdown wait in the queue; a worker (here: a fresh process) ingests them.
    let mut worker = command(&settings)
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ch = qrsaas::analytics::client(&settings);
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Counts {
        n: u64,
        distinct: u64,
    }
    let id = qr["id"].as_str().unwrap().to_owned();
    eventually("every served redirect in ClickHouse", || async {
        let c = ch
            .query("SELECT count() AS n, uniqExact(event_id) AS distinct FROM scan_events WHERE qr_id = toUUID(?)")
            .bind(&id)
            .fetch_one::<Counts>()
            .await
            .ok()?;
        assert!(c.n <= served && c.n == c.distinct, "{} events for {served} redirects", c.n);
        (c.n == served).then_some(())
    })
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &worker.id().to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || worker.wait()).await;
}

/// Runs `qrsaas <args>` to completion; panics with its stderr when it fails.
fn run_to_end(settings: &qrsaas::config::Settings, args: &[&str]) {
    let out = command(settings).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn spawn_worker(settings: &qrsaas::config::Settings) -> std::process::Child {
    command(settings)
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn an_export_survives_kill_9_of_its_worker_and_completes_once() {
    use crate::common::eventually_within;
    use serde_json::{Value, json};
    const CODES: usize = 2_000;
    let long = Duration::from_secs(240);

    let smtp = crate::common::smtp::FakeSmtp::start().await;
    let settings = isolated_settings(smtp.port).await;
    run_to_end(&settings, &["migrate"]);
    let (mut api, base) = start_serving(&settings, "serve", Stdio::null()).await;
    let mut worker = spawn_worker(&settings);
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut r = client.request(method, format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let res = r.send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (_, reg) = call(
        reqwest::Method::POST,
        "/api/v1/auth/register",
        None,
        Some(
            json!({"email": "kill9@example.com", "password": "correct horse battery", "name": "K"}),
        ),
    )
    .await;
    let token = reg["token"].as_str().unwrap().to_owned();
    let user = reg["user"]["id"].as_str().unwrap().to_owned();
    let (_, project) = call(
        reqwest::Method::POST,
        "/api/v1/projects",
        Some(&token),
        Some(json!({"name": "Flyers"})),
    )
    .await;
    let rows: Vec<Value> = (0..CODES)
        .map(|i| {
            json!({"name": format!("flyer {i}"), "qr_type": "text", "dynamic": false,
                        "data": {"text": format!("flyer number {i}")}, "project_id": project["id"]})
        })
        .collect();
    let (s, bulk) = call(
        reqwest::Method::POST,
        "/api/v1/qr-codes/bulk",
        Some(&token),
        Some(Value::Array(rows)),
    )
    .await;
    assert_eq!(s, 202, "{bulk}");
    let job_status = |id: String| {
        let call = &call;
        let token = token.clone();
        async move {
            call(
                reqwest::Method::GET,
                &format!("/api/v1/jobs/{id}"),
                Some(&token),
                None,
            )
            .await
            .1
        }
    };
    let bulk_id = bulk["job_id"].as_str().unwrap().to_owned();
    eventually_within("the bulk create", long, || async {
        let j = job_status(bulk_id.clone()).await;
        (j["status"] == "succeeded").then_some(())
    })
    .await;

    let (s, accepted) = call(
        reqwest::Method::POST,
        "/api/v1/exports",
        Some(&token),
        Some(json!({"project_id": project["id"], "format": "png", "size": 256})),
    )
    .await;
    assert_eq!(s, 202, "{accepted}");
    let job = accepted["job_id"].as_str().unwrap().to_owned();
    // Part-way through: kill -9, no chance to clean up or hand anything back.
    eventually_within("the export under way", long, || async {
        let j = job_status(job.clone()).await;
        assert_ne!(
            j["status"], "succeeded",
            "finished before it could be killed"
        );
        (j["progress"]["done"].as_i64() >= Some(100)).then_some(())
    })
    .await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    let j = job_status(job.clone()).await;
    assert_eq!(j["status"], "running", "interrupted: {j}");
    assert!(j["progress"]["done"].as_i64() < Some(CODES as i64), "{j}");

    let mut restarted = spawn_worker(&settings);
    let done = eventually_within("the export to complete after the restart", long, || async {
        let j = job_status(job.clone()).await;
        assert_ne!(j["status"], "failed", "{j}");
        (j["status"] == "succeeded").then_some(j)
    })
    .await;
    assert_eq!(done["progress"]["done"], CODES as i64);
    assert!(done["attempts"].as_i64() >= Some(2), "ran again: {done}");

    // One ZIP: every code in it, images that scan back to their payloads.
    let zip = client
        .get(format!("{base}/api/v1/exports/{job}/download"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip.to_vec())).unwrap();
    assert_eq!(archive.len(), CODES + 1, "{CODES} images and the manifest");
    let mut manifest = String::new();
    std::io::Read::read_to_string(&mut archive.by_name("manifest.csv").unwrap(), &mut manifest)
        .unwrap();
    let lines: Vec<&str> = manifest.lines().skip(1).collect();
    assert_eq!(lines.len(), CODES);
    for line in lines.iter().step_by(CODES / 8) {
        let cells: Vec<&str> = line.split(',').collect();
        let (payload, file) = (cells[4], cells[5]);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut archive.by_name(file).unwrap(), &mut bytes).unwrap();
        assert_eq!(crate::common::decode::decode_image(&bytes), payload);
    }
    let stored: Vec<_> = std::fs::read_dir(settings.uploads_dir.join("exports").join(&user))
        .unwrap()
        .collect();
    assert_eq!(stored.len(), 1, "one ZIP in the store: {stored:?}");

    // One notification.
    eventually("the export e-mail", || async {
        smtp.to("kill9@example.com")
            .iter()
            .any(|m| m.subject().contains("export"))
            .then_some(())
    })
    .await;
    let db = sqlx::PgPool::connect(settings.database_url.expose_secret())
        .await
        .unwrap();
    let mails: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbound_emails WHERE kind = 'export_ready'")
            .fetch_one(&db)
            .await
            .unwrap();
    assert_eq!(mails, 1);

    for child in [&mut restarted, &mut api] {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    let _ = tokio::task::spawn_blocking(move || (restarted.wait(), api.wait())).await;
}

/// A worker killed while a receiver holds its webhook delivery open: the job comes back to a
/// new worker once the dead one's heartbeat and hold lapse, and the receiver gets the event
/// again with the same `webhook-id` — delivered once, as far as the log is concerned.
#[tokio::test]
async fn a_webhook_delivery_survives_kill_9_of_its_worker() {
    use crate::common::receiver::{Answer, Receiver};
    use serde_json::{Value, json};
    let long = Duration::from_secs(120);

    let rx = Receiver::start().await;
    // The first attempt hangs until its worker is dead; the next is answered at once.
    rx.then([Answer {
        delay: Duration::from_secs(60),
        ..Answer::status(200)
    }]);
    let smtp = crate::common::smtp::FakeSmtp::start().await;
    let settings = isolated_settings(smtp.port).await;
    run_to_end(&settings, &["migrate"]);
    let with_hooks = |mut c: Command| {
        c.env("QRSAAS_WEBHOOKS__ALLOWED_CIDRS", "[\"127.0.0.0/8\"]")
            .env("QRSAAS_WEBHOOKS__TIMEOUT_SECS", "2");
        c
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut api = with_hooks(command(&settings))
        .arg("serve")
        .env("QRSAAS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    eventually("serve to be ready", || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
    let spawn = || {
        with_hooks(command(&settings))
            .arg("worker")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut worker = spawn();
    let reg: Value = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": "hooks9@example.com", "password": "correct horse battery", "name": "H"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = reg["token"].as_str().unwrap().to_owned();
    let hook: Value = client
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&token)
        .json(&json!({"url": rx.url, "events": ["qr_code.created"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let res = client
        .post(format!("{base}/api/v1/qr-codes"))
        .bearer_auth(&token)
        .json(&json!({"name": "Menu", "qr_type": "url", "dynamic": true, "target_url": "https://example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // The attempt is under way at the receiver: kill the worker making it.
    crate::common::eventually_within("the first attempt", long, || async {
        (!rx.received().is_empty()).then_some(())
    })
    .await;
    worker.kill().unwrap();
    worker.wait().unwrap();
    let mut restarted = spawn();
    let got = crate::common::eventually_within("the attempt made again", long, || async {
        let got = rx.received();
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    for r in &got {
        standardwebhooks::Webhook::new(&secret)
            .unwrap()
            .verify(&r.body, &r.headers)
            .unwrap();
    }
    let db = sqlx::PgPool::connect(settings.database_url.expose_secret())
        .await
        .unwrap();
    let (status, attempts): (String, i32) =
        crate::common::eventually_within("the delivery recorded", long, || async {
            let row: (String, i32) =
                sqlx::query_as("SELECT status, attempts FROM webhook_deliveries")
                    .fetch_one(&db)
                    .await
                    .unwrap();
            (row.0 == "succeeded").then_some(row)
        })
        .await;
    assert_eq!(
        (status.as_str(), attempts),
        ("succeeded", 1),
        "the killed attempt left no trace but its hold"
    );
    let deliveries: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(deliveries, 1);
    for child in [&mut restarted, &mut api] {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    let _ = tokio::task::spawn_blocking(move || (restarted.wait(), api.wait())).await;
}

/// Supervise or exit: a part that cannot start (here the queue workers, whose configured GeoIP
/// database does not exist) stops the whole process — the HTTP server already serving is
/// drained — and the process exits non-zero naming the part, for an orchestrator to restart.
#[tokio::test]
async fn a_part_that_fails_stops_the_process_non_zero_with_its_name() {
    let settings = isolated_settings(1).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tokio::task::spawn_blocking(move || {
        command(&settings)
            .arg("all")
            .env("QRSAAS_HTTP_ADDR", format!("127.0.0.1:{port}"))
            .env("QRSAAS_GEOIP_DB", "/nonexistent/GeoLite2-City.mmdb")
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains("serving HTTP"), "{log}");
    assert!(
        log.contains("queue workers stopped: could not start"),
        "the failing part is named: {log}"
    );
    assert!(log.contains("stopped because a part failed"), "{log}");
    // Drained, not abandoned: nothing listens any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}
