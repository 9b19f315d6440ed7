//! `RootSupervisor` and `CoreSupervisor`.
//!
//! The core supervisor owns the orchestrator shards and one `AgentSupervisor` per agent kind.
//! A crashed child is restarted (one-for-one) after a backoff, and its place in the shared
//! directory is updated; a restarted shard reloads its executions from the store, and a
//! restarted agent supervisor makes every shard run again the attempts it may have dropped.
//! Past the core's restart intensity it fails, and the root supervisor restarts the whole
//! core tree (ractor stops a failed actor's children with it).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::Shared;
use super::agent::{AgentSupervisor, AgentSupervisorArgs};
use super::protocol::ShardMsg;
use super::shard::{OrchestratorShard, ShardArgs};
use crate::supervision::{Children, Exit, RestartDecision, RestartTracker};

#[derive(Clone, Debug)]
pub(crate) enum CoreChild {
    Shard(usize),
    Agent(String),
}

pub(crate) enum CoreMsg {
    Respawn(CoreChild),
    /// Starts the supervisor of a kind added to the directory; answers once it is up.
    AddAgent(String, tokio::sync::oneshot::Sender<()>),
    /// Stops the supervisor of a kind removed from the directory.
    RemoveAgent(Arc<super::shared::AgentKind>),
}

pub(crate) struct CoreSupervisor;

pub(crate) struct CoreState {
    shared: Arc<Shared>,
    children: Children<CoreChild>,
    tracker: RestartTracker,
}

impl Actor for CoreSupervisor {
    type Msg = CoreMsg;
    type State = CoreState;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = CoreState {
            tracker: RestartTracker::new(shared.config.core_restart),
            children: Children::default(),
            shared,
        };
        for kind in state.shared.agents.all() {
            state.spawn(&myself, CoreChild::Agent(kind.name.clone())).await?;
        }
        for index in 0..state.shared.shards.len() {
            state.spawn(&myself, CoreChild::Shard(index)).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let child = match message {
            CoreMsg::Respawn(child) => child,
            CoreMsg::AddAgent(name, reply) => {
                let running =
                    state.children.iter().any(|child| matches!(child, CoreChild::Agent(kind) if *kind == name));
                if !running && let Err(error) = state.spawn(&myself, CoreChild::Agent(name.clone())).await {
                    warn!(agent = %name, %error, "the new agent kind failed to start; retrying");
                    myself.send_after(state.shared.config.core_restart.backoff_max, move || {
                        CoreMsg::Respawn(CoreChild::Agent(name))
                    });
                }
                let _ = reply.send(());
                return Ok(());
            }
            CoreMsg::RemoveAgent(kind) => {
                if let Some(supervisor) = kind.supervisor.write().expect("agent directory lock").take() {
                    supervisor.stop(Some("agent kind removed".into()));
                }
                return Ok(());
            }
        };
        if state.shared.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        if let Err(error) = state.spawn(&myself, child.clone()).await {
            warn!(?child, %error, "restart failed; trying again");
            myself.send_after(state.shared.config.core_restart.backoff_max, move || CoreMsg::Respawn(child));
            return Ok(());
        }
        info!(?child, "restarted");
        if let CoreChild::Agent(agent) = child {
            for index in 0..state.shared.shards.len() {
                state.shared.send_to_shard(index, ShardMsg::Redispatch { agent: agent.clone() });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Some(Exit { actor: exited, child, reason, .. }) = state.children.exited(event) else { return Ok(()) };
        if let CoreChild::Agent(name) = &child {
            // Only the current supervisor of a kind still in the directory is restarted: one of
            // a removed (or removed and registered again) kind just goes.
            let current = state.shared.agents.get(name).is_some_and(|kind| {
                kind.supervisor
                    .read()
                    .expect("agent directory lock")
                    .as_ref()
                    .is_some_and(|supervisor| supervisor.get_id() == exited)
            });
            if !current {
                info!(agent = %name, "agent kind removed");
                return Ok(());
            }
        }
        state.clear(&child);
        if state.shared.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        match state.tracker.record_crash(Instant::now()) {
            RestartDecision::Restart(delay) => {
                warn!(?child, %reason, ?delay, "core child crashed; restarting");
                myself.send_after(delay, move || CoreMsg::Respawn(child));
                Ok(())
            }
            RestartDecision::Escalate => {
                error!(?child, %reason, "core restart intensity exceeded; escalating");
                Err(format!("core restart intensity exceeded (last: {reason})").into())
            }
        }
    }
}

impl CoreState {
    async fn spawn(&mut self, myself: &ActorRef<CoreMsg>, child: CoreChild) -> Result<(), ActorProcessingErr> {
        match &child {
            CoreChild::Shard(index) => {
                let args = ShardArgs { index: *index, shared: Arc::clone(&self.shared) };
                let (actor, _) = Actor::spawn_linked(None, OrchestratorShard, args, myself.get_cell()).await?;
                self.children.insert(actor.get_id(), child.clone());
                *self.shared.shards[*index].actor.write().expect("shard directory lock") = Some(actor);
            }
            CoreChild::Agent(name) => {
                // A kind removed while its supervisor was down is not started again.
                let Some(kind) = self.shared.agents.get(name) else { return Ok(()) };
                let args = AgentSupervisorArgs { shared: Arc::clone(&self.shared), kind: Arc::clone(&kind) };
                let (actor, _) = Actor::spawn_linked(None, AgentSupervisor, args, myself.get_cell()).await?;
                self.children.insert(actor.get_id(), child.clone());
                *kind.supervisor.write().expect("agent directory lock") = Some(actor);
            }
        }
        Ok(())
    }

    fn clear(&self, child: &CoreChild) {
        match child {
            CoreChild::Shard(index) => *self.shared.shards[*index].actor.write().expect("shard directory lock") = None,
            CoreChild::Agent(name) => {
                if let Some(kind) = self.shared.agents.get(name) {
                    *kind.supervisor.write().expect("agent directory lock") = None
                }
            }
        }
    }
}

pub(crate) enum RootMsg {
    RespawnCore,
    /// Forwarded to the core supervisor (answered at once when the core is restarting: the new
    /// core starts every kind in the directory).
    Core(CoreMsg),
}

pub(crate) struct RootSupervisor;

pub(crate) struct RootState {
    shared: Arc<Shared>,
    core: Option<ActorRef<CoreMsg>>,
    watched: Children<()>,
    tracker: RestartTracker,
}

impl Actor for RootSupervisor {
    type Msg = RootMsg;
    type State = RootState;
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let (core, _) = Actor::spawn_linked(None, CoreSupervisor, Arc::clone(&shared), myself.get_cell()).await?;
        let mut watched = Children::default();
        watched.insert(core.get_id(), ());
        Ok(RootState { tracker: RestartTracker::new(shared.config.core_restart), core: Some(core), watched, shared })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let RootMsg::Core(message) = message {
            match (&state.core, message) {
                (Some(core), message) => {
                    let _ = core.send_message(message);
                }
                (None, CoreMsg::AddAgent(_, reply)) => {
                    let _ = reply.send(());
                }
                (None, _) => {}
            }
            return Ok(());
        }
        if state.shared.stopping.load(Ordering::Acquire) || state.core.is_some() {
            return Ok(());
        }
        match Actor::spawn_linked(None, CoreSupervisor, Arc::clone(&state.shared), myself.get_cell()).await {
            Ok((core, _)) => {
                info!("core supervisor restarted");
                state.watched.insert(core.get_id(), ());
                state.core = Some(core);
            }
            Err(error) => {
                warn!(%error, "core supervisor failed to start; trying again");
                myself.send_after(state.shared.config.core_restart.backoff_max, || RootMsg::RespawnCore);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let Some(Exit { reason, .. }) = state.watched.exited(event) else { return Ok(()) };
        state.core = None;
        for slot in &state.shared.shards {
            *slot.actor.write().expect("shard directory lock") = None;
        }
        for kind in state.shared.agents.all() {
            *kind.supervisor.write().expect("agent directory lock") = None;
        }
        if state.shared.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        // The root has nowhere to escalate to: it keeps restarting the core, ever more slowly.
        let delay = match state.tracker.record_crash(Instant::now()) {
            RestartDecision::Restart(delay) => delay,
            RestartDecision::Escalate => state.shared.config.core_restart.backoff_max.max(Duration::from_secs(1)),
        };
        error!(%reason, ?delay, "core supervisor stopped; restarting the core tree");
        myself.send_after(delay, || RootMsg::RespawnCore);
        Ok(())
    }
}
