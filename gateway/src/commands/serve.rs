//! `troupe serve`: the HTTP gateway over the runtime.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::cli::Cli;
use crate::config::{ServeArgs, ServeConfig};
use crate::http::{AppState, router};
use crate::setup;

pub async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    setup::ensure_data_dir(&cli.data_dir)?;
    let config = ServeConfig::resolve(args, &cli.data_dir)?;
    tracing::info!(?config, "starting");
    let runtime = Arc::new(setup::start_runtime(cli, true, None).await?);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("failed to listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "troupe listening on http://{addr}")?;
        out.flush()?;
    }
    let app = router(AppState { runtime: Arc::clone(&runtime) });
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("the server failed")?;
    if let Ok(runtime) = Arc::try_unwrap(runtime) {
        runtime.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        #[cfg(unix)]
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}
