//! Periodic background jobs of the server (retention, vector index upkeep), each supervised:
//! every pass runs as a task of its own, so a pass that fails or panics is logged and counted,
//! and the job goes on after a backoff that doubles with each failure in a row (up to the
//! job's interval) — one bad pass never stops the job or the server.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a job reports about itself.
#[derive(Debug, Default)]
pub struct JobStats {
    /// Passes that ended well.
    pub passes: AtomicU64,
    /// Passes that failed or panicked (each restarted after a backoff).
    pub failures: AtomicU64,
}

/// A running job.
pub struct Job {
    /// Its counters.
    pub stats: Arc<JobStats>,
    handle: JoinHandle<()>,
}

impl Job {
    /// Stops the job (a pass in progress is dropped at its next await).
    pub fn abort(&self) {
        self.handle.abort();
    }
}

/// The first backoff after a failed pass.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// Runs `pass` every `interval` (the first one `delay` after the start) until `stop`.
pub fn spawn<F, Fut>(name: &'static str, delay: Duration, interval: Duration, stop: CancellationToken, pass: F) -> Job
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let stats = Arc::new(JobStats::default());
    let counters = Arc::clone(&stats);
    let handle = tokio::spawn(async move {
        let mut wait = delay;
        let mut backoff = FIRST_BACKOFF;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            match tokio::spawn(pass()).await {
                Ok(Ok(())) => {
                    counters.passes.fetch_add(1, Ordering::Relaxed);
                    backoff = FIRST_BACKOFF;
                    wait = interval;
                }
                Ok(Err(error)) => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = name, error = %format!("{error:#}"), ?backoff, "background job failed; retrying");
                    wait = backoff;
                    backoff = (backoff * 2).min(interval.max(FIRST_BACKOFF));
                }
                Err(join) => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(job = name, error = %join, ?backoff, "background job panicked; restarting it");
                    wait = backoff;
                    backoff = (backoff * 2).min(interval.max(FIRST_BACKOFF));
                }
            }
        }
    });
    Job { stats, handle }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_pass_that_panics_or_fails_does_not_stop_the_job() {
        let calls = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let counted = Arc::clone(&calls);
        let job = spawn("test", Duration::ZERO, Duration::from_secs(60), stop.clone(), move || {
            let call = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                match call {
                    0 => panic!("the first pass panics"),
                    1 => anyhow::bail!("the second pass fails"),
                    _ => Ok(()),
                }
            }
        });
        // Paused time runs ahead to each timer: the backoffs, then the interval.
        while job.stats.passes.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert_eq!(job.stats.failures.load(Ordering::SeqCst), 2);
        assert!(calls.load(Ordering::SeqCst) >= 4);
        stop.cancel();
        job.abort();
    }
}
