//! The landing pages in a real browser: Debian's Chromium, headless, driven over WebDriver
//! (chromedriver, installed by `scripts/services --with-browser`). Checks that every page renders
//! in the owner's white-label look, that the download buttons deliver the files, that the Wi-Fi
//! copy button runs under the pages' CSP, and that the password form works.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::codes::upload_logo;
use crate::common::{TestApp, eventually};

/// chromedriver on a free port, killed on drop.
struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver not found: run scripts/services --with-browser (installs chromium and chromium-driver)");
    let driver = Driver(child, port);
    eventually("chromedriver listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    driver
}

async fn browser(driver: &Driver, downloads: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=412,915"],
            "prefs": {"download.default_directory": downloads.to_str().unwrap(),
                      "download.prompt_for_download": false}
        }),
    );
    // chromedriver speaks plain HTTP on localhost: no TLS stack needed.
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await
        .expect("WebDriver session with headless Chromium")
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

/// Waits for the element (a click may still be loading the next page), then reads its text.
async fn text(c: &Client, at: Locator<'_>) -> String {
    c.wait()
        .for_element(at)
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn click(c: &Client, at: Locator<'_>) {
    c.wait()
        .for_element(at)
        .await
        .unwrap()
        .click()
        .await
        .unwrap()
}

async fn create(app: &TestApp, token: &str, body: Value) -> String {
    let (s, qr) = app.post("/api/v1/qr-codes", Some(token), body).await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{qr}");
    app.url(&format!("/r/{}", qr["short_code"].as_str().unwrap()))
}

/// The file Chromium saved, once the download has finished.
async fn downloaded(dir: &Path, ext: &str) -> String {
    eventually(&format!("a .{ext} download"), || async {
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == ext))
            .and_then(|p| std::fs::read_to_string(p).ok())
    })
    .await
}

#[tokio::test]
async fn landing_pages_render_branded_and_their_buttons_work_in_chromium() {
    let app = TestApp::spawn().await;
    let (t, _) = app.register("browser@example.com").await;
    let logo = upload_logo(&app, &t).await;
    let (s, b) = app
        .put(
            "/api/v1/settings",
            Some(&t),
            json!({"locale": "en", "timezone": "Asia/Kolkata",
                   "branding": {"name": "Chai Corner", "primary_color": "#AA2200",
                                "background_color": "#102030", "logo_upload_id": logo}}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{b}");
    assert_eq!(b["branding"]["primary_color"], "#aa2200");

    let vcard = create(&app, &t, json!({"name": "Card", "qr_type": "vcard", "dynamic": true,
        "data": {"first_name": "Asha", "last_name": "Rao", "phones": ["+911234567890"], "emails": ["asha@example.com"]}})).await;
    let event = create(&app, &t, json!({"name": "Launch", "qr_type": "event", "dynamic": true,
        "data": {"summary": "Launch party", "start": "2027-01-05T18:00:00Z", "end": "2027-01-05T21:00:00Z", "location": "Bengaluru"}})).await;
    let wifi = create(
        &app,
        &t,
        json!({"name": "Guest Wi-Fi", "qr_type": "wifi", "dynamic": true,
        "data": {"ssid": "Chai-Guest", "password": "masala123", "encryption": "WPA"}}),
    )
    .await;
    let (s, _) = app
        .put("/api/v1/merchant", Some(&t), json!({"display_name": "Chai Corner", "upi_vpa": "chai@okaxis", "mcc": "5812", "city": "Bengaluru"}))
        .await;
    assert!(s.is_success());
    let pay = create(
        &app,
        &t,
        json!({"name": "Counter", "qr_type": "payment", "dynamic": true,
        "data": {"journey_type": "basic", "amount": "40"}}),
    )
    .await;
    let locked = create(&app, &t, json!({"name": "Staff menu", "qr_type": "text", "dynamic": true,
        "data": {"text": "Staff meal at 4pm"}, "rules": [{"if": {}, "then": {"password": "chai-time"}}]})).await;

    let driver = start_driver().await;
    let downloads = tempfile_dir("downloads");
    let c = browser(&driver, &downloads).await;

    // vCard: branded page, logo loaded (so the CSP lets it in), the .vcf download.
    c.goto(&vcard).await.unwrap();
    let h1 = text(&c, Locator::Css("h1")).await;
    assert_eq!(h1, "Asha Rao");
    let brand = text(&c, Locator::Css("header.brand")).await;
    assert_eq!(brand, "Chai Corner");
    assert_eq!(
        js(&c, "return getComputedStyle(document.body).backgroundColor").await,
        "rgb(16, 32, 48)"
    );
    assert_eq!(
        js(
            &c,
            "return getComputedStyle(document.querySelector('.btn')).backgroundColor"
        )
        .await,
        "rgb(170, 34, 0)"
    );
    eventually("the logo to load", || async {
        (js(
            &c,
            "const i = document.querySelector('img.logo'); return i.complete && i.naturalWidth",
        )
        .await
        .as_u64()
        .unwrap_or(0)
            > 0)
        .then_some(())
    })
    .await;
    click(&c, Locator::LinkText("Save contact")).await;
    let vcf = downloaded(&downloads, "vcf").await;
    assert!(vcf.contains("BEGIN:VCARD") && vcf.contains("Asha"), "{vcf}");

    // Event: the .ics download.
    c.goto(&event).await.unwrap();
    assert_eq!(text(&c, Locator::Css("h1")).await, "Launch party");
    click(&c, Locator::LinkText("Add to calendar")).await;
    let ics = downloaded(&downloads, "ics").await;
    assert!(
        ics.contains("BEGIN:VEVENT") && ics.contains("Launch party"),
        "{ics}"
    );

    // Wi-Fi: the copy button's inline handler runs (the CSP allows it).
    c.goto(&wifi).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("Chai-Guest") && page.contains("masala123"));
    let copy = c.find(Locator::Id("copy")).await.unwrap();
    copy.click().await.unwrap();
    assert_eq!(copy.text().await.unwrap(), "Copied");

    // Payment: the UPI button carries the payment URI.
    c.goto(&pay).await.unwrap();
    let href = c
        .find(Locator::LinkText("Pay with UPI"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        href.starts_with("upi://pay?") && href.contains("am=40.00"),
        "{href}"
    );

    // Password: the form, a wrong answer, then the right one opens the page.
    c.goto(&locked).await.unwrap();
    let field = c.find(Locator::Id("password")).await.unwrap();
    field.send_keys("wrong").await.unwrap();
    click(&c, Locator::Css("button[type=submit]")).await;
    let alert = text(&c, Locator::Css("[role=alert]")).await;
    assert!(alert.contains("Wrong password"), "{alert}");
    c.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("chai-time")
        .await
        .unwrap();
    click(&c, Locator::Css("button[type=submit]")).await;
    eventually("the unlocked page", || async {
        c.source()
            .await
            .ok()?
            .contains("Staff meal at 4pm")
            .then_some(())
    })
    .await;
    assert_eq!(c.current_url().await.unwrap().as_str(), locked);

    c.close().await.unwrap();
    drop(driver);
    let _ = std::fs::remove_dir_all(&downloads);
    tokio::time::sleep(Duration::from_millis(10)).await;
    app.stop().await.unwrap();
}

fn tempfile_dir(what: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("qrsaas-{what}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
