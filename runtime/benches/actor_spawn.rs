//! What an actor per execution would cost: spawning and stopping ractor actors, and a
//! cross-actor `cast` round, on this machine. The orchestrator's design (shards holding
//! executions as data) rests on these figures; see docs/architecture.md.
//!
//! Run with `cargo bench -p troupe-runtime --bench actor_spawn`.

use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::oneshot;

struct Probe;

enum ProbeMsg {
    Ping(oneshot::Sender<()>),
    Cast,
}

impl Actor for Probe {
    type Msg = ProbeMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<Self::Msg>, _args: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: ProbeMsg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProbeMsg::Ping(reply) => {
                let _ = reply.send(());
            }
            ProbeMsg::Cast => *count += 1,
        }
        Ok(())
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        const ACTORS: usize = 10_000;
        let start = Instant::now();
        let mut actors = Vec::with_capacity(ACTORS);
        for _ in 0..ACTORS {
            actors.push(Actor::spawn(None, Probe, ()).await.expect("spawned"));
        }
        let spawned = start.elapsed();
        for (actor, handle) in actors {
            actor.stop(None);
            handle.await.expect("stopped");
        }
        let total = start.elapsed();
        println!(
            "spawn {ACTORS} actors: {:.1} µs each; spawn + stop: {:.1} µs each",
            spawned.as_secs_f64() * 1e6 / ACTORS as f64,
            total.as_secs_f64() * 1e6 / ACTORS as f64
        );

        let (actor, handle) = Actor::spawn(None, Probe, ()).await.expect("spawned");
        const ROUNDS: usize = 100_000;
        let start = Instant::now();
        for _ in 0..ROUNDS {
            let (reply, done) = oneshot::channel();
            actor.send_message(ProbeMsg::Ping(reply)).expect("sent");
            done.await.expect("answered");
        }
        println!("request/reply round trip: {:.2} µs", start.elapsed().as_secs_f64() * 1e6 / ROUNDS as f64);
        let start = Instant::now();
        for _ in 0..ROUNDS {
            actor.send_message(ProbeMsg::Cast).expect("sent");
        }
        let (reply, done) = oneshot::channel();
        actor.send_message(ProbeMsg::Ping(reply)).expect("sent");
        done.await.expect("answered");
        println!("cast throughput: {:.2} M messages/s", ROUNDS as f64 / start.elapsed().as_secs_f64() / 1e6);
        actor.stop(None);
        handle.await.expect("stopped");
    });
}
