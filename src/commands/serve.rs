//! `troupe serve`: the HTTP gateway over the system; `troupe admin create-user`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use troupe_agents::sandbox::BoxStatus;

use crate::cli::AdminCommand;
use crate::config::Config;
use crate::config::secrets::Secrets;
use crate::system::{self, Mode, System};

pub async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    tracing::info!(?config, "starting");
    system::raise_descriptor_limit();
    let system = System::open(config, Mode::Serve).await?;
    // Probed before serving, so a box that cannot be built is said at start, not at the first
    // software run.
    let code_box = system.code_box_status().await;
    match &code_box {
        BoxStatus::Confined { .. } => tracing::info!(%code_box, "code box"),
        _ => tracing::warn!(%code_box, "code box"),
    }
    let data_dir = system.config.data_dir.clone();
    let server = system.serve().await?;
    let no_admin = server.state.auth.store().first_admin().await?.is_none();
    // The first admin comes from a one-time token only the operator can read: its path is
    // printed, never the token.
    let setup_token = data_dir.join("setup-token");
    if no_admin && let Some(token) = server.state.auth.ensure_setup_token().await? {
        crate::config::secrets::write_private(&setup_token, &token)?;
    } else if !no_admin && setup_token.exists() {
        // Spent: the first admin exists.
        std::fs::remove_file(&setup_token)?;
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "troupe listening on http://{}", server.addr)?;
        writeln!(out, "API docs: http://{}/api/docs", server.addr)?;
        match &code_box {
            BoxStatus::Confined { .. } => writeln!(out, "code box: {code_box}")?,
            BoxStatus::Unconfined => writeln!(
                out,
                "WARNING: the code box is {code_box}. Generated code can read this server's secrets. \
                 Never expose this server to users or models you do not trust."
            )?,
            BoxStatus::Unavailable(_) => writeln!(
                out,
                "WARNING: the code box is {code_box}. Install bubblewrap (Debian: apt-get install bubblewrap) \
                 to run generated code."
            )?,
        }
        if no_admin {
            writeln!(
                out,
                "no admin yet: create the first admin with `troupe admin create-user --email you@example.com`, \
                 or POST /api/v1/auth/setup with the one-time token in {}{}",
                setup_token.display(),
                if setup_token.exists() { "" } else { " (written by the node that started first)" }
            )?;
        }
        out.flush()?;
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await?;
    Ok(ExitCode::SUCCESS)
}

/// `troupe admin …`.
pub async fn admin(config: Config, command: &AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::CreateUser { email, name, role } => {
            let password = std::env::var("TROUPE_NEW_USER_PASSWORD").ok().filter(|p| !p.is_empty());
            let password = match password {
                Some(password) => password,
                None => read_password()?,
            };
            troupe_gateway::services::accounts::check_credentials(email, &password)
                .map_err(|error| anyhow::anyhow!(error.to_string()))?;
            let stores = system::open_stores(&config).await?;
            let auth = system::auth(&config, &stores, &Secrets::load(&config)?)?;
            let user = auth
                .create_user(email, &password, name.clone(), (*role).into(), true, true)
                .await
                .context("cannot create the user")?;
            println!("created {} ({}) with id {}", user.email, user.role.as_str(), user.id);
            Ok(ExitCode::SUCCESS)
        }
        AdminCommand::DeleteUser { email } => {
            let system = system::System::open(config, system::Mode::Run { max_live: None }).await?;
            let deletion = system.deletion()?;
            let email = troupe_gateway::auth::normalize_email(email);
            let Some(user) = system.auth.store().get_user_by_email(&email).await? else {
                anyhow::bail!("no account has the email {email}");
            };
            let report = deletion.delete(user.id, user.id).await.map_err(|error| anyhow::anyhow!(error.to_string()));
            drop(deletion);
            system.shutdown().await;
            let report = report?;
            println!(
                "deleted {email} ({}): {} executions ({} cancelled), {} memories, {} research rows",
                user.id, report.executions, report.cancelled, report.memories, report.research
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads a password from standard input (one line), prompting on a terminal.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        eprint!("password for the new user (input is shown; or set TROUPE_NEW_USER_PASSWORD): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
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
