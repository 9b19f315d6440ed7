//! `troupe serve`: the HTTP gateway over the runtime; `troupe admin create-user`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use troupe_runtime::accounts::Role;

use crate::auth::{Auth, Jwt, Passwords};
use crate::cli::{AdminCommand, Cli};
use crate::config::{ServeArgs, ServeConfig};
use crate::server::{ACCESS_TOKEN_TTL, REFRESH_TOKEN_TTL, Server, ServerOptions};
use crate::setup;

pub async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    setup::ensure_data_dir(&cli.data_dir)?;
    let config = ServeConfig::resolve(args, &cli.data_dir)?;
    let memory = cli.memory.options(
        &cli.data_dir,
        config.environment,
        args.llm.llm_base_url.as_deref(),
        args.llm.llm_api_key.as_deref(),
    )?;
    tracing::info!(?config, ?memory, "starting");
    // Probed before serving, so a box that cannot be built is said at start, not at the first
    // software run.
    let code_box = config.agents.sandbox.status().await.clone();
    match &code_box {
        troupe_agents::sandbox::BoxStatus::Confined { .. } => tracing::info!(%code_box, "code box"),
        _ => tracing::warn!(%code_box, "code box"),
    }
    let server = Server::start(ServerOptions {
        database_url: setup::database_url(cli),
        addr: config.addr,
        jwt_secret: config.jwt_secret.clone(),
        node_id: setup::node_id(&cli.data_dir)?,
        hash_cost: config.hash_cost,
        http: config.http.clone(),
        agents: config.agents.clone(),
        memory,
        retention: args.retention.policy(),
        research: args.research.options(&cli.data_dir, config.environment)?,
    })
    .await?;
    let users = server.state.auth.store().list_users(None, 1).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "troupe listening on http://{}", server.addr)?;
        writeln!(out, "API docs: http://{}/api/docs", server.addr)?;
        match &code_box {
            troupe_agents::sandbox::BoxStatus::Confined { .. } => writeln!(out, "code box: {code_box}")?,
            troupe_agents::sandbox::BoxStatus::Unconfined => writeln!(
                out,
                "WARNING: the code box is {code_box}. Generated code can read this server's secrets. \
                 Never expose this server to users or models you do not trust."
            )?,
            troupe_agents::sandbox::BoxStatus::Unavailable(_) => writeln!(
                out,
                "WARNING: the code box is {code_box}. Install bubblewrap (Debian: apt-get install bubblewrap) \
                 to run generated code."
            )?,
        }
        if users.is_empty() {
            writeln!(
                out,
                "no user yet: create the first admin with `troupe admin create-user --email you@example.com` \
                 (or POST /api/v1/auth/register: the first account is the admin)"
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
pub async fn admin(cli: &Cli, command: &AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::CreateUser { email, name, role } => {
            setup::ensure_data_dir(&cli.data_dir)?;
            let password = std::env::var("TROUPE_NEW_USER_PASSWORD").ok().filter(|p| !p.is_empty());
            let password = match password {
                Some(password) => password,
                None => read_password()?,
            };
            crate::http::check_credentials(email, &password).map_err(|error| anyhow::anyhow!(error.message))?;
            let stores = troupe_memory::open_stores(&setup::database_url(cli)).await?;
            // Tokens are not issued here; the signer only needs to exist.
            let auth = Auth::new(
                stores.accounts,
                Passwords::new(crate::auth::HashCost::Standard),
                Jwt::new("unused-for-account-creation-only", ACCESS_TOKEN_TTL),
                REFRESH_TOKEN_TTL,
            );
            let role: Role = role.parse().map_err(|error: String| anyhow::anyhow!(error))?;
            let user =
                auth.create_user(email, &password, name.clone(), role).await.context("cannot create the user")?;
            println!("created {} ({}) with id {}", user.email, user.role.as_str(), user.id);
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
