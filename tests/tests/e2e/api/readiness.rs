//! `/readyz` follows the database within a second, through a TCP proxy the test controls (the
//! shared PostgreSQL server itself is never stopped: other tests use it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use troupe::Config;

use super::{Api, Backend};

/// Forwards connections to `upstream` while up; cutting it drops every connection and refuses
/// new ones, as an unreachable database would.
pub(crate) struct Proxy {
    /// Where clients connect.
    pub(crate) addr: std::net::SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub(crate) async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accept_up, accept_connections) = (Arc::clone(&up), Arc::clone(&connections));
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees its connection closed
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                accept_connections.lock().await.push(task);
            }
        });
        Self { addr, up, connections }
    }

    pub(crate) async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.connections.lock().await.drain(..) {
            task.abort();
        }
    }

    pub(crate) fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn readiness(api: &Api) -> u16 {
    api.http.get("/readyz").send().await.unwrap().status().as_u16()
}

/// Polls `/readyz` until it answers `expected`; returns how long that took.
async fn until(api: &Api, expected: u16) -> Duration {
    let started = Instant::now();
    let what = format!("/readyz answers {expected}");
    crate::poll(Duration::from_secs(10), &what, || async { (readiness(api).await == expected).then_some(()) }).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_within_a_second() {
    let Some(database) = troupe_memory::testing::postgres_database("readiness").await else { return };
    let url = url::Url::parse(&database.url).unwrap();
    let upstream = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(upstream.clone()).await;
    let through_proxy = database.url.replacen(&upstream, &proxy.addr.to_string(), 1);
    let api =
        Api::start_configured(Backend::Sqlite, "readiness", |config| Config { database_url: through_proxy, ..config })
            .await
            .unwrap();
    assert_eq!(readiness(&api).await, 200);
    proxy.cut().await;
    let started = Instant::now();
    let status = readiness(&api).await;
    assert_eq!(status, 503, "the database is unreachable");
    assert!(started.elapsed() < Duration::from_millis(1500), "answered in {:?}", started.elapsed());
    proxy.restore();
    let back = until(&api, 200).await;
    assert!(back < Duration::from_secs(2), "ready again {back:?} after the database returned");
    api.stop().await;
    database.drop_database().await;
}
