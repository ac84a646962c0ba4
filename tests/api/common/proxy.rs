//! A TCP proxy the test can cut: a dependency "outage" for one app instance without touching the
//! shared server other tests use. `down()` refuses new connections and cuts open ones (pooled
//! keep-alive connections included); `up()` restores service. `lose_replies()` makes the
//! ambiguous failure: requests still reach the server and run, but each connection is cut at
//! the first reply, which the client never sees; `deliver_replies()` ends it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::AbortHandle;

#[derive(Clone)]
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    losing: Arc<AtomicBool>,
    /// Replies dropped (connections cut) while losing replies.
    lost: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    pub async fn start(upstream: &'static str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let proxy = Proxy {
            port,
            up: Arc::new(AtomicBool::new(true)),
            losing: Arc::new(AtomicBool::new(false)),
            lost: Arc::new(AtomicUsize::new(0)),
            open: Arc::new(Mutex::new(Vec::new())),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !p.up.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let relay = p.clone();
                let task = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(upstream).await {
                        relay.relay(inbound, outbound).await;
                    }
                });
                p.open.lock().await.push(task.abort_handle());
            }
        });
        proxy
    }

    /// Requests go through as they are; replies too, unless replies are being lost.
    async fn relay(&self, inbound: TcpStream, outbound: TcpStream) {
        let (mut client_in, mut client_out) = inbound.into_split();
        let (mut server_in, mut server_out) = outbound.into_split();
        let requests = async {
            let _ = tokio::io::copy(&mut client_in, &mut server_out).await;
            let _ = server_out.shutdown().await;
            // The connection lasts until the server is done replying.
            std::future::pending::<()>().await
        };
        let replies = async {
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = match server_in.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if self.losing.load(Ordering::SeqCst) {
                    // The server has run the request; its client never learns so.
                    self.lost.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                if client_out.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            () = requests => {}
            () = replies => {}
        }
    }

    pub async fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.open.lock().await.drain(..) {
            task.abort();
        }
    }

    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    pub fn lose_replies(&self) {
        self.losing.store(true, Ordering::SeqCst);
    }

    pub fn deliver_replies(&self) {
        self.losing.store(false, Ordering::SeqCst);
    }

    /// Replies lost so far.
    pub fn lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}
