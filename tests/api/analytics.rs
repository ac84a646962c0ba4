//! The analytics API over scans that went through the real pipeline.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{TestApp, eventually};

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
const WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const WHATSAPP: &str = "WhatsApp/2.23.20.0 A";

fn keys(v: &Value) -> Vec<(String, u64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap().to_owned(),
                c["scans"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn reports_per_code_and_per_account() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("analytics@example.com").await;
    let (_, project) = app
        .post("/api/v1/projects", Some(&t), json!({"name": "Launch"}))
        .await;
    let pid = project["id"].as_str().unwrap();
    let mk = |name: &'static str, project: Option<&str>| {
        let body = json!({"name": name, "qr_type": "url", "dynamic": true, "target_url": "https://example.com/", "project_id": project});
        app.post("/api/v1/qr-codes", Some(&t), body)
    };
    let (_, a) = mk("A", Some(pid)).await;
    let (_, b) = mk("B", None).await;
    for (code, ua, n) in [
        (&a, IPHONE, 3),
        (&a, WINDOWS, 2),
        (&a, WHATSAPP, 1),
        (&b, IPHONE, 2),
    ] {
        for _ in 0..n {
            let path = format!("/r/{}", code["short_code"].as_str().unwrap());
            let res = app
                .http
                .get(app.url(&path))
                .header("user-agent", ua)
                .header("referer", "https://t.co/x")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::FOUND);
        }
    }
    let aid = a["id"].as_str().unwrap();
    eventually("8 scans ingested", || async {
        let (_, r) = app
            .get("/api/v1/analytics?include_bots=true", Some(&t))
            .await;
        (r["total"] == 8).then_some(())
    })
    .await;

    let (s, r) = app
        .get(&format!("/api/v1/qr-codes/{aid}/analytics"), Some(&t))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["total"].as_u64(), r["unique"].as_u64()),
        (Some(5), Some(2)),
        "bots excluded; one visitor per agent+IP"
    );
    assert_eq!(
        keys(&r["devices"]),
        [("mobile".to_owned(), 3), ("desktop".to_owned(), 2)]
    );
    assert_eq!(
        keys(&r["browsers"]),
        [("Safari".to_owned(), 3), ("Chrome".to_owned(), 2)]
    );
    assert_eq!(keys(&r["referrers"]), [("t.co".to_owned(), 5)]);
    assert_eq!(keys(&r["countries"]), [("unknown".to_owned(), 5)]);
    let series = r["series"].as_array().unwrap();
    assert_eq!(
        series.len(),
        31,
        "30 days ending now, daily, empty days filled"
    );
    assert_eq!(
        series
            .iter()
            .map(|p| p["scans"].as_u64().unwrap())
            .sum::<u64>(),
        5
    );
    let (_, with_bots) = app
        .get(
            &format!("/api/v1/qr-codes/{aid}/analytics?include_bots=true"),
            Some(&t),
        )
        .await;
    assert_eq!(with_bots["total"], 6);
    assert!(keys(&with_bots["devices"]).contains(&("bot".to_owned(), 1)));

    // Hourly buckets in a time zone: three hours around now, all scans in one of them.
    let from = (Utc::now() - Duration::hours(2)).to_rfc3339();
    let to = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let q = format!(
        "from={}&to={}&interval=hour&tz=Asia/Kolkata",
        urlencode(&from),
        urlencode(&to)
    );
    let (_, hourly) = app
        .get(&format!("/api/v1/qr-codes/{aid}/analytics?{q}"), Some(&t))
        .await;
    let points = hourly["series"].as_array().unwrap();
    assert!((3..=4).contains(&points.len()), "{hourly}");
    assert_eq!(
        points
            .iter()
            .filter(|p| p["scans"].as_u64() == Some(5))
            .count(),
        1
    );
    assert!(
        points
            .iter()
            .all(|p| p["t"].as_str().unwrap().ends_with(":30:00Z")),
        "Kolkata hours start at :30 UTC"
    );

    // Account-wide, and per project.
    assert_eq!(app.get("/api/v1/analytics", Some(&t)).await.1["total"], 7);
    assert_eq!(
        app.get(&format!("/api/v1/analytics?project_id={pid}"), Some(&t))
            .await
            .1["total"],
        5
    );

    // CSV with the same figures.
    let res = app
        .http
        .get(app.url(&format!("/api/v1/qr-codes/{aid}/analytics.csv")))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/csv; charset=utf-8");
    let text = res.text().await.unwrap();
    assert!(
        text.starts_with("section,key,scans\ntotal,,5\nunique,,2\n"),
        "{text}"
    );
    assert!(text.contains("device,mobile,3\n"));

    // Bad input and other tenants.
    for bad in [
        "interval=week",
        "tz=Mars/Base",
        "from=yesterday",
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
    ] {
        let (s, b) = app
            .get(&format!("/api/v1/qr-codes/{aid}/analytics?{bad}"), Some(&t))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {b}");
    }
    let (other, _) = app.register("peeker@example.com").await;
    assert_eq!(
        app.get(&format!("/api/v1/qr-codes/{aid}/analytics"), Some(&other))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/analytics?project_id={pid}"), Some(&other))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.get("/api/v1/analytics?include_bots=true", Some(&other))
            .await
            .1["total"],
        0
    );
    app.stop().await.unwrap();
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn code_metadata_is_copied_to_clickhouse_on_every_change() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("meta@example.com").await;
    let (_, project) = app
        .post("/api/v1/projects", Some(&t), json!({"name": "P"}))
        .await;
    let (_, qr) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "First", "qr_type": "text", "dynamic": true, "data": {"text": "a"}, "project_id": project["id"]}))
        .await;
    let id = qr["id"].as_str().unwrap().to_owned();
    let ch = qrsaas::analytics::client(&app.settings);
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct Meta {
        name: String,
        status: String,
        kind: String,
        project: String,
    }
    let latest = || {
        let (ch, id) = (ch.clone(), id.clone());
        async move {
            ch.query(
                "SELECT argMax(name, version) AS name, argMax(status, version) AS status, argMax(type, version) AS kind, \
                 toString(argMax(project_id, version)) AS project FROM qr_codes WHERE id = toUUID(?) GROUP BY id",
            )
            .bind(&id)
            .fetch_optional::<Meta>()
            .await
            .unwrap()
        }
    };
    eventually("the new code in ClickHouse", || async {
        latest().await.filter(|m| m.name == "First")
    })
    .await;
    let m = latest().await.unwrap();
    assert_eq!(
        (m.kind.as_str(), m.project.as_str()),
        ("text", project["id"].as_str().unwrap())
    );
    app.patch(
        &format!("/api/v1/qr-codes/{id}"),
        Some(&t),
        json!({"name": "Renamed", "status": "paused"}),
    )
    .await;
    eventually("the change in ClickHouse", || async {
        latest()
            .await
            .filter(|m| m.name == "Renamed" && m.status == "paused")
    })
    .await;
    app.delete(&format!("/api/v1/qr-codes/{id}"), Some(&t))
        .await;
    eventually("the deletion in ClickHouse", || async {
        latest().await.filter(|m| m.status == "deleted")
    })
    .await;
    app.stop().await.unwrap();
}

#[derive(clickhouse::Row, serde::Deserialize)]
struct IpRow {
    ip: String,
}

#[tokio::test]
async fn geography_from_an_mmdb_file_and_ip_anonymisation_by_owner_setting() {
    // A two-network GeoIP2-City-shaped database, built here.
    let mut w = mmdb_writer::Writer::new("GeoIP2-City");
    for (net, iso, region, city) in [
        ("203.0.113.0/24", "IN", "Karnataka", "Bengaluru"),
        ("198.51.100.0/24", "DE", "Berlin", "Berlin"),
    ] {
        let rec = json!({"country": {"iso_code": iso, "names": {"en": iso}},
                         "subdivisions": [{"names": {"en": region}}],
                         "city": {"names": {"en": city}}});
        w.insert(net.parse::<ipnet::IpNet>().unwrap(), &rec)
            .unwrap();
    }
    let path = std::env::temp_dir().join(format!("geo-{}.mmdb", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    let db = path.clone();
    let app = TestApp::spawn_with(move |s| {
        s.geoip_db = Some(db);
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let (t, _) = app.register("geo@example.com").await;
    let (_, qr) = app
        .post("/api/v1/qr-codes", Some(&t), json!({"name": "G", "qr_type": "url", "dynamic": true, "target_url": "https://example.com/"}))
        .await;
    let (id, path_) = (
        qr["id"].as_str().unwrap().to_owned(),
        format!("/r/{}", qr["short_code"].as_str().unwrap()),
    );
    let scan_from = |ip: &'static str| {
        let req = app
            .http
            .get(app.url(&path_))
            .header("user-agent", IPHONE)
            .header("x-forwarded-for", ip);
        async move { assert_eq!(req.send().await.unwrap().status(), StatusCode::FOUND) }
    };
    scan_from("203.0.113.7").await;
    scan_from("203.0.113.8").await;
    scan_from("198.51.100.20").await;
    scan_from("192.0.2.1").await; // not in the database
    let report = eventually("4 scans ingested", || async {
        let (_, r) = app
            .get(&format!("/api/v1/qr-codes/{id}/analytics"), Some(&t))
            .await;
        (r["total"] == 4).then_some(r)
    })
    .await;
    assert_eq!(
        keys(&report["countries"]),
        [
            ("IN".to_owned(), 2),
            ("DE".to_owned(), 1),
            ("unknown".to_owned(), 1)
        ]
    );
    assert_eq!(keys(&report["cities"])[0], ("Bengaluru".to_owned(), 2));

    // Stored anonymised by default; whole once the owner turns anonymisation off.
    let ch = app.clickhouse();
    let ips = || async {
        let mut v: Vec<String> = ch
            .query("SELECT ip FROM scan_events WHERE qr_id = toUUID(?)")
            .bind(&id)
            .fetch_all::<IpRow>()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.ip)
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        ips().await,
        ["192.0.2.0", "198.51.100.0", "203.0.113.0", "203.0.113.0"]
    );
    let (s, b) = app
        .put(
            "/api/v1/settings",
            Some(&t),
            json!({"locale": "en", "timezone": "UTC", "anonymize_ip": false}),
        )
        .await;
    assert_eq!((s, &b["anonymize_ip"]), (StatusCode::OK, &json!(false)));
    scan_from("203.0.113.99").await;
    eventually("the whole address stored", || async {
        ips()
            .await
            .contains(&"203.0.113.99".to_owned())
            .then_some(())
    })
    .await;
    app.stop().await.unwrap();
    let _ = std::fs::remove_file(&path);
}

/// The `i`th of a varied set of scans of `qr` at `at`: devices, bots, countries, cities,
/// referrers and nine visitors.
fn varied_scan(
    qr: &Value,
    owner: &str,
    i: i64,
    at: chrono::DateTime<Utc>,
) -> qrsaas_jobs::ScanEvent {
    let uas = [
        IPHONE,
        WINDOWS,
        WHATSAPP,
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
    ];
    qrsaas_jobs::ScanEvent {
        event_id: uuid::Uuid::now_v7(),
        qr_id: qr["id"].as_str().unwrap().parse().unwrap(),
        owner_id: owner.parse().unwrap(),
        project_id: qr["project_id"].as_str().map(|p| p.parse().unwrap()),
        short_code: qr["short_code"].as_str().unwrap().to_owned(),
        at,
        ip: Some([198, 51, 100, (i % 9) as u8].into()),
        user_agent: uas[(i % 4) as usize].to_owned(),
        referer: ["", "https://t.co/x", "https://news.example.org/a"][(i % 3) as usize].to_owned(),
        country: [Some("IN"), Some("DE"), None, Some("US"), Some("IN")][(i % 5) as usize]
            .map(str::to_owned),
        city: [Some("Pune"), None][(i % 2) as usize].map(str::to_owned),
        keep_ip: false,
        variant: 0,
    }
}

/// A project "Stores" and two dynamic codes, A in it and B in none: (project id, [A, B]).
async fn two_codes_one_in_a_project(app: &TestApp, t: &str) -> (String, Vec<Value>) {
    let (_, project) = app
        .post("/api/v1/projects", Some(t), json!({"name": "Stores"}))
        .await;
    let pid = project["id"].as_str().unwrap().to_owned();
    let mut codes = Vec::new();
    for (name, p) in [("A", Some(pid.as_str())), ("B", None)] {
        let (_, qr) = app
            .post("/api/v1/qr-codes", Some(t), json!({"name": name, "qr_type": "url", "dynamic": true, "target_url": "https://example.com/", "project_id": p}))
            .await;
        codes.push(qr);
    }
    (pid, codes)
}

/// Reports over long ranges read whole days from the daily rollups; every figure must equal
/// the raw-events answer, in every zone, interval, scope and bot setting.
#[tokio::test]
async fn long_ranges_read_the_rollups_and_match_raw_events_exactly() {
    let app = TestApp::spawn().await;
    let (t, owner) = app.register("rollups@example.com").await;
    let (pid, codes) = two_codes_one_in_a_project(&app, &t).await;
    // 600 scans over the last ~12 days: devices, bots, countries, cities, referrers, visitors.
    let now = Utc::now();
    let events: Vec<qrsaas_jobs::ScanEvent> = (0..600i64)
        .map(|i| {
            let qr = &codes[(i % 3 % 2) as usize];
            varied_scan(qr, &owner, i, now - Duration::minutes(i * 29 + 1))
        })
        .collect();
    let queues = app.queues().await;
    for chunk in events.chunks(200) {
        queues
            .enqueue(qrsaas_jobs::IngestScans {
                batch_id: uuid::Uuid::now_v7(),
                events: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    eventually("600 scans ingested", || async {
        let (_, r) = app
            .get(
                "/api/v1/analytics?include_bots=true&source=raw&interval=month&from=2026-01-01T00:00:00Z",
                Some(&t),
            )
            .await;
        (r["total"] == 600).then_some(())
    })
    .await;

    // Roll up every past day of the data (as an operator's backfill would), twice for one day:
    // re-running a day must not change anything.
    let today = now.date_naive();
    let days: Vec<chrono::NaiveDate> = (1..=13).map(|k| today - chrono::Days::new(k)).collect();
    let slot = Utc::now();
    for (i, day) in days.iter().chain([days[3]].iter()).enumerate() {
        queues
            .enqueue(qrsaas_jobs::RollupDay {
                date: *day,
                slot: slot + Duration::seconds(i as i64),
            })
            .await
            .unwrap();
    }
    eventually("13 days rolled up", || async {
        let n: i64 =
            sqlx::query_scalar("SELECT count(*) FROM rollup_days WHERE date >= $1 AND date < $2")
                .bind(days[12])
                .bind(today)
                .fetch_one(&app.db)
                .await
                .ok()?;
        (n == 13).then_some(())
    })
    .await;

    let from = (now - Duration::days(12) - Duration::hours(5))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let a = codes[0]["id"].as_str().unwrap();
    let range = format!("from={from}&to={to}");
    for path in [
        format!("/api/v1/qr-codes/{a}/analytics?{range}"),
        format!("/api/v1/qr-codes/{a}/analytics?{range}&include_bots=true&tz=Asia/Kolkata"),
        format!("/api/v1/analytics?{range}&interval=month"),
        format!("/api/v1/analytics?{range}&interval=hour&include_bots=true"),
        format!("/api/v1/analytics?{range}&project_id={pid}"),
        format!("/api/v1/analytics?{range}&include_bots=true"),
    ] {
        let (s, mut fast) = app.get(&path, Some(&t)).await;
        assert_eq!(s, StatusCode::OK, "{fast}");
        let (_, mut raw) = app.get(&format!("{path}&source=raw"), Some(&t)).await;
        assert_eq!(
            (fast["source"].as_str(), raw["source"].as_str()),
            (Some("rollups"), Some("raw")),
            "{path}"
        );
        assert!(fast["total"].as_u64().unwrap() > 0, "{path}: {fast}");
        fast["source"] = Value::Null;
        raw["source"] = Value::Null;
        assert_eq!(fast, raw, "{path}");
    }
    app.stop().await.unwrap();
}

/// Whole months inside a long range are read from the monthly rollup, which is rebuilt when
/// late scans change one of its days; every figure equals the raw-events answer throughout.
#[tokio::test]
async fn whole_months_read_the_monthly_rollup_and_follow_late_scans() {
    use chrono::{Datelike, NaiveDate, TimeZone};
    let app = TestApp::spawn().await;
    let (t, owner) = app.register("months@example.com").await;
    let (pid, codes) = two_codes_one_in_a_project(&app, &t).await;
    // 700 scans from five days before last month began until today began.
    let now = Utc::now();
    let today = now.date_naive();
    let this_month = today.with_day(1).unwrap();
    let last_month = this_month - chrono::Months::new(1);
    let first_day = last_month - chrono::Days::new(5);
    let start = Utc.from_utc_datetime(&first_day.and_hms_opt(0, 0, 0).unwrap());
    let span = Utc.from_utc_datetime(&today.and_hms_opt(0, 0, 0).unwrap()) - start;
    let events: Vec<qrsaas_jobs::ScanEvent> = (0..700i64)
        .map(|i| {
            varied_scan(
                &codes[(i % 3 % 2) as usize],
                &owner,
                i,
                start + span * (i as i32) / 700,
            )
        })
        .collect();
    let queues = app.queues().await;
    for chunk in events.chunks(200) {
        queues
            .enqueue(qrsaas_jobs::IngestScans {
                batch_id: uuid::Uuid::now_v7(),
                events: chunk.to_vec(),
            })
            .await
            .unwrap();
    }
    let all =
        "/api/v1/analytics?include_bots=true&source=raw&interval=month&from=2020-01-01T00:00:00Z";
    eventually("700 scans ingested", || async {
        let (_, r) = app.get(all, Some(&t)).await;
        (r["total"] == 700).then_some(())
    })
    .await;

    // Every day up to yesterday rolled up: last month is then whole, and rolled as a month.
    let days: Vec<NaiveDate> = first_day.iter_days().take_while(|d| *d < today).collect();
    let roll = |days: Vec<NaiveDate>| {
        let queues = &queues;
        async move {
            for (i, day) in days.into_iter().enumerate() {
                queues
                    .enqueue(qrsaas_jobs::RollupDay {
                        date: day,
                        slot: Utc::now() + Duration::seconds(i as i64),
                    })
                    .await
                    .unwrap();
            }
        }
    };
    roll(days.clone()).await;
    let month_rolled_at = || async {
        sqlx::query_scalar::<_, chrono::DateTime<Utc>>(
            "SELECT rolled_at FROM rollup_months WHERE month = $1",
        )
        .bind(last_month)
        .fetch_optional(&app.db)
        .await
        .ok()
        .flatten()
    };
    let first_roll = crate::common::eventually_within(
        "last month rolled up",
        std::time::Duration::from_secs(180),
        month_rolled_at,
    )
    .await;

    let from = (start - Duration::hours(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let a = codes[0]["id"].as_str().unwrap().to_owned();
    let range = format!("from={from}&to={to}");
    let paths = [
        format!("/api/v1/qr-codes/{a}/analytics?{range}&interval=month"),
        format!("/api/v1/qr-codes/{a}/analytics?{range}&include_bots=true"),
        format!("/api/v1/analytics?{range}&interval=month&include_bots=true"),
        format!("/api/v1/analytics?{range}&tz=Asia/Kolkata"),
        format!("/api/v1/analytics?{range}&project_id={pid}&interval=month"),
    ];
    let same_as_raw = |what: &'static str| {
        let (app, t, paths) = (&app, &t, &paths);
        async move {
            for path in paths {
                let (s, mut fast) = app.get(path, Some(t)).await;
                assert_eq!(s, StatusCode::OK, "{fast}");
                let (_, mut raw) = app.get(&format!("{path}&source=raw"), Some(t)).await;
                assert_eq!(fast["source"], "rollups", "{what}: {path}");
                assert!(fast["total"].as_u64().unwrap() > 0, "{path}: {fast}");
                fast["source"] = Value::Null;
                raw["source"] = Value::Null;
                assert_eq!(fast, raw, "{what}: {path}");
            }
        }
    };
    same_as_raw("after the first rollup").await;

    // The month is read from the monthly table: emptied behind the record's back, the month's
    // scans disappear from the rollup answer (and only they do).
    let month_path = format!(
        "/api/v1/qr-codes/{a}/analytics?include_bots=true&source=raw&from={}&to={}",
        Utc.from_utc_datetime(&last_month.and_hms_opt(0, 0, 0).unwrap())
            .to_rfc3339(),
        Utc.from_utc_datetime(&this_month.and_hms_opt(0, 0, 0).unwrap())
            .to_rfc3339()
    )
    .replace('+', "%2B");
    let (_, in_month) = app.get(&month_path, Some(&t)).await;
    let in_month = in_month["total"].as_u64().unwrap();
    assert!(in_month > 100, "{in_month}");
    let ch = qrsaas::analytics::client(&app.settings);
    ch.query(&format!(
        "ALTER TABLE monthly_aggregates DROP PARTITION '{last_month}'"
    ))
    .execute()
    .await
    .unwrap();
    let (_, fast) = app.get(&paths[1], Some(&t)).await;
    let (_, raw) = app.get(&format!("{}&source=raw", paths[1]), Some(&t)).await;
    assert_eq!(
        fast["total"].as_u64().unwrap(),
        raw["total"].as_u64().unwrap() - in_month
    );

    // A late scan in the middle of the month un-rolls its day: the month is no longer read
    // whole, and the answer includes the scan at once.
    let late_day = last_month + chrono::Days::new(10);
    let late_at = Utc.from_utc_datetime(&late_day.and_hms_opt(13, 0, 0).unwrap());
    queues
        .enqueue(qrsaas_jobs::IngestScans {
            batch_id: uuid::Uuid::now_v7(),
            events: vec![varied_scan(&codes[0], &owner, 1, late_at)],
        })
        .await
        .unwrap();
    eventually("the late scan ingested", || async {
        let (_, r) = app.get(all, Some(&t)).await;
        (r["total"] == 701).then_some(())
    })
    .await;
    same_as_raw("with the late scan's day un-rolled").await;

    // Rolled again, the day brings its month with it.
    roll(vec![late_day]).await;
    crate::common::eventually_within(
        "last month rolled again",
        std::time::Duration::from_secs(60),
        || async { month_rolled_at().await.filter(|t| *t > first_roll) },
    )
    .await;
    let (_, raw) = app.get(&format!("{}&source=raw", paths[1]), Some(&t)).await;
    let (_, fast) = app.get(&paths[1], Some(&t)).await;
    assert_eq!(fast["total"], raw["total"]);
    same_as_raw("after the month was rolled again").await;
    app.stop().await.unwrap();
}
