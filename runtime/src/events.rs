//! The in-process event bus and durable subscriptions.
//!
//! The orchestrator publishes an event only after the batch holding it is durable, so the store
//! always has at least what subscribers saw. An [`EventSubscription`] registers for live events
//! *first*, then replays the store from `after_seq`, and drops live events it already replayed:
//! the result is every event after `after_seq`, in order, with no gap and no duplicate. A
//! subscriber that falls behind the live channel (lagged) simply replays from the store again.

use std::collections::VecDeque;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::broadcast;

use crate::ids::{ExecutionId, IdHashing};
use crate::model::Event;
use crate::store::{ExecutionStore, StoreError};

/// Receives events once they are durable.
pub trait EventSink: Send + Sync + 'static {
    /// Publishes durable events, in `seq` order per execution.
    fn publish(&self, event: &Arc<Event>);
}

/// A piece of an LLM answer as it streams: ephemeral (never stored, no `seq`); the step's final
/// output is what is persisted.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TokenChunk {
    /// The execution.
    pub execution_id: ExecutionId,
    /// The step.
    pub step: String,
    /// The attempt.
    pub attempt: u32,
    /// The text.
    pub text: String,
}

/// Fans durable events out to in-process subscribers.
pub struct EventBus {
    per_execution: DashMap<ExecutionId, broadcast::Sender<Arc<Event>>, IdHashing>,
    all: broadcast::Sender<Arc<Event>>,
    /// Each execution's streamed tokens, for its own subscribers only: a chunk wakes the
    /// listeners of its execution, not every listener of the process.
    tokens_per_execution: DashMap<ExecutionId, broadcast::Sender<Arc<TokenChunk>>, IdHashing>,
    tokens: broadcast::Sender<Arc<TokenChunk>>,
    capacity: usize,
}

impl EventBus {
    /// Creates a bus whose channels buffer `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (all, _) = broadcast::channel(capacity);
        let (tokens, _) = broadcast::channel(capacity);
        Self {
            per_execution: DashMap::with_hasher(IdHashing::default()),
            all,
            tokens_per_execution: DashMap::with_hasher(IdHashing::default()),
            tokens,
            capacity,
        }
    }

    /// Sends a streamed piece of an answer to whoever listens now (dropped when nobody does).
    pub fn publish_token(&self, chunk: TokenChunk) {
        let own = self.tokens_per_execution.get(&chunk.execution_id).map(|sender| sender.clone());
        if own.is_none() && self.tokens.receiver_count() == 0 {
            return;
        }
        let chunk = Arc::new(chunk);
        if let Some(own) = own {
            let _ = own.send(Arc::clone(&chunk));
        }
        if self.tokens.receiver_count() > 0 {
            let _ = self.tokens.send(chunk);
        }
    }

    /// Returns a receiver of every execution's streamed tokens.
    pub fn subscribe_tokens(&self) -> broadcast::Receiver<Arc<TokenChunk>> {
        self.tokens.subscribe()
    }

    /// Returns a receiver of one execution's streamed tokens; its channel is released when the
    /// last such receiver is dropped.
    pub fn subscribe_execution_tokens(self: &Arc<Self>, id: ExecutionId) -> TokenSubscription {
        let receiver =
            self.tokens_per_execution.entry(id).or_insert_with(|| broadcast::channel(self.capacity).0).subscribe();
        TokenSubscription { bus: Arc::clone(self), id, receiver: Some(receiver) }
    }

    /// Returns a receiver of the live events of one execution.
    pub fn subscribe_live(&self, id: ExecutionId) -> broadcast::Receiver<Arc<Event>> {
        self.per_execution.entry(id).or_insert_with(|| broadcast::channel(self.capacity).0).subscribe()
    }

    /// Returns a receiver of every execution's live events.
    pub fn subscribe_all(&self) -> broadcast::Receiver<Arc<Event>> {
        self.all.subscribe()
    }

    /// Returns whether anyone here follows execution `id` (its own subscribers, or those of
    /// every execution): another node's events of it are worth relaying.
    pub fn is_followed(&self, id: ExecutionId) -> bool {
        self.all.receiver_count() > 0 || self.per_execution.contains_key(&id)
    }

    fn release(&self, id: ExecutionId) {
        self.per_execution.remove_if(&id, |_, sender| sender.receiver_count() == 0);
    }
}

impl EventSink for EventBus {
    fn publish(&self, event: &Arc<Event>) {
        if let Some(sender) = self.per_execution.get(&event.execution_id) {
            let _ = sender.send(Arc::clone(event));
        }
        if event.is_terminal() {
            // Dropping the sender closes the execution's channel once subscribers drain it.
            self.per_execution.remove(&event.execution_id);
            self.tokens_per_execution.remove(&event.execution_id);
        }
        if self.all.receiver_count() > 0 {
            let _ = self.all.send(Arc::clone(event));
        }
    }
}

/// One execution's streamed tokens (see [`EventBus::subscribe_execution_tokens`]).
pub struct TokenSubscription {
    bus: Arc<EventBus>,
    id: ExecutionId,
    receiver: Option<broadcast::Receiver<Arc<TokenChunk>>>,
}

impl TokenSubscription {
    /// Returns the next chunk; `Lagged` when chunks were dropped for this slow receiver,
    /// `Closed` once the execution ended.
    pub async fn recv(&mut self) -> Result<Arc<TokenChunk>, broadcast::error::RecvError> {
        match self.receiver.as_mut() {
            Some(receiver) => receiver.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for TokenSubscription {
    fn drop(&mut self) {
        self.receiver = None;
        self.bus.tokens_per_execution.remove_if(&self.id, |_, sender| sender.receiver_count() == 0);
    }
}

const REPLAY_PAGE: u32 = 512;

/// Every event of one execution after a given `seq`: stored ones first, then live ones.
///
/// The subscription ends after the execution's terminal event.
pub struct EventSubscription {
    store: Arc<dyn ExecutionStore>,
    bus: Arc<EventBus>,
    id: ExecutionId,
    last_seq: u64,
    live: Option<broadcast::Receiver<Arc<Event>>>,
    backlog: VecDeque<Arc<Event>>,
    replaying: bool,
    done: bool,
}

impl EventSubscription {
    /// Subscribes to execution `id` from after `after_seq` (0 for everything).
    pub fn new(store: Arc<dyn ExecutionStore>, bus: Arc<EventBus>, id: ExecutionId, after_seq: u64) -> Self {
        let live = Some(bus.subscribe_live(id));
        Self { store, bus, id, last_seq: after_seq, live, backlog: VecDeque::new(), replaying: true, done: false }
    }

    /// Returns the `seq` of the last event returned (or the starting point).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Returns the next event, or `None` once the terminal event has been returned.
    pub async fn next(&mut self) -> Result<Option<Arc<Event>>, StoreError> {
        loop {
            if self.done {
                return Ok(None);
            }
            if let Some(event) = self.backlog.pop_front() {
                return Ok(Some(self.deliver(event)));
            }
            if self.replaying {
                let page = self.store.list_events(self.id, self.last_seq, REPLAY_PAGE).await?;
                if page.is_empty() {
                    self.replaying = false;
                    if self.live.is_none() {
                        // The live channel closed and the store has nothing more: the log ended
                        // without a terminal event we could see (the bus was shut down).
                        self.done = true;
                    }
                } else {
                    self.backlog.extend(page.into_iter().map(Arc::new));
                }
                continue;
            }
            let Some(live) = self.live.as_mut() else {
                self.done = true;
                continue;
            };
            match live.recv().await {
                Ok(event) if event.seq <= self.last_seq => {}
                Ok(event) if event.seq == self.last_seq + 1 => return Ok(Some(self.deliver(event))),
                // A gap (events published between our subscribe and replay) or a lag: the store
                // has everything, read it again from where we are.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.replaying = true,
                Err(broadcast::error::RecvError::Closed) => {
                    self.live = None;
                    self.replaying = true;
                }
            }
        }
    }

    /// Returns the next event if it is at hand now — replayed and waiting, or live and next
    /// in order — without waiting and without reading the store; `None` when it is not (then
    /// [`EventSubscription::next`] waits for it, replaying if needed) or the log has ended.
    pub fn next_ready(&mut self) -> Option<Arc<Event>> {
        if self.done {
            return None;
        }
        if let Some(event) = self.backlog.pop_front() {
            return Some(self.deliver(event));
        }
        if self.replaying {
            return None;
        }
        let live = self.live.as_mut()?;
        loop {
            match live.try_recv() {
                Ok(event) if event.seq <= self.last_seq => {}
                Ok(event) if event.seq == self.last_seq + 1 => return Some(self.deliver(event)),
                // A gap or a lag: `next` reads the store again from where we are.
                Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    self.replaying = true;
                    return None;
                }
                Err(broadcast::error::TryRecvError::Closed) => {
                    self.live = None;
                    self.replaying = true;
                    return None;
                }
                Err(broadcast::error::TryRecvError::Empty) => return None,
            }
        }
    }

    fn deliver(&mut self, event: Arc<Event>) -> Arc<Event> {
        self.last_seq = event.seq;
        if event.is_terminal() {
            self.done = true;
        }
        event
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        self.live = None;
        self.bus.release(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;
    use crate::status::ExecutionStatus;

    fn chunk(execution_id: ExecutionId, text: &str) -> TokenChunk {
        TokenChunk { execution_id, step: "draft".into(), attempt: 1, text: text.into() }
    }

    #[tokio::test]
    async fn a_token_reaches_the_listeners_of_its_own_execution_only() {
        let bus = Arc::new(EventBus::new(16));
        let (mine, other) = (ExecutionId::new(), ExecutionId::new());
        let mut listening = bus.subscribe_execution_tokens(mine);
        let mut everything = bus.subscribe_tokens();

        bus.publish_token(chunk(other, "not yours"));
        bus.publish_token(chunk(mine, "yours"));
        assert_eq!(listening.recv().await.unwrap().text, "yours", "the other execution's chunk never arrives");
        assert_eq!(everything.recv().await.unwrap().text, "not yours");
        assert_eq!(everything.recv().await.unwrap().text, "yours");

        // The execution's end closes its token channel; the last receiver's drop releases it.
        let end = EventKind::ExecutionStatus { status: ExecutionStatus::Completed, error: None };
        bus.publish(&Arc::new(Event { execution_id: mine, seq: 9, at: crate::model::now(), kind: end }));
        assert!(matches!(listening.recv().await, Err(broadcast::error::RecvError::Closed)));
        let again = bus.subscribe_execution_tokens(other);
        drop(again);
        assert!(bus.tokens_per_execution.is_empty(), "no channel is kept for nobody");
    }

    fn status(execution_id: ExecutionId, seq: u64) -> Arc<Event> {
        let kind = EventKind::ExecutionStatus { status: ExecutionStatus::Running, error: None };
        Arc::new(Event { execution_id, seq, at: crate::model::now(), kind })
    }

    #[tokio::test]
    async fn events_at_hand_come_without_waiting_and_a_gap_is_left_to_the_store() {
        let bus = Arc::new(EventBus::new(16));
        let store: Arc<dyn ExecutionStore> = Arc::new(crate::store::InMemoryStore::new());
        let id = ExecutionId::new();
        let mut subscription = EventSubscription::new(store, Arc::clone(&bus), id, 0);
        assert!(subscription.next_ready().is_none(), "nothing before the store was read");
        for seq in 1..=3 {
            bus.publish(&status(id, seq));
        }
        assert_eq!(subscription.next().await.unwrap().unwrap().seq, 1);
        assert_eq!(subscription.next_ready().map(|event| event.seq), Some(2));
        assert_eq!(subscription.next_ready().map(|event| event.seq), Some(3));
        assert!(subscription.next_ready().is_none(), "nothing more at hand");
        bus.publish(&status(id, 5));
        assert!(subscription.next_ready().is_none(), "seq 4 is missing: the store must be read");
        assert_eq!(subscription.last_seq(), 3);
    }
}
