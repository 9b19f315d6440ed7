//! How many boxes run at once: a global pool of numbered slots (each slot owns a uid and its
//! cgroups, so two boxes never share either) and a per-owner limit.
//!
//! An owner's permit is taken before a global slot, so one user's queue never holds slots that
//! another user could run in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use troupe_runtime::ids::UserId;

/// The slot pool.
pub(super) struct Slots {
    global: Arc<Semaphore>,
    free: Arc<Mutex<Vec<usize>>>,
    per_user: Arc<Mutex<HashMap<UserId, Arc<Semaphore>>>>,
    per_user_limit: usize,
}

/// A slot held by one run; given back when dropped.
pub(super) struct Slot {
    index: usize,
    free: Arc<Mutex<Vec<usize>>>,
    owner: UserId,
    per_user: Arc<Mutex<HashMap<UserId, Arc<Semaphore>>>>,
    per_user_limit: usize,
    global_permit: Option<OwnedSemaphorePermit>,
    user_permit: Option<OwnedSemaphorePermit>,
}

impl Slots {
    pub(super) fn new(slots: usize, per_user: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(slots)),
            free: Arc::new(Mutex::new((0..slots).rev().collect())),
            per_user: Arc::new(Mutex::new(HashMap::new())),
            per_user_limit: per_user,
        }
    }

    /// Waits for a slot `owner` may use.
    pub(super) async fn acquire(&self, owner: UserId) -> Slot {
        let user_semaphore = {
            let mut map = self.per_user.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            Arc::clone(map.entry(owner).or_insert_with(|| Arc::new(Semaphore::new(self.per_user_limit))))
        };
        let user_permit = user_semaphore.acquire_owned().await.expect("the semaphore is never closed");
        let global_permit = Arc::clone(&self.global).acquire_owned().await.expect("the semaphore is never closed");
        let index = self
            .free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
            .expect("a global permit guarantees a free slot");
        Slot {
            index,
            free: Arc::clone(&self.free),
            owner,
            per_user: Arc::clone(&self.per_user),
            per_user_limit: self.per_user_limit,
            global_permit: Some(global_permit),
            user_permit: Some(user_permit),
        }
    }
}

impl Slot {
    /// Returns the slot's number.
    pub(super) fn index(&self) -> usize {
        self.index
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.free.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(self.index);
        drop(self.global_permit.take());
        drop(self.user_permit.take());
        // Forget an owner with nothing running or waiting, so the map stays as small as the
        // set of owners currently using the box.
        let mut map = self.per_user.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(semaphore) = map.get(&self.owner)
            && Arc::strong_count(semaphore) == 1
            && semaphore.available_permits() == self.per_user_limit
        {
            map.remove(&self.owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_owner_waits_for_its_own_permit_without_holding_a_global_slot() {
        let slots = Slots::new(2, 1);
        let (alice, bob) = (UserId::new(), UserId::new());
        let first = slots.acquire(alice).await;
        // Alice's second run waits for her own permit...
        let waiting = tokio::time::timeout(Duration::from_secs(1), slots.acquire(alice)).await;
        assert!(waiting.is_err());
        // ...while Bob still gets the other slot, a different one.
        let other = slots.acquire(bob).await;
        assert_ne!(first.index(), other.index());
        drop(first);
        let again = slots.acquire(alice).await;
        assert_ne!(again.index(), other.index());
        drop((again, other));
        assert!(slots.per_user.lock().unwrap().is_empty(), "idle owners are forgotten");
    }
}
