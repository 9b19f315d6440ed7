//! Signals between the nodes sharing one PostgreSQL database, carried by `LISTEN/NOTIFY`:
//! nothing else to run, and a notification sent in a transaction is delivered only if it
//! commits, in commit order (so "events up to seq N are durable" is never early).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use troupe_runtime::cluster::{ClusterSignals, Signal, Signaled, decode_signals, encode_signals};
use troupe_runtime::store::StoreError;

use super::db_error;

/// The notification channel troupe's nodes share.
pub(crate) const CHANNEL: &str = "troupe_cluster";

/// How many signals a slow receiver may fall behind before it resynchronises from the store.
const BUFFER: usize = 8192;

/// The cluster signals of a PostgreSQL store.
pub struct PgSignals {
    pool: PgPool,
    sender: broadcast::Sender<Arc<Signaled>>,
    listener: JoinHandle<()>,
}

impl PgSignals {
    /// Connects to the database at `url` (a connection to listen, one to notify) and starts
    /// listening. Only `troupe serve` does: short commands never pay for it.
    pub async fn connect(url: &str) -> Result<Arc<Self>, StoreError> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(db_error)?;
        let mut listener = PgListener::connect_with(&pool).await.map_err(db_error)?;
        listener.listen(CHANNEL).await.map_err(db_error)?;
        let (sender, _) = broadcast::channel(BUFFER);
        let listener = tokio::spawn(listen(listener, pool.clone(), sender.clone()));
        Ok(Arc::new(Self { pool, sender, listener }))
    }
}

impl Drop for PgSignals {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Receives notifications until dropped; after a lost connection, says `Resync` once it is
/// back (what was sent meanwhile is lost; the store has it).
async fn listen(mut listener: PgListener, pool: PgPool, sender: broadcast::Sender<Arc<Signaled>>) {
    let resync = || Arc::new(Signaled { from: String::new(), signal: Signal::Resync });
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                for signaled in decode_signals(notification.payload()) {
                    let _ = sender.send(Arc::new(signaled));
                }
            }
            Ok(None) => {
                tracing::warn!("the cluster signal connection was lost; reconnecting");
                let _ = sender.send(resync());
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for cluster signals; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                if sqlx::query("SELECT 1").execute(&pool).await.is_ok() {
                    let _ = sender.send(resync());
                }
            }
        }
    }
}

#[async_trait]
impl ClusterSignals for PgSignals {
    async fn publish(&self, from: &str, signals: &[Signal]) -> Result<(), StoreError> {
        for payload in encode_signals(from, signals) {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
        }
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Signaled>> {
        self.sender.subscribe()
    }
}
