//! A webhook receiver on a real socket: keeps every request (headers and body) and answers
//! from a script — a queue of answers, then a default — so tests can make it fail, go away
//! (410), ask for patience (429 + Retry-After) or hang.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// One answer of the script.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'static str,
    /// Wait this long before answering (a hung receiver).
    pub delay: Duration,
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: "",
            delay: Duration::ZERO,
        }
    }
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

#[derive(Default)]
struct Script {
    answers: VecDeque<Answer>,
    default: Option<Answer>,
    received: Vec<Received>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub port: u16,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let script = Arc::new(Mutex::new(Script::default()));
        let s = script.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
                let port = listener.local_addr().expect("addr").port();
                let shared = web::Data::new(s);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(shared.clone())
                        .default_service(web::to(answer))
                })
                .workers(2)
                .listen(listener)
                .expect("listen")
                .run();
                let _ = tx.send(port);
                let _ = server.await;
            });
        });
        let port = rx.await.expect("receiver started");
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            port,
            script,
        }
    }

    /// Answers these first, in order.
    pub fn then(&self, answers: impl IntoIterator<Item = Answer>) {
        self.script.lock().expect("lock").answers.extend(answers);
    }

    /// Answers this once the scripted answers are used up (200 when unset).
    pub fn otherwise(&self, a: Answer) {
        self.script.lock().expect("lock").default = Some(a);
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.lock().expect("lock").received.clone()
    }
}

async fn answer(
    req: HttpRequest,
    body: web::Bytes,
    script: web::Data<Arc<Mutex<Script>>>,
) -> HttpResponse {
    let mut headers = HeaderMap::new();
    for (k, v) in req.headers() {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_str().as_bytes()),
            HeaderValue::from_bytes(v.as_bytes()),
        ) {
            headers.append(k, v);
        }
    }
    let a = {
        let mut s = script.lock().expect("lock");
        s.received.push(Received {
            path: req.path().to_owned(),
            headers,
            body: body.to_vec(),
        });
        s.answers
            .pop_front()
            .or_else(|| s.default.clone())
            .unwrap_or_else(|| Answer::status(200))
    };
    if !a.delay.is_zero() {
        tokio::time::sleep(a.delay).await;
    }
    let mut res =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(a.status).expect("status"));
    for (k, v) in &a.headers {
        res.insert_header((*k, v.as_str()));
    }
    res.body(a.body)
}
