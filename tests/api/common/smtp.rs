//! A fake SMTP server on a real socket: accepts every message and keeps it for assertions.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

impl Received {
    pub fn subject(&self) -> String {
        self.parsed()
            .headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case("subject"))
            .map(|h| h.get_value())
            .unwrap_or_default()
    }

    fn parsed(&self) -> mailparse::ParsedMail<'_> {
        mailparse::parse_mail(&self.data).expect("parse mail")
    }

    /// The decoded text/plain part.
    pub fn text(&self) -> String {
        fn find(p: &mailparse::ParsedMail<'_>, mime: &str) -> Option<String> {
            if p.ctype.mimetype == mime {
                return p.get_body().ok();
            }
            p.subparts.iter().find_map(|s| find(s, mime))
        }
        find(&self.parsed(), "text/plain").unwrap_or_default()
    }

    pub fn html(&self) -> String {
        fn find(p: &mailparse::ParsedMail<'_>) -> Option<String> {
            if p.ctype.mimetype == "text/html" {
                return p.get_body().ok();
            }
            p.subparts.iter().find_map(find)
        }
        find(&self.parsed()).unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct FakeSmtp {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
}

impl FakeSmtp {
    pub async fn start() -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let _ = session(sock, store).await;
                });
            }
        });
        FakeSmtp { port, messages }
    }

    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().expect("lock").clone()
    }

    pub fn to(&self, addr: &str) -> Vec<Received> {
        self.messages()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.contains(addr)))
            .collect()
    }
}

async fn session(
    sock: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<Received>>>,
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 fake-smtp ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            w.write_all(b"250-fake-smtp\r\n250 8BITMIME\r\n").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().to_owned();
            to.clear();
            w.write_all(b"250 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().to_owned());
            w.write_all(b"250 OK\r\n").await?;
        } else if upper == "DATA" {
            w.write_all(b"354 go ahead\r\n").await?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                data.extend_from_slice(l.as_bytes());
            }
            store.lock().expect("lock").push(Received {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            w.write_all(b"250 queued\r\n").await?;
        } else if upper == "QUIT" {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            w.write_all(b"250 OK\r\n").await?;
        }
    }
}
