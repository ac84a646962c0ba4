//! A fake Stripe on a real socket: customers, Checkout and portal sessions, subscriptions and
//! Billing Meter events, answering with objects shaped like Stripe's (complete enough for
//! async-stripe to parse), and webhook deliveries signed exactly as Stripe documents it —
//! implemented here from Stripe's documentation, independently of the app's verification.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::Utc;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const SECRET_KEY: &str = "sk_test_fake";
pub const WEBHOOK_SECRET: &str = "whsec_test_current";

/// One request the app made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub form: BTreeMap<String, String>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Sub {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub prices: Vec<String>,
    pub period_start: i64,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    pub created: i64,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Default)]
struct State {
    calls: Vec<Call>,
    customers: BTreeMap<String, Value>,
    /// Idempotency key → the customer it created (Stripe answers a repeat with the same).
    customer_keys: HashMap<String, String>,
    sessions: BTreeMap<String, BTreeMap<String, String>>,
    subs: BTreeMap<String, Sub>,
    /// Identifier → (event name, customer, value): Stripe keeps one event per identifier.
    meter_events: BTreeMap<String, (String, String, i64)>,
    /// Answer the next this many meter events with a 500.
    fail_meter_events: usize,
    next: u64,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!(
            "{prefix}_{:06}{}",
            self.next,
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    }
}

#[derive(Clone)]
pub struct FakeStripe {
    /// The API base to configure (`QRSAAS_STRIPE__API_BASE`).
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let addr = listener.local_addr().expect("addr");
                let shared = web::Data::new(s);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .default_service(web::to(handle))
                })
                .workers(1)
                .listen(listener)
                .expect("listen")
                .run();
                let _ = tx.send(format!("http://{addr}/"));
                let _ = server.await;
            });
        });
        let base = rx.await.expect("fake stripe started");
        FakeStripe { base, state }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("lock")
    }

    pub fn calls(&self, path_prefix: &str) -> Vec<Call> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    pub fn customers(&self) -> Vec<Value> {
        self.lock().customers.values().cloned().collect()
    }

    pub fn session(&self, id: &str) -> BTreeMap<String, String> {
        self.lock().sessions.get(id).cloned().expect("session")
    }

    pub fn sub(&self, id: &str) -> Sub {
        self.lock().subs.get(id).cloned().expect("subscription")
    }

    /// Changes a subscription as Stripe would (the next retrieve answers the new state).
    pub fn update_sub(&self, id: &str, f: impl FnOnce(&mut Sub)) -> Sub {
        let mut st = self.lock();
        let sub = st.subs.get_mut(id).expect("subscription");
        f(sub);
        sub.clone()
    }

    pub fn meter_events(&self) -> BTreeMap<String, (String, String, i64)> {
        self.lock().meter_events.clone()
    }

    pub fn fail_meter_events(&self, n: usize) {
        self.lock().fail_meter_events = n;
    }

    /// The customer pays: a subscription session makes an active subscription of its prices
    /// (a 30-day period from now). Answers the subscription id, or `None` for payment mode.
    pub fn complete_checkout(&self, session: &str) -> Option<String> {
        let mut st = self.lock();
        let s = st.sessions.get(session).cloned().expect("session");
        if s.get("mode").map(String::as_str) != Some("subscription") {
            st.sessions
                .get_mut(session)
                .expect("session")
                .insert("payment_status".into(), "paid".into());
            return None;
        }
        let id = st.id("sub");
        let now = Utc::now().timestamp();
        let prices = (0..)
            .map_while(|i| s.get(&format!("line_items[{i}][price]")).cloned())
            .collect();
        let metadata = nested(&s, "subscription_data[metadata]");
        let sub = Sub {
            id: id.clone(),
            customer: s.get("customer").cloned().expect("customer"),
            status: "active".into(),
            prices,
            period_start: now - 60,
            period_end: now + 30 * 86400,
            cancel_at_period_end: false,
            created: now - 60,
            metadata,
        };
        st.subs.insert(id.clone(), sub);
        let sess = st.sessions.get_mut(session).expect("session");
        sess.insert("subscription".into(), id.clone());
        sess.insert("payment_status".into(), "paid".into());
        Some(id)
    }

    /// The Checkout Session as Stripe would render it in an event.
    pub fn session_object(&self, id: &str) -> Value {
        session_json(id, &self.session(id))
    }

    pub fn sub_object(&self, id: &str) -> Value {
        sub_json(&self.sub(id))
    }

    /// An invoice of the subscription (for `invoice.*` events), in the current API's shape.
    pub fn invoice_object(&self, sub: &str, paid: bool) -> Value {
        let s = self.sub(sub);
        json!({
            "id": format!("in_{}", &s.id[4..]), "object": "invoice", "customer": s.customer,
            "status": if paid { "paid" } else { "open" }, "amount_due": 99900, "currency": "inr",
            "parent": {"type": "subscription_details", "subscription_details": {"subscription": s.id, "metadata": {}}},
            "livemode": false, "created": Utc::now().timestamp(),
        })
    }
}

/// An event envelope around `object`.
pub fn event(kind: &str, object: Value) -> String {
    json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": Utc::now().timestamp(),
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind,
    })
    .to_string()
}

/// `Stripe-Signature` as Stripe computes it: `t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Delivers `body` to the app's webhook endpoint, signed with `secret` now; answers the status.
pub async fn deliver(
    http: &reqwest::Client,
    app_base: &str,
    body: &str,
    secret: &str,
) -> reqwest::StatusCode {
    let sig = signature(secret, Utc::now().timestamp(), body);
    deliver_signed(http, app_base, body, Some(&sig)).await
}

pub async fn deliver_signed(
    http: &reqwest::Client,
    app_base: &str,
    body: &str,
    sig: Option<&str>,
) -> reqwest::StatusCode {
    let mut req = http
        .post(format!("{app_base}/api/v1/billing/stripe/webhook"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = sig {
        req = req.header("stripe-signature", s);
    }
    req.send().await.expect("deliver").status()
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The entries `{prefix}[key]` of a form, as a map of `key` (how Stripe's API nests maps).
fn nested(form: &BTreeMap<String, String>, prefix: &str) -> BTreeMap<String, String> {
    form.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(prefix)
                .and_then(|k| k.strip_prefix('['))
                .and_then(|k| k.strip_suffix(']'))
                .map(|k| (k.to_owned(), v.clone()))
        })
        .collect()
}

fn price_json(id: &str, created: i64) -> Value {
    let metered = id.contains("over");
    let usage = if metered { "metered" } else { "licensed" };
    let interval = if id.contains("year") { "year" } else { "month" };
    json!({
        "id": id, "object": "price", "active": true, "billing_scheme": "per_unit", "created": created,
        "currency": "inr", "livemode": false, "metadata": {}, "product": "prod_qrsaas", "type": "recurring",
        "recurring": {"interval": interval, "interval_count": 1, "usage_type": usage},
        "unit_amount": if metered { 10 } else { 99900 },
    })
}

fn plan_json(id: &str, created: i64) -> Value {
    let metered = id.contains("over");
    json!({
        "id": id, "object": "plan", "active": true, "billing_scheme": "per_unit", "created": created,
        "currency": "inr", "interval": if id.contains("year") { "year" } else { "month" }, "interval_count": 1,
        "livemode": false, "usage_type": if metered { "metered" } else { "licensed" },
        "amount": if metered { 10 } else { 99900 },
    })
}

fn sub_json(s: &Sub) -> Value {
    let items: Vec<Value> = s
        .prices
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "id": format!("si_{}_{i}", &s.id[4..]), "object": "subscription_item", "created": s.created,
                "current_period_start": s.period_start, "current_period_end": s.period_end,
                "discounts": [], "metadata": {}, "plan": plan_json(p, s.created), "price": price_json(p, s.created),
                "subscription": s.id, "quantity": if p.contains("over") { Value::Null } else { json!(1) },
            })
        })
        .collect();
    json!({
        "id": s.id, "object": "subscription", "automatic_tax": {"enabled": false},
        "billing_cycle_anchor": s.period_start, "billing_mode": {"type": "classic"}, "billing_schedules": [],
        "cancel_at_period_end": s.cancel_at_period_end,
        "cancel_at": if s.cancel_at_period_end { json!(s.period_end) } else { Value::Null },
        "collection_method": "charge_automatically", "created": s.created, "currency": "inr",
        "customer": s.customer, "discounts": [], "invoice_settings": {"issuer": {"type": "self"}},
        "items": {"object": "list", "data": items, "has_more": false, "url": format!("/v1/subscription_items?subscription={}", s.id)},
        "livemode": false, "metadata": s.metadata, "start_date": s.created, "status": s.status,
    })
}

fn session_json(id: &str, s: &BTreeMap<String, String>) -> Value {
    let metadata = nested(s, "metadata");
    let created = Utc::now().timestamp();
    json!({
        "id": id, "object": "checkout.session", "automatic_tax": {"enabled": false}, "created": created,
        "custom_fields": [], "custom_text": {}, "expires_at": created + 86400, "livemode": false,
        "mode": s.get("mode"), "payment_method_types": ["card"],
        "payment_status": s.get("payment_status").map_or("unpaid", String::as_str),
        "shipping_options": [], "status": if s.contains_key("subscription") || s.get("payment_status").is_some() { "complete" } else { "open" },
        "url": format!("https://checkout.stripe.test/c/pay/{id}"),
        "customer": s.get("customer"), "client_reference_id": s.get("client_reference_id"),
        "subscription": s.get("subscription"), "metadata": metadata,
        "success_url": s.get("success_url"), "cancel_url": s.get("cancel_url"),
    })
}

fn stripe_error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .json(json!({"error": {"type": "invalid_request_error", "message": message}}))
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<Arc<Mutex<State>>>,
) -> HttpResponse {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {SECRET_KEY}")) {
        return stripe_error(401, "Invalid API Key provided");
    }
    let path = req.path().to_owned();
    let method = req.method().as_str().to_owned();
    let f = form(&body);
    let key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut st = state.lock().expect("lock");
    st.calls.push(Call {
        method: method.clone(),
        path: path.clone(),
        form: f.clone(),
        idempotency_key: key.clone(),
    });
    let now = Utc::now().timestamp();
    match (method.as_str(), path.as_str()) {
        ("POST", "/v1/customers") => {
            if let Some(existing) = key.as_ref().and_then(|k| st.customer_keys.get(k)).cloned() {
                return HttpResponse::Ok().json(st.customers[&existing].clone());
            }
            let id = st.id("cus");
            let metadata = nested(&f, "metadata");
            let c = json!({"id": id, "object": "customer", "created": now, "livemode": false,
                "email": f.get("email"), "name": f.get("name"), "metadata": metadata});
            st.customers.insert(id.clone(), c.clone());
            if let Some(k) = key {
                st.customer_keys.insert(k, id);
            }
            HttpResponse::Ok().json(c)
        }
        ("POST", "/v1/checkout/sessions") => {
            if !f
                .get("customer")
                .is_some_and(|c| st.customers.contains_key(c))
            {
                return stripe_error(400, "No such customer");
            }
            let id = st.id("cs_test");
            st.sessions.insert(id.clone(), f.clone());
            HttpResponse::Ok().json(session_json(&id, &f))
        }
        ("POST", "/v1/billing_portal/sessions") => {
            let Some(customer) = f.get("customer").filter(|c| st.customers.contains_key(*c)) else {
                return stripe_error(400, "No such customer");
            };
            let id = st.id("bps");
            HttpResponse::Ok().json(json!({
                "id": id, "object": "billing_portal.session", "configuration": "bpc_default",
                "created": now, "customer": customer, "livemode": false,
                "return_url": f.get("return_url"), "url": format!("https://billing.stripe.test/p/session/{id}"),
            }))
        }
        ("POST", "/v1/billing/meter_events") => {
            if st.fail_meter_events > 0 {
                st.fail_meter_events -= 1;
                return stripe_error(500, "meter events are down");
            }
            let identifier = f.get("identifier").cloned().unwrap_or_else(|| st.id("mev"));
            let value: i64 = f
                .get("payload[value]")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let customer = f
                .get("payload[stripe_customer_id]")
                .cloned()
                .unwrap_or_default();
            let name = f.get("event_name").cloned().unwrap_or_default();
            st.meter_events.entry(identifier.clone()).or_insert((
                name.clone(),
                customer.clone(),
                value,
            ));
            HttpResponse::Ok().json(json!({
                "object": "billing.meter_event", "created": now, "event_name": name,
                "identifier": identifier, "livemode": false,
                "payload": {"stripe_customer_id": customer, "value": value.to_string()},
                "timestamp": f.get("timestamp").and_then(|t| t.parse::<i64>().ok()).unwrap_or(now),
            }))
        }
        ("GET", p) if p.starts_with("/v1/subscriptions/") => {
            match st.subs.get(&p["/v1/subscriptions/".len()..]) {
                Some(s) => HttpResponse::Ok().json(sub_json(s)),
                None => stripe_error(404, "No such subscription"),
            }
        }
        _ => stripe_error(404, "Unrecognized request URL"),
    }
}
